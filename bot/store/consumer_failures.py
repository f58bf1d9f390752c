"""Consumer failures (issue 14): a consumer that fails on one push with an error of its own code is
recorded here, per consumer, while the push is processed by everything else. `csbot pushes retry
--consumers` asks for a replay; the processor that holds the push's partition runs that consumer
alone on the push again (bot.intake.Processor), and on success the failure is marked replayed."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import iso
from bot.store.tables import ConsumerFailure, RawPush

_c = ConsumerFailure.__table__.c
_OPEN = _c.replayed_at.is_(None)


async def record(session: AsyncSession, *, platform: str, push_id: str, consumer: str, error: str,
                 now: datetime) -> None:
    """The consumer failed on this push (again: one more attempt, the newest error, no replay asked)."""
    updated = await session.execute(
        sa.update(ConsumerFailure.__table__)
        .where(_c.platform == platform, _c.push_id == push_id, _c.consumer == consumer)
        .values(error=error[:2000], failed_at=now, attempts=_c.attempts + 1, replay=False, replayed_at=None))
    if not updated.rowcount:
        await session.execute(sa.insert(ConsumerFailure.__table__).values(
            platform=platform, push_id=push_id, consumer=consumer, error=error[:2000], failed_at=now))


async def listed(session: AsyncSession, *, limit: int = 100) -> list[sa.Row]:
    """The failures not replayed yet, newest first."""
    return list((await session.execute(
        sa.select(ConsumerFailure.__table__).where(_OPEN).order_by(_c.failed_at.desc(), _c.id.desc()).limit(limit)
    )).all())


async def open_by_consumer(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(sa.select(_c.consumer, sa.func.count()).where(_OPEN).group_by(_c.consumer))
    return dict(rows.all())


async def ask_replay(session: AsyncSession, *, push_ids: Collection[str] | None,
                     consumer: str | None = None) -> int:
    """Ask for a replay of the open failures of these pushes (None: all), of one consumer or all; how many."""
    where = [_OPEN, _c.replay.is_(False)]
    if push_ids is not None:
        where.append(_c.push_id.in_(list(push_ids)))
    if consumer is not None:
        where.append(_c.consumer == consumer)
    result = await session.execute(sa.update(ConsumerFailure.__table__).where(*where).values(replay=True))
    return result.rowcount or 0


async def claim_replays(session: AsyncSession, *, limit: int, partitions: Collection[int] | None) -> list[sa.Row]:
    """Replays asked for, with their push (its form and partition), of `partitions` (None: all),
    locked for this transaction on PostgreSQL."""
    p = RawPush.__table__.c
    query = (
        sa.select(ConsumerFailure.__table__, p.id.label("push_pk"), p.platform.label("push_platform"),
                  p.form, p.partition, p.kind, p.shop, p.buyer)
        .join(RawPush.__table__, sa.and_(p.platform == _c.platform, p.push_id == _c.push_id))
        .where(_OPEN, _c.replay.is_(True)).order_by(_c.id).limit(limit)
        .with_for_update(of=ConsumerFailure.__table__, skip_locked=True)
    )
    if partitions is not None:
        if not partitions:
            return []
        query = query.where(p.partition.in_(sorted(partitions)))
    return list((await session.execute(query)).all())


async def mark_replayed(session: AsyncSession, failure_id: int, *, now: datetime) -> None:
    await session.execute(sa.update(ConsumerFailure.__table__).where(_c.id == failure_id)
                          .values(replay=False, replayed_at=now))


def as_item(failure: sa.Row) -> dict:
    """One failure, as `csbot pushes failed --json` and GET /api/pushes/failed list it."""
    return {"platform": failure.platform, "push_id": failure.push_id, "consumer": failure.consumer,
            "attempts": failure.attempts, "failed_at": iso(failure.failed_at), "replay_asked": failure.replay,
            "error": failure.error}
