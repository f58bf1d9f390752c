"""Shifts (班次) and handovers (交接), pure; and their configuration errors."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, ShiftConfig
from bot.metrics.shifts import agents_on_shift, handover_plan, on_shift, shift_changes
from tests.conftest import make_config

Z = ZoneInfo("Asia/Shanghai")
EARLY = ShiftConfig(name="早班", start="08:00", end="17:00", agents=("mei", "qiang"))
LATE = ShiftConfig(name="晚班", start="16:00", end="24:00", agents=("li",))
NIGHT = ShiftConfig(name="夜班", start="22:00", end="06:00", agents=("night",))


def at(day, h, m=0, s=0):
    return datetime(2026, 11, day, h, m, s, tzinfo=Z)


def test_who_is_on_shift():
    assert agents_on_shift([EARLY, LATE], at(24, 7, 59), Z) == {}
    assert agents_on_shift([EARLY, LATE], at(24, 8), Z) == {"mei": "早班", "qiang": "早班"}
    assert agents_on_shift([EARLY, LATE], at(24, 16, 30), Z) == {"mei": "早班", "qiang": "早班", "li": "晚班"}
    assert agents_on_shift([EARLY, LATE], at(24, 23, 59, 59), Z) == {"li": "晚班"}
    assert on_shift(NIGHT, at(24, 23), Z) and on_shift(NIGHT, at(25, 5, 59), Z) and not on_shift(NIGHT, at(25, 6), Z)


def test_shift_changes_between_two_moments():
    changes = shift_changes([EARLY, LATE], after=at(24, 7), until=at(25, 9), zone=Z)
    assert [c.astimezone(Z) for c in changes] == [at(24, 8), at(24, 16), at(24, 17), at(25, 0), at(25, 8)]
    assert shift_changes([EARLY], after=at(24, 8), until=at(24, 16, 59), zone=Z) == []  # `after` is excluded


def test_leaving_agents_buyers_go_to_the_incoming_in_turn_longest_wait_first():
    day = ShiftConfig(name="早班", start="08:00", end="17:00", agents=("mei", "qiang"))
    evening = ShiftConfig(name="晚班", start="17:00", end="24:00", agents=("li", "fang"))
    waiting = [(1, "mei"), (2, "qiang"), (3, "mei"), (4, "li"), (5, "")]
    assert handover_plan(waiting, shifts=[day, evening], at=at(24, 17), zone=Z) == {
        1: ("mei", "li"), 2: ("qiang", "fang"), 3: ("mei", "li")}


def test_with_overlapping_shifts_the_ones_still_on_shift_take_over():
    # at 17:00 nobody starts: 早班 leaves, and 晚班 (since 16:00) takes their waiting buyers
    assert handover_plan([(1, "mei")], shifts=[EARLY, LATE], at=at(24, 17), zone=Z) == {1: ("mei", "li")}
    # at midnight 晚班 leaves and nobody is on shift: nothing can be handed over
    assert handover_plan([(1, "li")], shifts=[EARLY, LATE], at=at(25, 0), zone=Z) == {}


@pytest.mark.parametrize("sections, key", [
    ({"shifts": [{"name": "早班", "start": "8点", "end": "17:00"}]}, "shifts.0.start"),
    ({"shifts": [{"name": "早班", "start": "08:00", "end": "24:01"}]}, "shifts.0.end"),
    ({"shifts": [{"name": "早班", "start": "08:00", "end": "08:00"}]}, "shifts.0"),
    ({"shifts": [{"name": "早班", "start": "08:00", "end": "17:00", "agents": ["nobody"]}]}, "-"),
    ({"metrics": {"thresholds_s": [60, 30, 100]}}, "metrics.thresholds_s"),
    ({"metrics": {"effective_reply_window": ["23:00", "08:00"]}}, "metrics.effective_reply_window"),
    ({"metrics": {"threshold": 30}}, "metrics.threshold"),
])
def test_a_wrong_metrics_or_shift_configuration_names_the_key(sections, key):
    with pytest.raises(ConfigError) as e:
        make_config("sqlite:///x.db", **sections)
    assert e.value.key == key
