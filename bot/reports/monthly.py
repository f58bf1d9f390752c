"""Each agent's scorecard for a month (GET /api/scorecard, `csbot report scorecard`): what the store
observed, judged by `scorecard.card`, with the month's sales and commission."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Config
from bot.metrics.period import PeriodFigures
from bot.metrics.report import Rules
from bot.reports import scorecard as sc
from bot.store import agent_status
from bot.store import reports as store


async def first_seen_in_shift(session: AsyncSession, *, agent: str, start: datetime, end: datetime,
                              rules: Rules, console_since: datetime | None) -> datetime | None:
    """When the agent was first online in [start, end), or None: "online" for the scorecard.

    From the workbench's presence history (`agent_status.first_present`: the console open, the agent
    在线 or 忙碌) for shifts that start once consoles are in use (`console_since`, the first stretch
    of any agent). Before that, or in a shop that does not use the console, the agent's first
    response in the shift (the stored metric facts) stands in."""
    if console_since is not None and start >= console_since:
        return await agent_status.first_present(session, agent=agent, start=start, end=end)
    days = (start.astimezone(rules.zone).date(), end.astimezone(rules.zone).date())
    return await store.first_response_between(session, agent=agent, start=start, end=end, days=days)


def month_label(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"  # strftime's %Y leaves years before 1000 unpadded


async def _cards(session: AsyncSession, *, config: Config, first: date, last: date, now: datetime, rules: Rules,
                 score_rules: sc.ScoreRules) -> dict[str, sc.Card]:
    start, end = rules.day_bounds(first, last)
    complaints: dict[str, list[sc.Complaint]] = defaultdict(list)
    for c in await store.service_complaints(session, start=start, end=end):
        if c.agent_account:
            agent = rules.agent(c.platform, c.agent_account)[0]
            complaints[agent].append(sc.Complaint(c.ticket_id, c.created_at, f"{c.summary} {c.reason}"))
    manual: dict[str, list[sc.Manual]] = defaultdict(list)
    for d in await store.deductions(session, months=[month_label(first)]):
        manual[d.agent].append(sc.Manual(d.id, d.points, d.reason, d.created_at))
    # Shifts before the bot's first message are not judged: nobody was watching (a shop that starts
    # using the bot mid-month is not "not online" for the weeks before).
    watching_since = await store.first_message_at(session)
    console_since = await agent_status.presence_since(session)
    cards = {}
    for agent in config.agents:
        shifts = []
        for name, s_start, s_end in sc.shift_days(config.shifts, agent.id, first=first, last=last, zone=rules.zone,
                                                  until=now):
            if watching_since is None or s_start < watching_since:
                continue
            seen = await first_seen_in_shift(session, agent=agent.id, start=s_start, end=s_end, rules=rules,
                                             console_since=console_since)
            shifts.append(sc.ShiftDay(name, s_start, s_end, seen))
        cards[agent.id] = sc.card(complaints=complaints[agent.id], shifts=shifts, manual=manual[agent.id],
                                  rules=score_rules, zone=rules.zone)
    return cards


async def scorecards(db: async_sessionmaker, figures: PeriodFigures, *, config: Config, first: date, last: date,
                     now: datetime, rules: Rules) -> dict:
    """Every configured agent's card for the month `first`..`last` (not after `now`), the months before
    it for the flag, the month's sales (¥, all platforms) and commission."""
    score_rules = sc.rules_from(config.scorecard)
    await figures.catch_up(now_stale=True)  # first responses come from the metric facts
    months = [(m, sc.parse_month(month_label(m), today=m)[1]) for m in sc.previous_months(first, score_rules.flag_months - 1)]
    async with db() as session:
        earlier = [await _cards(session, config=config, first=f, last=l, now=now, rules=rules, score_rules=score_rules)
                   for f, l in months]
        cards = await _cards(session, config=config, first=first, last=last, now=now, rules=rules,
                             score_rules=score_rules)
    totals = await figures.totals(first=first, last=last, now=now)
    sales: dict[str, float] = defaultdict(float)
    for row in totals.agents():
        sales[row["agent"]] += row["sales_fen"] / 100
    items = []
    for agent in config.agents:
        c = cards[agent.id]
        history = [e[agent.id].score for e in earlier] + [c.score]
        items.append({
            "agent": agent.id, "name": agent.name or agent.id, "month": month_label(first),
            "score": c.score, "status": c.status, "flagged": sc.flagged(history, score_rules),
            "previous": [{"month": month_label(f), "score": e[agent.id].score} for (f, _), e in zip(months, earlier)],
            "deductions": [{"rule": d.rule, "points": d.points, "evidence": [_linked(e) for e in d.evidence]}
                           for d in c.deductions],
            "sales": round(sales.get(agent.id, 0.0), 2),
            "commission": sc.commission(round(sales.get(agent.id, 0.0), 2), score_rules),
        })
    return {"month": month_label(first), "timezone": str(rules.zone), "items": items}


def _linked(evidence: dict) -> dict:
    """The evidence with where to look at it: the ticket, the shift's day on the reports page."""
    if evidence["kind"] == "ticket":
        return {**evidence, "url": f"/api/tickets/{evidence['id']}"}
    if evidence["kind"] == "shift":
        day = evidence["start"][:10]
        return {**evidence, "url": f"/reports?from={day}&to={day}"}
    return {**evidence, "url": None}
