"""Payment reminders (催付) in the store: schedule rows, the atomic claim of due ones, what the policy
needs to know about a buyer, the sent log, opt-outs, and the rows reports and the API read.

Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import (
    Buyer,
    Message,
    Order,
    OutboxMessage,
    Reminder,
    ReminderOptOut,
)

DUE = "due"


def _insert(session: AsyncSession):
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


def client_msg_id(*, platform: str, order_id: str, slot: str) -> str:
    """The outbox key of a reminder: the same reminder always gets the same key."""
    return f"remind:{platform}:{order_id}:{slot}"


@dataclass(frozen=True)
class Claimed:
    """A due reminder, claimed by this transaction, with the order and buyer it is about."""

    id: int
    slot: str
    due_at: datetime
    scheduled_at: datetime
    order_pk: int
    order_id: str
    platform: str
    shop: str
    buyer_id: int
    buyer: str  # nick
    status: str
    title: str
    amount_fen: int | None
    closes_at: datetime | None


@dataclass(frozen=True)
class OpenOrder:
    order_pk: int
    order_id: str
    title: str
    amount_fen: int | None
    created_at: datetime | None
    closes_at: datetime | None


async def schedule(session: AsyncSession, *, order: Order, slots: Sequence[tuple[str, datetime]]) -> int:
    """Add the order's reminder slots; a slot already there is left as it is. Returns how many were new."""
    if not slots:
        return 0
    result = await session.execute(
        _insert(session)(Reminder.__table__)
        .values([
            dict(order_pk=order.id, buyer_id=order.buyer_id, platform=order.platform, shop=order.shop,
                 order_id=order.order_id, slot=slot, scheduled_at=at, due_at=at, state=DUE)
            for slot, at in slots
        ])
        .on_conflict_do_nothing(index_elements=["order_pk", "slot"])
    )
    return max(result.rowcount or 0, 0)


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[Claimed]:
    """Due reminders (`state = 'due' AND due_at <= now`, the `ix_reminders_due` index), oldest first,
    locked for this transaction.

    On PostgreSQL the rows are taken `FOR UPDATE SKIP LOCKED`, and then their buyers likewise: a
    buyer being reminded by another process is left to it whole (its rows come back next scan), so
    that two processes never both count one buyer's daily cap. SQLite transactions are `BEGIN
    IMMEDIATE` (one writer at a time), which gives the same guarantee.
    """
    rows = (
        await session.execute(
            sa.select(Reminder, Order, Buyer.nick)
            .join(Order, Order.id == Reminder.order_pk)
            .join(Buyer, Buyer.id == Reminder.buyer_id)
            .where(Reminder.state == DUE, Reminder.due_at <= now)
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Reminder)
        )
    ).all()
    if not rows:
        return []
    buyer_ids = sorted({r.buyer_id for r, _, _ in rows})
    locked = set(
        (
            await session.scalars(
                sa.select(Buyer.id).where(Buyer.id.in_(buyer_ids)).order_by(Buyer.id)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    rows = [(r, o, nick) for r, o, nick in rows if r.buyer_id in locked]
    if rows:
        # The rest of these buyers' due reminders come along, so that one message covers them all. Their
        # buyers are ours now; a process still holding one of the rows lets go at its commit.
        rows += (
            await session.execute(
                sa.select(Reminder, Order, Buyer.nick)
                .join(Order, Order.id == Reminder.order_pk)
                .join(Buyer, Buyer.id == Reminder.buyer_id)
                .where(Reminder.state == DUE, Reminder.due_at <= now,
                       Reminder.buyer_id.in_({r.buyer_id for r, _, _ in rows}),
                       Reminder.id.not_in([r.id for r, _, _ in rows]))
                .order_by(Reminder.id)
                .with_for_update(of=Reminder)
            )
        ).all()
    return [
        Claimed(id=r.id, slot=r.slot, due_at=r.due_at, scheduled_at=r.scheduled_at, order_pk=o.id,
                order_id=o.order_id, platform=o.platform, shop=o.shop, buyer_id=r.buyer_id, buyer=nick,
                status=o.status, title=o.title, amount_fen=o.amount_fen, closes_at=o.closes_at)
        for r, o, nick in rows
    ]


async def sent_counts(session: AsyncSession, order_pks: Iterable[int]) -> dict[int, int]:
    """Reminders sent so far per order."""
    pks = list(set(order_pks))
    if not pks:
        return {}
    rows = await session.execute(
        sa.select(Reminder.order_pk, sa.func.count())
        .where(Reminder.order_pk.in_(pks), Reminder.state == "sent")
        .group_by(Reminder.order_pk)
    )
    return {pk: n for pk, n in rows.all()}


@dataclass(frozen=True)
class BuyerFacts:
    """What the policy needs to know about one buyer at scan time."""

    opted_out: bool
    last_agent_at: datetime | None  # their latest agent message within the live window, if any
    sent_today: int  # reminder messages sent to them in [day_start, day_end)
    open_orders: list[OpenOrder]  # unpaid, not closed, not past their auto-close; oldest first


async def buyer_facts(
    session: AsyncSession, *, buyer_ids: Sequence[int], now: datetime, live_since: datetime,
    day_start: datetime, day_end: datetime,
) -> dict[int, BuyerFacts]:
    """The facts of many buyers in four indexed queries (one scan round needs them all)."""
    ids = sorted(set(buyer_ids))
    if not ids:
        return {}
    opted = set((await session.scalars(
        sa.select(ReminderOptOut.buyer_id).where(ReminderOptOut.buyer_id.in_(ids)))).all())
    agent = dict((await session.execute(
        sa.select(Message.buyer_id, sa.func.max(Message.sent_at))
        .where(Message.buyer_id.in_(ids), Message.sent_at >= live_since, Message.sent_at <= now,
               Message.sender == "agent")
        .group_by(Message.buyer_id))).all())
    sent = dict((await session.execute(
        sa.select(Reminder.buyer_id, sa.func.count(sa.distinct(Reminder.client_msg_id)))
        .where(Reminder.buyer_id.in_(ids), Reminder.decided_at >= day_start, Reminder.decided_at < day_end,
               Reminder.state == "sent")
        .group_by(Reminder.buyer_id))).all())
    orders: dict[int, list[OpenOrder]] = {i: [] for i in ids}
    # By buyer only (the buyer index), the status in Python: a buyer has few orders, the shop many.
    for o in await session.scalars(
        sa.select(Order).where(Order.buyer_id.in_(ids)).order_by(Order.created_at, Order.id)
    ):
        if o.status == "unpaid" and (o.closes_at is None or o.closes_at > now):
            orders[o.buyer_id].append(OpenOrder(order_pk=o.id, order_id=o.order_id, title=o.title,
                                                amount_fen=o.amount_fen, created_at=o.created_at,
                                                closes_at=o.closes_at))
    return {i: BuyerFacts(opted_out=i in opted, last_agent_at=agent.get(i), sent_today=sent.get(i, 0),
                          open_orders=orders[i]) for i in ids}


@dataclass
class RoundOutcome:
    """What one scan round decided, written in a few statements by `record_round`."""

    decided: list[dict] = field(default_factory=list)
    deferred: list[dict] = field(default_factory=list)
    queued: list[dict] = field(default_factory=list)

    def decide(self, id: int, *, state: str, reason: str | None, now: datetime, client_msg_id: str | None = None) -> None:
        """sent (with the message's key), skipped or missed."""
        self.decided.append({"id": id, "state": state, "reason": reason, "decided_at": now,
                             "client_msg_id": client_msg_id})

    def defer(self, id: int, *, until: datetime) -> None:
        """Still due, but not before `until` (the end of the quiet hours)."""
        self.deferred.append({"id": id, "due_at": until})

    def queue(self, *, client_msg_id: str, platform: str, shop: str, buyer: str, text: str, now: datetime) -> None:
        """A reminder message for the outbox, sent by the bot (it never stops a buyer's wait)."""
        self.queued.append(dict(client_msg_id=client_msg_id, platform=platform, shop=shop, buyer=buyer,
                                agent_account="", text=text, kind="reminder", sender="bot", state="pending",
                                attempts=0, created_at=now, next_attempt_at=now))


async def record_round(session: AsyncSession, outcome: RoundOutcome) -> None:
    """Queue the round's messages in the outbox (the insert of `outbox.enqueue`, many rows at once, once per
    `client_msg_id`) and write its decisions on the claimed reminders."""
    if outcome.queued:
        await session.execute(  # executemany: SQLAlchemy batches it ("insertmanyvalues")
            _insert(session)(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["client_msg_id"]),
            outcome.queued,
        )
    if outcome.decided:
        await session.execute(sa.update(Reminder), outcome.decided)  # executemany, by primary key
    if outcome.deferred:
        await session.execute(sa.update(Reminder), outcome.deferred)


_SENT_AND_WAITING = (  # every payment and close asks: built once
    sa.select(Reminder.client_msg_id)
    .join(OutboxMessage, OutboxMessage.client_msg_id == Reminder.client_msg_id)
    .where(Reminder.order_pk == sa.bindparam("order"), Reminder.state == "sent", OutboxMessage.state == "pending")
)


async def stop_for_order(session: AsyncSession, *, order_pk: int, reason: str, now: datetime) -> int:
    """The order was paid or closed: its due reminders are skipped with `reason`, and a reminder
    message still waiting in the outbox is cancelled, unless it also covers an order still unpaid.
    Returns how many reminders were stopped."""
    stopped = (
        await session.execute(
            sa.update(Reminder).where(Reminder.order_pk == order_pk, Reminder.state == DUE)
            .values(state="skipped", reason=reason, decided_at=now)
        )
    ).rowcount or 0
    waiting = (await session.scalars(_SENT_AND_WAITING, {"order": order_pk})).all()
    for key in set(waiting):
        still_unpaid = await session.scalar(
            sa.select(sa.func.count()).select_from(Reminder).join(Order, Order.id == Reminder.order_pk)
            .where(Reminder.client_msg_id == key, Order.status == "unpaid")
        )
        if still_unpaid:
            continue
        cancelled = (
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.client_msg_id == key, OutboxMessage.state == "pending")
                .values(state="cancelled", last_error=f"reminder stopped: order {reason} before it was sent")
            )
        ).rowcount
        if cancelled:
            covered = (await session.execute(
                sa.select(Reminder.id, Order.status).join(Order, Order.id == Reminder.order_pk)
                .where(Reminder.client_msg_id == key)
            )).all()
            for rid, status in covered:
                await session.execute(
                    sa.update(Reminder).where(Reminder.id == rid)
                    .values(state="skipped", reason=status if status in ("paid", "closed") else reason,
                            decided_at=now)
                )
                stopped += 1
    return stopped


async def sent_after_all(session: AsyncSession, *, client_msg_id: str) -> int:
    """The reminders a cancelled message carried were delivered anyway (it was already being sent
    when their order was paid or closed): they count as sent, the reason says what happened."""
    return (await session.execute(
        sa.update(Reminder).where(Reminder.client_msg_id == client_msg_id, Reminder.state == "skipped")
        .values(state="sent", reason=sa.func.coalesce(Reminder.reason, "") + "_while_sending")
    )).rowcount or 0


async def opt_out(session: AsyncSession, *, buyer_id: int, at: datetime, push_id: str | None = None) -> bool:
    """Record that the buyer asked to stop; False if they had already."""
    result = await session.execute(
        _insert(session)(ReminderOptOut.__table__).values(buyer_id=buyer_id, at=at, push_id=push_id)
        .on_conflict_do_nothing(index_elements=["buyer_id"])
    )
    return bool(result.rowcount)


async def history(session: AsyncSession, order_pks: Sequence[int]) -> dict[int, list[Reminder]]:
    """Each order's reminders, in due order."""
    out: dict[int, list[Reminder]] = {pk: [] for pk in order_pks}
    if order_pks:
        for r in await session.scalars(
            sa.select(Reminder).where(Reminder.order_pk.in_(list(order_pks)))
            .order_by(Reminder.order_pk, Reminder.scheduled_at, Reminder.id)
        ):
            out[r.order_pk].append(r)
    return out


async def orders_page(
    session: AsyncSession, *, status: str | None, platform: str | None, limit: int, offset: int,
) -> tuple[list[tuple[Order, str]], int]:
    """Orders (newest first) with their buyer's nick, filtered by status and platform; and the total."""
    where = []
    if status:
        where.append(Order.status == status)
    if platform:
        where.append(Order.platform == platform)
    total = await session.scalar(sa.select(sa.func.count()).select_from(Order).where(*where))
    rows = (
        await session.execute(
            sa.select(Order, Buyer.nick).join(Buyer, Buyer.id == Order.buyer_id).where(*where)
            .order_by(Order.created_at.desc().nulls_last(), Order.id.desc())
            .limit(limit).offset(offset)
        )
    ).all()
    return [(o, nick) for o, nick in rows], total or 0


@dataclass(frozen=True)
class Decided:
    """A decided reminder with what the report needs of its order."""

    platform: str
    order_pk: int
    state: str
    reason: str | None
    decided_at: datetime
    paid_at: datetime | None
    paid_fen: int | None  # the payment, or the order amount when the platform sent none


async def decided_between(session: AsyncSession, *, since: datetime, until: datetime) -> list[Decided]:
    """Reminders decided in [since, until). One whose message the outbox gave up on counts as skipped,
    reason `send_failed`: it never reached the buyer."""
    rows = await session.execute(
        sa.select(Reminder.platform, Reminder.order_pk, Reminder.state, Reminder.reason, Reminder.decided_at,
                  Order.paid_at, sa.func.coalesce(Order.paid_amount_fen, Order.amount_fen), OutboxMessage.state)
        .join(Order, Order.id == Reminder.order_pk)
        .outerjoin(OutboxMessage, OutboxMessage.client_msg_id == Reminder.client_msg_id)
        .where(Reminder.state != DUE, Reminder.decided_at >= since, Reminder.decided_at < until)
    )
    out = []
    for *fields, outbox_state in rows.all():
        decided = Decided(*fields)
        if decided.state == "sent" and outbox_state == "failed":
            decided = Decided(decided.platform, decided.order_pk, "skipped", "send_failed", decided.decided_at,
                              decided.paid_at, decided.paid_fen)
        out.append(decided)
    return out


@dataclass(frozen=True)
class Upcoming:
    due_at: datetime
    platform: str
    buyer: str
    order_id: str
    slot: str


async def due_between(session: AsyncSession, *, since: datetime, until: datetime, limit: int = 1000) -> list[Upcoming]:
    """Reminders still due that fall due in (since, until], soonest first (for the preview)."""
    rows = await session.execute(
        sa.select(Reminder.due_at, Reminder.platform, Buyer.nick, Reminder.order_id, Reminder.slot)
        .join(Buyer, Buyer.id == Reminder.buyer_id)
        .where(Reminder.state == DUE, Reminder.due_at > since, Reminder.due_at <= until)
        .order_by(Reminder.due_at, Reminder.id).limit(limit)
    )
    return [Upcoming(*row) for row in rows.all()]


async def still_wanted(session: AsyncSession, *, client_msg_id: str, now: datetime) -> bool:
    """A reminder message is still worth sending: one of the orders it carries is unpaid and not past
    its auto-close time. A message no reminder row knows (none) is left to its horizon."""
    carried = (await session.execute(
        sa.select(Order.status, Order.closes_at).join(Reminder, Reminder.order_pk == Order.id)
        .where(Reminder.client_msg_id == client_msg_id)
    )).all()
    if not carried:
        return True
    return any(status == "unpaid" and (closes_at is None or closes_at > now) for status, closes_at in carried)


async def not_sent(session: AsyncSession, *, client_msg_id: str, reason: str) -> int:
    """The outbox gave a reminder message up: the reminders it carried are skipped with `reason`
    (on the day they were decided, as the report counts them)."""
    return (await session.execute(
        sa.update(Reminder).where(Reminder.client_msg_id == client_msg_id, Reminder.state == "sent")
        .values(state="skipped", reason=reason)
    )).rowcount or 0
