"""The ticket workflow (pure): every legal and illegal transition, required notes, the 30-day reopen
window, SLA deadlines and breaches, round-robin, shifts, and the callback answer."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.tickets import workflow
from bot.tickets.workflow import IllegalTransition, InvalidTransition, check, parse_rating

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
SLA = {"P1": (60, 1440), "P2": (240, 2880), "P3": (1440, 4320)}

# Written out by hand (not derived from workflow.NEXT), so that a change of the table fails here.
LEGAL = {
    ("new", "assigned"), ("new", "closed"),
    ("assigned", "assigned"), ("assigned", "investigating"),
    ("investigating", "assigned"), ("investigating", "resolved"),
    ("resolved", "callback"), ("resolved", "closed"), ("resolved", "reopened"),
    ("callback", "closed"), ("callback", "reopened"),
    ("closed", "reopened"),
    ("reopened", "assigned"), ("reopened", "investigating"),
}
STATES = ("new", "assigned", "investigating", "resolved", "callback", "closed", "reopened")
ALL = [(a, b) for a in STATES for b in STATES]


def _ok(state, to, now=T0, closed_at=T0):
    check(state, to, note="because", resolution="refund", closed_at=closed_at, now=now)


@pytest.mark.parametrize(("state", "to"), sorted(LEGAL))
def test_each_legal_transition(state, to):
    _ok(state, to)


@pytest.mark.parametrize(("state", "to"), [p for p in ALL if p not in LEGAL])
def test_each_illegal_transition_names_the_allowed_ones(state, to):
    with pytest.raises(IllegalTransition) as e:
        _ok(state, to)
    assert set(e.value.allowed) == {b for a, b in LEGAL if a == state}


def test_a_ticket_closed_more_than_30_days_ago_cannot_reopen():
    _ok("closed", "reopened", now=T0 + timedelta(days=30))
    with pytest.raises(IllegalTransition, match="more than 30 days") as e:
        _ok("closed", "reopened", now=T0 + timedelta(days=30, seconds=1))
    assert e.value.allowed == ()


def test_unknown_state_is_invalid():
    with pytest.raises(InvalidTransition, match="unknown state 'done'"):
        _ok("investigating", "done")


@pytest.mark.parametrize(("state", "to"), [("investigating", "resolved"), ("callback", "reopened"), ("new", "closed")])
def test_a_note_is_required(state, to):
    with pytest.raises(InvalidTransition, match="a note is required"):
        check(state, to, note="  ", resolution="refund", closed_at=None, now=T0)


def test_resolving_needs_a_known_resolution():
    with pytest.raises(InvalidTransition, match="resolution must be one of"):
        check("investigating", "resolved", note="退了", resolution="magic", closed_at=None, now=T0)
    for r in ("refund", "exchange", "compensation", "explanation"):
        check("investigating", "resolved", note="done", resolution=r, closed_at=None, now=T0)


def test_deadlines_per_severity():
    d = workflow.deadlines("P1", opened_at=T0, sla_minutes=SLA)
    assert (d.first_response_due_at, d.resolution_due_at) == (T0 + timedelta(hours=1), T0 + timedelta(days=1))


def test_breaches():
    due = dict(first_response_due_at=T0 + timedelta(hours=1), resolution_due_at=T0 + timedelta(days=1))
    assert workflow.breaches(state="assigned", first_response_at=None, now=T0 + timedelta(hours=1), **due) == ()
    assert workflow.breaches(state="assigned", first_response_at=None, now=T0 + timedelta(minutes=61), **due) == ("first_response",)
    answered = T0 + timedelta(minutes=5)
    assert workflow.breaches(state="investigating", first_response_at=answered, now=T0 + timedelta(days=2), **due) == ("resolution",)
    assert workflow.breaches(state="resolved", first_response_at=None, now=T0 + timedelta(days=2), **due) == ()


def test_round_robin_gives_the_next_ticket_to_whoever_waited_longest():
    assert workflow.pick_owner(["a", "b", "c"], {}) == "a"
    assert workflow.pick_owner(["a", "b", "c"], {"a": T0}) == "b"
    assert workflow.pick_owner(["a", "b"], {"a": T0 + timedelta(minutes=1), "b": T0}) == "b"
    assert workflow.pick_owner([], {}) is None


def test_on_shift_in_shop_time_including_past_midnight():
    zone = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 11, 24, 23, 30, tzinfo=zone)
    assert workflow.on_shift([("22:00", "02:00")], at, zone)
    assert not workflow.on_shift([("09:00", "18:00")], at, zone)
    assert workflow.on_shift([("09:00", "18:00")], at.replace(hour=9, minute=0), zone)
    assert not workflow.on_shift([("09:00", "18:00")], at.replace(hour=18, minute=0), zone)


@pytest.mark.parametrize(("text", "rating"), [
    ("5", 5), ("5分", 5), ("1分", 1), ("１分", 1), ("3星", 3), ("五星", 5), ("给4分", 4), (" 2 ", 2),
    ("满意", 5), ("非常满意！", 5), ("不满意", 1), ("很不满意", 1), ("不太满意", 2), ("一般", 3),
    ("7", None), ("0", None), ("10分", None), ("我买了5件", None), ("garbage", None), ("", None),
    ("你们这个满意度调查太长了我不想填", None), ("在吗", None),
])
def test_the_callback_answer(text, rating):
    assert parse_rating(text) == rating


def test_a_rating_moves_the_ticket_on():
    assert [workflow.after_rating(r) for r in (1, 2, 3, 4, 5)] == ["reopened", "reopened", "closed", "closed", "closed"]
