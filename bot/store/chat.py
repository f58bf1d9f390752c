"""Buyers, conversations and messages."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from bot.conversation import AGENT, BUYER, SUPERVISOR_ACCOUNT, Line, current_agent, split, waiting_since
from bot.store.tables import Buyer, Conversation, Handover, Message, Order, ReplyFeedback, Ticket


# session.info keys: what this session already looked up or recorded, asked for again by each consumer.
RECORDED = "chat.recorded"  # (platform, push_id) -> the Message recorded
BUYERS = "chat.buyers"  # (platform, shop, nick) -> buyer id
COMMITTED_BUYERS = "chat.committed_buyers"  # the same, known from earlier transactions (read only)
# The session's identity map holds clean objects weakly: the conversations a message touched are kept
# here, so that each consumer's session.get finds them without a SELECT.
TOUCHED = "chat.touched"
ATTACHED = "chat.attached"  # what _persisted attached in this transaction


# The processor's statements, built once: building one per call cost about as much as running it.
_b = Buyer.__table__.c
_INSERT_BUYER = {
    name: dialect_insert(Buyer.__table__).on_conflict_do_nothing().returning(_b.id)
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_BUYER_ID = sa.select(_b.id).where(
    _b.platform == sa.bindparam("platform"), _b.shop == sa.bindparam("shop"), _b.nick == sa.bindparam("nick"))
# The conversations a message at :at can touch: the one it would join (the last started at or before
# it, even when that ended more than the gap before: only a buyer message starts a new one) and
# every one active within the gap of it (:since) or later.
_JOINED = (
    sa.select(Conversation.id).where(Conversation.buyer_id == sa.bindparam("buyer"), Conversation.started_at <= sa.bindparam("at"))
    .order_by(Conversation.started_at.desc(), Conversation.id.desc()).limit(1).scalar_subquery()
)
_AFFECTED = (
    sa.select(Conversation)
    .where(Conversation.buyer_id == sa.bindparam("buyer"),
           sa.or_(Conversation.last_message_at >= sa.bindparam("since"), Conversation.id == _JOINED))
    .order_by(Conversation.started_at, Conversation.id)
)
_INSERT_CONVERSATION = sa.insert(Conversation.__table__).returning(Conversation.__table__.c.id)
_INSERT_MESSAGE = sa.insert(Message.__table__).returning(Message.__table__.c.id)
_MESSAGE_COLUMNS = tuple(c.name for c in Message.__table__.c if c.name != "id")
_ANSWERED_BY_AGENT = sa.select(sa.literal(1)).where(
    Message.conversation_id == sa.bindparam("conversation"), Message.sender == AGENT, Message.agent_account != "",
    Message.agent_account != SUPERVISOR_ACCOUNT,
).limit(1)


async def buyer_id(session: AsyncSession, *, platform: str, shop: str, nick: str, seen_at: datetime) -> int:
    """The buyer's id, created on first sight (safe against a concurrent creation)."""
    known = session.info.setdefault(BUYERS, {})
    key = (platform, shop, nick)
    if key in known:
        return known[key]
    if (committed := session.info.get(COMMITTED_BUYERS, {}).get(key)) is not None:
        return committed
    # Not seen by this process: most often a new buyer, so insert first and look up only on a conflict.
    values = {"platform": platform, "shop": shop, "nick": nick, "first_seen_at": seen_at}
    found = await session.scalar(_INSERT_BUYER[session.bind.dialect.name], values)
    if found is None:
        found = await session.scalar(_BUYER_ID, values)
    known[key] = found
    return found


async def record_message(
    session: AsyncSession,
    *,
    buyer_id: int,
    platform: str,
    shop: str,
    sender: str,
    agent_account: str,
    text: str,
    sent_at: datetime,
    gap: timedelta,
    push_id: str | None = None,
    client_msg_id: str | None = None,
) -> Message:
    """Store a message and put it in the right conversation, even when it arrives out of order.

    The usual in-order message updates its conversation in place; a late one has the conversations
    it can touch recomputed (bot.conversation's rules over their messages).
    """
    message = Message(
        buyer_id=buyer_id, platform=platform, sender=sender, agent_account=agent_account, text=text,
        sent_at=sent_at, push_id=push_id, client_msg_id=client_msg_id,
    )
    affected = list((await session.scalars(
        _AFFECTED, {"buyer": buyer_id, "at": sent_at, "since": sent_at - gap}
    )).all())
    in_order = all(c.last_message_at <= sent_at for c in affected)
    if in_order and affected and not (sender == BUYER and sent_at - affected[-1].last_message_at > gap):
        # The usual case: after all of the buyer's other messages, in the last conversation.
        await _append(session, affected[-1], message)
    elif in_order:
        await _start(session, message, shop=shop)
    else:
        await _regroup(session, message, affected, shop=shop, gap=gap)
    if push_id is not None:
        session.info.setdefault(RECORDED, {})[(platform, push_id)] = message
    session.info.setdefault(TOUCHED, []).extend(affected)
    return message


