"""Buyers, conversations and messages."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import BUYER, Line, current_agent, split, waiting_since
from bot.store.tables import Buyer, Conversation, Message, Order


# session.info keys: what this session already looked up or recorded, asked for again by each consumer.
RECORDED = "chat.recorded"  # (platform, push_id) -> the Message recorded
BUYERS = "chat.buyers"  # (platform, shop, nick) -> buyer id


async def buyer_id(session: AsyncSession, *, platform: str, shop: str, nick: str, seen_at: datetime) -> int:
    """The buyer's id, created on first sight (safe against a concurrent creation)."""
    known = session.info.setdefault(BUYERS, {})
    key = (platform, shop, nick)
    if key in known:
        return known[key]
    found = await session.scalar(
        sa.select(Buyer.id).where(Buyer.platform == platform, Buyer.shop == shop, Buyer.nick == nick)
    )
    if found is None:
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        await session.execute(
            insert(Buyer.__table__)
            .values(platform=platform, shop=shop, nick=nick, first_seen_at=seen_at)
            .on_conflict_do_nothing()
        )
        found = await session.scalar(
            sa.select(Buyer.id).where(Buyer.platform == platform, Buyer.shop == shop, Buyer.nick == nick)
        )
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

    Only the conversations a message at `sent_at` can touch (those active within `gap` of it, and
    any later ones) are recomputed, so the usual in-order message costs one conversation's worth.
    """
    message = Message(
        buyer_id=buyer_id, platform=platform, sender=sender, agent_account=agent_account, text=text,
        sent_at=sent_at, push_id=push_id, client_msg_id=client_msg_id,
    )
    session.add(message)
    await session.flush()
    if push_id is not None:
        session.info.setdefault(RECORDED, {})[(platform, push_id)] = message
    affected = list(
        (
            await session.scalars(
                sa.select(Conversation)
                .where(Conversation.buyer_id == buyer_id, Conversation.last_message_at >= sent_at - gap)
                .order_by(Conversation.started_at, Conversation.id)
            )
        ).all()
    )
    messages = [message]
    if affected:
        messages += (
            await session.scalars(
                sa.select(Message).where(
                    Message.conversation_id.in_([c.id for c in affected]), Message.id != message.id
                )
            )
        ).all()
    messages.sort(key=lambda m: (m.sent_at, m.id))
    lines = [Line(m.sender, m.sent_at, m.agent_account) for m in messages]
    groups = split(lines, gap=gap)
    for n, group in enumerate(groups):
        if n < len(affected):
            conversation = affected[n]
        else:
            conversation = Conversation(buyer_id=buyer_id, platform=platform, shop=shop,
                                        started_at=sent_at, last_message_at=sent_at)
            session.add(conversation)
            await session.flush()
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
    for stale in affected[len(groups):]:
        await session.delete(stale)
    return message


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


async def messages_of(session: AsyncSession, conversation_id: int) -> list[Message]:
    return list((await session.scalars(
        sa.select(Message).where(Message.conversation_id == conversation_id).order_by(Message.sent_at, Message.id)
    )).all())


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
