"""The daily reports' deliveries: one row per (day, channel), claimed before sending so that two
processes never send one twice, retried with backoff, and the failures the board shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import iso
from bot.store.tables import DailyReport

T = DailyReport.__table__


@dataclass(frozen=True)
class Claimed:
    id: int
    day: date
    channel: str
    attempts: int  # including this one


async def ensure(session: AsyncSession, *, day: date, channels: Sequence[str], now: datetime) -> None:
    """A pending row for each channel of `day`, unless there is one (whatever its state)."""
    if not channels:
        return
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(T).values([{"day": day, "channel": c, "state": "pending", "attempts": 0, "next_attempt_at": now,
                           "last_error": ""} for c in channels])
        .on_conflict_do_nothing(index_elements=["day", "channel"])
    )


async def claim_due(session: AsyncSession, *, now: datetime, stale_before: datetime) -> list[Claimed]:
    """Take the deliveries due at `now` (pending, or left `sending` since before `stale_before` by a
    process that died): they become `sending`, one more attempt. The caller commits before sending."""
    due = sa.select(T.c.id).where(sa.or_(
        sa.and_(T.c.state == "pending", T.c.next_attempt_at <= now),
        sa.and_(T.c.state == "sending", T.c.claimed_at < stale_before),
    ))
    if session.bind.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = await session.execute(
        sa.update(T).where(T.c.id.in_(due.scalar_subquery()))
        .values(state="sending", claimed_at=now, attempts=T.c.attempts + 1)
        .returning(T.c.id, T.c.day, T.c.channel, T.c.attempts)
    )
    return [Claimed(*row) for row in rows]


async def mark_sent(session: AsyncSession, delivery_id: int, *, now: datetime) -> None:
    await session.execute(sa.update(T).where(T.c.id == delivery_id).values(state="sent", sent_at=now, last_error=""))


async def mark_retry(session: AsyncSession, delivery_id: int, *, error: str, at: datetime) -> None:
    await session.execute(sa.update(T).where(T.c.id == delivery_id)
                          .values(state="pending", next_attempt_at=at, last_error=error[:500]))


async def mark_failed(session: AsyncSession, delivery_id: int, *, error: str) -> None:
    await session.execute(sa.update(T).where(T.c.id == delivery_id).values(state="failed", last_error=error[:500]))


async def recent(session: AsyncSession, *, since: date) -> list[dict]:
    """Deliveries of the days since `since`, newest first."""
    rows = await session.execute(sa.select(T).where(T.c.day >= since).order_by(T.c.day.desc(), T.c.channel))
    return [{"day": r.day.isoformat(), "channel": r.channel, "state": r.state, "attempts": r.attempts,
             "sent_at": iso(r.sent_at) if r.sent_at else None, "last_error": r.last_error,
             "next_attempt_at": iso(r.next_attempt_at)} for r in rows]


async def failures(session: AsyncSession, *, since: date) -> list[dict]:
    """Deliveries since `since` that failed for good or are retrying after an error: for the board."""
    return [d for d in await recent(session, since=since) if d["state"] == "failed" or
            (d["state"] == "pending" and d["last_error"])]
