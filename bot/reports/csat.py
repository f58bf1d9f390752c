"""Pure: satisfaction (CSAT, 服务评价): parsing a buyer's rating, and CSAT per agent, platform and day.

CSAT is the share of ratings that are 4 or 5 (满意/很满意) among the ratings given. A rating counts on the
shop-local day it was given. A rating of a conversation (the answer to the invitation sent when it
ended, however late, within `csat.answer_hours`) belongs to that conversation, and so to the agent who
last answered it; a complaint callback's rating to the ticket's owner (else the agent its conversation
was routed to).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, tzinfo

from bot.tickets.workflow import parse_rating as _parse


def parse_rating(text: str) -> int | None:
    """The buyer's answer to a satisfaction invitation as 1-5, or None when the message is not a rating
    (the complaint callback's parser: a number alone, N分/N星, or a few words of satisfaction).

    >>> [parse_rating(t) for t in ("5", "五星", "很满意", "差评", "5号发货了吗", "满意，但是快递太慢了能不能补偿一下")]
    [5, 5, 5, 1, None, None]
    """
    return _parse(text)


def csat(ratings: Iterable[int]) -> tuple[float | None, int]:
    """(share of 4-5 ratings rounded to 4 places, number of ratings); None when there are none.

    >>> csat([5, 4, 2]), csat([])
    ((0.6667, 3), (None, 0))
    """
    values = list(ratings)
    if not values:
        return None, 0
    return round(sum(1 for r in values if r >= 4) / len(values), 4), len(values)


def by_agent_day(ratings: Iterable, *, zone: tzinfo,
                 agent_of: Callable[[str, str], tuple[str, str]]) -> dict[tuple[str, str, date], list[int]]:
    """(agent, platform, shop day) -> the ratings given. Each rating has `owner`, `agent_account`,
    `platform`, `rating` and `at`; `agent_of(platform, account)` names an account's agent."""
    found: dict[tuple[str, str, date], list[int]] = defaultdict(list)
    for r in ratings:
        agent = r.owner or agent_of(r.platform, r.agent_account)[0]
        found[(agent, r.platform, _day(r.at, zone))].append(r.rating)
    return found


def _day(at: datetime, zone: tzinfo) -> date:
    return at.astimezone(zone).date()
