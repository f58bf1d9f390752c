"""Complaint tickets and their history. Every update is guarded by the ticket's version (optimistic lock);
the history is only ever inserted into. Nothing here commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Buyer, Conversation, Message, Order, Ticket, TicketHistory

OPEN_STATES = ("new", "assigned", "investigating", "reopened")


class StaleTicket(Exception):
    """Someone else changed the ticket since `version` was read (HTTP 409)."""

    def __init__(self, ticket_id: int, version: int) -> None:
        super().__init__(f"ticket {ticket_id} changed since version {version}")
        self.ticket_id, self.version = ticket_id, version


@dataclass(frozen=True)
class Visibility:
    """What an agent may see: tickets they own, or whose buyer is routed to one of their accounts."""

    agent: str
    accounts: frozenset[str]  # "platform:account"


async def get(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.scalar(
        sa.select(Ticket).where(Ticket.id == ticket_id).execution_options(populate_existing=True)
    )


async def not_closed_for(session: AsyncSession, *, buyer_id: int, category: str | None = None) -> Ticket | None:
    """The buyer's ticket that is not closed, of `category` (None: the latest of any category)."""
    stmt = sa.select(Ticket).where(Ticket.buyer_id == buyer_id, Ticket.state != "closed")
    if category is not None:
        stmt = stmt.where(Ticket.category == category)
    return await session.scalar(
        stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1).execution_options(populate_existing=True)
    )


CALLBACK_BUYERS = "tickets.callback_buyers"  # session.info
_IN_CALLBACK = sa.select(Ticket.__table__.c.buyer_id).where(Ticket.__table__.c.state == "callback")


async def buyers_awaiting_callback(session: AsyncSession) -> set[int]:
    """The buyers with a ticket in callback, read once per session (the processor's batch).

    Asked for every buyer message, and nearly always empty. A ticket enters callback only by a
    staff action, and its question goes to the buyer after that commits: the buyer's answer is
    always processed in a later transaction, which reads the set again.
    """
    if (known := session.info.get(CALLBACK_BUYERS)) is None:
        known = session.info[CALLBACK_BUYERS] = set((await session.scalars(_IN_CALLBACK)).all())
    return known


async def awaiting_callback(session: AsyncSession, *, buyer_id: int) -> Ticket | None:
    """The buyer's ticket whose callback question is waiting for an answer, latest first."""
    return await session.scalar(
        sa.select(Ticket).where(Ticket.buyer_id == buyer_id, Ticket.state == "callback")
        .order_by(Ticket.callback_at.desc(), Ticket.id.desc()).limit(1).execution_options(populate_existing=True)
    )


async def create(session: AsyncSession, *, ticket: Ticket, actor: str, note: str = "") -> Ticket:
    """Insert a new ticket with its first history line. Raises IntegrityError when the buyer already
    has an open ticket of that category (run it in a savepoint to recover)."""
    session.add(ticket)
    await session.flush()
    session.add(TicketHistory(ticket_id=ticket.id, at=ticket.created_at, actor=actor, kind="created",
                              from_state=None, to_state=ticket.state, note=note))
    await session.flush()
    return ticket


async def update(
    session: AsyncSession, ticket: Ticket, *, version: int, now: datetime, actor: str, kind: str,
    note: str = "", changes: dict,
) -> Ticket:
    """Apply `changes` if the ticket is still at `version`, bump the version and append history.

    Raises StaleTicket when another transaction changed it first (`UPDATE ... WHERE version = :v`
    matches no row): one of two concurrent changes wins, the other is refused, none is lost.
    """
    from_state = ticket.state
    result = await session.execute(
        sa.update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.version == version)
        .values(**changes, version=version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StaleTicket(ticket.id, version)
    session.add(TicketHistory(ticket_id=ticket.id, at=now, actor=actor, kind=kind, from_state=from_state,
                              to_state=changes.get("state", from_state), note=note))
    await session.flush()
    return await get(session, ticket.id)


async def add_history(session: AsyncSession, *, ticket_id: int, at: datetime, actor: str, kind: str,
                      from_state: str | None, to_state: str, note: str = "") -> None:
    session.add(TicketHistory(ticket_id=ticket_id, at=at, actor=actor, kind=kind, from_state=from_state,
                              to_state=to_state, note=note))
    await session.flush()


async def history(session: AsyncSession, ticket_id: int) -> list[TicketHistory]:
    return list((await session.scalars(
        sa.select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.id)
    )).all())


def overdue_clause(now: datetime) -> sa.ColumnElement[bool]:
    """Open and past the first-response or the resolution deadline."""
    return sa.and_(
        Ticket.state.in_(OPEN_STATES),
        sa.or_(
            sa.and_(Ticket.first_response_at.is_(None), Ticket.first_response_due_at < now),
            Ticket.resolution_due_at < now,
        ),
    )


def _visible(visibility: Visibility) -> sa.ColumnElement[bool]:
    routed = [
        sa.and_(Ticket.platform == platform, Ticket.agent_account == account)
        for platform, _, account in (a.partition(":") for a in sorted(visibility.accounts))
    ]
    return sa.or_(Ticket.owner == visibility.agent, *routed)


