"""The write probe behind /healthz."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import RawPush

_PENDING = RawPush.__table__


async def probe_write(session: AsyncSession, *, now: datetime) -> None:
    """Write a row where pushes are written; the caller rolls it back. Raises what the store says.

    On PostgreSQL also a row in a new temporary table: a row in `pushes` usually fits a page that has
    room, so it passes on a full disk, where a new relation's first page must be written to the disk
    at once (PostgreSQL extends files eagerly to catch this): "No space left on device". A temporary
    table needs no privilege beyond the default TEMP, and the rollback leaves nothing behind.
    """
    await session.execute(sa.insert(_PENDING).values(
        platform="~healthz", push_id="~probe", kind="probe", shop="", buyer="", event_at=now, received_at=now,
        form="{}", processed_at=now, attempts=0,
    ))
    if session.bind.dialect.name == "postgresql":
        await session.execute(sa.text("CREATE TEMPORARY TABLE csbot_health_probe (b text) ON COMMIT DROP"))
        await session.execute(sa.text("INSERT INTO csbot_health_probe VALUES ('probe')"))
