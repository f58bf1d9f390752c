"""Each day's figures in one pass over a period's facts (the reports page's per-day rows,
`metrics.period.sums_by_day`) equal the figures of that day asked alone (`sum_facts`, `shop_rows`),
on the scripted history of test_metrics_facts (bursts, answers from seconds to hours, orders paid
near midnight and a day later, unconfigured accounts), at two moments. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.metrics.period import shop_rows, sum_facts, sums_by_day
from bot.store.db import reading
from bot.web import keys
from tests.conftest import push_and_process as push
from tests.metrics.test_metrics_facts import app_client, record, scripted_history  # noqa: F401 (a fixture)

DAYS = [date(2026, 11, 21) + timedelta(days=i) for i in range(6)]  # a quiet day either side of the history


@pytest.mark.parametrize("seed", [3, 8])
async def test_each_days_figures_in_one_pass_equal_the_day_asked_alone(app_client, seed):  # noqa: F811
    client = app_client
    clock, rules = client.app[keys.CLOCK], client.app[keys.BOARD].rules
    for kind, payload in scripted_history(seed):
        clock.set(max(clock.now(), payload.at if kind == "push" else payload[1]))
        if kind == "push":
            await push(client, payload)
        else:
            buyer, at, sender, account, platform = payload
            await record(client, buyer=buyer, at=at, sender=sender, account=account, platform=platform)
    await client.app[keys.PERIOD].catch_up()
    sold = 0
    for now in (clock.now(), clock.now() + timedelta(minutes=40)):
        async with client.app[keys.DB]() as session:
            await reading(session)
            found = await sums_by_day(session, first=DAYS[0], last=DAYS[-1], now=now, rules=rules)
            assert len(found) == len(DAYS)
            for day, (totals, shop) in zip(DAYS, found):
                alone = await sum_facts(session, first=day, last=day, now=now, rules=rules)
                assert totals.agents() == alone.agents(), day
                assert totals.effective_days() == alone.effective_days(), day
                assert (totals.consulting, totals.responses) == (alone.consulting, alone.responses), day
                assert shop == await shop_rows(session, first=day, last=day, now=now, rules=rules, totals=alone), day
                sold += sum(r["sales_fen"] for r in shop)
    assert sold and any(totals.responses for totals, _ in found)  # the history exercises sales and responses
