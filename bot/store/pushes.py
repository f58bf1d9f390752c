"""Raw pushes: the durable, deduplicated record of everything the gateways delivered."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.store.tables import RawPush

pushes = RawPush.__table__
MAX_ATTEMPTS = 5


def _insert_new_statement(dialect_insert) -> sa.Insert:
    return (
        dialect_insert(pushes)
        .on_conflict_do_nothing(index_elements=["platform", "push_id"])
        .returning(pushes.c.platform, pushes.c.push_id)
    )


# Built once: one statement given a list of rows is compiled once and cached by SQLAlchemy, where
# `.values(rows)` made a new statement to compile for every batch (about 80 µs a push).
_INSERT_NEW = {"sqlite": _insert_new_statement(sqlite.insert), "postgresql": _insert_new_statement(postgresql.insert)}


async def insert_new(conn: AsyncConnection, rows: list[dict]) -> set[tuple[str, str]]:
    """Insert the rows whose (platform, push_id) is not stored yet, in one round trip.

    Returns the keys that were new; the others were duplicates and changed nothing.
    """
    if not rows:
        return set()
    result = await conn.execute(_INSERT_NEW[conn.dialect.name], rows)
    return {(r.platform, r.push_id) for r in result}


# The processor's statements, built once (building one per call cost about as much as running it).
# Claims read plain rows, not ORM objects: building a SQLModel object per push cost more than the
# query (about a quarter of the processing time, scripts/bench process --profile).
_t = RawPush.__table__.c
_CLAIM = (
    sa.select(pushes).where(_t.processed_at.is_(None), _t.partition.in_(sa.bindparam("partitions", expanding=True)))
    .order_by(_t.event_at, _t.id).limit(sa.bindparam("limit")).with_for_update(skip_locked=True)
)
_CLAIM_ANY = (  # one process holding every partition (SQLite)
    sa.select(pushes).where(_t.processed_at.is_(None)).order_by(_t.event_at, _t.id)
    .limit(sa.bindparam("limit")).with_for_update(skip_locked=True)
)
_LOCK_PARTITIONS = sa.text(
    "SELECT p FROM unnest(CAST(:partitions AS int[])) AS p WHERE pg_try_advisory_xact_lock(:ns, p)"
).columns(p=sa.Integer)
_MARK_PROCESSED = (
    sa.update(RawPush.__table__).where(_t.id.in_(sa.bindparam("ids", expanding=True)))
    .values(processed_at=sa.bindparam("now"), attempts=_t.attempts + 1, last_error=None)
)


async def claim_pending(session: AsyncSession, *, limit: int, partitions: Collection[int] | None = None) -> list[sa.Row]:
    """The oldest unprocessed pushes by event time, of `partitions` (None: all), locked for this
    process on PostgreSQL: rows with the columns of `pushes` as attributes."""
    if partitions is None:
        return list((await session.execute(_CLAIM_ANY, {"limit": limit})).all())
    if not partitions:
        return []
    return list((await session.execute(_CLAIM, {"limit": limit, "partitions": sorted(partitions)})).all())


async def lock_partitions(session: AsyncSession, partitions: Collection[int], *, ns: int) -> list[int]:
    """PostgreSQL: those of `partitions` that no other transaction is processing, locked until this
    transaction ends (a transaction advisory lock each; see bot/leases.py)."""
    if not partitions:
        return []
    rows = await session.execute(_LOCK_PARTITIONS, {"partitions": sorted(partitions), "ns": ns})
    return [p for (p,) in rows]


async def backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many pushes are unprocessed, and when the oldest of them was received."""
    row = (await session.execute(
        sa.select(sa.func.count(), sa.func.min(RawPush.received_at)).where(RawPush.processed_at.is_(None))
    )).one()
    return row[0], row[1]


async def count_pending(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).where(RawPush.processed_at.is_(None))) or 0


async def mark_processed(session: AsyncSession, push_ids: list[int], *, now: datetime) -> None:
    """One statement for a batch (the processor's hot path: an ORM update per push cost a flush each)."""
    if push_ids:
        await session.execute(_MARK_PROCESSED, {"ids": push_ids, "now": now})


_MARK_FAILED = (
    sa.update(pushes).where(_t.id == sa.bindparam("pid"))
    .values(attempts=_t.attempts + 1, last_error=sa.bindparam("error"),
            processed_at=sa.case((sa.or_(sa.bindparam("at_once", type_=sa.Boolean), _t.attempts + 1 >= MAX_ATTEMPTS),
                                  sa.bindparam("now", type_=_t.processed_at.type)), else_=None))
)


async def mark_failed(session: AsyncSession, push_id: int, *, now: datetime, error: str, at_once: bool) -> None:
    """Record a failure; the push is set aside (processed, with its error) at once, or after MAX_ATTEMPTS."""
    await session.execute(_MARK_FAILED, {"pid": push_id, "now": now, "error": error[:2000], "at_once": at_once})


async def counts_by_platform(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(sa.select(RawPush.platform, sa.func.count()).group_by(RawPush.platform))
    return {platform: n for platform, n in rows}
