"""Pure: satisfaction (CSAT, 服务评价) per agent, platform and day from the buyers' 1-5 ratings.

CSAT is the share of ratings that are 4 or 5 (满意/很满意) among the ratings given; a rating counts
on the shop-local day it was given, for the agent who owns the rated ticket (else the agent the
buyer's conversation was routed to), on the ticket's platform.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, tzinfo


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
