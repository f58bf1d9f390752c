"""A period's report for the supervisor: per agent and per day the figures of GET /api/metrics/agents
(the same sums, `metrics.period`), with satisfaction, and the shop's totals per platform."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.metrics.period import PeriodFigures
from bot.metrics.report import Rules
from bot.reports.csat import by_agent_day, csat
from bot.store import csat as csat_store
from bot.store import reports as store

SHOP = "全店"  # the name of the shop's rows


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def period_report(db: async_sessionmaker, figures: PeriodFigures, *, first: date, last: date, now: datetime,
                        rules: Rules, names: dict[str, str], by_day: bool = True) -> dict:
    """`items`: per day (with `by_day`) or for the whole period, per agent and platform, the figures
    plus `csat` and `csat_responses`; `period`: per agent for the whole period; `totals`: the shop per
    platform for the whole period; `daily_totals`: the shop per platform and day."""
    days = days_of(first, last) if by_day else []
    spans = [(first, last)] + [(d, d) for d in days]
    whole, per_day = await figures.report(first=first, last=last, now=now, by_day=by_day)
    found = [whole, *per_day]
    start, end = rules.day_bounds(first, last)
    async with db() as session:
        given = [*await store.ratings(session, start=start, end=end),
                 *await csat_store.ratings(session, start=start, end=end)]
    rated = by_agent_day(given, zone=rules.zone, agent_of=rules.agent)

    def csat_of(agent: str, platform: str, span: tuple[date, date]) -> dict:
        values = [r for (a, p, d), rs in rated.items() if (agent in (a, "")) and p == platform
                  and span[0] <= d <= span[1] for r in rs]
        rate, n = csat(values)
        return {"csat": rate, "csat_responses": n}

    def label(span: tuple[date, date]) -> str:
        return span[0].isoformat() if span[0] == span[1] else f"{span[0].isoformat()}..{span[1].isoformat()}"

    def agent_rows(span, totals) -> list[dict]:
        rows = [{"day": label(span), **row, "name": names.get(row["agent"], row["agent"]),
                 **csat_of(row["agent"], row["platform"], span)} for row in totals.agents()]
        # An agent rated but with no other activity in the span still shows, with the rating.
        shown = {(r["agent"], r["platform"]) for r in rows}
        for (a, p, d) in sorted(rated):
            if span[0] <= d <= span[1] and (a, p) not in shown:
                shown.add((a, p))
                rows.append({"day": label(span), "agent": a, "platform": p, "name": names.get(a, a),
                             **csat_of(a, p, span)})
        return rows

    def shop_rows(span, rows) -> list[dict]:
        return [{"day": label(span), **row, "name": SHOP, **csat_of("", row["platform"], span)} for row in rows]

    (whole, whole_shop), per_day = found[0], found[1:]
    period = agent_rows((first, last), whole)
    items = [row for span, (totals, _) in zip(spans[1:], per_day) for row in agent_rows(span, totals)]
    return {
        "from": first.isoformat(), "to": last.isoformat(), "timezone": str(rules.zone),
        "today": now.astimezone(rules.zone).date().isoformat(),
        "by": "day" if by_day else "period",
        "items": items if by_day else period,
        "period": period,
        "totals": shop_rows((first, last), whole_shop),
        "daily_totals": [row for span, (_, shop) in zip(spans[1:], per_day) for row in shop_rows(span, shop)],
        "effective_reply": whole.effective_days(),
    }
