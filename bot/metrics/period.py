"""Figures for any period (GET /api/metrics/agents, `csbot report`): sums over per-buyer facts kept
in the store (metrics.facts), each buyer's rebuilt from their messages whenever those change.

Triggers mark a buyer stale in the transaction that changes their messages (pushes processed, the
outbox's sends, anything else); `PeriodFigures.run` rebuilds stale buyers in the background, and
a period's figures first rebuild whatever is still stale, so they are exact as of the request.
They are the figures the live board computes from raw messages (`report.buyer_figures`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics.facts import BuyerFacts, buyer_facts, rules_basis
from bot.metrics.report import AgentCounts, PeriodTotals, Rules, agent_row
from bot.metrics.response import interpolate, quantile_ranks
from bot.store import metric_facts as store
from bot.store import metric_facts_by_day as by_day_store
from bot.store.db import reading

log = logging.getLogger(__name__)

QUANTILES = (0.5, 0.9)


class PeriodFigures:
    """The stored facts kept current, and any period's figures from them.

    `gate`: on SQLite, the lock the push writer and the processor take turns through; each rebuild
    batch takes it too, so that answers to pushes never wait behind a long rebuild.
    """

    def __init__(self, db: async_sessionmaker, *, rules: Rules, gate: asyncio.Lock | None = None,
                 batch: int = 200, poll_s: float = 1.0) -> None:
        self._db = db
        self._rules = rules  # shared: /admin changes its accounts in place (bot.web.roster)
        self._gate = gate
        self._batch = batch
        self._poll_s = poll_s

    async def run(self) -> None:
        """The background loop: rebuild stale buyers every `poll_s`."""
        while True:
            try:
                await self.catch_up()
            except Exception:
                log.exception("metric facts rebuild failed; retrying")
            await asyncio.sleep(self._poll_s)

    async def catch_up(self, *, batch: int | None = None, now_stale: bool = False,
                       progress: Callable[[int, int], None] | None = None) -> int:
        """Rebuild stale buyers' facts (every buyer's, if the stored facts were built under other
        rules), one transaction per `batch` buyers; returns how many were rebuilt.

        By default until a batch comes back short (the background loop: what goes stale meanwhile
        waits for its next round). `now_stale` (a report): exactly the buyers stale when it starts,
        waiting for those another transaction holds (PostgreSQL), so that none is left stale and a
        busy shop cannot keep it going.
        """
        batch = batch or self._batch
        basis = rules_basis(self._rules)
        async with self._writing() as session:
            if await store.basis(session) != basis:
                log.info("metric facts built under other rules (or never): rebuilding every buyer")
                await store.mark_all_stale(session)
                await store.set_basis(session, basis)
            todo = await store.stale_ids(session) if now_stale else None
        total = 0
        while True:
            among = None
            if todo is not None:
                if not todo:
                    return total
                among, todo = todo[:batch], todo[batch:]
            started = time.monotonic()
            async with self._writing() as session:
                n = await rebuild_stale(session, rules=self._rules, limit=batch, among=among)
            total += n
            if n:
                log.debug("metric facts rebuilt buyers=%d ms=%.0f", n, (time.monotonic() - started) * 1000)
                if progress is not None:
                    progress(total, n)
            if todo is None and n < batch:
                return total

    async def totals(self, *, first: date, last: date, now: datetime) -> PeriodTotals:
        """The figures of the days `first`..`last` (inclusive, shop time) as of `now`."""
        await self.catch_up(now_stale=True)
        async with self._db() as session:
            await reading(session)  # one snapshot, and on SQLite no write lock held meanwhile
            return await sum_facts(session, first=first, last=last, now=now, rules=self._rules)

    async def report(self, *, first: date, last: date, now: datetime,
                     by_day: bool) -> tuple[tuple[PeriodTotals, list[dict]], list[tuple[PeriodTotals, list[dict]]]]:
        """The agents' figures and the shop's rows per platform (`shop_rows`) for the period, and with
        `by_day` for each of its days (`sums_by_day`, one pass), read in one snapshot after one catch-up."""
        await self.catch_up(now_stale=True)
        async with self._db() as session:
            await reading(session)
            totals = await sum_facts(session, first=first, last=last, now=now, rules=self._rules)
            whole = (totals, await shop_rows(session, first=first, last=last, now=now, rules=self._rules, totals=totals))
            days = await sums_by_day(session, first=first, last=last, now=now, rules=self._rules) if by_day else []
            return whole, days

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        async with self._gate or contextlib.nullcontext(), self._db() as session, session.begin():
            yield session


async def rebuild_stale(session: AsyncSession, *, rules: Rules, limit: int, among: Sequence[int] | None = None) -> int:
    """Claim up to `limit` stale buyers (of `among`, if given) and rebuild their facts from all their messages."""
    buyer_ids = await store.claim_stale(session, limit=limit, among=among)
    if not buyer_ids:
        return 0
    await store.lock_buyers(session, buyer_ids)
    responses, contacts, days = [], [], []
    for found in await store.buyer_lines(session, buyer_ids):
        rows = fact_rows(found.buyer_id, found.platform, buyer_facts(found.lines, platform=found.platform, rules=rules))
        responses += rows[0]
        contacts += rows[1]
        days += rows[2]
    await store.replace_facts(session, buyer_ids, responses=responses, contacts=contacts, days=days)
    return len(buyer_ids)


def fact_rows(buyer_id: int, platform: str, facts: BuyerFacts) -> tuple[list[dict], list[dict], list[dict]]:
    """The rows of metric_responses, metric_contacts and metric_days for one buyer's facts."""
    return (
        [{"buyer_id": buyer_id, "agent": r.agent[0], "platform": r.agent[1], "day": r.day, "answered_at": r.answered_at,
          "response_us": r.response_us, "first": r.first, "conversation_started_at": r.conversation_started_at,
          "conversation_last_at": r.conversation_last_at} for r in facts.responses],
        [{"buyer_id": buyer_id, "agent": c.agent[0], "platform": c.agent[1], "day": c.day, "first_at": c.first_at,
          "replied": c.replied} for c in facts.contacts],
        [{"buyer_id": buyer_id, "day": d.day, "platform": platform, "in_window": d.in_window, "late": d.late,
          "open_deadline": d.open_deadline} for d in facts.days],
    )


