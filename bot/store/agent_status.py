"""Agents' status (在线 online / 忙碌 busy / 挂起 away) and their consoles' heartbeats.

The one place that says what an agent's status is at a moment: the status they chose, or `offline`
when their console has sent no heartbeat for `OFFLINE_AFTER` (two minutes), or never did. The
console sets the status (`PUT /api/me/status`) and beats (`POST /api/me/heartbeat`) every 30 s.

For other parts (the board): `statuses(session, now=...)` gives every agent that ever had a row; an
agent without a row is `offline` (`effective(None, now)`). Ticket round-robin and auto-reply use
`present(...)`, below. The scorecard reads the history (`agent_presence`): each stretch of time an
agent's console beat (no more than OFFLINE_AFTER apart) with the agent online or busy
(`first_present`). Session-first; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import iso
from bot.store.tables import AgentPresence, AgentStatus

CHOSEN = ("online", "busy", "away")  # what an agent may set
WORKING = ("online", "busy")  # "online in the console" for the scorecard; away (挂起) is not
OFFLINE = "offline"  # what nobody sets: no heartbeat within OFFLINE_AFTER
OFFLINE_AFTER = timedelta(minutes=2)
NAMES = {"online": "在线", "busy": "忙碌", "away": "挂起", "offline": "离线"}


@dataclass(frozen=True)
class Status:
    agent: str
    status: str  # online, busy, away or offline: what counts now
    chosen: str  # what the agent last set
    changed_at: datetime | None
    heartbeat_at: datetime | None

    def as_dict(self) -> dict:
        return {"agent": self.agent, "status": self.status, "status_name": NAMES[self.status], "chosen": self.chosen,
                "changed_at": _iso(self.changed_at), "heartbeat_at": _iso(self.heartbeat_at)}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def effective(row: AgentStatus | None, now: datetime, *, agent: str = "") -> Status:
    """What `row` means at `now` (pure)."""
    if row is None:
        return Status(agent, OFFLINE, OFFLINE, None, None)
    alive = row.heartbeat_at is not None and now - row.heartbeat_at < OFFLINE_AFTER
    return Status(row.agent_id, row.status if alive else OFFLINE, row.status, row.changed_at, row.heartbeat_at)


async def statuses(session: AsyncSession, *, now: datetime, agents: Iterable[str] | None = None) -> dict[str, Status]:
    """Agent id → Status, for `agents` (each one, with or without a row) or for every agent with a row."""
    query = sa.select(AgentStatus)
    wanted = None if agents is None else list(agents)
    if wanted is not None:
        query = query.where(AgentStatus.agent_id.in_(wanted))
    rows = {r.agent_id: r for r in (await session.scalars(query)).all()}
    names = wanted if wanted is not None else list(rows)
    return {a: effective(rows.get(a), now, agent=a) for a in names}


async def _row(session: AsyncSession, agent: str, now: datetime) -> AgentStatus:
    row = await session.get(AgentStatus, agent)
    if row is None:
        row = AgentStatus(agent_id=agent, status="online", changed_at=now, heartbeat_at=None)
        session.add(row)
    return row


async def set_status(session: AsyncSession, *, agent: str, status: str, now: datetime) -> Status:
    """The agent chose `status` (one of CHOSEN); setting it also counts as a heartbeat."""
    if status not in CHOSEN:
        raise ValueError(f"status must be one of {', '.join(CHOSEN)}")
    row = await _row(session, agent, now)
    was = effective(row, now).status
    if row.status != status:
        row.status, row.changed_at = status, now
    row.heartbeat_at = now
    await _present(session, agent, was=was, now_status=status, now=now)
    await session.flush()
    return effective(row, now)


async def heartbeat(session: AsyncSession, *, agent: str, now: datetime) -> Status:
    """The agent's console is open. An agent beating for the first time is online."""
    row = await _row(session, agent, now)
    was = effective(row, now).status
    row.heartbeat_at = now
    await _present(session, agent, was=was, now_status=row.status, now=now)
    await session.flush()
    return effective(row, now)


async def _present(session: AsyncSession, agent: str, *, was: str, now_status: str, now: datetime) -> None:
    """Keep the history: a beat while working extends the agent's current stretch to `now` (also the
    beat that leaves it, e.g. for 挂起); a beat that starts working after a gap or a pause starts one."""
    latest = None
    if was in WORKING:
        latest = await session.scalar(sa.select(AgentPresence).where(AgentPresence.agent_id == agent)
                                      .order_by(AgentPresence.until.desc(), AgentPresence.id.desc()).limit(1))
    if latest is not None and timedelta(0) <= now - latest.until < OFFLINE_AFTER:
        latest.until = now
    elif now_status in WORKING:
        session.add(AgentPresence(agent_id=agent, since=now, until=now))


async def presence_since(session: AsyncSession) -> datetime | None:
    """When any console first beat with its agent working: from then on the history says who was online."""
    return await session.scalar(sa.select(sa.func.min(AgentPresence.since)))


async def first_present(session: AsyncSession, *, agent: str, start: datetime, end: datetime) -> datetime | None:
    """The first moment in [start, end) the agent's console was open with them working, or None."""
    since = await session.scalar(
        sa.select(sa.func.min(AgentPresence.since))
        .where(AgentPresence.agent_id == agent, AgentPresence.since < end, AgentPresence.until >= start)
    )
    return None if since is None else max(since, start)


async def present(session: AsyncSession, pool: Sequence[str], *, now: datetime) -> tuple[str, ...]:
    """Those of `pool` who may get new work now: online with a live console. Presence is used once
    an agent of the pool has ever had a status; until then (no console in use) `pool` is returned as
    it is, so that a shop that does not use the console keeps assigning by shifts alone."""
    found = await statuses(session, now=now, agents=pool)
    if all(s.changed_at is None for s in found.values()):
        return tuple(pool)
    return tuple(a for a in pool if found[a].status == "online")
