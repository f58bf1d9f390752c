"""The workbench's API: the one rule of who may see a buyer (each way in, each refusal), the buyer's
context, transfers (转接) and who owns the wait after one, status and heartbeat, quick phrases,
delivery truth and its retry, and handovers that a restart does not repeat."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.events import AgentMessage, OrderCreated
from bot.store.tables import OutboxMessage
from bot.web import keys
from tests.conftest import (
    APP_KEYS,
    START,
    buyer_message,
    gateway_url,
    make_config,
    post_push,
    push_and_process,
    sent_by_gateway,
    signed_form,
)

MEI = {"Authorization": "Bearer agent-xiaomei-token"}
QIANG = {"Authorization": "Bearer agent-aqiang-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
TOKENS = [{"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
          {"token": "agent-aqiang-token", "role": "agent", "agent": "aqiang"},
          {"token": "supervisor-token", "role": "supervisor"}]


@pytest.fixture
async def bot(db_url, aiohttp_client, make_app, clock, gateway):
    """On SQLite and (with CSBOT_TEST_PG_DSN) PostgreSQL: the rule is one SQL condition on both."""
    config = make_config(db_url, gateway_url=gateway_url(gateway), tokens=TOKENS)
    client = await aiohttp_client(make_app(config, clock))
    await push_and_process(client, buyer_message(buyer="tb_mine", text="能发顺丰吗", agent="小店:小美", at=START),
                           buyer_message(buyer="tb_other", text="在吗", agent="小店:阿强", at=START))
    clock.advance(seconds=20)
    return client


async def ids(bot, headers) -> dict[str, int]:
    body = await (await bot.get("/api/conversations", headers=headers)).json()
    return {item["buyer"]: item["id"] for item in body["items"]}


async def status_of(bot, path, headers, **kw) -> int:
    return (await bot.request(kw.pop("method", "GET"), path, headers=headers, **kw)).status


# --- who may see a buyer --------------------------------------------------------------------------

async def test_routing_decides_and_every_route_refuses_a_buyer_not_routed_to_me(bot, gateway):
    every = await ids(bot, SUPERVISOR)
    assert set(await ids(bot, MEI)) == {"tb_mine"} and set(await ids(bot, QIANG)) == {"tb_other"}
    other = every["tb_other"]
    for method, path, body in (("GET", f"/api/conversations/{other}", None),
                               ("GET", f"/api/conversations/{other}/context", None),
                               ("POST", f"/api/conversations/{other}/reply", {"text": "您好"}),
                               ("POST", f"/api/conversations/{other}/transfer", {"to": "aqiang"})):
        resp = await bot.request(method, path, headers=MEI, json=body)
        assert resp.status == 403, path
        assert (await resp.json())["error"] == "not_routed_to_you"
    await bot.app[keys.OUTBOX].send_due()
    assert await sent_by_gateway(gateway) == []
    async with bot.app[keys.DB]() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    # the supervisor sees and may answer everyone
    assert await status_of(bot, f"/api/conversations/{other}/context", SUPERVISOR) == 200


async def test_the_owner_of_the_buyers_open_ticket_may_open_and_answer_them(bot):
    mine = (await ids(bot, SUPERVISOR))["tb_mine"]
    assert await status_of(bot, f"/api/conversations/{mine}", QIANG) == 403
    resp = await bot.post("/api/tickets", headers=SUPERVISOR,
                          json={"conversation_id": mine, "severity": "P3", "category": "quality", "note": "掉色"})
    assert resp.status == 201
    ticket = await resp.json()
    assert (await (await bot.get(f"/api/tickets/{ticket['id']}", headers=SUPERVISOR)).json())["owner"] == "aqiang"
    assert "tb_mine" in await ids(bot, QIANG)
    assert await status_of(bot, f"/api/conversations/{mine}/context", QIANG) == 200
    assert await status_of(bot, f"/api/conversations/{mine}/reply", QIANG, method="POST", json={"text": "您好，我来处理"}) == 202


async def test_transfer_moves_the_buyer_to_the_receiver_and_away_from_the_sender(bot):
    mine = (await ids(bot, MEI))["tb_mine"]
    resp = await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang", "note": "要退款"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["from"], body["to"], body["to_name"], body["note"], body["version"]) == ("xiaomei", "aqiang", "阿强", "要退款", 1)
    assert set(await ids(bot, QIANG)) == {"tb_mine", "tb_other"}
    assert "tb_mine" not in await ids(bot, MEI)
    assert await status_of(bot, f"/api/conversations/{mine}", MEI) == 403
    assert await status_of(bot, f"/api/conversations/{mine}/reply", MEI, method="POST", json={"text": "在"}) == 403
    detail = await (await bot.get(f"/api/conversations/{mine}", headers=QIANG)).json()
    assert [(t["from"], t["to"], t["note"]) for t in detail["transfers"]] == [("xiaomei", "aqiang", "要退款")]
    assert detail["agent"] == "小店:阿强"  # the board and the reply's sender follow
    listed = next(i for i in (await (await bot.get("/api/conversations", headers=QIANG)).json())["items"]
                  if i["buyer"] == "tb_mine")
    assert listed["transfer"]["from_name"] == "小美"
    assert await status_of(bot, f"/api/conversations/{mine}/reply", QIANG, method="POST", json={"text": "您好"}) == 202
    # the sender trying again: already transferred
    again = await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang"})
    assert (again.status, (await again.json())["error"]) == (409, "transfer_conflict")


async def test_a_transfer_to_an_unknown_agent_to_oneself_or_to_a_group_nobody_can_take_is_refused(bot):
    mine = (await ids(bot, MEI))["tb_mine"]
    cases = [({"to": "nobody"}, 400, "unknown_agent"), ({"to": "xiaomei"}, 400, "transfer_to_self"),
             ({}, 400, "bad_request"), ({"to": "group:财务"}, 400, "unknown_group"),
             ({"to": "aqiang", "note": "长" * 501}, 400, "bad_request")]
    for body, status, code in cases:
        resp = await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json=body)
        assert (resp.status, (await resp.json())["error"]) == (status, code), body
    assert await status_of(bot, "/api/conversations/999999/transfer", MEI, method="POST", json={"to": "aqiang"}) == 404
    # a group: aqiang is the after-sales agent; once his console says busy, the group has nobody
    await bot.put("/api/me/status", headers=QIANG, json={"status": "busy"})
    resp = await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "group:售后"})
    assert (resp.status, (await resp.json())["error"]) == (409, "group_unavailable")
    await bot.put("/api/me/status", headers=QIANG, json={"status": "online"})
    resp = await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "售后", "note": "退款"})
    assert resp.status == 200 and (await resp.json())["to"] == "aqiang"
    assert (await resp.json())["group"] == "aftersale"


async def test_two_transfers_at_once_one_wins_and_one_gets_409(bot):
    mine = (await ids(bot, MEI))["tb_mine"]
    first, second = await asyncio.gather(
        bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang", "version": 0}),
        bot.post(f"/api/conversations/{mine}/transfer", headers=SUPERVISOR, json={"to": "xiaomei", "version": 0}))
    assert sorted([first.status, second.status]) == [200, 409]
    loser = first if first.status == 409 else second
    assert (await loser.json())["error"] == "transfer_conflict"
    detail = await (await bot.get(f"/api/conversations/{mine}", headers=SUPERVISOR)).json()
    assert len(detail["transfers"]) == 1 and detail["version"] == 1


async def test_after_a_transfer_the_receiver_owns_the_whole_wait(bot, clock):
    """metrics.md: a response belongs to the agent who sends it, and its time runs from the start of the
    wait. A transfer neither ends nor restarts the wait: the receiver's answer counts the whole wait, the
    sender gets no response and the wait is never split."""
    mine = (await ids(bot, MEI))["tb_mine"]  # the buyer waits since START
    assert (await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang"})).status == 200
    clock.set(START + timedelta(seconds=50))
    await push_and_process(bot, AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="tb_mine",
                                             push_id="a-1", at=clock.now(), text="您好，退款已经处理",
                                             agent_account="小店:阿强"))
    day = START.date().isoformat()
    rows = (await (await bot.get(f"/api/metrics/agents?from={day}&to={day}", headers=SUPERVISOR)).json())["items"]
    by_agent = {r["agent"]: r for r in rows}
    assert by_agent["aqiang"]["responses"] == 1 and by_agent["aqiang"]["avg_response_s"] == 50
    assert by_agent.get("xiaomei", {"responses": 0})["responses"] == 0


# --- the buyer's context ----------------------------------------------------------------------------

async def test_context_has_the_buyers_orders_with_reminders_tickets_and_earlier_conversations(bot, clock):
    created = START - timedelta(hours=1)
    await push_and_process(bot, OrderCreated(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="tb_mine",
                                             push_id="o-1", at=created, order_id="T1001", title="<b>羊毛衫</b> 灰色 L",
                                             amount_fen=19900, created_at=created, closes_at=created + timedelta(hours=24)))
    # a later conversation, after the 30-minute gap: the first one becomes "earlier"
    clock.set(START + timedelta(minutes=45))
    await push_and_process(bot, buyer_message(buyer="tb_mine", text="订单T1001什么时候发货", agent="小店:小美",
                                              at=clock.now()))
    convs = await ids(bot, MEI)
    body = await (await bot.get(f"/api/conversations/{convs['tb_mine']}/context", headers=MEI)).json()
    [order] = body["orders"]
    assert (order["order_id"], order["status"], order["amount"], order["title"]) == ("T1001", "unpaid", 199.0, "<b>羊毛衫</b> 灰色 L")
    assert order["closes_at"] and order["created_at"] and order["paid_at"] is None
    assert isinstance(order["reminders"], list) and order["reminders"], "the unpaid order's reminder slots"
    assert body["earlier"]["total"] == 1
    [earlier] = body["earlier"]["items"]
    assert [m["text"] for m in earlier["messages"]] == ["能发顺丰吗"]
    assert body["tickets"] == []
    # paged
    page = await (await bot.get(f"/api/conversations/{convs['tb_mine']}/context?limit=1&offset=1", headers=MEI)).json()
    assert page["earlier"] == {"total": 1, "items": []}
    assert await status_of(bot, f"/api/conversations/{convs['tb_mine']}/context?limit=0", MEI) == 400


# --- status and heartbeat -----------------------------------------------------------------------

async def test_status_heartbeat_and_offline_after_two_minutes(bot, clock):
    me = await (await bot.get("/api/me", headers=MEI)).json()
    assert (me["agent"], me["status"]["status"]) == ("xiaomei", "offline")
    resp = await bot.put("/api/me/status", headers=MEI, json={"status": "busy"})
    assert resp.status == 200 and (await resp.json())["status"] == "busy"
    for bad in ({"status": "sleeping"}, {}, {"status": None}):
        resp = await bot.put("/api/me/status", headers=MEI, json=bad)
        assert (resp.status, (await resp.json())["error"]) == (400, "bad_status")
    agents = {a["id"]: a for a in (await (await bot.get("/api/agents", headers=SUPERVISOR)).json())["items"]}
    assert (agents["xiaomei"]["status"], agents["xiaomei"]["on_shift"], agents["xiaomei"]["waiting"]) == ("busy", True, 1)
    assert agents["aqiang"]["status"] == "offline"
    assert await status_of(bot, "/api/agents", MEI) == 403
    clock.advance(seconds=119)
    assert (await (await bot.post("/api/me/heartbeat", headers=MEI)).json())["status"] == "busy"
    clock.advance(seconds=121)
    me = await (await bot.get("/api/me", headers=MEI)).json()
    assert (me["status"]["status"], me["status"]["chosen"]) == ("offline", "busy")
    # a revoked (unknown) token's heartbeat
    resp = await bot.post("/api/me/heartbeat", headers={"Authorization": "Bearer revoked-token-123"})
    assert resp.status == 401
    assert await status_of(bot, "/api/me/heartbeat", SUPERVISOR, method="POST") == 403


async def test_a_busy_or_offline_agent_gets_no_new_ticket(bot, clock):
    every = await ids(bot, SUPERVISOR)

    async def open_ticket(buyer: str, category: str) -> dict:
        resp = await bot.post("/api/tickets", headers=SUPERVISOR, json={
            "conversation_id": every[buyer], "severity": "P3", "category": category, "note": "投诉"})
        return await resp.json()

    await bot.put("/api/me/status", headers=QIANG, json={"status": "busy"})
    busy = await open_ticket("tb_mine", "quality")
    assert (busy["state"], busy["owner"]) == ("new", None)
    await bot.put("/api/me/status", headers=QIANG, json={"status": "online"})
    online = await open_ticket("tb_other", "quality")
    assert (online["state"], online["owner"]) == ("assigned", "aqiang")
    clock.advance(minutes=3)  # his console closed: offline
    offline = await open_ticket("tb_other", "damage")
    assert offline["owner"] is None


# --- quick phrases --------------------------------------------------------------------------------

async def test_phrases_personal_and_team_guarded_and_codes_unique(bot):
    resp = await bot.post("/api/phrases", headers=MEI, json={"code": "hi", "text": "亲，在的", "scope": "personal"})
    assert resp.status == 201
    assert (await bot.post("/api/phrases", headers=MEI, json={"code": "th", "text": "谢谢", "scope": "team"})).status == 403
    resp = await bot.post("/api/phrases", headers=SUPERVISOR, json={"code": "sf", "text": "默认中通，可补差价发顺丰", "scope": "team"})
    assert resp.status == 201
    blocked = await bot.post("/api/phrases", headers=MEI, json={"code": "wx", "text": "加我微信 abc123", "scope": "personal"})
    assert blocked.status == 422
    assert (await blocked.json())["rule"] == "contact.wechat"
    for body in ({"code": "hi", "text": "再一条"}, {"code": "sf", "text": "我的顺丰"}):
        clash = await bot.post("/api/phrases", headers=MEI, json={**body, "scope": "personal"})
        assert (clash.status, (await clash.json())["error"]) == (409, "phrase_code_taken"), body
    clash = await bot.post("/api/phrases", headers=SUPERVISOR, json={"code": "hi", "text": "团队的", "scope": "team"})
    assert clash.status == 409  # a team code would hide 小美's own
    for bad in ({"code": "", "text": "x"}, {"code": "a b", "text": "x"}, {"code": "ok", "text": ""},
                {"code": "ok", "text": "x", "scope": "global"}):
        assert (await bot.post("/api/phrases", headers=MEI, json=bad)).status == 400, bad
    mine = await (await bot.get("/api/phrases", headers=MEI)).json()
    assert sorted((p["code"], p["scope"]) for p in mine["items"]) == [("hi", "personal"), ("sf", "team")]
    theirs = await (await bot.get("/api/phrases", headers=QIANG)).json()
    assert [p["code"] for p in theirs["items"]] == ["sf"]
    team_id = next(p["id"] for p in mine["items"] if p["code"] == "sf")
    assert await status_of(bot, f"/api/phrases/{team_id}", MEI, method="DELETE") == 403
    assert await status_of(bot, f"/api/phrases/{team_id}", SUPERVISOR, method="DELETE") == 200


# --- delivery truth ---------------------------------------------------------------------------------

async def test_a_reply_refused_for_good_shows_failed_with_the_reason_and_can_be_retried(bot, gateway):
    import aiohttp

    mine = (await ids(bot, MEI))["tb_mine"]
    async with aiohttp.ClientSession() as s:
        await s.post(gateway.make_url("/faults"), json={"down": True})
    resp = await bot.post(f"/api/conversations/{mine}/reply", headers=MEI, json={"text": "亲，可以发顺丰"})
    assert resp.status == 202
    [pending] = (await (await bot.get(f"/api/conversations/{mine}", headers=MEI)).json())["deliveries"]
    assert pending["state"] == "pending"
    bot.app[keys.CLOCK].advance(seconds=1)
    await bot.app[keys.OUTBOX].send_due()
    # The gateway stays down past the reply's horizon (outbox.reply_horizon_minutes): failed for good.
    bot.app[keys.CLOCK].advance(minutes=31)
    await bot.app[keys.OUTBOX].send_due()
    [failed] = (await (await bot.get(f"/api/conversations/{mine}", headers=MEI)).json())["deliveries"]
    assert failed["state"] == "failed" and failed["last_error"]
    async with aiohttp.ClientSession() as s:
        await s.post(gateway.make_url("/faults"), json={"down": False})
    assert await status_of(bot, f"/api/outbox/{failed['id']}/retry", QIANG, method="POST") == 403
    resp = await bot.post(f"/api/outbox/{failed['id']}/retry", headers=MEI)
    assert resp.status == 200
    await bot.app[keys.OUTBOX].send_due()
    detail = await (await bot.get(f"/api/conversations/{mine}", headers=MEI)).json()
    assert detail["deliveries"] == []
    assert [m["text"] for m in detail["messages"] if m["sender"] == "agent"] == ["亲，可以发顺丰"]
    again = await bot.post(f"/api/outbox/{failed['id']}/retry", headers=MEI)
    assert (again.status, (await again.json())["error"]) == (409, "not_failed")


async def test_the_check_before_sending_names_warnings_and_blocks(bot):
    body = await (await bot.post("/api/guard/check", headers=MEI, json={"text": "加我微信"})).json()
    assert body["blocking"] and body["blocking"][0]["rule"] == "contact.wechat"
    body = await (await bot.post("/api/guard/check", headers=MEI, json={"text": "亲，您好"})).json()
    assert body == {"blocking": [], "warnings": []}
    body = await (await bot.post("/api/guard/check", headers=MEI, json={"text": "绝对正品，全网最低"})).json()
    assert body["blocking"] == [] and body["warnings"][0]["rule"] == "promise.absolute"
    assert await status_of(bot, "/api/guard/check", MEI, method="POST", json={"text": 3}) == 400


# --- handovers ------------------------------------------------------------------------------------

SHIFTS = [{"name": "早班", "start": "08:00", "end": "12:00", "agents": ["xiaomei"]},
          {"name": "午班", "start": "12:00", "end": "20:00", "agents": ["aqiang"]}]


async def test_a_handed_over_buyer_is_first_in_the_receivers_list_and_a_restart_hands_over_nobody_new(
    db_url, aiohttp_client, make_app, clock,
):
    config = make_config(db_url, shifts=SHIFTS, tokens=TOKENS)
    before = START.replace(hour=11, minute=58)
    clock.set(before)
    first = await aiohttp_client(make_app(config, clock))
    await push_and_process(first, buyer_message(buyer="tb_wait", at=before, agent="小店:小美", text="退货地址是哪里"),
                           buyer_message(buyer="tb_q", at=before - timedelta(minutes=1), agent="小店:阿强", text="在吗"))
    clock.set(START.replace(hour=12, minute=0, second=30))
    await first.app[keys.METRICS].refresh()
    body = await (await first.get("/api/conversations", headers=QIANG)).json()
    assert [i["buyer"] for i in body["items"]] == ["tb_wait", "tb_q"]  # handed over first, though tb_q waits longer
    handed = body["items"][0]
    assert (handed["handover"]["from"], handed["handover"]["from_name"], handed["handover"]["waiting"]) == ("xiaomei", "小美", True)
    assert handed["waiting_s"] == 150
    assert await status_of(first, f"/api/conversations/{handed['id']}/context", QIANG) == 200
    assert await status_of(first, f"/api/conversations/{handed['id']}/reply", QIANG, method="POST", json={"text": "您好"}) == 202
    # after the change, the platform still routes a new buyer to 小美; then the bot restarts
    await push_and_process(first, buyer_message(buyer="tb_late", at=clock.now(), agent="小店:小美", text="在吗"))
    await first.close()
    clock.advance(minutes=1)
    second = await aiohttp_client(make_app(config, clock))
    await second.app[keys.METRICS].refresh()
    handovers = (await (await second.get("/api/handovers", headers=SUPERVISOR)).json())["items"]
    assert [h["buyer"] for h in handovers] == ["tb_wait"]


# --- status drives auto-reply ------------------------------------------------------------------------

async def test_auto_reply_answers_when_the_agents_on_shift_are_busy_or_offline_not_when_one_is_online(
    tmp_path, aiohttp_client, make_app, clock,
):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", tokens=TOKENS, auto_reply={"enabled": True},
                         shifts=[{"name": "早班", "start": "08:00", "end": "17:00", "agents": ["xiaomei"]}])
    client = await aiohttp_client(make_app(config, clock))

    async def auto_replies_after(buyer: str) -> int:
        await push_and_process(client, buyer_message(buyer=buyer, text="在吗", at=clock.now()))
        async with client.app[keys.DB]() as session:
            return await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                        .where(OutboxMessage.buyer == buyer, OutboxMessage.sender == "bot"))

    # no console has ever been used: the shift alone decides, as before
    assert await auto_replies_after("b0") == 0
    await client.put("/api/me/status", headers=MEI, json={"status": "online"})
    assert await auto_replies_after("b1") == 0
    await client.put("/api/me/status", headers=MEI, json={"status": "busy"})
    assert await auto_replies_after("b2") == 1
    await client.put("/api/me/status", headers=MEI, json={"status": "online"})
    clock.advance(minutes=2, seconds=1)  # her console closed two minutes ago: offline
    assert await auto_replies_after("b3") == 1
    await client.post("/api/me/heartbeat", headers=MEI)
    assert await auto_replies_after("b4") == 0


async def test_the_board_shows_the_receiver_as_the_buyers_agent_after_a_transfer(bot):
    mine = (await ids(bot, MEI))["tb_mine"]
    await bot.app[keys.METRICS].refresh()
    before = {w["buyer"]: w["agent"] for w in bot.app[keys.BOARD].waiting()}
    assert before["tb_mine"] == "xiaomei"
    assert (await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang"})).status == 200
    await bot.app[keys.METRICS].refresh()
    after = {w["buyer"]: w["agent"] for w in bot.app[keys.BOARD].waiting()}
    assert after["tb_mine"] == "aqiang"


async def test_two_agents_who_both_hold_a_buyer_transfer_at_once_one_wins_one_gets_409(bot):
    mine = (await ids(bot, MEI))["tb_mine"]
    resp = await bot.post("/api/tickets", headers=SUPERVISOR,
                          json={"conversation_id": mine, "severity": "P3", "category": "quality", "note": "掉色"})
    assert (await resp.json())["owner"] == "aqiang"  # so 阿强 may see 小美's buyer too
    # both looked at the conversation (version 0, as the console sends it), both transfer at once
    seen = [(await (await bot.get(f"/api/conversations/{mine}", headers=h)).json())["version"] for h in (MEI, QIANG)]
    assert seen == [0, 0]
    first, second = await asyncio.gather(
        bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang", "version": seen[0]}),
        bot.post(f"/api/conversations/{mine}/transfer", headers=QIANG, json={"to": "xiaomei", "version": seen[1]}))
    assert sorted([first.status, second.status]) == [200, 409]
    assert (await (first if first.status == 409 else second).json())["error"] == "transfer_conflict"


async def test_an_agent_who_held_a_buyer_through_routing_and_lost_it_to_a_transfer_gets_409_not_403(bot):
    mine = (await ids(bot, MEI))["tb_mine"]
    assert (await bot.post(f"/api/conversations/{mine}/transfer", headers=SUPERVISOR, json={"to": "aqiang"})).status == 200
    late = await bot.post(f"/api/conversations/{mine}/transfer", headers=MEI, json={"to": "aqiang"})
    assert (late.status, (await late.json())["error"]) == (409, "transfer_conflict")
    assert "阿强" in (await late.json())["message"]
    # 小美 never held tb_other: 403
    other = (await ids(bot, SUPERVISOR))["tb_other"]
    never = await bot.post(f"/api/conversations/{other}/transfer", headers=MEI, json={"to": "aqiang"})
    assert (never.status, (await never.json())["error"]) == (403, "not_routed_to_you")
