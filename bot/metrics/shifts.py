"""Pure: who is on shift when (班次), when shifts change, and whom a leaving agent's waiting buyers go to (交接)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo

from bot.clock import in_window
from bot.config import ShiftConfig


def _minutes(hhmm: str) -> int:
    hours, _, mins = hhmm.partition(":")
    return int(hours) * 60 + int(mins)


def on_shift(shift: ShiftConfig, at: datetime, zone: tzinfo) -> bool:
    """Whether `at` falls in the shift (start inclusive, end exclusive); `end` before `start` runs past midnight."""
    return in_window(at, zone, (shift.start, shift.end))


def agents_on_shift(shifts: Sequence[ShiftConfig], at: datetime, zone: tzinfo) -> dict[str, str]:
    """Agent id → the name of a shift they are on at `at`."""
    found: dict[str, str] = {}
    for shift in shifts:
        if on_shift(shift, at, zone):
            for agent in shift.agents:
                found.setdefault(agent, shift.name)
    return found


def shift_changes(shifts: Sequence[ShiftConfig], *, after: datetime, until: datetime, zone: tzinfo) -> list[datetime]:
    """The instants in (after, until] at which some shift starts or ends, in order (aware UTC)."""
    bounds = sorted({_minutes(s.start) for s in shifts} | {_minutes(s.end) % (24 * 60) for s in shifts})
    found: set[datetime] = set()
    day = after.astimezone(zone).date() - timedelta(days=1)
    last = until.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for m in bounds:
            at = (datetime.combine(day, time(0), zone) + timedelta(minutes=m)).astimezone(after.tzinfo)
            if after < at <= until:
                found.add(at)
        day += timedelta(days=1)
    return sorted(found)


def handover_plan(
    waiting: Sequence[tuple[int, str]], *, shifts: Sequence[ShiftConfig], at: datetime, zone: tzinfo,
) -> dict[int, tuple[str, str]]:
    """At the shift change `at`: for each waiting conversation (id, agent id, longest wait first) whose
    agent leaves, (leaving agent, incoming agent). The incoming agents are those who start now (else
    anyone still on shift), each taking the next buyer in turn; with nobody on shift, nothing moves.

    >>> from zoneinfo import ZoneInfo
    >>> z = ZoneInfo("Asia/Shanghai")
    >>> day = ShiftConfig(name="早班", start="08:00", end="17:00", agents=("mei",))
    >>> late = ShiftConfig(name="晚班", start="17:00", end="24:00", agents=("qiang",))
    >>> handover_plan([(1, "mei"), (2, "other")], shifts=[day, late], at=datetime(2026, 1, 1, 17, tzinfo=z), zone=z)
    {1: ('mei', 'qiang')}
    """
    before = agents_on_shift(shifts, at - timedelta(seconds=1), zone)
    now = agents_on_shift(shifts, at, zone)
    leaving = set(before) - set(now)
    incoming = [a for a in now if a not in before] or list(now)
    if not leaving or not incoming:
        return {}
    plan: dict[int, tuple[str, str]] = {}
    turn = 0
    for conversation_id, agent in waiting:
        if agent in leaving:
            plan[conversation_id] = (agent, incoming[turn % len(incoming)])
            turn += 1
    return plan
