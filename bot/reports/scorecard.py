"""Pure: the monthly 10-point scorecard (10分制) of an agent, and the commission (提成) by sales tier.

The shop's rules (京东商城运营策划书 2.5), seeded in `[scorecard]`: start at 10; deductions the system
observes — not online during a shift (3 times in a month: -5), complaints about slow answers (3: -5,
5: -10), complaints about attitude (each -1, 3: -5, 5: -10), a late start of a shift (each -0.5, over
30 minutes -2) — and manual ones a supervisor enters with a reason. At or below 5 a warning, at or
below 2 a penalty; at or below 5 three months running is flagged. Every deduction carries its
evidence (the tickets, the shifts, the entry).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from bot.clock import iso


@dataclass(frozen=True)
class Tier:
    """At `count` or more occurrences in a month, `points` in all (instead of `each` per occurrence)."""

    count: int
    points: float


@dataclass(frozen=True)
class ScoreRules:
    start: float = 10.0
    offline_each: float = 0.0
    offline_tiers: tuple[Tier, ...] = (Tier(3, 5.0),)
    slow_each: float = 0.0
    slow_tiers: tuple[Tier, ...] = (Tier(3, 5.0), Tier(5, 10.0))
    attitude_each: float = 1.0
    attitude_tiers: tuple[Tier, ...] = (Tier(3, 5.0), Tier(5, 10.0))
    late_grace_minutes: int = 5  # first seen online later than this after the shift's start is a late start
    late_each: float = 0.5
    very_late_minutes: int = 30
    very_late_each: float = 2.0
    warn_at: float = 5.0
    penalty_at: float = 2.0
    flag_months: int = 3
    slow_words: tuple[str, ...] = ("半天", "不回", "没人理", "不理人", "太慢", "回复慢", "回得慢", "等了", "多久")
    commission: tuple[tuple[float, float], ...] = ((50_000, 200), (60_000, 300), (70_000, 400), (80_000, 500),
                                                   (90_000, 600), (100_000, 700))  # sales ¥ at least -> ¥


@dataclass(frozen=True)
class Complaint:
    """A service complaint attributed to the agent (a ticket)."""

    ticket_id: int
    at: datetime
    text: str  # the ticket's first complaint and its reason


@dataclass(frozen=True)
class ShiftDay:
    """One shift the agent was on the roster for, and when the agent was first seen working in it."""

    name: str
    start: datetime
    end: datetime
    first_seen: datetime | None


@dataclass(frozen=True)
class Manual:
    id: int
    points: float
    reason: str
    at: datetime


@dataclass(frozen=True)
class Deduction:
    rule: str
    points: float
    evidence: tuple[dict, ...]


@dataclass(frozen=True)
class Card:
    score: float
    status: str  # ok, warning, penalty
    deductions: tuple[Deduction, ...] = field(default_factory=tuple)


def complaint_kind(text: str, rules: ScoreRules) -> str:
    """"slow" when the complaint is about waiting for an answer, else "attitude".

    >>> complaint_kind("问了半天都不回", ScoreRules()), complaint_kind("你们客服什么态度", ScoreRules())
    ('slow', 'attitude')
    """
    return "slow" if any(w in text for w in rules.slow_words) else "attitude"


def tiered(n: int, each: float, tiers: Sequence[Tier]) -> float:
    """Points for `n` occurrences: the highest tier reached, else `each` per occurrence.

    >>> [tiered(n, 1.0, (Tier(3, 5.0), Tier(5, 10.0))) for n in (0, 1, 2, 3, 4, 5, 9)]
    [0.0, 1.0, 2.0, 5.0, 5.0, 10.0, 10.0]
    """
    reached = [t.points for t in tiers if n >= t.count]
    return float(max(reached)) if reached else float(n * each)


def _hhmm(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%m-%d %H:%M")


def card(*, complaints: Sequence[Complaint], shifts: Sequence[ShiftDay], manual: Sequence[Manual],
         rules: ScoreRules, zone: tzinfo) -> Card:
    """One agent's card for a month from what was observed. A shift in which the agent was never seen
    counts as not online (and not as a late start).

    >>> z = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
    >>> at = datetime(2026, 11, 2, 9, tzinfo=z)
    >>> c = card(complaints=[Complaint(7, at, "半天不回")], manual=[Manual(1, 0.5, "未完成当日工作", at)],
    ...          shifts=[ShiftDay("早班", at, at + timedelta(hours=8), at + timedelta(minutes=40))],
    ...          rules=ScoreRules(), zone=z)
    >>> c.score, c.status, [(d.rule, d.points) for d in c.deductions]
    (7.5, 'ok', [('late_start_over_30_minutes', 2.0), ('manual', 0.5)])
    """
    found: list[Deduction] = []
    kinds = {"slow": [], "attitude": []}
    for c in complaints:
        kinds[complaint_kind(c.text, rules)].append(c)
    for kind, each, tiers in (("slow", rules.slow_each, rules.slow_tiers),
                              ("attitude", rules.attitude_each, rules.attitude_tiers)):
        points = tiered(len(kinds[kind]), each, tiers)
        if points:
            found.append(Deduction(f"{kind}_complaints", points, tuple(
                {"kind": "ticket", "id": c.ticket_id, "at": iso(c.at), "label": f"#{c.ticket_id} {_hhmm(c.at, zone)}"}
                for c in kinds[kind])))
    offline = [s for s in shifts if s.first_seen is None]
    points = tiered(len(offline), rules.offline_each, rules.offline_tiers)
    if points:
        found.append(Deduction("not_online_in_shift", points, tuple(_shift(s, zone) for s in offline)))
    for s in shifts:
        if s.first_seen is None:
            continue
        late = s.first_seen - s.start
        if late > timedelta(minutes=rules.very_late_minutes):
            found.append(Deduction("late_start_over_30_minutes", rules.very_late_each, (_shift(s, zone),)))
        elif late > timedelta(minutes=rules.late_grace_minutes):
            found.append(Deduction("late_start", rules.late_each, (_shift(s, zone),)))
    for m in manual:
        found.append(Deduction("manual", m.points, ({"kind": "entry", "id": m.id, "at": iso(m.at),
                                                      "label": f"{m.reason} ({_hhmm(m.at, zone)})"},)))
    score = max(0.0, rules.start - sum(d.points for d in found))
    return Card(score=round(score, 2), status=status(score, rules), deductions=tuple(found))


def _shift(s: ShiftDay, zone: tzinfo) -> dict:
    seen = "not seen 未上线" if s.first_seen is None else f"first seen {_hhmm(s.first_seen, zone)}"
    return {"kind": "shift", "shift": s.name, "start": iso(s.start), "end": iso(s.end),
            "first_seen": iso(s.first_seen) if s.first_seen else None,
            "label": f"{s.name} {_hhmm(s.start, zone)}: {seen}"}


def status(score: float, rules: ScoreRules) -> str:
    """ok, warning (at or below `warn_at`) or penalty (at or below `penalty_at`).

    >>> [status(s, ScoreRules()) for s in (10, 5.5, 5, 2.5, 2, 0)]
    ['ok', 'ok', 'warning', 'warning', 'penalty', 'penalty']
    """
    if score <= rules.penalty_at:
        return "penalty"
    return "warning" if score <= rules.warn_at else "ok"


def flagged(scores: Sequence[float], rules: ScoreRules) -> bool:
    """Whether the last `flag_months` scores (oldest first, this month last) are all at or below `warn_at`.

    >>> flagged([5, 4, 3], ScoreRules()), flagged([6, 4, 3], ScoreRules()), flagged([4, 3], ScoreRules())
    (True, False, False)
    """
    recent = list(scores)[-rules.flag_months:]
    return len(recent) == rules.flag_months and all(s <= rules.warn_at for s in recent)


def commission(sales_yuan: float, rules: ScoreRules) -> float:
    """The commission of the highest sales tier reached (¥), 0 below the first.

    >>> [commission(s, ScoreRules()) for s in (49_999.99, 50_000, 75_000, 120_000)]
    [0.0, 200.0, 400.0, 700.0]
    """
    reached = [c for threshold, c in rules.commission if sales_yuan >= threshold]
    return float(max(reached)) if reached else 0.0


_MONTH = re.compile(r"\d{4}-\d{2}")


def parse_month(text: str | None, *, today: date) -> tuple[date, date]:
    """"YYYY-MM" into its first and last day; ValueError for a malformed month or one after `today`'s.

    >>> parse_month("2026-02", today=date(2026, 11, 24))
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    """
    if not text or not _MONTH.fullmatch(text):
        raise ValueError(f"month must be YYYY-MM, not {str(text)[:20]!r}")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"month must be YYYY-MM, not {text!r}")
    first = date(year, month, 1)
    if first > today:
        raise ValueError(f"{text} is in the future (today is {today.isoformat()})")
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first, last


def previous_months(first: date, n: int) -> list[date]:
    """The first days of the `n` months before `first`, oldest first.

    >>> previous_months(date(2026, 1, 1), 2)
    [datetime.date(2025, 11, 1), datetime.date(2025, 12, 1)]
    """
    found = []
    day = first
    for _ in range(n):
        day = (day - timedelta(days=1)).replace(day=1)
        found.append(day)
    return found[::-1]


def shift_days(shifts: Sequence, agent: str, *, first: date, last: date, zone: tzinfo,
               until: datetime) -> list[tuple[str, datetime, datetime]]:
    """The agent's shifts (name, start, end; `[[shifts]]` rows with start/end "HH:MM" and agents) on the
    days `first`..`last` that ended by `until`. An end before the start runs past midnight.

    >>> from zoneinfo import ZoneInfo
    >>> from types import SimpleNamespace as S
    >>> z = ZoneInfo("Asia/Shanghai")
    >>> rows = shift_days([S(name="晚班", start="17:00", end="24:00", agents=("mei",))], "mei",
    ...                   first=date(2026, 11, 1), last=date(2026, 11, 30), zone=z,
    ...                   until=datetime(2026, 11, 3, 12, tzinfo=z))
    >>> [(n, s.isoformat(), e.isoformat()) for n, s, e in rows][-1]
    ('晚班', '2026-11-02T17:00:00+08:00', '2026-11-03T00:00:00+08:00')
    """
    found = []
    day = first
    while day <= last:
        for s in shifts:
            if agent not in s.agents:
                continue
            start = datetime.combine(day, time.fromisoformat(s.start), zone)
            end_day = day if s.end > s.start and s.end != "24:00" else day + timedelta(days=1)
            end = datetime.combine(end_day, time(0) if s.end == "24:00" else time.fromisoformat(s.end), zone)
            if end <= until:
                found.append((s.name, start, end))
        day += timedelta(days=1)
    return found


def rules_from(config) -> ScoreRules:
    """The rules of a `ScorecardConfig` ([scorecard] of the configuration)."""
    c = config
    return ScoreRules(
        start=c.start, offline_each=c.offline_each, offline_tiers=tuple(Tier(n, p) for n, p in c.offline_tiers),
        slow_each=c.slow_each, slow_tiers=tuple(Tier(n, p) for n, p in c.slow_tiers),
        attitude_each=c.attitude_each, attitude_tiers=tuple(Tier(n, p) for n, p in c.attitude_tiers),
        late_grace_minutes=c.late_grace_minutes, late_each=c.late_each, very_late_minutes=c.very_late_minutes,
        very_late_each=c.very_late_each, warn_at=c.warn_at, penalty_at=c.penalty_at, flag_months=c.flag_months,
        slow_words=tuple(c.slow_words), commission=tuple(tuple(t) for t in c.commission),
    )
