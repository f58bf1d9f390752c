"""Each day's sums of a period in one pass over the stored facts (the reports page's per-day figures):
the same sums as `metric_facts` gives for a single day, grouped by day in a handful of queries instead
of a dozen queries per day. What is left to Python (percentiles, the agent an order counts for) is in
`metrics.period.sums_by_day`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.metric_facts import AgentKey, ContactSums, _day_states
from bot.store.metrics import _chunks
from bot.store.tables import MetricContact, MetricDay, MetricResponse, Order


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


async def responses(session: AsyncSession, *, first: date, last: date) -> dict[date, dict[AgentKey, list[tuple[int, bool]]]]:
    """day -> (agent, platform) -> each response answered that day: (µs, first)."""
    r = MetricResponse
    found: dict[date, dict[AgentKey, list[tuple[int, bool]]]] = defaultdict(lambda: defaultdict(list))
    days: dict[object, date] = {}
    rows = await session.execute(
        sa.select(r.day, r.agent, r.platform, r.response_us, r.first).where(r.day.between(first, last)))
    for day, agent, platform, us, is_first in rows:
        d = days.get(day) or days.setdefault(day, _day(day))
        found[d][(agent, platform)].append((int(us), bool(is_first)))
    return found


async def contacts(session: AsyncSession, *, first: date, last: date, now: datetime) -> dict[date, dict[AgentKey, ContactSums]]:
    """day -> (agent, platform) -> that day's `metric_facts.contact_sums`."""
    c, d = MetricContact, MetricDay
    pairs = (sa.select(c.day, c.buyer_id, c.agent, c.platform, sa.func.max(sa.cast(c.replied, sa.Integer)).label("replied"))
             .where(c.day.between(first, last)).group_by(c.day, c.buyer_id, c.agent, c.platform).subquery("pairs"))
    effective, pending = _day_states(now)
    per_buyer = (
        sa.select(d.day, d.buyer_id, sa.func.sum(effective).label("effective"), sa.func.sum(1 - pending).label("decided"),
                  sa.func.sum(pending).label("pending"))
        .where(d.day.between(first, last), d.in_window).group_by(d.day, d.buyer_id).subquery("per_buyer"))
    rows = await session.execute(
        sa.select(pairs.c.day, pairs.c.agent, pairs.c.platform, sa.func.count(), sa.func.sum(pairs.c.replied),
                  sa.func.coalesce(sa.func.sum(per_buyer.c.effective), 0),
                  sa.func.coalesce(sa.func.sum(per_buyer.c.decided), 0),
                  sa.func.coalesce(sa.func.sum(per_buyer.c.pending), 0))
        .select_from(pairs.outerjoin(per_buyer, sa.and_(per_buyer.c.buyer_id == pairs.c.buyer_id,
                                                        per_buyer.c.day == pairs.c.day)))
        .group_by(pairs.c.day, pairs.c.agent, pairs.c.platform))
    found: dict[date, dict[AgentKey, ContactSums]] = defaultdict(dict)
    for day, agent, platform, n, replied, ok, decided, waiting in rows:
        found[_day(day)][(agent, platform)] = ContactSums(n, int(replied), int(ok), int(decided), int(waiting))
    return found


async def writers(session: AsyncSession, *, first: date, last: date) -> dict[date, dict[str, int]]:
    """day -> platform -> buyers who wrote that day (`consulting_buyers` is their sum over platforms)."""
    d = MetricDay
    rows = await session.execute(sa.select(d.day, d.platform, sa.func.count(sa.distinct(d.buyer_id)))
                                 .where(d.day.between(first, last)).group_by(d.day, d.platform))
    found: dict[date, dict[str, int]] = defaultdict(dict)
    for day, platform, n in rows:
        found[_day(day)][platform] = int(n)
    return found


async def replied(session: AsyncSession, *, first: date, last: date) -> dict[date, dict[str, int]]:
    """day -> platform -> buyers any agent replied to that day."""
    c = MetricContact
    rows = await session.execute(sa.select(c.day, c.platform, sa.func.count(sa.distinct(c.buyer_id)))
                                 .where(c.day.between(first, last), c.replied).group_by(c.day, c.platform))
    found: dict[date, dict[str, int]] = defaultdict(dict)
    for day, platform, n in rows:
        found[_day(day)][platform] = int(n)
    return found


@dataclass
class SalesInputs:
    """What deciding each day's conversions needs: the paid orders near the period of buyers in contact
    in it, and those buyers' contacts (per day, the first) and responses."""

    orders: list[tuple[int, str, datetime, int]]  # buyer, platform, created_at, paid fen
    first_contact: dict[tuple[int, str, str, date], datetime]  # (buyer, agent, platform, day) -> first contact
    responses: dict[int, list[tuple[datetime, str, datetime, datetime]]]  # buyer -> (answered, agent, conv. start, conv. last)


async def sales_inputs(session: AsyncSession, *, first: date, last: date, start: datetime, end: datetime,
                       margin: timedelta) -> SalesInputs:
    in_contact = sa.select(MetricContact.buyer_id).where(MetricContact.day.between(first, last))
    orders = [(b, p, at, int(fen)) for b, p, at, fen in await session.execute(
        sa.select(Order.buyer_id, Order.platform, Order.created_at, sa.func.coalesce(Order.paid_amount_fen, Order.amount_fen, 0))
        .where(Order.paid_at.is_not(None), Order.created_at >= start - margin, Order.created_at < end + margin,
               Order.buyer_id.in_(in_contact)))]
    c, r = MetricContact, MetricResponse
    first_contact: dict[tuple[int, str, str, date], datetime] = {}
    answers: dict[int, list[tuple[datetime, str, datetime, datetime]]] = defaultdict(list)
    for chunk in _chunks(sorted({o[0] for o in orders}), 5000):
        for buyer_id, agent, platform, day, at in await session.execute(
                sa.select(c.buyer_id, c.agent, c.platform, c.day, c.first_at)
                .where(c.day.between(first, last), c.buyer_id.in_(chunk))):
            first_contact[(buyer_id, agent, platform, _day(day))] = at
        for buyer_id, answered, agent, started, last_at in await session.execute(
                sa.select(r.buyer_id, r.answered_at, r.agent, r.conversation_started_at, r.conversation_last_at)
                .where(r.buyer_id.in_(chunk))):
            answers[buyer_id].append((answered, agent, started, last_at))
    return SalesInputs(orders, first_contact, answers)
