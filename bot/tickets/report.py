"""Pure: the complaint-ticket report (metrics.md, "Complaint tickets") from the tickets opened in a period.

Counts by category and severity, open tickets by state, SLA compliance, time to first response and to
resolution (mean and p90, nearest rank), callback ratings, and repeat complaints (a ticket whose buyer
had another one opened within the 30 days before it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.tickets.workflow import OPEN_STATES

REPEAT_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class TicketFacts:
    id: int
    buyer_id: int
    category: str
    severity: str
    state: str
    created_at: datetime
    first_response_at: datetime | None
    first_response_due_at: datetime
    resolved_at: datetime | None
    resolution_due_at: datetime
    rating: int | None

    @classmethod
    def of(cls, t) -> TicketFacts:
        return cls(t.id, t.buyer_id, t.category, t.severity, t.state, t.created_at, t.first_response_at,
                   t.first_response_due_at, t.resolved_at, t.resolution_due_at, t.rating)


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile by nearest rank: p90([1..10]) == 9."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _sla(done: Sequence[tuple[datetime | None, datetime]], now: datetime) -> dict:
    """(done_at or None, due_at) pairs → met, missed, rate; those still pending and not yet due don't count."""
    met = sum(1 for at, due in done if at is not None and at <= due)
    missed = sum(1 for at, due in done if (at is not None and at > due) or (at is None and now > due))
    return {"met": met, "missed": missed, "rate": round(met / (met + missed), 4) if met + missed else None}


def figures(tickets: Sequence[TicketFacts], *, earlier: Sequence[tuple[int, datetime]] = (), now: datetime) -> dict:
    """The report over `tickets` (those opened in the period). `earlier`: (buyer_id, created_at) of tickets
    opened up to 30 days before the period, so that a repeat right after its start is recognised."""
    first = [(t.first_response_at - t.created_at).total_seconds() for t in tickets if t.first_response_at]
    resolution = [(t.resolved_at - t.created_at).total_seconds() for t in tickets if t.resolved_at]
    ratings = [t.rating for t in tickets if t.rating is not None]
    opened = sorted([*earlier, *((t.buyer_id, t.created_at) for t in tickets)], key=lambda x: x[1])
    repeats = [
        t for t in tickets
        if any(b == t.buyer_id and t.created_at - REPEAT_WINDOW <= at < t.created_at for b, at in opened)
    ]
    return {
        "tickets": len(tickets),
        "by_category": dict(sorted(Counter(t.category for t in tickets).items())),
        "by_severity": dict(sorted(Counter(t.severity for t in tickets).items())),
        "by_category_severity": {f"{c}/{s}": n for (c, s), n in sorted(Counter((t.category, t.severity) for t in tickets).items())},
        "open_by_state": dict(sorted(Counter(t.state for t in tickets if t.state in OPEN_STATES).items())),
        "by_state": dict(sorted(Counter(t.state for t in tickets).items())),
        "first_response_sla": _sla([(t.first_response_at, t.first_response_due_at) for t in tickets], now),
        "resolution_sla": _sla([(t.resolved_at, t.resolution_due_at) for t in tickets], now),
        "first_response_s": {"n": len(first), "mean": _mean(first), "p90": p90(first)},
        "resolution_s": {"n": len(resolution), "mean": _mean(resolution), "p90": p90(resolution)},
        "callback": {"n": len(ratings), "mean": _mean(ratings),
                     "ratings": {str(r): ratings.count(r) for r in range(1, 6)},
                     "satisfied": sum(1 for r in ratings if r >= 3)},
        "repeat_complaints": {"tickets": len(repeats), "buyers": len({t.buyer_id for t in repeats})},
    }


def flat(report: dict, prefix: str = "") -> list[tuple[str, object]]:
    """The report as (figure, value) rows, nested names joined by dots: the CSV form.

    >>> flat({"tickets": 2, "first_response_sla": {"met": 1, "rate": None}})
    [('tickets', 2), ('first_response_sla.met', 1), ('first_response_sla.rate', None)]
    """
    rows: list[tuple[str, object]] = []
    for key, value in report.items():
        if isinstance(value, dict):
            rows += flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def text(report: dict, *, title: str) -> str:
    """The report for a person, one figure a line."""
    def s(v) -> str:  # seconds
        return "-" if v is None else f"{v:.0f}"

    def rate(d: dict) -> str:
        return "-" if d["rate"] is None else f"{d['rate']:.0%} ({d['met']} met, {d['missed']} missed)"

    fr, rs, cb, rp = report["first_response_s"], report["resolution_s"], report["callback"], report["repeat_complaints"]
    lines = [
        title,
        f"tickets                 {report['tickets']}",
        "by category             " + (", ".join(f"{k} {v}" for k, v in report["by_category"].items()) or "-"),
        "by severity             " + (", ".join(f"{k} {v}" for k, v in report["by_severity"].items()) or "-"),
        "still open by state     " + (", ".join(f"{k} {v}" for k, v in report["open_by_state"].items()) or "-"),
        f"first response SLA      {rate(report['first_response_sla'])}",
        f"resolution SLA          {rate(report['resolution_sla'])}",
        f"first response s        mean {s(fr['mean'])}, p90 {s(fr['p90'])} (n={fr['n']})",
        f"resolution s            mean {s(rs['mean'])}, p90 {s(rs['p90'])} (n={rs['n']})",
        f"callback ratings        n={cb['n']}, mean {'-' if cb['mean'] is None else cb['mean']}, "
        + " ".join(f"{k}★{v}" for k, v in cb["ratings"].items()) + f", satisfied {cb['satisfied']}",
        f"repeat complaints       {rp['tickets']} tickets from {rp['buyers']} buyers (within 30 days)",
    ]
    return "\n".join(lines) + "\n"
