"""The 10-point scorecard on a scripted month equals what the shop's rules give by hand; evidence links;
commission by tier; a future or malformed month, a deduction without a reason: 400; an agent: 403;
`csbot report scorecard --month`."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest

from bot.cli import main
from bot.clock import PLATFORM_TZ
from bot.store import chat
from bot.store.tables import Ticket
from bot.web import keys
from tests.conftest import ROOT, make_config

SUP = {"Authorization": "Bearer supervisor-token"}
GAP = timedelta(minutes=30)
SHIFTS = [{"name": "早班", "start": "09:00", "end": "17:00", "agents": ["xiaomei", "aqiang"]}]
SCORECARD = {"commission": [[100, 50], [200, 80]]}


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=PLATFORM_TZ)


@pytest.fixture
async def bot(aiohttp_client, make_app, clock, tmp_path):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", shifts=SHIFTS, scorecard=SCORECARD)
    clock.set(at(5, 12))  # the shifts of 1-4 November are over
    return await aiohttp_client(make_app(config, clock))


async def script(db) -> None:
    """小美 answers first at 09:03 (on time), 09:20 (late), 09:45 (over 30 minutes) on 1-3 November and
    not at all on the 4th; 阿强 never. Three complaints about slow answers and one about attitude on
    conversations routed to 小美; a buyer's order of ¥120 after 小美's answer."""
    async with db() as session, session.begin():
        for day, minute in ((1, 3), (2, 20), (3, 45)):
            buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=f"b{day}", seen_at=at(day, 9))
            for sender, t in (("buyer", at(day, 9)), ("agent", at(day, 9, minute))):
                await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender=sender,
                                          agent_account="小店:小美", text="x", sent_at=t, gap=GAP)
        for i, text in enumerate(["问了半天都不回", "等了好久没人理", "回复太慢了我要投诉", "你们客服什么态度"]):
            buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=f"c{i}", seen_at=at(10 + i, 10))
            session.add(Ticket(buyer_id=buyer, platform="wangwang", shop="demo-tb", buyer=f"c{i}", agent_account="小店:小美",
                               category="service", severity="P3", rule="service", reason="投诉服务", summary=text,
                               state="closed", created_at=at(10 + i, 10), updated_at=at(10 + i, 10),
                               first_response_due_at=at(10 + i, 11), resolution_due_at=at(11 + i, 10)))
    from bot.events import OrderCreated, OrderPaid
    from bot.store import orders
    async with db() as session, session.begin():
        buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick="b1", seen_at=at(1, 9))
        common = dict(platform="wangwang", shop="demo-tb", buyer="b1", push_id="o1", at=at(1, 9, 10))
        await orders.apply(session, OrderCreated(**common, order_id="O1", title="t", amount_fen=12_000,
                                                 created_at=at(1, 9, 10), closes_at=None), buyer_id=buyer)
        await orders.apply(session, OrderPaid(**{**common, "push_id": "p1"}, order_id="O1", paid_at=at(1, 9, 12),
                                              amount_fen=12_000), buyer_id=buyer)


async def test_a_scripted_month_equals_the_hand_computed_card(bot):
    await script(bot.app[keys.DB])
    resp = await bot.post("/api/scorecard/deductions", headers=SUP,
                          json={"agent": "xiaomei", "month": "2026-11", "points": 0.5, "reason": "未完成当日工作"})
    assert resp.status == 201, await resp.text()
    entry = await resp.json()

    resp = await bot.get("/api/scorecard", params={"month": "2026-11"}, headers=SUP)
    assert resp.status == 200, await resp.text()
    cards = {c["agent"]: c for c in (await resp.json())["items"]}
    mei = cards["xiaomei"]
    # 10 - 5 (three slow-answer complaints) - 1 (one about attitude) - 0.5 (late 20 min) - 2 (late 45 min)
    # - 0.5 (manual); one shift not online is below the three that cost 5.
    assert {(d["rule"], d["points"]) for d in mei["deductions"]} == {
        ("slow_complaints", 5.0), ("attitude_complaints", 1.0), ("late_start", 0.5),
        ("late_start_over_30_minutes", 2.0), ("manual", 0.5)}
    assert (mei["score"], mei["status"]) == (1.0, "penalty")
    slow = next(d for d in mei["deductions"] if d["rule"] == "slow_complaints")
    assert [e["kind"] for e in slow["evidence"]] == ["ticket"] * 3
    for e in slow["evidence"]:
        assert (await bot.get(e["url"], headers=SUP)).status == 200  # the ticket it links to
    late = next(d for d in mei["deductions"] if d["rule"] == "late_start")
    assert late["evidence"][0]["start"] == "2026-11-02T01:00:00.000Z"  # 09:00 in the shop; the API's one form is UTC
    assert late["evidence"][0]["url"] == "/reports?from=2026-11-02&to=2026-11-02"
    manual = next(d for d in mei["deductions"] if d["rule"] == "manual")
    assert manual["evidence"][0]["id"] == entry["id"] and "未完成当日工作" in manual["evidence"][0]["label"]
    assert (mei["sales"], mei["commission"]) == (120.0, 50.0)

    qiang = cards["aqiang"]
    # Four shifts (1-4 November) never seen: three or more cost 5.
    [offline] = qiang["deductions"]
    assert (offline["rule"], offline["points"], len(offline["evidence"])) == ("not_online_in_shift", 5.0, 4)
    assert (qiang["score"], qiang["status"], qiang["sales"], qiang["commission"]) == (5.0, "warning", 0.0, 0.0)
    # September and October are before the bot's first message: not judged.
    assert [p["score"] for p in qiang["previous"]] == [10.0, 10.0]
    assert not qiang["flagged"] and not mei["flagged"]
    # Had the bot been watching since 1 September (a message then), both were never online in those
    # months: 5 each, and with November's, three months in a row at or below 5.
    async with bot.app[keys.DB]() as session, session.begin():
        buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick="early", seen_at=at(1, 8))
        await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender="buyer",
                                  agent_account="", text="x", sent_at=at(1, 8) - timedelta(days=61), gap=GAP)
    resp = await bot.get("/api/scorecard", params={"month": "2026-11"}, headers=SUP)
    cards = {c["agent"]: c for c in (await resp.json())["items"]}
    assert [p["score"] for p in cards["aqiang"]["previous"]] == [5.0, 5.0]
    assert cards["aqiang"]["flagged"] and cards["xiaomei"]["flagged"]


async def test_online_in_a_shift_comes_from_the_consoles_presence_once_it_is_in_use(bot, clock):
    """小美's console: 1 Nov online 08:58 and beating past 09:00 (on time); 2 Nov online at 09:10 (late);
    3 Nov online 08:00-08:20, closed, back at 09:40 (over 30 minutes); 4 Nov 挂起 (away) all morning,
    though she answers a buyer at 09:05: away is not online. 阿强 answers a buyer at 09:01 every day but
    never opens the console: once consoles are in use, a first response is not "online"."""
    mei = {"Authorization": "Bearer agent-xiaomei-token"}

    async def console(day: int, hh: int, mm: int, *, status: str | None = None, until: tuple[int, int] | None = None):
        when = at(day, hh, mm)
        end = at(day, *until) if until else when
        while when <= end:
            clock.set(when)
            resp = await (bot.put("/api/me/status", json={"status": status}, headers=mei) if status
                          else bot.post("/api/me/heartbeat", headers=mei))
            assert resp.status == 200, await resp.text()
            status, when = None, when + timedelta(seconds=30)

    async with bot.app[keys.DB]() as session, session.begin():
        for day in (1, 2, 3, 4):
            for nick, account, t in ((f"q{day}", "小店:阿强", at(day, 9, 1)), (f"m{day}", "小店:小美", at(day, 9, 5))):
                buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=nick, seen_at=at(day, 8, 59))
                for sender, sent in (("buyer", at(day, 8, 59)), ("agent", t)):
                    await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb",
                                              sender=sender, agent_account=account, text="x", sent_at=sent, gap=GAP)
    await console(1, 8, 58, status="online", until=(9, 5))
    await console(2, 9, 10, status="online", until=(9, 15))
    await console(3, 8, 0, until=(8, 20))
    await console(3, 9, 40, until=(9, 45))
    await console(4, 8, 55, status="away", until=(10, 0))
    clock.set(at(5, 12))

    resp = await bot.get("/api/scorecard", params={"month": "2026-11"}, headers=SUP)
    cards = {c["agent"]: c for c in (await resp.json())["items"]}
    # 小美: 10 - 0.5 (2 Nov, 10 minutes late) - 2 (3 Nov, 40 minutes); 4 Nov alone is below the three that cost 5.
    assert [(d["rule"], d["points"], [e["start"][:10] for e in d["evidence"]]) for d in cards["xiaomei"]["deductions"]] == [
        ("late_start", 0.5, ["2026-11-02"]), ("late_start_over_30_minutes", 2.0, ["2026-11-03"])]
    assert cards["xiaomei"]["score"] == 7.5
    late = cards["xiaomei"]["deductions"][0]["evidence"][0]
    assert late["first_seen"] == "2026-11-02T01:10:00.000Z"  # 09:10 in the shop
    # 阿强: four shifts not online (his answers do not count once consoles are in use): -5.
    [offline] = cards["aqiang"]["deductions"]
    assert (offline["rule"], len(offline["evidence"]), cards["aqiang"]["score"]) == ("not_online_in_shift", 4, 5.0)


@pytest.mark.parametrize("month, status, fragment", [
    ("2026-12", 400, "future"), ("0000-01", 400, "year 0"), ("2026-13", 400, "YYYY-MM"), ("11/2026", 400, "YYYY-MM"),
    ("２０２６-01", 400, "YYYY-MM"), (None, 400, "YYYY-MM")])
async def test_a_malformed_month_or_in_the_future_is_400(bot, month, status, fragment):
    resp = await bot.get("/api/scorecard", params={} if month is None else {"month": month}, headers=SUP)
    assert resp.status == status
    assert fragment in (await resp.json())["message"]


@pytest.mark.parametrize("body, status, fragment", [
    ({"agent": "xiaomei", "month": "2026-11", "points": 0.5}, 400, "reason"),
    ({"agent": "xiaomei", "month": "2026-11", "points": 0.5, "reason": "   "}, 400, "reason"),
    ({"agent": "nobody", "month": "2026-11", "points": 0.5, "reason": "x"}, 400, "agent"),
    ({"agent": "xiaomei", "month": "2027-01", "points": 0.5, "reason": "x"}, 400, "future"),
    ({"agent": "xiaomei", "month": "", "points": 0.5, "reason": "x"}, 400, "YYYY-MM"),
    ({"agent": "xiaomei", "month": "2026-11", "points": 0, "reason": "x"}, 400, "points"),
    ({"agent": "xiaomei", "month": "2026-11", "points": "1", "reason": "x"}, 400, "points"),
    ({"agent": "xiaomei", "month": "2026-11", "points": 11, "reason": "x"}, 400, "points"),
])
async def test_a_bad_manual_deduction_is_400(bot, body, status, fragment):
    """What the document refuses, and what it cannot say (an unknown agent, a future month, too many points):
    400 both, as issue 17 fixes."""
    resp = await bot.post("/api/scorecard/deductions", headers=SUP, json=body)
    assert resp.status == status
    assert fragment in (await resp.json())["message"]
    resp = await bot.get("/api/scorecard", params={"month": "2026-11"}, headers=SUP)
    assert all(d["rule"] != "manual" for c in (await resp.json())["items"] for d in c["deductions"])


async def test_an_agent_token_is_403(bot):
    agent = {"Authorization": "Bearer agent-xiaomei-token"}
    assert (await bot.get("/api/scorecard", params={"month": "2026-11"}, headers=agent)).status == 403
    resp = await bot.post("/api/scorecard/deductions", headers=agent,
                          json={"agent": "xiaomei", "month": "2026-11", "points": 0.5, "reason": "x"})
    assert resp.status == 403


async def test_csbot_report_scorecard_prints_the_same_cards(bot, tmp_path, capsys):
    await script(bot.app[keys.DB])
    toml = tmp_path / "cli.toml"
    toml.write_text(f"""
