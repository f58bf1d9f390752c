"""The changes a ticket goes through, shared by the consumer, the SLA job and the API: open or attach a
complaint, move a ticket (workflow rules + version guard + history), assign, ask for and record the callback.

Every function runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config, TicketConfig
from bot.store import agent_status, outbox
from bot.store import tickets as store
from bot.store.tables import Conversation, Ticket
from bot.tickets import workflow
from bot.tickets.detect import Complaint, worse

log = logging.getLogger(__name__)
BOT = "bot"
BUYER = "buyer"


@dataclass(frozen=True)
class Assignment:
    """Who may get a ticket: after-sales agents on shift round-robin; P1 to a supervisor agent."""

    aftersale: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    shifts: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # agent -> windows
    zone: tzinfo = ZoneInfo("Asia/Shanghai")

    @classmethod
    def from_config(cls, config: Config) -> Assignment:
        t = config.tickets
        shifts: dict[str, list[tuple[str, str]]] = {}
        for shift in getattr(config, "shifts", ()):
            for agent in shift.agents:
                shifts.setdefault(agent, []).append((shift.start, shift.end))
        return cls(
            aftersale=tuple(a.id for a in config.agents if t.aftersale_role in a.roles),
            supervisors=tuple(a.id for a in config.agents if t.p1_role in a.roles),
            shifts={a: tuple(w) for a, w in shifts.items()}, zone=ZoneInfo(config.shop.timezone),
        )

    def candidates(self, severity: str, now: datetime) -> tuple[str, ...]:
        """Agents who may take a ticket of `severity` now. With no shifts configured, everyone is on shift."""
        pool = self.supervisors if severity == "P1" and self.supervisors else self.aftersale
        if not self.shifts:
            return pool
        return tuple(a for a in pool if workflow.on_shift(self.shifts.get(a, ()), now, self.zone))


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    created: bool  # False: the complaint was added to an open ticket


async def open_or_attach(
    session: AsyncSession, *, complaint: Complaint, buyer_id: int, platform: str, shop: str, buyer: str,
    conversation: Conversation | None, text: str, now: datetime, config: TicketConfig,
    assignment: Assignment, actor: str = BOT,
) -> Opened:
    """One open ticket per buyer and category: attach to it (raising its severity if this complaint is
    worse), else open one, linked to the conversation and the buyer's latest order, and assign it.
    A "general" complaint (a bare threat) joins the buyer's latest open ticket of any category."""
    existing = await _open_ticket(session, buyer_id=buyer_id, category=complaint.category)
    if existing is None:
        deadlines = workflow.deadlines(complaint.severity, opened_at=now, sla_minutes=config.sla_minutes)
        ticket = Ticket(
            buyer_id=buyer_id, platform=platform, shop=shop, buyer=buyer,
            conversation_id=conversation.id if conversation else None,
            agent_account=conversation.agent_account if conversation else "",
            order_id=await store.latest_order_id(session, buyer_id=buyer_id),
            category=complaint.category, severity=complaint.severity, rule=complaint.rule,
            reason=complaint.reason, summary=text[:500], created_by=actor, created_at=now, updated_at=now,
            first_response_due_at=deadlines.first_response_due_at, resolution_due_at=deadlines.resolution_due_at,
        )
        try:
            async with session.begin_nested():
                ticket = await store.create(session, ticket=ticket, actor=actor,
                                            note=f"{complaint.severity} {complaint.rule}: {complaint.reason}")
        except IntegrityError:
            # Another process opened it between our look and our insert: attach to theirs.
            existing = await _open_ticket(session, buyer_id=buyer_id, category=complaint.category)
            if existing is None:
                raise
        else:
            log.info("ticket opened ticket=%s severity=%s rule=%s", ticket.id, ticket.severity, ticket.rule)
            return Opened(await assign(session, ticket, now=now, assignment=assignment), True)
    return Opened(await attach(session, existing, complaint=complaint, conversation=conversation, now=now,
                               config=config, actor=actor), False)


async def _open_ticket(session: AsyncSession, *, buyer_id: int, category: str) -> Ticket | None:
    found = await store.not_closed_for(session, buyer_id=buyer_id, category=category)
    if found is None and category == "general":
        found = await store.not_closed_for(session, buyer_id=buyer_id)
    return found


async def attach(
    session: AsyncSession, ticket: Ticket, *, complaint: Complaint, conversation: Conversation | None,
    now: datetime, config: TicketConfig, actor: str = BOT,
) -> Ticket:
    """Add a further complaint to `ticket`: count it, raise the severity if worse (deadlines follow),
    and reopen a ticket that was resolved or waiting for its callback."""
    changes: dict = {"complaints": ticket.complaints + 1}
    if conversation is not None:
        changes.update(conversation_id=conversation.id, agent_account=conversation.agent_account or ticket.agent_account)
    note = f"{complaint.severity} {complaint.rule}: {complaint.reason}"
    kind = "attached"
    if worse(complaint.severity, ticket.severity) != ticket.severity:
        d = workflow.deadlines(complaint.severity, opened_at=ticket.created_at, sla_minutes=config.sla_minutes)
        changes.update(severity=complaint.severity, rule=complaint.rule, reason=complaint.reason,
                       first_response_due_at=d.first_response_due_at,
                       resolution_due_at=min(d.resolution_due_at, ticket.resolution_due_at))
        note = f"severity {ticket.severity} → {complaint.severity}; {note}"
        kind = "severity"
    ticket = await store.update(session, ticket, version=ticket.version, now=now, actor=actor, kind=kind,
                                note=note, changes=changes)
    if ticket.state in ("resolved", "callback"):
        ticket = await transition(session, ticket, to="reopened", actor=actor, now=now, config=config,
                                  note="the buyer complained again")
    return ticket


