"""An agent (or a supervisor) ends a conversation (结束会话).

Ending records who and when (`conversations.ended_at`, `ended_by`); it does not change what a
conversation is: metrics.md's conversations (a buyer message after the gap starts a new one) and so
every figure stay as they are. A buyer message after `ended_at` makes the conversation live again
(`ended` is then false): nothing has to reopen it. Session-first; nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Conversation


class AlreadyEnded(Exception):
    pass


def ended(c: Conversation) -> bool:
    """Ended, and no message since."""
    return c.ended_at is not None and c.ended_at >= c.last_message_at


def ended_condition() -> sa.ColumnElement[bool]:
    """`ended` as SQL, on `conversations`."""
    return sa.and_(Conversation.ended_at.is_not(None), Conversation.ended_at >= Conversation.last_message_at)


async def end(session: AsyncSession, conversation: Conversation, *, by: str, now: datetime) -> datetime:
    """End `conversation` (as loaded in this session) by `by` at `now`; AlreadyEnded when it is ended
    already, or another request ended it, or a message came in since it was loaded. Returns `ended_at`:
    `now`, or the last message's time when that is later (a platform's clock ahead of ours)."""
    if ended(conversation):
        raise AlreadyEnded
    at = max(now, conversation.last_message_at)
    done = await session.execute(
        sa.update(Conversation)
        .where(Conversation.id == conversation.id, Conversation.last_message_at == conversation.last_message_at,
               sa.not_(ended_condition()))
        .values(ended_at=at, ended_by=by)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    if done.first() is None:
        raise AlreadyEnded
    return at


async def ended_counts(session: AsyncSession, *, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    """(who, platform) -> conversations they ended in [start, end) (who: `ended_by`, an agent id or a role)."""
    rows = await session.execute(
        sa.select(Conversation.ended_by, Conversation.platform, sa.func.count())
        .where(Conversation.ended_at >= start, Conversation.ended_at < end)
        .group_by(Conversation.ended_by, Conversation.platform)
    )
    return {(by or "", platform): n for by, platform, n in rows}
