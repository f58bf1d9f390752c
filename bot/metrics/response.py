"""Pure: one buyer's messages → waits, responses and response times, and the effective-reply check.

Everything is computed from event times (`Line.sent_at`), never from the clock; `now` is only
asked whether an unanswered message's hour is over yet.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.conversation import AGENT, BUYER, Line, split


@dataclass(frozen=True)
class Response:
    """An agent message that stopped a wait (响应). `first`: the conversation's first response."""

    agent_account: str
    waited_from: datetime  # the buyer's first message of the wait
    answered_at: datetime  # the agent's message
    first: bool

    @property
    def response_s(self) -> float:
        return (self.answered_at - self.waited_from).total_seconds()


def responses(lines: Sequence[Line]) -> list[Response]:
    """The responses of one conversation (`lines` sorted by time).

    A wait starts at the first buyer message after an agent message (or at the start) and stops at
    the next agent message; bot messages are ignored.

    >>> t = datetime(2026, 1, 1, 8)
    >>> [r.response_s for r in responses([Line(BUYER, t), Line(BUYER, t + timedelta(seconds=20)),
    ...                                   Line(AGENT, t + timedelta(seconds=45), "a")])]
    [45.0]
    """
    found: list[Response] = []
    since: datetime | None = None
    for line in lines:
        if line.sender == BUYER and since is None:
            since = line.sent_at
        elif line.sender == AGENT:
            if since is not None:
                found.append(Response(line.agent_account, since, line.sent_at, first=not found))
            since = None
    return found


def all_responses(lines: Sequence[Line], *, gap: timedelta) -> list[Response]:
    """The responses of every conversation in one buyer's `lines` (sorted by time)."""
    found: list[Response] = []
    for group in split(lines, gap=gap):
        found += responses([lines[i] for i in group])
    return found


EFFECTIVE, LATE, PENDING = "effective", "late", "pending"


def effective_reply(
    lines: Sequence[Line], *, zone: tzinfo, window: tuple[time, time], within: timedelta, now: datetime,
) -> dict[date, str]:
    """Per shop-local day on which the buyer wrote inside `window` (有效回复): `effective` if every
    such message got an agent message within `within`, `late` if one did not, `pending` if one is
    still unanswered and its time is not up yet.

    A message at 07:59 or 23:01 is outside the default 08:00-23:00 window and does not count; a
    message at 22:59 answered at 23:30 is effective.
    """
    standing = effective_standing(lines, zone=zone, window=window, within=within)
    return {day: effective_state(late, deadline, now) for day, (late, deadline) in standing.items()}


def effective_standing(
    lines: Sequence[Line], *, zone: tzinfo, window: tuple[time, time], within: timedelta,
) -> dict[date, tuple[bool, datetime | None]]:
    """What `effective_reply` decides, without `now`: per shop-local day on which the buyer wrote
    inside `window`, whether one such message was answered too late, and the earliest deadline of
    those not answered at all (None if every one was answered). `effective_state` turns it into the
    day's state at any moment, exactly as `effective_reply` would.

    >>> from zoneinfo import ZoneInfo
    >>> t = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    >>> [(day, late, str(deadline.time())) for day, (late, deadline) in effective_standing(
    ...     [Line(BUYER, t), Line(BUYER, t + timedelta(minutes=5))], zone=t.tzinfo,
    ...     window=(time(8), time(23)), within=timedelta(hours=1)).items()]
    [(datetime.date(2026, 11, 24), False, '11:00:00')]
    """
    agent_times = [line.sent_at for line in lines if line.sender == AGENT]
    days: dict[date, tuple[bool, datetime | None]] = {}
    start, end = window
    for line in lines:
        if line.sender != BUYER:
            continue
        local = line.sent_at.astimezone(zone)
        if not start <= local.time() < end:
            continue
        late, open_deadline = days.get(local.date(), (False, None))
        deadline = line.sent_at + within
        i = bisect.bisect_left(agent_times, line.sent_at)
        if i < len(agent_times):
            late = late or agent_times[i] > deadline
        elif open_deadline is None or deadline < open_deadline:
            open_deadline = deadline
        days[local.date()] = (late, open_deadline)
    return days


def effective_state(late: bool, open_deadline: datetime | None, now: datetime) -> str:
    """A day's effective-reply state at `now` from its `effective_standing`: late if a message was
    answered too late or one unanswered is past its hour, pending if one unanswered is not yet."""
    if late or (open_deadline is not None and now >= open_deadline):
        return LATE
    return EFFECTIVE if open_deadline is None else PENDING


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of sorted values by linear interpolation (numpy's default); None if empty.

    >>> percentile([10, 20, 30, 40], 0.5)
    25.0
    >>> percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9)
    91.0
    """
    if not sorted_values:
        return None
    lo, hi, fraction = quantile_ranks(len(sorted_values), q)
    return interpolate(sorted_values[lo], sorted_values[hi], fraction)


def quantile_ranks(n: int, q: float) -> tuple[int, int, float]:
    """The two ranks (0-based, in sorted order) the q-quantile of n values lies between, and how far
    from the first (what `percentile` interpolates; also used where the values stay in the store).

    >>> quantile_ranks(10, 0.9)
    (8, 9, 0.09999999999999964)
    """
    pos = (n - 1) * q
    lo = int(pos)
    return lo, min(lo + 1, n - 1), pos - lo


def interpolate(low: float, high: float, fraction: float) -> float:
    return float(low + (high - low) * fraction)
