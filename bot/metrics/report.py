"""Pure: per-agent figures for a period (metrics.md), from each buyer's messages and orders.

A period's figures are the sum of each buyer's contribution (`buyer_figures`), kept in `Totals`.
The period report adds every buyer once; the live board adds and removes one buyer's contribution
whenever that buyer's messages or orders change, so both always agree.

Choices where metrics.md leaves room (also in the README):
- A response belongs to the period of its answer time; its wait may have started before.
- An agent's reply rate counts the agent's consulting buyers who got a response from that agent.
- Effective-reply (有效回复率) is judged per buyer and shop-local day; any agent's message counts as
  the answer; a day still `pending` (an unanswered message whose hour is not over) is left out of
  the rate until it is decided. An agent's effective-reply rate is over that agent's consulting buyers.
- Conversion (询单转化率): the buyer's first message to the agent is the first one routed to the agent
  in the period, or the start of the first wait the agent answered, whichever is earlier.
- Sales (销售额) are in fen (`sales_fen`) and in yuan (`sales`); average order value is per paying buyer.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.conversation import BUYER, Line
from bot.metrics.response import EFFECTIVE, LATE, PENDING, all_responses, effective_reply, percentile

AgentKey = tuple[str, str]  # (agent id, or the account when it is no configured agent's; platform)


@dataclass(frozen=True)
class Rules:
    """What the figures depend on, taken from the configuration once."""

    zone: tzinfo = ZoneInfo("Asia/Shanghai")
    gap: timedelta = timedelta(minutes=30)
    fast_s: float = 30
    window: tuple[time, time] = (time(8), time(23))
    within: timedelta = timedelta(hours=1)
    flag_min_buyers: int = 100
    flag_below_rate: float = 0.5
    conversion: timedelta = timedelta(hours=24)
    accounts: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (platform, account) -> agent id

    @classmethod
    def from_config(cls, config: Config) -> Rules:
        m = config.metrics
        accounts = {}
        for agent in config.agents:
            for account in agent.accounts:
                platform, _, name = account.partition(":")
                accounts[(platform, name)] = agent.id
        return cls(
            zone=ZoneInfo(config.shop.timezone), gap=timedelta(minutes=config.shop.session_gap_minutes),
            fast_s=m.fast_response_s, window=tuple(time.fromisoformat(t) for t in m.effective_reply_window),
            within=timedelta(minutes=m.effective_reply_within_minutes), flag_min_buyers=m.flag_min_buyers,
            flag_below_rate=m.flag_below_rate, conversion=timedelta(hours=m.conversion_hours), accounts=accounts,
        )

    def agent(self, platform: str, account: str) -> AgentKey:
        return (self.accounts.get((platform, account), account), platform)

    def day_bounds(self, first: date, last: date) -> tuple[datetime, datetime]:
        """The UTC instants from the start of `first` to the end of `last` (days inclusive, shop time)."""
        start = datetime.combine(first, time(0), self.zone)
        end = datetime.combine(last + timedelta(days=1), time(0), self.zone)
        return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class OrderFact:
    order_id: str
    created_at: datetime | None
    paid_at: datetime | None
    amount_fen: int  # what was paid (the order's amount when the payment push carries none)


@dataclass(frozen=True)
class BuyerActivity:
    """One buyer's messages (whole conversations that touch the period, sorted) and orders."""

    platform: str
    shop: str
    buyer: str
    lines: tuple[Line, ...]
    orders: tuple[OrderFact, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.platform, self.shop, self.buyer)


@dataclass(frozen=True)
class BuyerFigures:
    """One buyer's contribution to a period's figures."""

    platform: str
    consulted: bool
    responses: tuple[tuple[AgentKey, float, bool, datetime], ...]  # agent, seconds, first?, answered_at
    consulting_agents: frozenset[AgentKey]
    replied_agents: frozenset[AgentKey]
    effective_days: tuple[tuple[date, str], ...]
    sales_fen: tuple[tuple[AgentKey, int], ...]  # agents this buyer converted for, and the paid sum


EMPTY = BuyerFigures("", False, (), frozenset(), frozenset(), (), ())