async def assign(session: AsyncSession, ticket: Ticket, *, now: datetime, assignment: Assignment) -> Ticket:
    """Give a new ticket to the next agent in the round; it stays new when nobody on shift is online."""
    # on shift, then online with the console open (a busy, away or offline agent gets no new ticket)
    pool = await agent_status.present(session, assignment.candidates(ticket.severity, now), now=now)
    owner = workflow.pick_owner(pool, await store.last_assigned(session, agents=pool))
    if owner is None:
        log.info("ticket unassigned ticket=%s: nobody on shift", ticket.id)
        return ticket
    return await store.update(session, ticket, version=ticket.version, now=now, actor=BOT, kind="transition",
                              note=f"round-robin → {owner}",
                              changes={"state": "assigned", "owner": owner, "assigned_at": now})


async def transition(
    session: AsyncSession, ticket: Ticket, *, to: str, actor: str, now: datetime, config: TicketConfig,
    note: str = "", version: int | None = None, resolution: str | None = None, owner: str | None = None,
) -> Ticket:
    """Move `ticket` to `to`. Raises workflow.InvalidTransition (400), workflow.IllegalTransition (409)
    or store.StaleTicket (409). Resolving asks the buyer for the callback, which moves it to callback."""
    workflow.check(ticket.state, to, note=note, resolution=resolution, closed_at=ticket.closed_at, now=now)
    version = ticket.version if version is None else version
    changes: dict = {"state": to}
    # A move in the queue is no answer to the buyer: only a message to the buyer is the first
    # response (`first_response`, from the chat or from the outbox).
    if to == "assigned":
        if not owner:
            raise workflow.InvalidTransition("owner is required to assign a ticket")
        changes.update(owner=owner, assigned_at=now)
        if ticket.owner and ticket.owner != owner:
            note = f"reassigned {ticket.owner} → {owner}" + (f"; {note}" if note else "")
        elif not note:
            note = f"→ {owner}"
    elif to == "resolved":
        changes.update(resolution=resolution, resolution_note=note, resolved_at=now)
    elif to == "callback":
        changes.update(callback_at=now)
    elif to == "closed":
        changes.update(closed_at=now)
    elif to == "reopened":
        d = workflow.deadlines(ticket.severity, opened_at=now, sla_minutes=config.sla_minutes)
        changes.update(closed_at=None, resolved_at=None, callback_at=None, resolution_due_at=d.resolution_due_at,
                       escalations=",".join(e for e in ticket.escalations.split(",") if e and e != "resolution"))
    ticket = await store.update(session, ticket, version=version, now=now, actor=actor, kind="transition",
                                note=note, changes=changes)
    if to == "resolved" and config.callback_enabled:
        ticket = await ask_callback(session, ticket, now=now, config=config)
    return ticket


async def ask_callback(session: AsyncSession, ticket: Ticket, *, now: datetime, config: TicketConfig) -> Ticket:
    """回访: ask the buyer through the chat to rate the handling, once per resolution, and wait in callback."""
    earlier = sum(1 for h in await store.history(session, ticket.id) if h.to_state == "callback" and h.kind == "transition")
    client_msg_id = f"ticket:{ticket.id}:callback" + (f":{earlier + 1}" if earlier else "")
    await outbox.enqueue(session, client_msg_id=client_msg_id, platform=ticket.platform, shop=ticket.shop,
                         buyer=ticket.buyer, agent_account=ticket.agent_account, text=config.callback_text,
                         kind="notice", sender="bot", now=now)
    return await transition(session, ticket, to="callback", actor=BOT, now=now, config=config,
                            note=f"asked the buyer ({client_msg_id})")


async def record_rating(session: AsyncSession, ticket: Ticket, *, rating: int, text: str, now: datetime,
                        config: TicketConfig) -> Ticket:
    """The buyer's callback answer: kept on the ticket; satisfied closes it, dissatisfied reopens it."""
    ticket = await store.update(session, ticket, version=ticket.version, now=now, actor=BUYER, kind="rating",
                                note=f"rating {rating}: {text[:100]}", changes={"rating": rating})
    to = workflow.after_rating(rating)
    note = f"callback rating {rating}" if to == "closed" else f"the buyer is not satisfied (rating {rating})"
    return await transition(session, ticket, to=to, actor=BUYER, now=now, config=config, note=note)


async def first_response(session: AsyncSession, *, buyer_id: int, at: datetime, agent: str) -> None:
    """An agent wrote to the buyer: that answers the buyer's open tickets nobody had answered yet."""
    for ticket in await store.first_response_pending(session, buyer_id=buyer_id, before=at):
        await store.update(session, ticket, version=ticket.version, now=at, actor=agent or "agent",
                           kind="responded", note="first agent message to the buyer",
                           changes={"first_response_at": at})
