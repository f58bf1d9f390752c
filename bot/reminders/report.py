"""The payment-reminder figures of metrics.md, pure: reminded and recovered orders, recovered sales,
recovery rate (催付成功率) and skips by reason, per shop day and platform."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class DecidedReminder(Protocol):
    platform: str
    order_pk: int
    state: str  # sent, skipped, missed
    reason: str | None
    decided_at: datetime
    paid_at: datetime | None
    paid_fen: int | None


def figures(rows: Iterable[DecidedReminder], *, zone: ZoneInfo, recovered_within: timedelta) -> list[dict]:
    """One row per (day, platform), days in shop time, oldest first.

    An order counts as reminded on the day of its last reminder in the period, and as recovered when
    it was paid within `recovered_within` after that reminder.

    >>> from types import SimpleNamespace as R
    >>> from datetime import timezone
    >>> t = datetime(2026, 11, 24, 2, 15, tzinfo=timezone.utc)
    >>> rows = [R(platform="wangwang", order_pk=1, state="sent", reason=None, decided_at=t,
    ...           paid_at=t + timedelta(hours=1), paid_fen=9900),
    ...         R(platform="wangwang", order_pk=2, state="sent", reason=None, decided_at=t, paid_at=None, paid_fen=None),
    ...         R(platform="wangwang", order_pk=3, state="skipped", reason="paid", decided_at=t, paid_at=t, paid_fen=1)]
    >>> [(r["day"], r["reminded_orders"], r["recovered_orders"], r["recovered_sales_fen"], r["recovery_rate"], r["skipped"])
    ...  for r in figures(rows, zone=ZoneInfo("Asia/Shanghai"), recovered_within=timedelta(hours=24))]
    [('2026-11-24', 2, 1, 9900, 0.5, {'paid': 1})]
    """
    last_sent: dict[int, DecidedReminder] = {}
    skipped: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in rows:
        day = row.decided_at.astimezone(zone).date().isoformat()
        if row.state == "sent":
            if row.order_pk not in last_sent or row.decided_at > last_sent[row.order_pk].decided_at:
                last_sent[row.order_pk] = row
        else:
            skipped[(day, row.platform)][row.reason or row.state] += 1
    reminded: Counter = Counter()
    recovered: Counter = Counter()
    sales: Counter = Counter()
    for row in last_sent.values():
        key = (row.decided_at.astimezone(zone).date().isoformat(), row.platform)
        reminded[key] += 1
        if row.paid_at is not None and row.decided_at <= row.paid_at <= row.decided_at + recovered_within:
            recovered[key] += 1
            sales[key] += row.paid_fen or 0
    out = []
    for day, platform in sorted(set(reminded) | set(skipped)):
        key = (day, platform)
        out.append({
            "day": day, "platform": platform, "reminded_orders": reminded[key], "recovered_orders": recovered[key],
            "recovered_sales_fen": sales[key],
            "recovery_rate": round(recovered[key] / reminded[key], 4) if reminded[key] else None,
            "skipped": dict(sorted(skipped[key].items())),
        })
    return out


def period(first: str | None, last: str | None, *, today: date) -> tuple[date, date]:
    """`--from`/`--to` (YYYY-MM-DD, days inclusive; either alone means that one day; neither, today).
    Raises ValueError with a message for a person."""
    try:
        start = date.fromisoformat(first) if first else None
        end = date.fromisoformat(last) if last else None
    except ValueError:
        raise ValueError("days are YYYY-MM-DD") from None
    start, end = start or end or today, end or start or today
    if end < start:
        raise ValueError(f"from ({start}) is after to ({end})")
    if (end - start).days > 366:
        raise ValueError("a period is at most a year")
    return start, end


def summary(rows: list[dict]) -> dict:
    """The period's totals over the rows of `figures`."""
    reminded = sum(r["reminded_orders"] for r in rows)
    recovered = sum(r["recovered_orders"] for r in rows)
    skipped: Counter = Counter()
    for r in rows:
        skipped.update(r["skipped"])
    return {"reminded_orders": reminded, "recovered_orders": recovered,
            "recovered_sales_fen": sum(r["recovered_sales_fen"] for r in rows),
            "recovery_rate": round(recovered / reminded, 4) if reminded else None,
            "skipped": dict(sorted(skipped.items()))}
