"""The stored events metrics are computed from: each buyer's messages and orders in a period,
the buyers waiting now, new messages since the last look, and handovers (交接)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Line
from bot.store.tables import Buyer, Conversation, Handover, Message, Order, Suggestion


@dataclass
class BuyerEvents:
    """One buyer's messages (whole conversations touching a period, in event-time order) and orders."""

    buyer_id: int
    platform: str
    shop: str
    nick: str
    lines: list[Line] = field(default_factory=list)
    orders: list[tuple[str, datetime | None, datetime | None, int]] = field(default_factory=list)  # id, created, paid, fen


@dataclass(frozen=True)
class Waiting:
    conversation_id: int
    buyer_id: int
    platform: str
    shop: str
    buyer: str
    agent_account: str
    waiting_since: datetime
    last_buyer_text: str
    last_buyer_intent: str | None = None  # the best suggestion's intent for the latest buyer message


async def buyer_events(
    session: AsyncSession, *, start: datetime, end: datetime, order_margin: timedelta,
    buyer_ids: Collection[int] | None = None,
) -> list[BuyerEvents]:
    """Every buyer with a conversation touching [start, end), with all of those conversations'
    messages, and their orders created within `order_margin` around the period.

    `buyer_ids` narrows it to those buyers (the live board refreshing a few).
    """
    touching = sa.select(Conversation.id).where(Conversation.last_message_at >= start, Conversation.started_at < end)
    if buyer_ids is not None:
        if not buyer_ids:
            return []
        touching = touching.where(Conversation.buyer_id.in_(list(buyer_ids)))
    # The time comes back as the driver gives it (SQLite: text) and is parsed here in C: a month of
    # messages is a million rows, and per-row type processing would be most of the report's time.
    rows = (await session.execute(
        sa.select(Message.buyer_id, Message.sender, sa.type_coerce(Message.sent_at, sa.String), Message.agent_account)
        .where(Message.conversation_id.in_(touching))
        .order_by(Message.buyer_id, Message.sent_at, Message.id)
    )).all()
    found: dict[int, BuyerEvents] = {}
    events = None
    for buyer_id, sender, sent_at, account in rows:
        if events is None or events.buyer_id != buyer_id:
            events = found[buyer_id] = BuyerEvents(buyer_id, "", "", "")
        events.lines.append(Line(sender, _utc(sent_at), account))
    if not found:
        return []
    ids = list(found)
    for chunk in _chunks(ids, 5000):
        for buyer_id, platform, shop, nick in await session.execute(
            sa.select(Buyer.id, Buyer.platform, Buyer.shop, Buyer.nick).where(Buyer.id.in_(chunk))
        ):
            found[buyer_id].platform, found[buyer_id].shop, found[buyer_id].nick = platform, shop, nick
        orders = await session.execute(
            sa.select(Order.buyer_id, Order.order_id, Order.created_at, Order.paid_at,
                      sa.func.coalesce(Order.paid_amount_fen, Order.amount_fen, 0))
            .where(Order.buyer_id.in_(chunk), Order.paid_at.is_not(None),
                   Order.created_at >= start - order_margin, Order.created_at < end + order_margin)
            .order_by(Order.created_at)
        )
        for buyer_id, order_id, created_at, paid_at, fen in orders:
            found[buyer_id].orders.append((order_id, created_at, paid_at, int(fen)))
    return list(found.values())


async def waiting(session: AsyncSession, *, since: datetime, buyer_ids: Collection[int] | None = None) -> list[Waiting]:
    """Conversations whose buyer is waiting now and started waiting at or after `since`, longest first."""
    latest = (sa.select(sa.func.max(Message.id)).where(Message.conversation_id == Conversation.id,
                                                       Message.sender == "buyer").correlate(Conversation).scalar_subquery())
    intent = (sa.select(Suggestion.intent).where(Suggestion.message_id == latest, Suggestion.rank == 1)
              .limit(1).correlate(Conversation).scalar_subquery())
    query = (
        sa.select(Conversation.id, Conversation.buyer_id, Conversation.platform, Conversation.shop, Buyer.nick,
                  Conversation.agent_account, Conversation.waiting_since, Conversation.last_buyer_text, intent)
        .join(Buyer, Buyer.id == Conversation.buyer_id)
        .where(Conversation.waiting_since.is_not(None), Conversation.waiting_since >= since)
        .order_by(Conversation.waiting_since, Conversation.id)
    )
    if buyer_ids is not None:
        if not buyer_ids:
            return []
        query = query.where(Conversation.buyer_id.in_(list(buyer_ids)))
    return [Waiting(*row) for row in await session.execute(query)]