async def search(
    session: AsyncSession, *, state: str | None = None, severity: str | None = None,
    owner: str | None = None, overdue_at: datetime | None = None, visible_to: Visibility | None = None,
    limit: int = 50, offset: int = 0,
) -> tuple[list[Ticket], int]:
    """A page of tickets, most severe and oldest first, and how many match in all.

    `owner=""` means unassigned; `overdue_at`: only those past an SLA at that time; `visible_to`:
    only what that agent may see (None: everything).
    """
    where = []
    if state is not None:
        where.append(Ticket.state == state)
    if severity is not None:
        where.append(Ticket.severity == severity)
    if owner is not None:
        where.append(Ticket.owner.is_(None) if owner == "" else Ticket.owner == owner)
    if overdue_at is not None:
        where.append(overdue_clause(overdue_at))
    if visible_to is not None:
        where.append(_visible(visible_to))
    total = await session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(*where)) or 0
    rows = (await session.scalars(
        sa.select(Ticket).where(*where)
        .order_by(Ticket.severity, Ticket.created_at, Ticket.id).limit(limit).offset(offset)
    )).all()
    return list(rows), total


def visible(ticket: Ticket, visibility: Visibility) -> bool:
    return ticket.owner == visibility.agent or f"{ticket.platform}:{ticket.agent_account}" in visibility.accounts


async def due_for_escalation(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[Ticket]:
    """Open tickets past an SLA, locked against a concurrent scan on PostgreSQL."""
    return list((await session.scalars(
        sa.select(Ticket).where(overdue_clause(now)).order_by(Ticket.id).limit(limit)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)
    )).all())


async def unassigned(session: AsyncSession, *, limit: int = 200) -> list[Ticket]:
    """New tickets nobody has been given yet (opened while nobody was on shift), most severe and oldest first."""
    return list((await session.scalars(
        sa.select(Ticket).where(Ticket.state == "new", Ticket.owner.is_(None))
        .order_by(Ticket.severity, Ticket.created_at, Ticket.id).limit(limit)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True)
    )).all())


async def last_assigned(session: AsyncSession, *, agents: Sequence[str]) -> dict[str, datetime]:
    """When each of `agents` was last given a ticket (absent: never)."""
    if not agents:
        return {}
    rows = await session.execute(
        sa.select(Ticket.owner, sa.func.max(Ticket.assigned_at))
        .where(Ticket.owner.in_(list(agents)), Ticket.assigned_at.is_not(None)).group_by(Ticket.owner)
    )
    return {owner: at for owner, at in rows.all() if at is not None}


_FIRST_RESPONSE_PENDING = (  # asked for every agent message: built once
    sa.select(Ticket).where(Ticket.buyer_id == sa.bindparam("buyer"), Ticket.state.in_(OPEN_STATES),
                            Ticket.first_response_at.is_(None), Ticket.created_at <= sa.bindparam("before"))
    .execution_options(populate_existing=True)
)


async def buyers_with_first_response_pending(session: AsyncSession, buyer_ids: set[int]) -> set[int]:
    """Those of the buyers with an open ticket nobody has answered yet (one query for a batch)."""
    if not buyer_ids:
        return set()
    return set((await session.scalars(sa.select(Ticket.buyer_id).distinct().where(
        Ticket.buyer_id.in_(sorted(buyer_ids)), Ticket.state.in_(OPEN_STATES), Ticket.first_response_at.is_(None),
    ))).all())


async def first_response_pending(session: AsyncSession, *, buyer_id: int, before: datetime) -> list[Ticket]:
    """The buyer's open tickets, opened before `before`, that nobody has answered yet."""
    return list((await session.scalars(_FIRST_RESPONSE_PENDING, {"buyer": buyer_id, "before": before})).all())


async def latest_order_id(session: AsyncSession, *, buyer_id: int) -> str | None:
    return await session.scalar(
        sa.select(Order.order_id).where(Order.buyer_id == buyer_id)
        .order_by(sa.func.coalesce(Order.created_at, Order.paid_at, Order.closed_at).desc(), Order.id.desc())
        .limit(1)
    )


async def conversation(session: AsyncSession, conversation_id: int | None) -> Conversation | None:
    return None if conversation_id is None else await session.get(Conversation, conversation_id)


async def buyer(session: AsyncSession, buyer_id: int) -> Buyer | None:
    return await session.get(Buyer, buyer_id)


async def earlier_buyer_texts(session: AsyncSession, *, conversation_id: int, before_id: int) -> list[str]:
    """The buyer's earlier messages in a conversation (for counting angry ones)."""
    return list((await session.scalars(
        sa.select(Message.text).where(Message.conversation_id == conversation_id, Message.sender == "buyer",
                                      Message.id != before_id).order_by(Message.sent_at, Message.id)
    )).all())


async def count_by_state(session: AsyncSession) -> dict[tuple[str, str], int]:
    """(state, severity) -> number of tickets."""
    rows = await session.execute(
        sa.select(Ticket.state, Ticket.severity, sa.func.count()).group_by(Ticket.state, Ticket.severity)
    )
    return {(state, severity): n for state, severity, n in rows.all()}


async def opened_between(session: AsyncSession, *, since: datetime, until: datetime) -> list[Ticket]:
    return list((await session.scalars(
        sa.select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until).order_by(Ticket.id)
    )).all())


async def opened_by_buyers(session: AsyncSession, *, buyer_ids: Sequence[int], since: datetime) -> list[Ticket]:
    """Tickets of these buyers opened since `since` (to find repeat complaints)."""
    if not buyer_ids:
        return []
    return list((await session.scalars(
        sa.select(Ticket).where(Ticket.buyer_id.in_(list(buyer_ids)), Ticket.created_at >= since)
        .order_by(Ticket.created_at, Ticket.id)
    )).all())
