"""The reports, the scorecard, satisfaction and the daily report on SQLite and PostgreSQL alike: the
report's rows equal /api/metrics/agents', the shop's totals are the same, two apps send the daily
report once (their claims made to overlap on PostgreSQL; with the claim's lock removed, that test
fails), a scorecard and a rating are read back."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from aiohttp import web

from bot.clock import PLATFORM_TZ
from bot.store import daily_reports
from bot.web import keys
from tests.conftest import START, make_config
from tests.exactly_once import overlapping, postgres_only, without_lock
from tests.reports.seed import seed

SUP = {"Authorization": "Bearer supervisor-token"}
PERIOD = {"from": "2026-11-24", "to": "2026-11-26"}


async def test_the_report_and_the_scorecard_on_either_database(db_url, aiohttp_client, make_app, clock):
    bot = await aiohttp_client(make_app(make_config(db_url, shifts=[
        {"name": "早班", "start": "09:00", "end": "17:00", "agents": ["xiaomei"]}]), clock))
    await seed(bot.app[keys.DB])
    clock.set(START + timedelta(days=5))
    body = await (await bot.get("/api/reports/agents", params={**PERIOD, "by": "period"}, headers=SUP)).json()
    metrics = await (await bot.get("/api/metrics/agents", params=PERIOD, headers=SUP)).json()
    assert [(r["agent"], r["platform"], r["responses"], r["p90_response_s"], r["sales"]) for r in body["items"]] == [
        (r["agent"], r["platform"], r["responses"], r["p90_response_s"], r["sales"]) for r in metrics["items"]]
    shop = {r["platform"]: r for r in body["totals"]}
    assert (shop["wangwang"]["consulting_buyers"], shop["wangwang"]["responses"], shop["wangwang"]["p90_response_s"],
            shop["wangwang"]["sales"]) == (6, 5, 104.0, 170.0)
    resp = await bot.post("/api/scorecard/deductions", headers=SUP,
                          json={"agent": "xiaomei", "month": "2026-11", "points": 1, "reason": "未完成当日工作"})
    assert resp.status == 201
    cards = {c["agent"]: c for c in (await (await bot.get("/api/scorecard", params={"month": "2026-11"},
                                                          headers=SUP)).json())["items"]}
    # On shift 09:00-17:00 every day; the bot's first message is 24 November 10:00, so the shifts of
    # 25-28 November are judged. 小美 answered first on the 26th at 10:07:20 (over 30 minutes late) and
    # not at all on the 25th, 27th and 28th.
    mei = cards["xiaomei"]
    assert sorted((d["rule"], d["points"], len(d["evidence"])) for d in mei["deductions"]) == [
        ("late_start_over_30_minutes", 2.0, 1), ("manual", 1.0, 1), ("not_online_in_shift", 5.0, 3)]
    assert (mei["score"], mei["status"]) == (2.0, "penalty")


async def two_apps_send_the_report(db_url, aiohttp_client, make_app, clock, aiohttp_server) -> None:
    """Two apps (two engines, two pools: what two processes have) run the daily report's scan at once;
    the robot, the receiver, counts every request: one, whatever the claims did."""
    received: list[dict] = []

    async def robot(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    app = web.Application()
    app.router.add_post("/send", robot)
    server = await aiohttp_server(app)
    config = make_config(db_url, daily_report={"enabled": True, "wecom_webhook_url": str(server.make_url("/send"))})
    first = await aiohttp_client(make_app(config, clock))
    second = await aiohttp_client(make_app(config, clock))
    assert first.app[keys.ENGINE] is not second.app[keys.ENGINE]
    due = datetime(2026, 11, 25, 9, 30, tzinfo=PLATFORM_TZ)
    results = await asyncio.gather(first.app[keys.DAILY_REPORT].run(now=due), second.app[keys.DAILY_REPORT].run(now=due))
    assert len(received) == 1, f"the robot must get the report exactly once, got {len(received)} requests"
    assert received[0]["msgtype"] == "markdown"
    assert sorted(r for rs in results for r in rs) == [("wecom", "sent")]
    async with first.app[keys.DB]() as session:
        [delivery] = await daily_reports.recent(session, since=due.date() - timedelta(days=1))
    assert (delivery["state"], delivery["attempts"]) == ("sent", 1)


async def test_the_daily_report_is_sent_once_by_two_apps(db_url, aiohttp_client, make_app, clock, aiohttp_server,
                                                         monkeypatch):
    if db_url.startswith("postgresql"):
        # The two claims overlap for certain: each waits (up to 1 s) until the other has claimed too.
        overlapping(monkeypatch, daily_reports, "claim_due", wait_s=1)
    await two_apps_send_the_report(db_url, aiohttp_client, make_app, clock, aiohttp_server)


async def test_with_the_daily_report_claims_lock_removed_the_test_fails(db_url, aiohttp_client, make_app, clock,
                                                                        aiohttp_server, monkeypatch):
    """The mutation: `claim_due` without `FOR UPDATE SKIP LOCKED`. The second claim waits for the
    first one's row lock, then claims the same row again, and the robot gets the report twice."""
    postgres_only(db_url)
    without_lock(monkeypatch, daily_reports, "claim_due")
    # Up to 10 s for the other claim: on a loaded machine 1 s was not always enough to meet, and then
    # the claims did not overlap and the mutation went unseen.
    overlapping(monkeypatch, daily_reports, "claim_due", wait_s=10)
    with pytest.raises(AssertionError, match="exactly once, got 2 requests"):
        await two_apps_send_the_report(db_url, aiohttp_client, make_app, clock, aiohttp_server)


async def test_a_satisfaction_invitation_and_its_rating_on_either_database(db_url, aiohttp_client, make_app, clock):
    from tests.reports.test_csat import at, buyer_says, chat_with, notices

    bot = await aiohttp_client(make_app(make_config(db_url, csat={"enabled": True}), clock))
    db, job = bot.app[keys.DB], bot.app[keys.CSAT]
    await chat_with(db, "happy", at(10))
    assert (await job.run(now=at(10, 40)))["invited"] == 1
    assert (await job.run(now=at(10, 45)))["invited"] == 0
    assert await notices(db) == [("happy", "notice", "bot")]
    await buyer_says(db, "happy", "4分", at(11))
    assert (await job.run(now=at(11, 1)))["rated"] == 1
    body = await (await bot.get("/api/reports/agents", params={"from": "2026-11-24", "to": "2026-11-24"},
                                headers=SUP)).json()
    mei = next(r for r in body["items"] if r["agent"] == "xiaomei")
    assert (mei["csat"], mei["csat_responses"]) == (1.0, 1)