def buyer_figures(activity: BuyerActivity, *, start: datetime, end: datetime, now: datetime, rules: Rules) -> BuyerFigures:
    """What one buyer adds to the figures of the period [start, end)."""
    lines = activity.lines
    platform = activity.platform
    every = all_responses(lines, gap=rules.gap)
    in_period = [r for r in every if start <= r.answered_at < end]
    first_contact: dict[AgentKey, datetime] = {}
    consulted = False
    for line in lines:
        if line.sender == BUYER and start <= line.sent_at < end:
            consulted = True
            if line.agent_account:
                key = rules.agent(platform, line.agent_account)
                first_contact.setdefault(key, line.sent_at)
    replied: set[AgentKey] = set()
    for r in in_period:
        key = rules.agent(platform, r.agent_account)
        replied.add(key)
        if key not in first_contact or r.waited_from < first_contact[key]:
            first_contact[key] = r.waited_from
    consulting = frozenset(first_contact)

    first_day, last_day = start.astimezone(rules.zone).date(), (end - timedelta(microseconds=1)).astimezone(rules.zone).date()
    days = effective_reply(lines, zone=rules.zone, window=rules.window, within=rules.within, now=now)
    effective_days = tuple(sorted((d, s) for d, s in days.items() if first_day <= d <= last_day)) if consulted else ()

    # A paid order counts for the agent who last responded before it was created.
    answered = sorted((r.answered_at, rules.agent(platform, r.agent_account)) for r in every)
    times = [a for a, _ in answered]
    sales: dict[AgentKey, int] = {}
    for order in activity.orders:
        if order.created_at is None or order.paid_at is None:
            continue
        i = bisect.bisect_right(times, order.created_at)
        if i == 0:
            continue
        agent = answered[i - 1][1]
        contact = first_contact.get(agent)
        if contact is not None and contact <= order.created_at <= contact + rules.conversion:
            sales[agent] = sales.get(agent, 0) + order.amount_fen
    return BuyerFigures(
        platform=platform, consulted=consulted,
        responses=tuple((rules.agent(platform, r.agent_account), r.response_s, r.first, r.answered_at) for r in in_period),
        consulting_agents=consulting, replied_agents=frozenset(replied), effective_days=effective_days,
        sales_fen=tuple(sorted(sales.items())),
    )


@dataclass
class AgentCounts:
    """One agent's sums over a period, from which its row of figures is computed. Response times
    are summed in whole microseconds: integers add up the same in any order, so the live board and
    the store's sums give the same averages to the last digit."""

    consulting: int = 0
    replied: int = 0
    responses: int = 0
    response_us: int = 0
    fast: int = 0
    first_n: int = 0
    first_us: int = 0
    effective: int = 0
    decided: int = 0
    paying: int = 0
    sales_fen: int = 0
    pending: int = 0  # effective-reply days still undecided (left out of the rate, shown beside it)


@dataclass
class _AgentSums(AgentCounts):
    times: list[float] = field(default_factory=list)  # kept sorted

    def empty(self) -> bool:
        return not (self.consulting or self.times or self.paying)


def microseconds(seconds: float) -> int:
    """A response time as whole microseconds (event times have microsecond precision).

    >>> microseconds((datetime(2026, 1, 1, 0, 0, 45, 100) - datetime(2026, 1, 1)).total_seconds())
    45000100
    """
    return round(seconds * 1_000_000)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _mean_s(total_us: int, n: int) -> float | None:
    return _seconds(total_us / n / 1_000_000) if n else None


def agent_row(key: AgentKey, s: AgentCounts, *, p50_s: float | None, p90_s: float | None) -> dict:
    """The fields of http-api.md's GET /api/metrics/agents for one agent and platform."""
    agent, platform = key
    return {
        "agent": agent, "platform": platform,
        "consulting_buyers": s.consulting, "replied_buyers": s.replied,
        "reply_rate": _rate(s.replied, s.consulting),
        "responses": s.responses,
        "avg_response_s": _mean_s(s.response_us, s.responses),
        "p50_response_s": _seconds(p50_s),
        "p90_response_s": _seconds(p90_s),
        "first_response_avg_s": _mean_s(s.first_us, s.first_n),
        "within_30s_rate": _rate(s.fast, s.responses),
        "effective_reply_rate": _rate(s.effective, s.decided),
        "effective_reply_pending": s.pending,
        "converted_buyers": s.paying,
        "conversion_rate": _rate(s.paying, s.consulting),
        "sales_fen": s.sales_fen,
        "sales": round(s.sales_fen / 100, 2),
        "avg_order_value": round(s.sales_fen / 100 / s.paying, 2) if s.paying else None,
    }


def effective_day_rows(days: Mapping[tuple[str, date], Sequence[int]], rules: Rules) -> list[dict]:
    """Per platform and day (effective, late, pending buyers): the shop's effective-reply rate, and
    whether it is flagged."""
    rows = []
    for (platform, day), (ok, late, pending) in sorted(days.items()):
        buyers = ok + late + pending
        if not buyers:
            continue
        rate = _rate(ok, ok + late)
        rows.append({
            "platform": platform, "day": day.isoformat(), "buyers": buyers, "effective": ok,
            "late": late, "pending": pending, "rate": rate,
            "flagged": buyers >= rules.flag_min_buyers and rate is not None and rate < rules.flag_below_rate,
        })
    return rows