async def sum_facts(session: AsyncSession, *, first: date, last: date, now: datetime, rules: Rules) -> PeriodTotals:
    """The figures of the days `first`..`last` as of `now`, from the facts stored now (stale ones included)."""
    start, end = rules.day_bounds(first, last)
    return totals_of(
        rules,
        responses=await store.response_sums(session, first=first, last=last, fast_us=_fast_us(rules.fast_s), ranks=_ranks),
        contacts=await store.contact_sums(session, first=first, last=last, now=now),
        sales=await store.sales(session, first=first, last=last, start=start, end=end,
                                margin=rules.conversion + timedelta(days=1), conversion=rules.conversion),
        days=await store.day_counts(session, first=first, last=last, now=now),
        consulting=await store.consulting_buyers(session, first=first, last=last),
    )


def totals_of(rules: Rules, *, responses: dict, contacts: dict, sales: dict, days: dict, consulting: int) -> PeriodTotals:
    """A period's PeriodTotals from its sums (`store.response_sums`, `contact_sums`, `sales`, `day_counts`)."""
    agents = {}
    for key in set(responses) | set(contacts) | set(sales):
        r = responses.get(key) or store.ResponseSums()
        c = contacts.get(key) or store.ContactSums()
        paying, sales_fen = sales.get(key, (0, 0))
        counts = AgentCounts(consulting=c.consulting, replied=c.replied, responses=r.responses,
                             response_us=r.response_us, fast=r.fast, first_n=r.first_n, first_us=r.first_us,
                             effective=c.effective, decided=c.decided, paying=paying, sales_fen=sales_fen,
                             pending=c.pending)
        p50, p90 = (_quantile(r, q) for q in QUANTILES)
        agents[key] = (counts, p50, p90)
    return PeriodTotals(rules, agents=agents, days=days, consulting=consulting,
                        responses=sum(r.responses for r in responses.values()))


