"""The settings every process on one database must agree on, kept in the database itself."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.partitions import partition_of
from bot.store.tables import RawPush, Setting

PARTITIONS = "partitions"


class PartitionMismatch(Exception):
    """The configured partition count is not the one the database's pushes are partitioned by."""


async def ensure_partitions(session: AsyncSession, *, partitions: int) -> None:
    """The first start stores the count and partitions the pushes still pending; a later start with
    another count raises PartitionMismatch (two counts would give one buyer two partitions, and two
    processes could then process that buyer's pushes at once)."""
    stored = await session.scalar(sa.select(Setting.value).where(Setting.key == PARTITIONS).with_for_update())
    if stored is None:
        await repartition(session, partitions=partitions)
        return
    if int(stored) != partitions:
        raise PartitionMismatch(
            f"processing.partitions is {partitions} but this database's pushes are partitioned by {stored}: "
            f"use the same count in every process, or stop them all and run `csbot db repartition {partitions}`"
        )


async def repartition(session: AsyncSession, *, partitions: int) -> int:
    """Store a new count and give every pending push its partition under it; returns how many moved.
    Only while no process is processing (each holds leases on the old numbering)."""
    pending = (await session.execute(
        sa.select(RawPush.id, RawPush.platform, RawPush.shop, RawPush.buyer, RawPush.partition)
        .where(RawPush.processed_at.is_(None))
    )).all()
    moved = [{"pid": row.id, "p": p} for row in pending
             if (p := partition_of(row.platform, row.shop, row.buyer, partitions=partitions)) != row.partition]
    if moved:
        t = RawPush.__table__
        await session.execute(sa.update(t).where(t.c.id == sa.bindparam("pid")).values(partition=sa.bindparam("p"))
                              .execution_options(synchronize_session=False), moved)
    values = {"key": PARTITIONS, "value": str(partitions)}
    if await session.get(Setting, PARTITIONS) is None:
        session.add(Setting(**values))
    else:
        await session.execute(sa.update(Setting).where(Setting.key == PARTITIONS).values(value=str(partitions)))
    await session.flush()
    return len(moved)
