"""The periodic ticket scan: new tickets that waited for someone on shift are assigned, and open tickets
past their first-response or resolution deadline are flagged once per breach (history line,
`escalated_at`), then announced to whoever listens (the optional webhook, the board)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import aiohttp
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import iso
from bot.store import tickets as store
from bot.tickets import actions, workflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Escalation:
    ticket_id: int
    severity: str
    state: str
    owner: str | None
    breached: tuple[str, ...]  # the SLAs newly past: "first_response", "resolution"
    first_response_due_at: datetime
    resolution_due_at: datetime

    def as_json(self) -> dict:
        d = asdict(self)
        d["breached"] = list(self.breached)
        d["first_response_due_at"] = iso(self.first_response_due_at)
        d["resolution_due_at"] = iso(self.resolution_due_at)
        return d


Announce = Callable[[list[Escalation]], Awaitable[None]]


async def run(
    db: async_sessionmaker, *, now: datetime, announce: Announce | None = None,
    assignment: actions.Assignment | None = None,
) -> list[Escalation]:
    """Give waiting new tickets to whoever is on shift now (with `assignment`), flag the tickets newly
    past an SLA at `now` (one transaction), then announce them.

    A breach is flagged once: a second run at the same or a later time finds nothing new until
    another SLA of the ticket passes. The announcement comes after the commit; if it fails it is
    logged, and the flag (on the board and in GET /api/tickets?overdue=true) stays.
    """
    found: list[Escalation] = []
    async with db() as session, session.begin():
        if assignment is not None:
            for ticket in await store.unassigned(session):
                await actions.assign(session, ticket, now=now, assignment=assignment)
        for ticket in await store.due_for_escalation(session, now=now):
            breached = workflow.breaches(
                state=ticket.state, first_response_at=ticket.first_response_at,
                first_response_due_at=ticket.first_response_due_at, resolution_due_at=ticket.resolution_due_at,
                now=now,
            )
            done = set(filter(None, ticket.escalations.split(",")))
            new = tuple(b for b in breached if b not in done)
            if not new:
                continue
            ticket = await store.update(
                session, ticket, version=ticket.version, now=now, actor="bot", kind="escalated",
                note="past SLA: " + ", ".join(new),
                changes={"escalated_at": now, "escalations": ",".join(sorted(done | set(new)))},
            )
            found.append(Escalation(ticket.id, ticket.severity, ticket.state, ticket.owner, new,
                                    ticket.first_response_due_at, ticket.resolution_due_at))
    for e in found:
        log.warning("ticket past SLA ticket=%s severity=%s breached=%s owner=%s",
                    e.ticket_id, e.severity, ",".join(e.breached), e.owner)
    if found and announce is not None:
        try:
            await announce(found)
        except Exception:
            log.exception("escalation announcement failed tickets=%d", len(found))
    return found


def webhook(session: aiohttp.ClientSession, url: str, *, timeout_s: float = 5.0) -> Announce:
    """An announcer that POSTs {"escalations": [...]} to `url` through `session`."""

    async def post(escalations: list[Escalation]) -> None:
        async with session.post(url, json={"escalations": [e.as_json() for e in escalations]},
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            if resp.status >= 400:
                log.warning("escalation webhook answered status=%s", resp.status)

    return post