async def buyers_with_messages_after(session: AsyncSession, *, after_id: int, limit: int = 10_000) -> list[tuple[int, int]]:
    """(message id, buyer id) of messages stored with an id above `after_id`, in id order."""
    rows = await session.execute(
        sa.select(Message.id, Message.buyer_id).where(Message.id > after_id).order_by(Message.id).limit(limit)
    )
    return [(i, b) for i, b in rows]


async def last_message_id(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.coalesce(sa.func.max(Message.id), 0)))


async def buyer_ids_of(session: AsyncSession, keys: Collection[tuple[str, str, str]]) -> list[int]:
    """The ids of buyers given as (platform, shop, nick)."""
    if not keys:
        return []
    found = []
    for chunk in _chunks(list(keys), 500):
        found += (await session.scalars(
            sa.select(Buyer.id).where(sa.tuple_(Buyer.platform, Buyer.shop, Buyer.nick).in_(chunk))
        )).all()
    return found


async def conversations_not_waiting(session: AsyncSession, *, buyer_ids: Collection[int], active_since: datetime) -> list[int]:
    """The buyers' conversations active since `active_since` whose buyer is not waiting in them."""
    found: list[int] = []
    for chunk in _chunks(sorted(buyer_ids), 500):
        found += (await session.scalars(sa.select(Conversation.id).where(
            Conversation.buyer_id.in_(chunk), Conversation.waiting_since.is_(None),
            Conversation.last_message_at >= active_since))).all()
    return found


async def record_handovers(session: AsyncSession, rows: Sequence[dict]) -> int:
    """Insert handovers, each once per (conversation, shift change); returns how many were new."""
    if not rows:
        return 0
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(Handover.__table__).values(list(rows))
        .on_conflict_do_nothing(index_elements=["conversation_id", "shift_change_at"])
        .returning(Handover.__table__.c.id)
    )
    return len(result.all())


async def open_handovers(session: AsyncSession, *, to_agent: str | None = None) -> list[dict]:
    """Handovers whose buyer still waits since the same moment, longest wait first."""
    query = (
        sa.select(Handover, Buyer.nick)
        .join(Conversation, sa.and_(Conversation.id == Handover.conversation_id,
                                    Conversation.waiting_since == Handover.waiting_since))
        .join(Buyer, Buyer.id == Handover.buyer_id)
        .order_by(Handover.waiting_since, Handover.id)
    )
    if to_agent is not None:
        query = query.where(Handover.to_agent == to_agent)
    latest: dict[int, dict] = {}
    for handover, nick in await session.execute(query):
        # A buyer handed over twice (two shift changes) shows the latest.
        previous = latest.get(handover.conversation_id)
        if previous is None or previous["shift_change_at"] < handover.shift_change_at:
            latest[handover.conversation_id] = {
                "conversation_id": handover.conversation_id, "buyer_id": handover.buyer_id, "buyer": nick,
                "platform": handover.platform, "from_agent": handover.from_agent, "to_agent": handover.to_agent,
                "shift_change_at": handover.shift_change_at, "waiting_since": handover.waiting_since,
                "last_buyer_text": handover.last_buyer_text,
            }
    return sorted(latest.values(), key=lambda h: (h["waiting_since"], h["conversation_id"]))


def _utc(value: str | datetime) -> datetime:
    """A stored naive-UTC time, as text (SQLite) or a datetime (PostgreSQL), made aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc)


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