async def shop_rows(session: AsyncSession, *, first: date, last: date, now: datetime, rules: Rules,
                    totals: PeriodTotals) -> list[dict]:
    """The shop's figures per platform for the days `first`..`last`, with the fields of an agent's row
    (agent ""): consulting buyers are distinct buyers who wrote, replied those any agent answered;
    responses and their times are all agents'; effective-reply is the shop's (`effective_days`);
    conversion counts each buyer once, whichever agents they paid for."""
    start, end = rules.day_bounds(first, last)
    responses = await store.response_sums(session, first=first, last=last, fast_us=_fast_us(rules.fast_s),
                                          ranks=_ranks, shop=True)
    contacts = await store.shop_contacts(session, first=first, last=last)
    converted = await store.converted(session, first=first, last=last, start=start, end=end,
                                      margin=rules.conversion + timedelta(days=1), conversion=rules.conversion)
    return shop_rows_of(responses=responses, contacts=contacts, converted=converted, totals=totals)


def shop_rows_of(*, responses: dict, contacts: dict[str, tuple[int, int]], converted: dict,
                 totals: PeriodTotals) -> list[dict]:
    """`shop_rows` from its sums: the shop's responses keyed ("", platform), per platform (writers,
    replied), each agent's converted buyers (`store.converted`), and the agents' totals."""
    paid: dict[str, dict[int, int]] = {}
    for (_, platform), buyers in converted.items():
        into = paid.setdefault(platform, {})
        for buyer_id, fen in buyers.items():
            into[buyer_id] = into.get(buyer_id, 0) + fen
    days: dict[str, list[int]] = {}
    for day in totals.effective_days():
        sums = days.setdefault(day["platform"], [0, 0, 0])
        sums[0] += day["effective"]
        sums[1] += day["late"]
        sums[2] += day["pending"]
    rows = []
    for platform in sorted(set(contacts) | {p for _, p in responses} | set(paid)):
        r = responses.get(("", platform)) or store.ResponseSums()
        consulting, replied = contacts.get(platform, (0, 0))
        ok, late, pending = days.get(platform, (0, 0, 0))
        buyers = paid.get(platform, {})
        counts = AgentCounts(consulting=consulting, replied=replied, responses=r.responses, response_us=r.response_us,
                             fast=r.fast, first_n=r.first_n, first_us=r.first_us, effective=ok, decided=ok + late,
                             paying=len(buyers), sales_fen=sum(buyers.values()), pending=pending)
        rows.append(agent_row(("", platform), counts, p50_s=_quantile(r, 0.5), p90_s=_quantile(r, 0.9)))
    return rows


async def sums_by_day(session: AsyncSession, *, first: date, last: date, now: datetime,
                 rules: Rules) -> list[tuple[PeriodTotals, list[dict]]]:
    """For each day `first`..`last`: what `sum_facts` and `shop_rows` give for that day alone, from one
    pass over the period's facts (a few queries for the whole period, not a dozen per day)."""
    start, end = rules.day_bounds(first, last)
    margin = rules.conversion + timedelta(days=1)
    fast_us = _fast_us(rules.fast_s)
    answered = await by_day_store.responses(session, first=first, last=last)
    contacts = await by_day_store.contacts(session, first=first, last=last, now=now)
    counts = await store.day_counts(session, first=first, last=last, now=now)
    writers = await by_day_store.writers(session, first=first, last=last)
    replied = await by_day_store.replied(session, first=first, last=last)
    converted = _converted_by_day(await by_day_store.sales_inputs(session, first=first, last=last, start=start,
                                                                  end=end, margin=margin), rules=rules)
    found = []
    for i in range((last - first).days + 1):
        day = first + timedelta(days=i)
        agents: dict[store.AgentKey, list[tuple[int, bool]]] = answered.get(day, {})
        shop: dict[store.AgentKey, list[tuple[int, bool]]] = {}
        for (_, platform), values in agents.items():
            shop.setdefault(("", platform), []).extend(values)
        paying = converted.get(day, {})
        totals = totals_of(rules, responses={k: _response_sums(v, fast_us) for k, v in agents.items()},
                           contacts=contacts.get(day, {}),
                           sales={k: (len(b), sum(b.values())) for k, b in paying.items()},
                           days={k: v for k, v in counts.items() if k[1] == day},
                           consulting=sum(writers.get(day, {}).values()))
        shop_contacts = {p: (n, replied.get(day, {}).get(p, 0)) for p, n in writers.get(day, {}).items()}
        found.append((totals, shop_rows_of(responses={k: _response_sums(v, fast_us) for k, v in shop.items()},
                                           contacts=shop_contacts, converted=paying, totals=totals)))
    return found