[database]
url = "{bot.app[keys.CONFIG].database.url}"
[knowledge]
path = "{ROOT / 'knowledge'}"
[[agents]]
id = "xiaomei"
name = "小美"
accounts = ["wangwang:小店:小美", "dongdong:jd_xiaomei"]
[[agents]]
id = "aqiang"
name = "阿强"
accounts = ["wangwang:小店:阿强", "dongdong:jd_aqiang"]
[[shifts]]
name = "早班"
start = "09:00"
end = "17:00"
agents = ["xiaomei", "aqiang"]
[scorecard]
commission = [[100, 50], [200, 80]]
""", encoding="utf-8")
    # The month is over by the system clock (December 2026 or later), so every shift of it counts:
    # here, the command and the API at the month's end agree.
    bot.app[keys.CLOCK].set(datetime(2026, 12, 1, 0, 0, tzinfo=PLATFORM_TZ))
    api = (await (await bot.get("/api/scorecard", params={"month": "2026-11"}, headers=SUP)).json())["items"]
    assert await asyncio.to_thread(main, ["report", "scorecard", "--config", str(toml), "--month", "2026-11",
                                          "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)["items"]
    assert [(c["agent"], c["score"], c["status"], c["commission"]) for c in cli] == [
        (c["agent"], c["score"], c["status"], c["commission"]) for c in api]
    assert await asyncio.to_thread(main, ["report", "scorecard", "--config", str(toml), "--month", "2026-11"]) == 0
    text = capsys.readouterr().out
    assert "小美" in text and "slow_complaints -5" in text
    assert await asyncio.to_thread(main, ["report", "scorecard", "--config", str(toml), "--month", "2099-01"]) == 2
    assert "future" in capsys.readouterr().err
