"""The stored per-buyer metric facts (metric_responses, metric_contacts, metric_days): which buyers
are stale, their messages to rebuild from, replacing their facts, and a period's sums over them.

Triggers on `messages` (migration m001) mark a buyer stale in whatever transaction changes their
messages; `claim_stale` hands stale buyers to one rebuilder at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Line
from bot.store.metrics import _chunks, _utc
from bot.store.tables import Buyer, Message, MetricBasis, MetricContact, MetricDay, MetricResponse, MetricStale, Order

AgentKey = tuple[str, str]  # (agent, platform)
_FACTS = (MetricResponse, MetricContact, MetricDay)


# --- keeping the facts current ---------------------------------------------------------------------

async def claim_stale(session: AsyncSession, *, limit: int, among: Collection[int] | None = None) -> list[int]:
    """Take up to `limit` stale buyers (their marks are deleted; a rollback puts them back).

    On PostgreSQL a mark still locked (by the transaction storing the messages, or another process
    rebuilding) is skipped; with `among` (those buyers only) it is waited for instead, so that none
    of them is left stale.
    """
    pick = sa.select(MetricStale.buyer_id).order_by(MetricStale.buyer_id).limit(limit)
    if among is not None:
        pick = pick.where(MetricStale.buyer_id.in_(list(among)))
    if _postgres(session):
        pick = pick.with_for_update(skip_locked=among is None)
    rows = await session.execute(
        sa.delete(MetricStale).where(MetricStale.buyer_id.in_(pick)).returning(MetricStale.buyer_id)
    )
    return sorted(rows.scalars())


async def stale_ids(session: AsyncSession) -> list[int]:
    return list((await session.scalars(sa.select(MetricStale.buyer_id).order_by(MetricStale.buyer_id))).all())


async def lock_buyers(session: AsyncSession, buyer_ids: Sequence[int]) -> None:
    """PostgreSQL: two processes never rebuild one buyer at once (a buyer marked again while being
    rebuilt can be claimed by another process). FOR NO KEY UPDATE: inserting a message, which takes
    FOR KEY SHARE on its buyer, is not blocked."""
    if _postgres(session) and buyer_ids:
        await session.execute(
            sa.select(Buyer.id).where(Buyer.id.in_(list(buyer_ids))).order_by(Buyer.id).with_for_update(key_share=True)
        )


async def mark_all_stale(session: AsyncSession) -> None:
    """Every buyer with messages, and every buyer with facts, is to be rebuilt."""
    # (`WHERE true`: SQLite reads the ON CONFLICT of INSERT ... SELECT as a join's without it)
    for source in (sa.select(Message.buyer_id).distinct().where(sa.true()),
                   sa.select(MetricDay.buyer_id).distinct().where(sa.true())):
        insert = _insert(session)(MetricStale.__table__).from_select(["buyer_id"], source)
        await session.execute(insert.on_conflict_do_nothing(index_elements=["buyer_id"]))


async def stale_count(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(MetricStale))


async def basis(session: AsyncSession) -> str | None:
    return await session.scalar(sa.select(MetricBasis.rules).where(MetricBasis.id == 1))


async def set_basis(session: AsyncSession, rules: str) -> None:
    insert = _insert(session)(MetricBasis.__table__).values(id=1, rules=rules)
    await session.execute(insert.on_conflict_do_update(index_elements=["id"], set_={"rules": rules}))


@dataclass
class BuyerLines:
    buyer_id: int
    platform: str = ""
    lines: list[Line] = field(default_factory=list)


async def buyer_lines(session: AsyncSession, buyer_ids: Collection[int]) -> list[BuyerLines]:
    """All messages of these buyers, each buyer's in event-time order (buyers without any are left out)."""
    found: dict[int, BuyerLines] = {}
    for chunk in _chunks(sorted(buyer_ids), 5000):
        # Times as the driver gives them, parsed here: per-row type processing would be most of a rebuild.
        rows = await session.execute(
            sa.select(Message.buyer_id, Message.sender, sa.type_coerce(Message.sent_at, sa.String), Message.agent_account)
            .where(Message.buyer_id.in_(chunk)).order_by(Message.buyer_id, Message.sent_at, Message.id)
        )
        current = None
        for buyer_id, sender, sent_at, account in rows:
            if current is None or current.buyer_id != buyer_id:
                current = found[buyer_id] = BuyerLines(buyer_id)
            current.lines.append(Line(sender, _utc(sent_at), account))
        for buyer_id, platform in await session.execute(sa.select(Buyer.id, Buyer.platform).where(Buyer.id.in_(chunk))):
            if buyer_id in found:
                found[buyer_id].platform = platform
    return list(found.values())