def _response_sums(values: list[tuple[int, bool]], fast_us: int) -> store.ResponseSums:
    """`store.response_sums`'s sums for one key from its responses (µs, first)."""
    ranked = sorted(us for us, _ in values)
    n = len(ranked)
    return store.ResponseSums(responses=n, response_us=sum(ranked), fast=sum(1 for us in ranked if us <= fast_us),
                              first_n=sum(1 for _, f in values if f), first_us=sum(us for us, f in values if f),
                              ranked_us={rank: ranked[rank] for rank in _ranks(n)} if n else {})


def _converted_by_day(inputs: by_day_store.SalesInputs, *, rules: Rules) -> dict[date, dict[store.AgentKey, dict[int, int]]]:
    """day -> `store.converted` for that day alone: an order counts on a day the buyer was in contact
    with an agent, when created within the margin of that day, for the agent who last responded
    before it among the responses of the buyer's conversations touching that day (ties: the greater
    agent), within `rules.conversion` after the buyer's first contact with that agent that day."""
    margin = rules.conversion + timedelta(days=1)
    contact_days: dict[int, set[date]] = {}
    for buyer_id, _, _, day in inputs.first_contact:
        contact_days.setdefault(buyer_id, set()).add(day)
    found: dict[date, dict[store.AgentKey, dict[int, int]]] = {}
    for buyer_id, platform, created_at, fen in inputs.orders:
        for day in sorted(contact_days.get(buyer_id, ())):
            day_start, day_end = rules.day_bounds(day, day)
            if not day_start - margin <= created_at < day_end + margin:
                continue
            last = max(((answered, agent) for answered, agent, started, last_at in inputs.responses.get(buyer_id, ())
                        if answered <= created_at and last_at >= day_start and started < day_end), default=None)
            if last is None:
                continue
            at = inputs.first_contact.get((buyer_id, last[1], platform, day))
            if at is not None and at <= created_at <= at + rules.conversion:
                buyers = found.setdefault(day, {}).setdefault((last[1], platform), {})
                buyers[buyer_id] = buyers.get(buyer_id, 0) + fen
    return found


def _ranks(n: int) -> list[int]:
    return [rank for q in QUANTILES for rank in quantile_ranks(n, q)[:2]]


def _quantile(sums: store.ResponseSums, q: float) -> float | None:
    """`response.percentile` of the agent's response times (seconds) from the two values it needs."""
    if not sums.responses:
        return None
    lo, hi, fraction = quantile_ranks(sums.responses, q)
    return interpolate(sums.ranked_us[lo] / 1_000_000, sums.ranked_us[hi] / 1_000_000, fraction)


def _fast_us(fast_s: float) -> int:
    """The largest whole µs whose seconds are within `fast_s` (a response counts as fast when `s <= fast_s`).

    >>> _fast_us(30), _fast_us(0.1)
    (30000000, 100000)
    """
    us = int(fast_s * 1_000_000)
    while (us + 1) / 1_000_000 <= fast_s:
        us += 1
    while us / 1_000_000 > fast_s:
        us -= 1
    return us
