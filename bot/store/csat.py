"""Satisfaction invitations (服务评价): conversations that ended and may be invited, the invitations,
the buyers' next messages after them, and the ratings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.conversation_end import ended_condition
from bot.store.tables import Buyer, Conversation, CsatInvitation, Message, Ticket

T = CsatInvitation.__table__


@dataclass(frozen=True)
class Ended:
    conversation_id: int
    buyer_id: int
    platform: str
    shop: str
    buyer: str
    agent_account: str
    last_message_at: datetime


async def ended(session: AsyncSession, *, after: datetime, before: datetime, agent_ended_since: datetime | None = None,
                conversation_id: int | None = None, limit: int = 500) -> list[Ended]:
    """Conversations that ended, answered (an agent on it), not invited yet, whose buyer has no ticket
    waiting for its callback answer: by the gap (last message in [after, before), nobody waiting), or
    ended by an agent since `agent_ended_since` with no message since (whether or not the buyer's last
    message, often a thanks, still counts as waiting). With `conversation_id`, that one only."""
    invited = sa.select(T.c.conversation_id).where(T.c.conversation_id == Conversation.id)
    in_callback = sa.select(Ticket.id).where(Ticket.buyer_id == Conversation.buyer_id, Ticket.state == "callback")
    answered = sa.select(Message.id).where(Message.conversation_id == Conversation.id, Message.sender == "agent")
    by_gap = sa.and_(Conversation.last_message_at >= after, Conversation.last_message_at < before,
                     Conversation.waiting_since.is_(None))
    by_agent = sa.and_(ended_condition(), Conversation.ended_at >= agent_ended_since) \
        if agent_ended_since is not None else sa.false()
    query = (
        sa.select(Conversation.id, Conversation.buyer_id, Conversation.platform, Conversation.shop, Buyer.nick,
                  Conversation.agent_account, Conversation.last_message_at)
        .join(Buyer, Buyer.id == Conversation.buyer_id)
        .where(sa.or_(by_gap, by_agent), Conversation.agent_account != "",
               ~sa.exists(invited), ~sa.exists(in_callback), sa.exists(answered))
        .order_by(Conversation.last_message_at, Conversation.id).limit(limit)
    )
    if conversation_id is not None:
        query = query.where(Conversation.id == conversation_id)
    return [Ended(*row) for row in await session.execute(query)]


async def invite(session: AsyncSession, *, ended: Ended, agent: str, day: date, now: datetime,
                 client_msg_id: str) -> bool:
    """Record the invitation; False when the conversation or the buyer (that day) already has one."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(T).values(buyer_id=ended.buyer_id, conversation_id=ended.conversation_id, platform=ended.platform,
                         agent=agent, day=day, invited_at=now, client_msg_id=client_msg_id, state="open")
        .on_conflict_do_nothing().returning(T.c.id)
    )
    return result.first() is not None


@dataclass(frozen=True)
class Answer:
    invitation_id: int
    text: str | None  # the buyer's first message after the invitation, None if none yet
    at: datetime | None


async def open_answers(session: AsyncSession) -> list[Answer]:
    """Each open invitation with the buyer's first message after it (if any)."""
    rows = (await session.execute(sa.select(T.c.id, T.c.buyer_id, T.c.invited_at).where(T.c.state == "open"))).all()
    found = []
    for invitation_id, buyer_id, invited_at in rows:
        first = (await session.execute(
            sa.select(Message.text, Message.sent_at)
            .where(Message.buyer_id == buyer_id, Message.sender == "buyer", Message.sent_at > invited_at)
            .order_by(Message.sent_at, Message.id).limit(1)
        )).first()
        found.append(Answer(invitation_id, *(first or (None, None))))
    return found


async def invited_at(session: AsyncSession, invitation_id: int) -> datetime:
    return await session.scalar(sa.select(T.c.invited_at).where(T.c.id == invitation_id))


async def answer(session: AsyncSession, invitation_id: int, *, rating: int | None, at: datetime | None) -> None:
    """Rated (with `rating`), or closed without one."""
    await session.execute(sa.update(T).where(T.c.id == invitation_id, T.c.state == "open").values(
        state="rated" if rating is not None else "closed", rating=rating, answered_at=at))


@dataclass(frozen=True)
class ConversationRating:
    agent_account: str
    platform: str
    rating: int
    at: datetime
    owner: str | None = None  # (the agent is the account's)


async def ratings(session: AsyncSession, *, start: datetime, end: datetime) -> list[ConversationRating]:
    """The ratings given in [start, end)."""
    rows = await session.execute(
        sa.select(T.c.agent, T.c.platform, T.c.rating, T.c.answered_at)
        .where(T.c.state == "rated", T.c.answered_at >= start, T.c.answered_at < end)
    )
    return [ConversationRating(*row) for row in rows]
