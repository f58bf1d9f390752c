"""Pushes set aside: the dead-letter list (issue 14). A push that cannot be parsed, or that a bug
fails, is marked processed with its `last_error` (at once; a unique-key conflict, maybe a race, after
`pushes.MAX_ATTEMPTS` tries); a store error never sets one aside. `csbot pushes failed` and
GET /api/pushes/failed list them with the consumers' failures (bot.store.consumer_failures);
`csbot pushes retry` and POST /api/pushes/retry replay both (`replay`) once the bug is fixed."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import iso
from bot.store import consumer_failures
from bot.store.tables import RawPush

_SET_ASIDE = sa.and_(RawPush.processed_at.is_not(None), RawPush.last_error.is_not(None))


async def listed(session: AsyncSession, *, limit: int = 100) -> list[RawPush]:
    """The pushes set aside, newest first."""
    return list((await session.scalars(
        sa.select(RawPush).where(_SET_ASIDE).order_by(RawPush.processed_at.desc(), RawPush.id.desc()).limit(limit)
    )).all())


async def count(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).where(_SET_ASIDE)) or 0


async def retry(session: AsyncSession, *, push_ids: Collection[str] | None) -> int:
    """Put pushes set aside back to be processed (`push_ids` None: all of them); how many."""
    where = _SET_ASIDE if push_ids is None else sa.and_(_SET_ASIDE, RawPush.push_id.in_(list(push_ids)))
    result = await session.execute(
        sa.update(RawPush).where(where).values(processed_at=None, attempts=0, last_error=None))
    return result.rowcount or 0


async def replay(session: AsyncSession, *, push_ids: Collection[str] | None,
                 consumer: str | None) -> tuple[int, int]:
    """The pushes set aside put back to be processed (none when only `consumer`'s part is asked for), and
    the consumers' failures on them asked to be replayed: how many of each (`push_ids` None: all)."""
    pushes = 0 if consumer else await retry(session, push_ids=push_ids)
    return pushes, await consumer_failures.ask_replay(session, push_ids=push_ids, consumer=consumer)


def as_item(push: RawPush) -> dict:
    """One push set aside, as `csbot pushes failed --json` and GET /api/pushes/failed list it."""
    return {"platform": push.platform, "push_id": push.push_id, "kind": push.kind, "attempts": push.attempts,
            "set_aside_at": iso(push.processed_at), "error": push.last_error}
