"""Pure: one buyer's messages → the facts a period's figures are summed from (metrics.md), kept in
the store per buyer and rebuilt whenever the buyer's messages change (see metrics.period).

The facts hold no period and no `now`: each is dated by its shop-local day, so that any run of
days is a sum over rows, and an effective-reply day not yet decided keeps the deadline that will
decide it. Summed for a period, they give what `report.buyer_figures` gives for every buyer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.conversation import BUYER, Line, split
from bot.metrics.report import AgentKey, Rules
from bot.metrics.response import effective_standing, responses


@dataclass(frozen=True)
class ResponseFact:
    """A response (响应): who gave it, when, after how long, and the conversation it belongs to (a
    paid order counts for the agent who last responded before it, among the conversations that
    touch the period, as `buyer_figures` sees them)."""

    agent: AgentKey
    day: date  # shop-local day of the answer: the day the response counts on
    answered_at: datetime
    response_us: int
    first: bool  # the conversation's first response
    conversation_started_at: datetime
    conversation_last_at: datetime


@dataclass(frozen=True)
class ContactFact:
    """The buyer reached the agent on `day`: a message routed to the agent, or a wait the agent
    answered that day. `first_at` is the earliest such message or answered wait's start."""

    agent: AgentKey
    day: date
    first_at: datetime
    replied: bool  # the agent responded to the buyer that day


@dataclass(frozen=True)
class DayFact:
    """A shop-local day on which the buyer wrote (a consulting buyer, 咨询), and its effective-reply
    standing (有效回复) when the buyer wrote inside the window (`response.effective_standing`)."""

    day: date
    in_window: bool
    late: bool
    open_deadline: datetime | None


@dataclass(frozen=True)
class BuyerFacts:
    responses: tuple[ResponseFact, ...]
    contacts: tuple[ContactFact, ...]
    days: tuple[DayFact, ...]


def buyer_facts(lines: Sequence[Line], *, platform: str, rules: Rules) -> BuyerFacts:
    """The facts of all of one buyer's messages (`lines` sorted by time, every conversation whole).

    >>> from zoneinfo import ZoneInfo
    >>> from bot.conversation import AGENT
    >>> t = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    >>> facts = buyer_facts([Line(BUYER, t, "a"), Line(AGENT, t + timedelta(seconds=45), "a")],
    ...                     platform="wangwang", rules=Rules())
    >>> [(r.agent, r.response_us, r.first) for r in facts.responses]
    [(('a', 'wangwang'), 45000000, True)]
    >>> [(c.agent, c.first_at == t, c.replied) for c in facts.contacts]
    [(('a', 'wangwang'), True, True)]
    """
    zone = rules.zone
    found: list[ResponseFact] = []
    contacts: dict[tuple[AgentKey, date], list] = {}  # -> [first_at, replied]
    for group in split(lines, gap=rules.gap):
        conversation = [lines[i] for i in group]
        started_at, last_at = conversation[0].sent_at, conversation[-1].sent_at
        for r in responses(conversation):
            agent = rules.agent(platform, r.agent_account)
            day = r.answered_at.astimezone(zone).date()
            found.append(ResponseFact(agent, day, r.answered_at, (r.answered_at - r.waited_from) // _US, r.first,
                                      started_at, last_at))
            contact = contacts.setdefault((agent, day), [r.waited_from, True])
            contact[0] = min(contact[0], r.waited_from)
            contact[1] = True
    wrote: set[date] = set()
    for line in lines:
        if line.sender != BUYER:
            continue
        day = line.sent_at.astimezone(zone).date()
        wrote.add(day)
        if line.agent_account:
            contact = contacts.setdefault((rules.agent(platform, line.agent_account), day), [line.sent_at, False])
            contact[0] = min(contact[0], line.sent_at)
    standing = effective_standing(lines, zone=zone, window=rules.window, within=rules.within)
    days = []
    for day in sorted(wrote):
        late, open_deadline = standing.get(day, (False, None))
        days.append(DayFact(day, day in standing, late, open_deadline))
    return BuyerFacts(
        responses=tuple(found),
        contacts=tuple(ContactFact(agent, day, first_at, replied)
                       for (agent, day), (first_at, replied) in sorted(contacts.items())),
        days=tuple(days),
    )


def rules_basis(rules: Rules) -> str:
    """What stored facts depend on, as text: facts built under other rules are rebuilt.
    (The fast-response limit, the conversion window and the flag thresholds apply when summing.)"""
    return json.dumps({
        "zone": str(rules.zone), "gap_s": rules.gap.total_seconds(),
        "window": [t.isoformat() for t in rules.window], "within_s": rules.within.total_seconds(),
        "accounts": sorted([platform, account, agent] for (platform, account), agent in rules.accounts.items()),
    }, ensure_ascii=False, sort_keys=True)


_US = timedelta(microseconds=1)
