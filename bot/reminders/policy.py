"""The payment-reminder (催付) rules, pure: which slots an order gets, and whether a due reminder is
sent now, waits for the end of the quiet hours, or is skipped (and why)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import quiet_until
from bot.config import ReminderConfig

CLOSE_SLOT = "close"
# Why a reminder was not sent; `missed` is "fell due while the bot was down and is no longer valid".
REASONS = ("paid", "closed", "opted_out", "order_cap", "quiet_hours", "live_conversation", "daily_cap",
           "missed", "blocked")  # and in reports, send_failed: the outbox gave up on the message


@dataclass(frozen=True)
class Rules:
    offsets: tuple[timedelta, ...]
    before_close: timedelta  # zero: no reminder before the auto-close
    max_per_order: int
    max_per_buyer_per_day: int
    quiet_hours: tuple[str, str]  # shop time "HH:MM", start included, end excluded
    zone: ZoneInfo
    max_late: timedelta
    live_window: timedelta
    stop_list: frozenset[str]  # "platform:buyer_nick"

    @classmethod
    def from_config(cls, config: ReminderConfig, *, zone: str) -> Rules:
        return cls(
            offsets=tuple(timedelta(minutes=m) for m in config.offsets_minutes),
            before_close=timedelta(minutes=config.before_close_minutes),
            max_per_order=config.max_per_order, max_per_buyer_per_day=config.max_per_buyer_per_day,
            quiet_hours=config.quiet_hours, zone=ZoneInfo(zone),
            max_late=timedelta(minutes=config.max_late_minutes),
            live_window=timedelta(minutes=config.live_conversation_minutes),
            stop_list=frozenset(config.stop_list),
        )


def schedule(created_at: datetime, closes_at: datetime | None, rules: Rules) -> list[tuple[str, datetime]]:
    """The order's reminder slots and when each falls due: "1", "2" ... after creation, and "close"
    `before_close` ahead of the auto-close. Slots at or after the close, or the close slot at or before
    the creation, are left out.

    >>> from datetime import timezone
    >>> t = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
    >>> rules = Rules((timedelta(minutes=15),), timedelta(minutes=60), 2, 1, ("22:00", "08:00"),
    ...               ZoneInfo("Asia/Shanghai"), timedelta(hours=2), timedelta(minutes=10), frozenset())
    >>> [(s, at.strftime("%H:%M")) for s, at in schedule(t, t + timedelta(hours=24), rules)]
    [('1', '02:15'), ('close', '01:00')]
    """
    slots = [(str(n), created_at + offset) for n, offset in enumerate(rules.offsets, start=1)]
    if closes_at is not None:
        slots = [(s, at) for s, at in slots if at < closes_at]
        if rules.before_close > timedelta(0) and closes_at - rules.before_close > created_at:
            slots.append((CLOSE_SLOT, closes_at - rules.before_close))
    return slots


@dataclass(frozen=True)
class Candidate:
    """One due reminder as the policy sees it."""

    status: str  # the order's: unpaid, paid, closed
    due_at: datetime
    closes_at: datetime | None
    sent_for_order: int  # reminders already sent for this order
    superseded: bool  # a later slot of the same order is due too (after downtime)


@dataclass(frozen=True)
class BuyerState:
    key: str  # "platform:nick", for the stop list
    opted_out: bool
    last_agent_at: datetime | None  # the latest message an agent sent them
    sent_today: int  # reminder messages sent to them today, shop time


@dataclass(frozen=True)
class Decision:
    action: str  # send, wait, skip, missed
    reason: str | None = None
    until: datetime | None = None  # for wait: when to look again

    @property
    def outcome(self) -> str:
        """For counters and the report: sent, waiting, missed, or skipped:<reason>."""
        return {"send": "sent", "wait": "waiting", "missed": "missed"}.get(self.action, f"skipped:{self.reason}")


SEND = Decision("send")


def due(c: Candidate, buyer: BuyerState, *, now: datetime, rules: Rules) -> Decision:
    """What to do with a due reminder at `now`. The checks, in order: the order is still unpaid and
    open; still valid (not superseded by a later slot nor later than `max_late`, else missed); the
    buyer has not opted out; the per-order cap; the quiet hours (wait for their end, or skip when the
    order closes first); a live conversation with an agent; the buyer's daily cap.

    >>> from datetime import timezone
    >>> rules = Rules((), timedelta(0), 2, 1, ("22:00", "08:00"), ZoneInfo("Asia/Shanghai"),
    ...               timedelta(hours=2), timedelta(minutes=10), frozenset())
    >>> at_2330 = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    >>> c = Candidate("unpaid", at_2330, None, 0, False)
    >>> due(c, BuyerState("wangwang:b", False, None, 0), now=at_2330, rules=rules)
    Decision(action='wait', reason='quiet_hours', until=datetime.datetime(2026, 11, 25, 0, 0, tzinfo=datetime.timezone.utc))
    """
    if c.status in ("paid", "closed"):
        return Decision("skip", c.status)
    if c.status != "unpaid":
        return Decision("skip", "closed")
    if c.closes_at is not None and c.closes_at <= now:
        return Decision("missed", "missed")
    if c.superseded or now - c.due_at > rules.max_late:
        return Decision("missed", "missed")
    if buyer.opted_out or buyer.key in rules.stop_list:
        return Decision("skip", "opted_out")
    if c.sent_for_order >= rules.max_per_order:
        return Decision("skip", "order_cap")
    if (end := quiet_until(now, rules.zone, rules.quiet_hours)) is not None:
        if c.closes_at is not None and c.closes_at <= end:
            return Decision("skip", "quiet_hours")
        return Decision("wait", "quiet_hours", until=end)
    if buyer.last_agent_at is not None and now - buyer.last_agent_at < rules.live_window:
        return Decision("skip", "live_conversation")
    if buyer.sent_today >= rules.max_per_buyer_per_day:
        return Decision("skip", "daily_cap")
    return SEND
