"""The write probe behind /healthz."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import RawPush

_PENDING = RawPush.__table__


async def probe_write(session: AsyncSession, *, now: datetime) -> None:
    """Write a row where pushes are written; the caller rolls it back. Raises what the store says."""
    await session.execute(sa.insert(_PENDING).values(
        platform="~healthz", push_id="~probe", kind="probe", shop="", buyer="", event_at=now, received_at=now,
        form="{}", processed_at=now, attempts=0,
    ))
