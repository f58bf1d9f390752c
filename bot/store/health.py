"""The cheap reads and the write probe behind /healthz."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import RawPush

_PENDING = RawPush.__table__


async def backlog(session: AsyncSession, *, cap: int) -> tuple[int, datetime | None]:
    """How many stored pushes wait to be processed (counted up to `cap` + 1, so a huge backlog costs
    no more than the bound), and when the head of the queue (the next by event time) was received."""
    pending = sa.select(sa.literal(1)).where(_PENDING.c.processed_at.is_(None)).limit(cap + 1).subquery()
    count = await session.scalar(sa.select(sa.func.count()).select_from(pending)) or 0
    head = await session.scalar(
        sa.select(_PENDING.c.received_at).where(_PENDING.c.processed_at.is_(None))
        .order_by(_PENDING.c.processed_at, _PENDING.c.event_at).limit(1)
    )
    return count, head


async def probe_write(session: AsyncSession, *, now: datetime) -> None:
    """Write a row where pushes are written; the caller rolls it back. Raises what the store says."""
    await session.execute(sa.insert(_PENDING).values(
        platform="~healthz", push_id="~probe", kind="probe", shop="", buyer="", event_at=now, received_at=now,
        form="{}", processed_at=now, attempts=0,
    ))
