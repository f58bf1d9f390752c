"""Buyer messages of a period that got no suggestion, each with the agent's next reply in its
conversation: what the learning queue groups (`matching/learn.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Message, Suggestion


async def unanswered(session: AsyncSession, *, start: datetime, end: datetime,
                     most: int = 5000) -> list[tuple[int, str, datetime, str | None]]:
    """(message id, text, sent at, the agent's next reply or None), oldest first, at most `most`."""
    no_suggestion = ~sa.exists().where(Suggestion.message_id == Message.id)
    buyers = (await session.execute(
        sa.select(Message.id, Message.conversation_id, Message.text, Message.sent_at)
        .where(Message.sender == "buyer", Message.sent_at >= start, Message.sent_at < end, no_suggestion)
        .order_by(Message.sent_at, Message.id).limit(most)
    )).all()
    if not buyers:
        return []
    conversations = {row.conversation_id for row in buyers if row.conversation_id is not None}
    replies: dict[int, list[tuple[datetime, int, str]]] = {}
    for chunk in _chunks(sorted(conversations), 500):
        for row in (await session.execute(
            sa.select(Message.conversation_id, Message.sent_at, Message.id, Message.text)
            .where(Message.conversation_id.in_(chunk), Message.sender == "agent", Message.sent_at >= start)
            .order_by(Message.sent_at, Message.id)
        )).all():
            replies.setdefault(row.conversation_id, []).append((row.sent_at, row.id, row.text))
    out = []
    for row in buyers:
        after = next((text for at, mid, text in replies.get(row.conversation_id, ())
                      if (at, mid) > (row.sent_at, row.id)), None)
        out.append((row.id, row.text, row.sent_at, after))
    return out


async def existing(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """Of these message ids, those still stored (retention may have deleted some): id -> text."""
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(set(ids)), 500):
        for mid, text in (await session.execute(sa.select(Message.id, Message.text).where(Message.id.in_(chunk)))).all():
            found[mid] = text
    return found


def _chunks(values: list, size: int):
    for i in range(0, len(values), size):
        yield values[i:i + size]
