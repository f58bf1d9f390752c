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
    await insert_rows(session, rows(message_id, ranked))
    session.info.setdefault(STORED, {})[message_id] = [intent for intent, _, _ in ranked]


def rows(message_id: int, ranked: Sequence[tuple[str, float, str]]) -> list[dict]:
    return [dict(message_id=message_id, rank=rank, intent=intent, score=score, question=question)
            for rank, (intent, score, question) in enumerate(ranked, start=1)]


async def insert_rows(session: AsyncSession, rows: list[dict]) -> None:
    """A plain insert, one statement for a batch (the ORM's bookkeeping cost 0.4 ms a message)."""
    if rows:
        await session.execute(sa.insert(Suggestion.__table__), rows)


async def intents_for_messages(session: AsyncSession, message_ids: list[int]) -> dict[int, list[str]]:
    """Message id -> the intents suggested for it, best first (one query for a batch)."""
    found: dict[int, list[str]] = {}
    stored = session.info.get(STORED, {})
    wanted = sorted({i for i in message_ids if i not in stored})
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        result = await session.execute(sa.select(Suggestion.message_id, Suggestion.intent)
                                        .where(Suggestion.message_id.in_(part)).order_by(Suggestion.message_id, Suggestion.rank))
        for message_id, intent in result:
            found.setdefault(message_id, []).append(intent)
    return {i: stored[i] if i in stored else found.get(i, []) for i in message_ids}


async def best_intent(session: AsyncSession, message_id: int) -> str | None:
    """The intent suggested first for the message, if any (the later consumers of a push the
    matching consumer just handled find it in the session)."""
    if (stored := session.info.get(STORED, {}).get(message_id)) is None:
        stored = [s.intent for s in await for_message(session, message_id)]
    return stored[0] if stored else None


async def for_message(session: AsyncSession, message_id: int) -> list[Suggestion]:
    return list((await session.scalars(_FOR_MESSAGE, {"message": message_id})).all())