async def replace_facts(session: AsyncSession, buyer_ids: Collection[int], *, responses: Sequence[dict],
                        contacts: Sequence[dict], days: Sequence[dict]) -> None:
    """The facts of `buyer_ids` become these rows (columns as in tables.py); a buyer without rows has none."""
    for chunk in _chunks(sorted(buyer_ids), 5000):
        for table in _FACTS:
            await session.execute(sa.delete(table).where(table.buyer_id.in_(chunk)))
    for table, rows in zip(_FACTS, (responses, contacts, days)):
        if rows:
            await session.execute(sa.insert(table.__table__), list(rows))


# --- a period's sums -------------------------------------------------------------------------------

@dataclass
class ResponseSums:
    """One agent's responses answered in the period: counts, sums in µs, and the values at `ranks`."""

    responses: int = 0
    response_us: int = 0
    fast: int = 0
    first_n: int = 0
    first_us: int = 0
    ranked_us: dict[int, int] = field(default_factory=dict)  # rank in sorted order (0-based) -> µs


@dataclass
class ContactSums:
    """One agent's consulting buyers in the period, those replied, and their effective-reply days."""

    consulting: int = 0
    replied: int = 0
    effective: int = 0
    decided: int = 0
    pending: int = 0


def response_histogram(*, first: date, last: date, fast_us: int, shop: bool = False):
    """Per agent (with `shop`: per platform, agent "") and whole second of response time: count, µs
    sum, fast ones, first responses."""
    r = MetricResponse
    second = (r.response_us // 1_000_000).label("second")
    agent = sa.literal("").label("agent") if shop else r.agent
    return (
        sa.select(agent, r.platform, second, sa.func.count(), sa.func.sum(r.response_us),
                  sa.func.sum(sa.case((r.response_us <= fast_us, 1), else_=0)),
                  sa.func.sum(sa.case((r.first, 1), else_=0)),
                  sa.func.sum(sa.case((r.first, r.response_us), else_=0)))
        .where(r.day.between(first, last))
        .group_by(*((r.platform, second) if shop else (r.agent, r.platform, second)))
    )


def responses_between(*, agent: str | None, platform: str, first: date, last: date, low_us: int, high_us: int):
    """The response times of one agent (None: every agent) in the period within [low_us, high_us), sorted."""
    r = MetricResponse
    query = (
        sa.select(r.response_us)
        .where(r.platform == platform, r.response_us >= low_us, r.response_us < high_us, r.day.between(first, last))
        .order_by(r.response_us)
    )
    return query if agent is None else query.where(r.agent == agent)


async def response_sums(session: AsyncSession, *, first: date, last: date, fast_us: int,
                        ranks: Callable[[int], Iterable[int]], shop: bool = False) -> dict[AgentKey, ResponseSums]:
    """Per agent (with `shop`: per platform, keyed ("", platform)), the responses answered on the
    days `first`..`last`; `ranks(n)` names the ranks whose values are wanted (for percentiles).
    Each value is found in its one-second bucket of a per-second histogram, so only those buckets'
    rows are read."""
    found: dict[AgentKey, ResponseSums] = {}
    buckets: dict[AgentKey, list[tuple[int, int]]] = {}  # second -> count, sorted
    for agent, platform, second, n, total, fast, first_n, first_us in await session.execute(
        response_histogram(first=first, last=last, fast_us=fast_us, shop=shop)
    ):
        sums = found.setdefault((agent, platform), ResponseSums())
        sums.responses += n
        sums.response_us += int(total)
        sums.fast += int(fast)
        sums.first_n += int(first_n)
        sums.first_us += int(first_us)
        buckets.setdefault((agent, platform), []).append((int(second), n))
    for key, sums in found.items():
        seconds = sorted(buckets[key])
        values: dict[int, list[int]] = {}  # second -> its sorted values
        below = 0  # responses in the buckets before
        wanted = sorted(set(ranks(sums.responses)))
        for second, n in seconds:
            for rank in wanted:
                if below <= rank < below + n:
                    if second not in values:
                        values[second] = list((await session.scalars(responses_between(
                            agent=None if shop else key[0], platform=key[1], first=first, last=last,
                            low_us=second * 1_000_000, high_us=(second + 1) * 1_000_000))).all())
                    sums.ranked_us[rank] = values[second][rank - below]
            below += n
    return found


def contact_pairs(*, first: date, last: date, since: bool = False):
    """Each (buyer, agent) who were in contact in the period, replied or not (and with `since`,
    since when: the first contact's time, which only sales need; it makes the query slower)."""
    c = MetricContact
    columns = [c.buyer_id, c.agent, c.platform, sa.func.max(sa.cast(c.replied, sa.Integer)).label("replied")]
    if since:
        columns.append(sa.func.min(c.first_at).label("contact_at"))
    return sa.select(*columns).where(c.day.between(first, last)).group_by(c.buyer_id, c.agent, c.platform)


def _day_states(now: datetime):
    """1/0 columns: the day is effective, pending at `now` (otherwise late), as response.effective_state."""
    d = MetricDay
    effective = sa.case((sa.and_(sa.not_(d.late), d.open_deadline.is_(None)), 1), else_=0)
    pending = sa.case((sa.and_(sa.not_(d.late), d.open_deadline > now), 1), else_=0)
    return effective, pending


def agent_contacts(*, first: date, last: date, now: datetime):
    """Per agent: consulting buyers, replied ones, and their effective and decided days in the period."""
    d = MetricDay
    pairs = contact_pairs(first=first, last=last).subquery("pairs")
    effective, pending = _day_states(now)
    per_buyer = (
        sa.select(d.buyer_id, sa.func.sum(effective).label("effective"), sa.func.sum(1 - pending).label("decided"),
                  sa.func.sum(pending).label("pending"))
        .where(d.day.between(first, last), d.in_window)
        .group_by(d.buyer_id)
        .subquery("per_buyer")
    )
    return (
        sa.select(pairs.c.agent, pairs.c.platform, sa.func.count(), sa.func.sum(pairs.c.replied),
                  sa.func.coalesce(sa.func.sum(per_buyer.c.effective), 0),
                  sa.func.coalesce(sa.func.sum(per_buyer.c.decided), 0),
                  sa.func.coalesce(sa.func.sum(per_buyer.c.pending), 0))
        .select_from(pairs.outerjoin(per_buyer, per_buyer.c.buyer_id == pairs.c.buyer_id))
        .group_by(pairs.c.agent, pairs.c.platform)
    )


async def contact_sums(session: AsyncSession, *, first: date, last: date, now: datetime) -> dict[AgentKey, ContactSums]:
    return {(agent, platform): ContactSums(n, int(replied), int(effective), int(decided), int(pending))
            for agent, platform, n, replied, effective, decided, pending
            in await session.execute(agent_contacts(first=first, last=last, now=now))}


def shop_days(*, first: date, last: date, now: datetime):
    """Per platform and day: buyers effective, pending at `now`, and in the window at all."""
    d = MetricDay
    effective, pending = _day_states(now)
    return (
        sa.select(d.platform, d.day, sa.func.sum(effective), sa.func.sum(pending), sa.func.count())
        .where(d.day.between(first, last), d.in_window)
        .group_by(d.platform, d.day)
    )


async def day_counts(session: AsyncSession, *, first: date, last: date, now: datetime) -> dict[tuple[str, date], tuple[int, int, int]]:
    """(platform, day) -> buyers (effective, late, pending) on the days `first`..`last`."""
    return {(platform, day): (int(ok), n - int(ok) - int(pending), int(pending))
            for platform, day, ok, pending, n in await session.execute(shop_days(first=first, last=last, now=now))}


def distinct_writers(*, first: date, last: date):
    return sa.select(sa.func.count(sa.distinct(MetricDay.buyer_id))).where(MetricDay.day.between(first, last))


async def consulting_buyers(session: AsyncSession, *, first: date, last: date) -> int:
    """Distinct buyers who wrote on the days `first`..`last`."""
    return await session.scalar(distinct_writers(first=first, last=last))


def paid_orders(*, first: date, last: date, start: datetime, end: datetime, margin: timedelta, postgres: bool = False):
    """Paid orders created within `margin` of [start, end) of the buyers in contact with an agent in
    the period, each with the agent who last responded before its creation, among the responses of
    the buyer's conversations that touch [start, end) (ties: the greater agent, as Python sorts)."""
    r = MetricResponse
    agent = r.agent.collate("C") if postgres else r.agent  # code point order, as Python compares str
    last_agent = (
        sa.select(r.agent)
        .where(r.buyer_id == Order.buyer_id, r.answered_at <= Order.created_at,
               r.conversation_last_at >= start, r.conversation_started_at < end)
        .order_by(r.answered_at.desc(), agent.desc())
        .limit(1)
        .scalar_subquery()
    )
    in_contact = sa.select(MetricContact.buyer_id).where(MetricContact.day.between(first, last))
    return (
        sa.select(Order.buyer_id, Order.platform, Order.created_at,
                  sa.func.coalesce(Order.paid_amount_fen, Order.amount_fen, 0), last_agent)
        .where(Order.paid_at.is_not(None), Order.created_at >= start - margin, Order.created_at < end + margin,
               Order.buyer_id.in_(in_contact))
    )


async def sales(session: AsyncSession, *, first: date, last: date, start: datetime, end: datetime,
                margin: timedelta, conversion: timedelta) -> dict[AgentKey, tuple[int, int]]:
    """Per agent: buyers converted and the sum of their paid orders (fen). An order counts for the
    agent who last responded before it was created, when it was created within `conversion` after
    the buyer's first contact with that agent in the period."""
    found = await converted(session, first=first, last=last, start=start, end=end, margin=margin,
                            conversion=conversion)
    return {key: (len(buyers), sum(buyers.values())) for key, buyers in found.items()}


async def converted(session: AsyncSession, *, first: date, last: date, start: datetime, end: datetime,
                    margin: timedelta, conversion: timedelta) -> dict[AgentKey, dict[int, int]]:
    """Per agent: each converted buyer's paid sum (fen), as `sales` counts them."""
    orders = (await session.execute(paid_orders(first=first, last=last, start=start, end=end, margin=margin,
                                                postgres=_postgres(session)))).all()
    if not orders:
        return {}
    contact_at: dict[tuple[int, str, str], datetime] = {}
    for chunk in _chunks(sorted({o[0] for o in orders}), 5000):
        pairs = contact_pairs(first=first, last=last, since=True).where(MetricContact.buyer_id.in_(chunk))
        for buyer_id, agent, platform, _, at in await session.execute(pairs):
            contact_at[(buyer_id, agent, platform)] = at
    paying: dict[AgentKey, dict[int, int]] = {}
    for buyer_id, platform, created_at, fen, agent in orders:
        at = contact_at.get((buyer_id, agent, platform)) if agent is not None else None
        if at is not None and at <= created_at <= at + conversion:
            buyers = paying.setdefault((agent, platform), {})
            buyers[buyer_id] = buyers.get(buyer_id, 0) + int(fen)
    return paying


async def shop_contacts(session: AsyncSession, *, first: date, last: date) -> dict[str, tuple[int, int]]:
    """Per platform: buyers who wrote on the days `first`..`last`, and those of them any agent replied to."""
    d, c = MetricDay, MetricContact
    writers = dict((await session.execute(
        sa.select(d.platform, sa.func.count(sa.distinct(d.buyer_id))).where(d.day.between(first, last))
        .group_by(d.platform))).all())
    replied = dict((await session.execute(
        sa.select(c.platform, sa.func.count(sa.distinct(c.buyer_id))).where(c.day.between(first, last), c.replied)
        .group_by(c.platform))).all())
    return {p: (int(n), int(replied.get(p, 0))) for p, n in writers.items()}


def period_statements(*, first: date, last: date, start: datetime, end: datetime, now: datetime,
                      margin: timedelta) -> list[tuple[str, sa.Select]]:
    """The queries a period's sums run (a sample bucket for the percentiles), named: for query plans."""
    return [
        ("responses", response_histogram(first=first, last=last, fast_us=30_000_000)),
        ("percentile bucket", responses_between(agent="", platform="", first=first, last=last,
                                                low_us=60_000_000, high_us=61_000_000)),
        ("contacts", agent_contacts(first=first, last=last, now=now)),
        ("sales", paid_orders(first=first, last=last, start=start, end=end, margin=margin)),
        ("effective days", shop_days(first=first, last=last, now=now)),
        ("consulting", distinct_writers(first=first, last=last)),
    ]


def _postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


def _insert(session: AsyncSession):
    return postgresql.insert if _postgres(session) else sqlite.insert