async def _start(session: AsyncSession, message: Message, *, shop: str) -> None:
    """A message that starts a conversation: the buyer's first, or a buyer message after the gap."""
    line = Line(message.sender, message.sent_at, message.agent_account)
    values = dict(
        buyer_id=message.buyer_id, platform=message.platform, shop=shop, started_at=message.sent_at,
        last_message_at=message.sent_at, waiting_since=waiting_since([line]), agent_account=current_agent([line]),
        last_buyer_text=message.text[:500] if message.sender == BUYER else "",
    )
    conversation = Conversation(id=await session.scalar(_INSERT_CONVERSATION, values), **values)
    _persisted(session, conversation)
    message.conversation_id = conversation.id
    await _insert(session, message)
    session.info.setdefault(TOUCHED, []).append(conversation)


async def _insert(session: AsyncSession, message: Message) -> None:
    """Insert `message` with a plain statement, then let the session know it as stored (the ORM's
    flush of one new object costs several times the INSERT itself)."""
    message.id = await session.scalar(_INSERT_MESSAGE, {c: getattr(message, c) for c in _MESSAGE_COLUMNS})
    _persisted(session, message)


def _persisted(session: AsyncSession, obj) -> None:
    """`obj`, whose row was just inserted as it is, becomes the session's persistent object."""
    make_transient_to_detached(obj)
    session.add(obj)
    session.info.setdefault(ATTACHED, []).append(obj)


def forget_attached(session: AsyncSession) -> None:
    """After a savepoint's rollback: the objects attached so far leave the session (those of the
    released savepoints before it too, which nothing uses again). A rollback expunges only what
    the ORM inserted itself; a stale object still referenced (by a traceback, say) would collide
    with the row that gets its id next."""
    for obj in session.info.pop(ATTACHED, []):
        if obj in session:
            session.expunge(obj)


async def _append(session: AsyncSession, conversation: Conversation, message: Message) -> None:
    """What the full regrouping would make of `conversation` with `message` at its end."""
    message.conversation_id = conversation.id
    await _insert(session, message)
    conversation.last_message_at = message.sent_at
    if message.sender == BUYER:
        conversation.last_buyer_text = message.text[:500]
        if conversation.waiting_since is None:
            conversation.waiting_since = message.sent_at
    elif message.sender == AGENT:
        conversation.waiting_since = None
    if message.agent_account == SUPERVISOR_ACCOUNT:
        pass  # a supervisor's reply: the conversation stays with its agent
    elif message.sender == AGENT and message.agent_account:
        conversation.agent_account = message.agent_account
    elif message.agent_account and not await session.scalar(
        # current_agent(): the last answering agent wins over the last routing; is there one?
        _ANSWERED_BY_AGENT, {"conversation": conversation.id}
    ):
        conversation.agent_account = message.agent_account
    await session.flush()


