"""The pure reminder rules: slots, each reason in its order of precedence, quiet hours at their edges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.clock import quiet_until, shop_day
from bot.config import ConfigError, ReminderConfig
from bot.reminders.policy import BuyerState, Candidate, Decision, Rules, due, schedule
from tests.conftest import ROOT, make_config

RULES = Rules.from_config(ReminderConfig(offsets_minutes=(15, 120), before_close_minutes=60, max_per_order=2,
                                         max_per_buyer_per_day=1), zone="Asia/Shanghai")
CN = timezone(timedelta(hours=8))


def at(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CN)


def buyer(**kw) -> BuyerState:
    return BuyerState(**{"key": "wangwang:b", "opted_out": False, "last_agent_at": None, "sent_today": 0, **kw})


def candidate(**kw) -> Candidate:
    return Candidate(**{"status": "unpaid", "due_at": at(10), "closes_at": at(10, day=25), "sent_for_order": 0,
                        "superseded": False, **kw})


def test_schedule():
    assert schedule(at(10), at(10, day=25), RULES) == [("1", at(10, 15)), ("2", at(12)), ("close", at(9, day=25))]
    assert schedule(at(10), None, RULES) == [("1", at(10, 15)), ("2", at(12))]
    assert schedule(at(10), at(11), RULES) == [("1", at(10, 15))]  # 2 after the close; close at the creation
    assert schedule(at(10), at(10, 10), RULES) == []


@pytest.mark.parametrize(("local", "inside"), [
    ((21, 59), False), ((22, 0), True), ((23, 59), True), ((0, 0), True), ((7, 59), True), ((8, 0), False),
])
def test_quiet_hours_edges(local, inside):
    t = at(*local, day=25 if local[0] < 12 else 24)
    end = quiet_until(t, RULES.zone, ("22:00", "08:00"))
    assert (end is not None) == inside
    if inside:
        assert end == at(8, day=25)


def test_quiet_hours_within_one_day_and_none():
    assert quiet_until(at(13), RULES.zone, ("12:00", "14:00")) == at(14)
    assert quiet_until(at(14), RULES.zone, ("12:00", "14:00")) is None
    assert quiet_until(at(23), RULES.zone, ("00:00", "00:00")) is None


def test_shop_day():
    assert shop_day(at(0, 30), RULES.zone) == (at(0), at(0, day=25))


@pytest.mark.parametrize(("c", "b", "now", "expected"), [
    (candidate(), buyer(), at(10, 1), Decision("send")),
    (candidate(status="paid"), buyer(opted_out=True), at(10), Decision("skip", "paid")),
    (candidate(status="closed"), buyer(), at(10), Decision("skip", "closed")),
    (candidate(closes_at=at(10)), buyer(), at(10), Decision("missed", "missed")),
    (candidate(superseded=True), buyer(), at(10), Decision("missed", "missed")),
    (candidate(), buyer(), at(12, 1), Decision("missed", "missed")),
    (candidate(), buyer(), at(12), Decision("send")),
    (candidate(), buyer(opted_out=True), at(10), Decision("skip", "opted_out")),
    (candidate(), buyer(key="wangwang:stop"), at(10), Decision("send")),
    (candidate(sent_for_order=2), buyer(), at(10), Decision("skip", "order_cap")),
    (candidate(due_at=at(22)), buyer(sent_today=1), at(22), Decision("wait", "quiet_hours", until=at(8, day=25))),
    (candidate(due_at=at(22), closes_at=at(8, day=25)), buyer(), at(22), Decision("skip", "quiet_hours")),
    (candidate(due_at=at(22), closes_at=at(8, 1, day=25)), buyer(), at(22), Decision("wait", "quiet_hours", until=at(8, day=25))),
    (candidate(), buyer(last_agent_at=at(9, 51)), at(10), Decision("skip", "live_conversation")),
    (candidate(), buyer(last_agent_at=at(9, 50)), at(10), Decision("send")),
    (candidate(), buyer(sent_today=1), at(10), Decision("skip", "daily_cap")),
])
def test_due(c, b, now, expected):
    assert due(c, b, now=now, rules=RULES) == expected


def test_the_stop_list():
    rules = Rules.from_config(ReminderConfig(stop_list=("wangwang:stop",)), zone="Asia/Shanghai")
    assert due(candidate(), buyer(key="wangwang:stop"), now=at(10), rules=rules) == Decision("skip", "opted_out")


@pytest.mark.parametrize(("reminders", "key"), [
    ({"quiet_hours": ["22:00", "25:00"]}, "reminders.quiet_hours"),
    ({"offsets_minutes": [0]}, "reminders.offsets_minutes"),
    ({"offsets_minutes": [15, 15]}, "reminders.offsets_minutes"),
    ({"stop_list": ["buyer1"]}, "reminders.stop_list"),
    ({"max_per_order": -1}, "reminders.max_per_order"),
    ({"recoverd_hours": 24}, "reminders.recoverd_hours"),
])
def test_bad_reminder_config(reminders, key):
    with pytest.raises(ConfigError) as e:
        make_config("sqlite:///x.db", reminders=reminders)
    assert e.value.key == key


def test_the_example_config_is_valid():
    from bot.config import load_config

    config = load_config(ROOT / "config.example.toml")
    assert config.reminders.offsets_minutes == (15,)