class Totals:
    """The sum of buyers' contributions; `add` and `remove` keep it current one buyer at a time."""

    def __init__(self, rules: Rules) -> None:
        self._rules = rules
        self._agents: dict[AgentKey, _AgentSums] = defaultdict(_AgentSums)
        self._days: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0])  # effective, late, pending
        self._hours: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])  # local hour -> [sum s, n]
        self.consulting = 0
        self.responses = 0

    def add(self, figures: BuyerFigures) -> None:
        self._apply(figures, +1)

    def remove(self, figures: BuyerFigures) -> None:
        self._apply(figures, -1)

    def _apply(self, f: BuyerFigures, sign: int) -> None:
        self.consulting += sign * f.consulted
        self.responses += sign * len(f.responses)
        for key in f.consulting_agents:
            sums = self._agents[key]
            sums.consulting += sign
            sums.replied += sign * (key in f.replied_agents)
            for _, state in f.effective_days:
                sums.effective += sign * (state == EFFECTIVE)
                sums.decided += sign * (state in (EFFECTIVE, LATE))
                sums.pending += sign * (state == PENDING)
        for key, seconds, first, answered_at in f.responses:
            sums = self._agents[key]
            if sign > 0:
                bisect.insort(sums.times, seconds)
            else:
                del sums.times[bisect.bisect_left(sums.times, seconds)]
            sums.responses += sign
            sums.response_us += sign * microseconds(seconds)
            sums.fast += sign * (seconds <= self._rules.fast_s)
            if first:
                sums.first_us += sign * microseconds(seconds)
                sums.first_n += sign
            hour = self._hours[answered_at.astimezone(self._rules.zone).hour]
            hour[0] += sign * seconds
            hour[1] += sign
        for key, fen in f.sales_fen:
            sums = self._agents[key]
            sums.paying += sign
            sums.sales_fen += sign * fen
        for day, state in f.effective_days:
            self._days[(f.platform, day)][(EFFECTIVE, LATE, PENDING).index(state)] += sign
        for key in [k for k, s in self._agents.items() if s.empty()]:
            del self._agents[key]

    def agents(self) -> list[dict]:
        """Per agent and platform, the fields of http-api.md's GET /api/metrics/agents."""
        return [agent_row(key, s, p50_s=percentile(s.times, 0.5), p90_s=percentile(s.times, 0.9))
                for key, s in sorted(self._agents.items())]

    def effective_days(self) -> list[dict]:
        """Per platform and day: the shop's effective-reply rate, and whether it is flagged."""
        return effective_day_rows(self._days, self._rules)

    def hours(self) -> list[dict]:
        """Mean response time per shop-local hour of the answer, for the day's chart."""
        return [{"hour": h, "responses": int(n), "avg_response_s": round(total / n, 1)}
                for h, (total, n) in sorted(self._hours.items()) if n]


class PeriodTotals:
    """A period's figures from sums the store made (see metrics.period): the same rows as `Totals`
    gives for the same buyers."""

    def __init__(self, rules: Rules, *, agents: Mapping[AgentKey, tuple[AgentCounts, float | None, float | None]],
                 days: Mapping[tuple[str, date], Sequence[int]], consulting: int, responses: int) -> None:
        self._rules = rules
        self._agents = agents  # key -> (sums, p50 s, p90 s)
        self._days = days  # (platform, day) -> (effective, late, pending)
        self.consulting = consulting
        self.responses = responses

    def agents(self) -> list[dict]:
        return [agent_row(key, s, p50_s=p50, p90_s=p90) for key, (s, p50, p90) in sorted(self._agents.items())]

    def effective_days(self) -> list[dict]:
        return effective_day_rows(self._days, self._rules)


def period_report(activities: Iterable[BuyerActivity], *, start: datetime, end: datetime, now: datetime,
                  rules: Rules) -> Totals:
    totals = Totals(rules)
    for activity in activities:
        totals.add(buyer_figures(activity, start=start, end=end, now=now, rules=rules))
    return totals


def lines_of(rows: Sequence[tuple[str, datetime, str]]) -> tuple[Line, ...]:
    return tuple(Line(sender, sent_at, account) for sender, sent_at, account in rows)


MAX_PERIOD_DAYS = 366  # a year, leap or not


def parse_period(first: str | None, last: str | None, *, today: date) -> tuple[date, date]:
    """`from` and `to` (YYYY-MM-DD, days inclusive) into dates; either left out means the other,
    both left out mean `today`. Raises ValueError with a message for a person.

    >>> parse_period("2026-11-01", "2026-11-30", today=date(2026, 11, 25))
    (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30))
    >>> parse_period("2025-01-01", "2026-01-01", today=date(2026, 11, 25))  # 366 days: the longest
    (datetime.date(2025, 1, 1), datetime.date(2026, 1, 1))
    """
    def day(name: str, text: str) -> date:
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name} must be a date YYYY-MM-DD, not {text[:40]!r}") from None

    start = day("from", first) if first else None
    end = day("to", last) if last else None
    start, end = start or end or today, end or start or today
    if start > end:
        raise ValueError(f"from ({start}) is after to ({end})")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ValueError(f"the period is {(end - start).days + 1} days, more than a year ({MAX_PERIOD_DAYS} days at most); "
                         f"the last day may be {start + timedelta(days=MAX_PERIOD_DAYS - 1)} at most")
    return start, end
