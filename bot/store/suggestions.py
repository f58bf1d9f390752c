"""Suggestions stored with the buyer message they were computed for."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import chat
from bot.store.tables import Message, Suggestion

STORED = "suggestions.stored"  # session.info: message id -> the intents stored in this session, best first


_FOR_MESSAGE = sa.select(Suggestion).where(Suggestion.message_id == sa.bindparam("message")).order_by(Suggestion.rank)


async def message_for_push(session: AsyncSession, *, platform: str, push_id: str) -> Message | None:
    # Each consumer asks for the message of the push being processed: chat.record_message noted it.
    known = session.info.get(chat.RECORDED, {}).get((platform, push_id))
    if known is not None:
        return known
    return await session.scalar(
        sa.select(Message).where(Message.platform == platform, Message.push_id == push_id).limit(1)
    )


async def replace(session: AsyncSession, *, message_id: int, ranked: Sequence[tuple[str, float, str]]) -> None:
    """Store (intent, score, question) best first, replacing what a retry stored before."""
    recorded_now = any(m.id == message_id for m in session.info.get(chat.RECORDED, {}).values())
    if not recorded_now:  # a message stored in this transaction has nothing to replace
        await session.execute(sa.delete(Suggestion).where(Suggestion.message_id == message_id))
    rows = [dict(message_id=message_id, rank=rank, intent=intent, score=score, question=question)
            for rank, (intent, score, question) in enumerate(ranked, start=1)]
    if rows:  # a plain insert: the processor's hot path, where the ORM's bookkeeping cost 0.4 ms
        await session.execute(sa.insert(Suggestion.__table__), rows)
    session.info.setdefault(STORED, {})[message_id] = [intent for intent, _, _ in ranked]


async def best_intent(session: AsyncSession, message_id: int) -> str | None:
    """The intent suggested first for the message, if any (the later consumers of a push the
    matching consumer just handled find it in the session)."""
    if (stored := session.info.get(STORED, {}).get(message_id)) is None:
        stored = [s.intent for s in await for_message(session, message_id)]
    return stored[0] if stored else None


async def for_message(session: AsyncSession, message_id: int) -> list[Suggestion]:
    return list((await session.scalars(_FOR_MESSAGE, {"message": message_id})).all())
