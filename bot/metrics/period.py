"""Figures for any past period: SQL over the stored events (store.metrics), then the pure report.
Used by GET /api/metrics/agents and `csbot report`; the live board computes the same per buyer."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.metrics.consumer import activity_of
from bot.metrics.report import Rules, Totals, period_report
from bot.store import metrics as store


async def period_totals(db: async_sessionmaker, *, first: date, last: date, now: datetime, rules: Rules) -> Totals:
    """The figures of the days `first`..`last` (inclusive, shop time) as of `now`."""
    start, end = rules.day_bounds(first, last)
    async with db() as session:
        everyone = await store.buyer_events(session, start=start, end=end,
                                            order_margin=rules.conversion + timedelta(days=1))
    # A month of messages is CPU work: keep the event loop (and the webhooks) free meanwhile.
    return await asyncio.to_thread(
        period_report, [activity_of(e) for e in everyone], start=start, end=end, now=now, rules=rules,
    )