async def _regroup(
    session: AsyncSession, message: Message, affected: list[Conversation], *, shop: str, gap: timedelta,
) -> None:
    """Recompute the conversations `message` can touch (out of order, or starting a new one)."""
    session.add(message)
    await session.flush()
    messages = [message]
    if affected:
        messages += (
            await session.scalars(
                sa.select(Message).where(
                    Message.conversation_id.in_([c.id for c in affected]), Message.id != message.id
                )
            )
        ).all()
    was_in = {m.id: m.conversation_id for m in messages}
    messages.sort(key=lambda m: (m.sent_at, m.id))
    lines = [Line(m.sender, m.sent_at, m.agent_account) for m in messages]
    groups = split(lines, gap=gap)
    for n, group in enumerate(groups):
        if n < len(affected):
            conversation = affected[n]
        else:
            conversation = Conversation(buyer_id=message.buyer_id, platform=message.platform, shop=shop,
                                        started_at=message.sent_at, last_message_at=message.sent_at)
            session.add(conversation)
            await session.flush()
            session.info.setdefault(TOUCHED, []).append(conversation)
        group_lines = [lines[i] for i in group]
        conversation.started_at = group_lines[0].sent_at
        conversation.last_message_at = group_lines[-1].sent_at
        conversation.waiting_since = waiting_since(group_lines)
        conversation.agent_account = current_agent(group_lines)
        buyer_texts = [messages[i].text for i in group if messages[i].sender == BUYER]
        conversation.last_buyer_text = buyer_texts[-1][:500] if buyer_texts else ""
        for i in group:
            messages[i].conversation_id = conversation.id
    await session.flush()
    # A late message only ever joins conversations: what pointed at one that is gone now points at
    # the one its messages went to.
    moved = {was_in[m.id]: m.conversation_id for m in messages if was_in[m.id] is not None}
    for stale in affected[len(groups):]:
        kept = moved[stale.id]
        # one handover per conversation and shift change: the kept conversation's stays
        await session.execute(sa.delete(Handover).where(
            Handover.conversation_id == stale.id,
            Handover.shift_change_at.in_(sa.select(Handover.shift_change_at).where(Handover.conversation_id == kept)),
        ))
        for table in (ReplyFeedback, Handover, Ticket):
            await session.execute(sa.update(table).where(table.conversation_id == stale.id).values(conversation_id=kept))
        await session.delete(stale)


async def conversation_of(session: AsyncSession, message: Message) -> Conversation | None:
    return await session.get(Conversation, message.conversation_id)


async def open_conversations(
    session: AsyncSession, *, active_since: datetime, accounts: frozenset[str] | None, limit: int, offset: int,
) -> tuple[list[tuple[Conversation, Buyer]], int]:
    """Conversations with a message since `active_since` or a buyer still waiting: waiting ones
    first, longest wait first, then the most recent. `accounts` ("platform:account") restricts to
    the conversations routed to those accounts; None is everything."""
    where = [sa.or_(Conversation.last_message_at >= active_since, Conversation.waiting_since.is_not(None))]
    if accounts is not None:
        pairs = [tuple(a.split(":", 1)) for a in accounts]
        if not pairs:
            return [], 0
        where.append(sa.or_(*(sa.and_(Conversation.platform == p, Conversation.agent_account == acc) for p, acc in pairs)))
    total = await session.scalar(sa.select(sa.func.count()).select_from(Conversation).where(*where))
    rows = (await session.execute(
        sa.select(Conversation, Buyer).join(Buyer, Buyer.id == Conversation.buyer_id).where(*where)
        .order_by(Conversation.waiting_since.is_(None), Conversation.waiting_since, Conversation.last_message_at.desc())
        .limit(limit).offset(offset)
    )).all()
    return [(c, b) for c, b in rows], total or 0


_MESSAGES_OF = sa.select(Message).where(Message.conversation_id == sa.bindparam("conversation")).order_by(
    Message.sent_at, Message.id)


async def messages_of(session: AsyncSession, conversation_id: int) -> list[Message]:
    return list((await session.scalars(_MESSAGES_OF, {"conversation": conversation_id})).all())


async def latest_messages(session: AsyncSession, conversation_ids: list[int]) -> dict[int, Message]:
    """The latest message of each conversation."""
    if not conversation_ids:
        return {}
    latest = (
        sa.select(Message.conversation_id, sa.func.max(Message.sent_at).label("at"))
        .where(Message.conversation_id.in_(conversation_ids)).group_by(Message.conversation_id).subquery()
    )
    rows = (await session.scalars(
        sa.select(Message).join(latest, sa.and_(Message.conversation_id == latest.c.conversation_id,
                                                Message.sent_at == latest.c.at)).order_by(Message.id)
    )).all()
    return {m.conversation_id: m for m in rows}


async def latest_order(session: AsyncSession, buyer_id: int) -> Order | None:
    return await session.scalar(
        sa.select(Order).where(Order.buyer_id == buyer_id, Order.created_at.is_not(None))
        .order_by(Order.created_at.desc()).limit(1)
    )
