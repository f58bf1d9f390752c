"""The agent's conversations API: visibility by role, suggestions shown with the conversation,
replies through the guard and the outbox to the simulated gateway, and the feedback they leave."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.events import AgentMessage
from bot.store.tables import OutboxMessage, ReplyFeedback
from bot.web import keys
from tests.conftest import (
    START,
    buyer_message,
    gateway_url,
    make_config,
    minutes,
    post_push,
    sent_by_gateway,
    signed_form,
)

XIAOMEI = {"Authorization": "Bearer agent-xiaomei-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}


@pytest.fixture
async def bot(tmp_path, aiohttp_client, make_app, clock, gateway):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", gateway_url=gateway_url(gateway))
    client = await aiohttp_client(make_app(config, clock))
    # Two buyers: one routed to 小美 (xiaomei), one to 阿强 (aqiang).
    for event in (buyer_message("wangwang", buyer="tb_mine", text="能发顺丰吗", agent="小店:小美", at=START),
                  buyer_message("wangwang", buyer="tb_other", text="在吗", agent="小店:阿强", at=START)):
        assert (await post_push(client, "wangwang", signed_form(event)))[0] == 200
    await client.app[keys.PROCESSOR].process_all()
    clock.advance(seconds=45)
    return client


async def conversation_ids(bot, headers) -> dict[str, int]:
    body = await (await bot.get("/api/conversations", headers=headers)).json()
    return {item["buyer"]: item["id"] for item in body["items"]}


async def test_an_agent_sees_only_conversations_routed_to_them(bot):
    assert set(await conversation_ids(bot, XIAOMEI)) == {"tb_mine"}
    assert set(await conversation_ids(bot, SUPERVISOR)) == {"tb_mine", "tb_other"}
    body = await (await bot.get("/api/conversations", headers=XIAOMEI)).json()
    [item] = body["items"]
    assert (item["waiting_s"], item["latest"]["text"], body["total"]) == (45, "能发顺丰吗", 1)


async def test_no_token_is_401_and_another_agents_conversation_is_403(bot):
    ids = await conversation_ids(bot, SUPERVISOR)
    assert (await bot.get("/api/conversations")).status == 401
    assert (await bot.get(f"/api/conversations/{ids['tb_other']}", headers=XIAOMEI)).status == 403
    resp = await bot.post(f"/api/conversations/{ids['tb_other']}/reply", json={"text": "您好"}, headers=XIAOMEI)
    assert resp.status == 403
    assert (await bot.get("/api/conversations/999999", headers=XIAOMEI)).status == 404
    assert (await bot.get("/api/conversations/abc", headers=XIAOMEI)).status == 404


async def test_a_conversation_shows_its_messages_and_the_suggestions(bot):
    ids = await conversation_ids(bot, XIAOMEI)
    body = await (await bot.get(f"/api/conversations/{ids['tb_mine']}", headers=XIAOMEI)).json()
    assert [m["text"] for m in body["messages"]] == ["能发顺丰吗"]
    assert body["suggestions"][0]["intent"] == "presale.courier"
    assert "{" not in body["suggestions"][0]["reply"]


async def test_a_reply_goes_out_signed_and_counts_as_the_agents_response(bot, gateway):
    ids = await conversation_ids(bot, XIAOMEI)
    detail = await (await bot.get(f"/api/conversations/{ids['tb_mine']}", headers=XIAOMEI)).json()
    text = detail["suggestions"][0]["reply"]
    resp = await bot.post(f"/api/conversations/{ids['tb_mine']}/reply",
                          json={"text": text, "intent": "presale.courier"}, headers=XIAOMEI)
    assert resp.status == 202
    assert await bot.app[keys.OUTBOX].send_due() == 1
    [message] = await sent_by_gateway(gateway)
    assert (message["buyer"], message["agent_account"], message["text"], message["kind"]) == (
        "tb_mine", "小店:小美", text, "reply")
    after = await (await bot.get(f"/api/conversations/{ids['tb_mine']}", headers=XIAOMEI)).json()
    assert after["waiting_since"] is None and after["messages"][-1]["sender"] == "agent"
    async with bot.app[keys.DB]() as session:
        feedback = await session.scalar(sa.select(ReplyFeedback))
    assert (feedback.outcome, feedback.suggested_intent, feedback.agent) == ("used", "presale.courier", "xiaomei")


async def test_an_edited_suggestion_and_an_ignored_one_are_recorded(bot):
    ids = await conversation_ids(bot, XIAOMEI)
    url = f"/api/conversations/{ids['tb_mine']}/reply"
    await bot.post(url, json={"text": "亲，可以发顺丰，需补差价10元", "intent": "presale.courier"}, headers=XIAOMEI)
    await bot.post(url, json={"text": "稍等我问下仓库", "intent": None}, headers=XIAOMEI)
    async with bot.app[keys.DB]() as session:
        outcomes = (await session.scalars(sa.select(ReplyFeedback.outcome).order_by(ReplyFeedback.id))).all()
    assert outcomes == ["edited", "ignored"]


async def test_a_blocked_reply_is_422_with_the_rule_and_nothing_is_sent(bot, gateway):
    ids = await conversation_ids(bot, XIAOMEI)
    resp = await bot.post(f"/api/conversations/{ids['tb_mine']}/reply",
                          json={"text": "亲，加我 微 信 abc123 便宜点"}, headers=XIAOMEI)
    body = await resp.json()
    assert resp.status == 422
    assert (body["error"], body["rule"], body["span"]) == ("blocked", "contact.wechat", [5, 8])
    async with bot.app[keys.DB]() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert await bot.app[keys.OUTBOX].send_due() == 0
    assert await sent_by_gateway(gateway) == []


async def test_a_warning_is_sent_and_reported(bot):
    ids = await conversation_ids(bot, XIAOMEI)
    resp = await bot.post(f"/api/conversations/{ids['tb_mine']}/reply", json={"text": "百分百正品哦"}, headers=XIAOMEI)
    body = await resp.json()
    assert resp.status == 202 and body["warnings"][0]["rule"] == "promise.absolute"
    async with bot.app[keys.DB]() as session:
        feedback = await session.scalar(sa.select(ReplyFeedback))
        queued = await session.scalar(sa.select(OutboxMessage))
    assert (feedback.guard_warnings, queued.text) == ("promise.absolute", "百分百正品哦")


async def test_the_same_client_msg_id_is_queued_once(bot):
    ids = await conversation_ids(bot, XIAOMEI)
    url = f"/api/conversations/{ids['tb_mine']}/reply"
    first = await (await bot.post(url, json={"text": "好的", "client_msg_id": "c-1"}, headers=XIAOMEI)).json()
    again = await (await bot.post(url, json={"text": "好的", "client_msg_id": "c-1"}, headers=XIAOMEI)).json()
    assert (first["queued"], again["queued"]) == (True, False)


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"text": ""}, 400, "text must be a non-empty string"), ({"text": 3}, 400, "text must be a non-empty string"),
    ({"text": "x" * 2001}, 400, "text is longer than 2000 characters"),
    ({"text": "好", "intent": 3}, 400, "intent must be the id of a suggestion, or null"),
    ({"text": "好", "intent": "no.such"}, 400, "no intent 'no.such' in the knowledge base"),
])
async def test_bad_replies_are_400(bot, body, status, message):
    ids = await conversation_ids(bot, XIAOMEI)
    resp = await bot.post(f"/api/conversations/{ids['tb_mine']}/reply", json=body, headers=XIAOMEI)
    assert (resp.status, (await resp.json())["message"]) == (status, message)


async def test_an_agent_answering_takes_over_the_conversation(bot, clock):
    answer = AgentMessage(platform="wangwang", shop="demo-tb", buyer="tb_other", push_id="x1",
                          at=START + minutes(1), text="您好", agent_account="小店:小美")
    await post_push(bot, "wangwang", signed_form(answer, now=clock.now()))
    await bot.app[keys.PROCESSOR].process_all()
    assert set(await conversation_ids(bot, XIAOMEI)) == {"tb_mine", "tb_other"}


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "offset=-1"])
async def test_bad_paging_is_400(bot, query):
    assert (await bot.get(f"/api/conversations?{query}", headers=XIAOMEI)).status == 400


async def test_a_supervisors_reply_goes_out_as_the_supervisor_and_not_in_the_agents_figures(bot, gateway, clock):
    ids = await conversation_ids(bot, SUPERVISOR)
    resp = await bot.post(f"/api/conversations/{ids['tb_mine']}/reply", json={"text": "亲，我是店长，马上帮您安排"},
                          headers=SUPERVISOR)
    assert resp.status == 202
    assert await bot.app[keys.OUTBOX].send_due() == 1
    [message] = await sent_by_gateway(gateway)
    assert message["agent_account"] == "主管"
    # The buyer's wait is over, the conversation is still 小美's, and the response is the supervisor's.
    after = await (await bot.get(f"/api/conversations/{ids['tb_mine']}", headers=XIAOMEI)).json()
    assert after["waiting_since"] is None and after["agent"] == "小店:小美"
    assert (after["messages"][-1]["sender"], after["messages"][-1]["agent"]) == ("agent", "主管")
    resp = await bot.get("/api/metrics/agents", params={"from": "2026-11-24", "to": "2026-11-24"}, headers=SUPERVISOR)
    rows = {(r["agent"], r["platform"]): r for r in (await resp.json())["items"]}
    assert rows[("主管", "wangwang")]["responses"] == 1
    assert rows[("xiaomei", "wangwang")]["responses"] == 0
