"""Pure: a complaint ticket's states, the legal transitions, SLA deadlines, assignment and the callback answer.

States: new (登记) → assigned → investigating (调查) → resolved (处理) → callback (回访) → closed (归档),
and reopened from resolved, callback or closed (within `REOPEN_WINDOW` of closing).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.clock import in_window

STATES = ("new", "assigned", "investigating", "resolved", "callback", "closed", "reopened")
OPEN_STATES = ("new", "assigned", "investigating", "reopened")  # someone still has work to do
RESOLUTIONS = ("refund", "exchange", "compensation", "explanation")
REOPEN_WINDOW = timedelta(days=30)

# to-state -> from-states. "assigned" -> "assigned" is a reassignment.
NEXT: dict[str, tuple[str, ...]] = {
    "new": ("assigned", "closed"),  # closed: not a complaint after all (a note says why)
    "assigned": ("assigned", "investigating"),
    "investigating": ("assigned", "resolved"),
    "resolved": ("callback", "closed", "reopened"),
    "callback": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("assigned", "investigating"),
}
# A note is required for these (from, to); resolved also needs one of RESOLUTIONS.
NOTE_REQUIRED = {("new", "closed"), ("*", "resolved"), ("*", "reopened")}


class IllegalTransition(Exception):
    """Not allowed from this state (HTTP 409); `allowed` lists what is."""

    def __init__(self, state: str, to: str, allowed: tuple[str, ...], why: str = "") -> None:
        self.state, self.to, self.allowed = state, to, allowed
        super().__init__(why or f"a ticket in state {state} cannot go to {to}")


class InvalidTransition(ValueError):
    """The request itself is wrong (HTTP 400): unknown state, missing note or resolution."""


def allowed(state: str, *, closed_at: datetime | None, now: datetime) -> tuple[str, ...]:
    """Where a ticket in `state` may go now.

    >>> from datetime import timezone
    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> allowed("closed", closed_at=t, now=t + timedelta(days=31))
    ()
    """
    if state == "closed" and (closed_at is None or now - closed_at > REOPEN_WINDOW):
        return ()
    return NEXT.get(state, ())


def check(state: str, to: str, *, note: str, resolution: str | None, closed_at: datetime | None,
          now: datetime) -> None:
    """Raise InvalidTransition or IllegalTransition unless `state` → `to` may happen now."""
    if to not in STATES:
        raise InvalidTransition(f"unknown state {to!r}; states are {', '.join(STATES)}")
    legal = allowed(state, closed_at=closed_at, now=now)
    if to not in legal:
        why = ""
        if state == "closed" and to in NEXT["closed"]:
            why = f"the ticket was closed more than {REOPEN_WINDOW.days} days ago; open a new one"
        raise IllegalTransition(state, to, legal, why)
    if ((state, to) in NOTE_REQUIRED or ("*", to) in NOTE_REQUIRED) and not note.strip():
        raise InvalidTransition(f"a note is required to go from {state} to {to}")
    if to == "resolved" and resolution not in RESOLUTIONS:
        raise InvalidTransition(f"resolution must be one of {', '.join(RESOLUTIONS)}")


@dataclass(frozen=True)
class Deadlines:
    first_response_due_at: datetime
    resolution_due_at: datetime


def deadlines(severity: str, *, opened_at: datetime, sla_minutes: Mapping[str, tuple[int, int]]) -> Deadlines:
    """SLA deadlines of a ticket of `severity` opened at `opened_at` ([tickets] sla_minutes)."""
    first, resolution = sla_minutes[severity]
    return Deadlines(opened_at + timedelta(minutes=first), opened_at + timedelta(minutes=resolution))


def breaches(
    *, state: str, first_response_at: datetime | None, first_response_due_at: datetime,
    resolution_due_at: datetime, now: datetime,
) -> tuple[str, ...]:
    """Which SLAs an open ticket is past now: "first_response", "resolution", both or neither."""
    if state not in OPEN_STATES:
        return ()
    found = []
    if first_response_at is None and now > first_response_due_at:
        found.append("first_response")
    if now > resolution_due_at:
        found.append("resolution")
    return tuple(found)


def on_shift(windows: Sequence[tuple[str, str]], at: datetime, zone: tzinfo) -> bool:
    """Whether shop-local `at` falls in any ("HH:MM", "HH:MM") window; an end before the start runs past midnight."""
    return any(in_window(at, zone, window) for window in windows)


def pick_owner(candidates: Sequence[str], last_assigned: Mapping[str, datetime]) -> str | None:
    """Round-robin: the candidate who was assigned a ticket longest ago (never first), ties in listed order."""
    if not candidates:
        return None
    never = datetime.min.replace(tzinfo=None)
    return min(candidates, key=lambda a: (
        last_assigned[a].replace(tzinfo=None) if a in last_assigned else never, candidates.index(a)))


_RATING_WORDS = (  # checked in this order: "不满意" contains "满意"
    (("非常不满意", "很不满意", "不满意", "差评"), 1),
    (("不太满意", "不是很满意"), 2),
    (("一般", "还行", "凑合"), 3),
    (("比较满意", "还算满意"), 4),
    (("非常满意", "很满意", "满意", "好评"), 5),
)
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}


def parse_rating(text: str) -> int | None:
    """The buyer's answer to the callback question as 1-5, or None when it is not an answer.

    >>> [parse_rating(t) for t in ("5", "满意", "不满意", "1分", "五星", "7", "我买了5件")]
    [5, 5, 1, 1, 5, None, None]
    """
    t = re.sub(r"[\s。.!！~～,，、]+", "", unicodedata.normalize("NFKC", text))
    t = t.removeprefix("亲").removesuffix("吧").removesuffix("的")
    if m := re.fullmatch(r"(?:我?给|打)?(\d+)(?:分|星|颗星)?", t):
        n = int(m.group(1))
        return n if 1 <= n <= 5 else None
    if m := re.fullmatch(r"(?:我?给|打)?([一二两三四五])(?:分|星|颗星)", t):
        return _CN_DIGITS[m.group(1)]
    if len(t) > 8:
        return None
    for words, rating in _RATING_WORDS:
        if any(w in t for w in words):
            return rating
    return None


def after_rating(rating: int) -> str:
    """Where a ticket in callback goes on the buyer's rating: satisfied enough closes, else reopens."""
    return "closed" if rating >= 3 else "reopened"

