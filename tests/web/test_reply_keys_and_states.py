"""Replies' idempotency keys live in the agents' own namespace, scoped to each agent, so a request
can never take over the bot's keys (reminders, ticket callbacks, auto-replies); and the conversation
shows each outgoing message's state: 发送中 / 已发送 / 发送失败 with the reason (issue 14)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.sim.gateway import STATE
from bot.store import outbox as outbox_store
from bot.store.tables import OutboxMessage
from bot.web import keys
from tests.conftest import APP_KEYS, sent_by_gateway
from tests.web.test_conversations import SUPERVISOR, XIAOMEI, bot, conversation_ids  # noqa: F401  (fixture)


async def reply(bot, conversation_id: int, headers: dict, **body):
    resp = await bot.post(f"/api/conversations/{conversation_id}/reply", json={"text": "好的", **body}, headers=headers)
    return resp.status, await resp.json()


@pytest.mark.parametrize("bots_key", ["remind:wangwang:T1:1", "ticket:1:callback", "auto:wangwang:p1"])
async def test_a_request_cannot_take_a_key_of_the_bots_own(bot, gateway, clock, bots_key):
    ids = await conversation_ids(bot, XIAOMEI)
    status, body = await reply(bot, ids["tb_mine"], XIAOMEI, client_msg_id=bots_key)
    assert (status, body["client_msg_id"], body["queued"]) == (202, bots_key, True)
    # The bot's own message with that key is still queued, and both go out.
    async with bot.app[keys.DB]() as session, session.begin():
        assert await outbox_store.enqueue(
            session, client_msg_id=bots_key, platform="wangwang", shop=APP_KEYS["wangwang"], buyer="tb_mine",
            agent_account="小店:小美", text="亲，您的订单还未付款哦", kind="reminder", sender="bot", now=clock.now())
    await bot.app[keys.OUTBOX].send_due()
    sent = {m["client_msg_id"]: m["text"] for m in await sent_by_gateway(gateway)}
    assert sent == {bots_key: "亲，您的订单还未付款哦", f"agent:xiaomei:{bots_key}": "好的"}


async def test_a_key_is_scoped_to_its_agent(bot):
    ids = await conversation_ids(bot, SUPERVISOR)
    _, mine = await reply(bot, ids["tb_mine"], XIAOMEI, client_msg_id="k-1")
    _, again = await reply(bot, ids["tb_mine"], XIAOMEI, client_msg_id="k-1")
    _, theirs = await reply(bot, ids["tb_mine"], SUPERVISOR, client_msg_id="k-1")
    assert (mine["queued"], again["queued"], theirs["queued"]) == (True, False, True)
    async with bot.app[keys.DB]() as session:
        stored = sorted((await session.scalars(sa.select(OutboxMessage.client_msg_id))).all())
    assert stored == ["agent:supervisor:k-1", "agent:xiaomei:k-1"]


async def test_the_conversation_shows_each_message_state_and_the_reason(bot, gateway, clock):
    ids = await conversation_ids(bot, XIAOMEI)
    gateway.app[STATE].down = True
    _, queued = await reply(bot, ids["tb_mine"], XIAOMEI, client_msg_id="c-1")
    assert queued["state"] == "pending"
    await bot.app[keys.OUTBOX].send_due()

    async def outgoing() -> list[dict]:
        body = await (await bot.get(f"/api/conversations/{ids['tb_mine']}", headers=XIAOMEI)).json()
        return body["outgoing"]

    [shown] = await outgoing()
    assert (shown["client_msg_id"], shown["state"], shown["label"]) == ("c-1", "pending", "发送中")
    assert "503" in shown["error"]  # the last try's error, while it is still being tried
    clock.advance(minutes=31)
    await bot.app[keys.OUTBOX].send_due()
    [shown] = await outgoing()
    assert (shown["state"], shown["label"]) == ("failed", "发送失败")
    assert "not sent within" in shown["error"]
    gateway.app[STATE].down = False
    _, second = await reply(bot, ids["tb_mine"], XIAOMEI, client_msg_id="c-2")
    await bot.app[keys.OUTBOX].send_due()
    shown = await outgoing()
    assert [(m["client_msg_id"], m["label"], m["error"]) for m in shown][-1] == ("c-2", "已发送", None)
    _, repeat = await reply(bot, ids["tb_mine"], XIAOMEI, client_msg_id="c-2")
    assert (repeat["queued"], repeat["state"]) == (False, "sent")


def test_each_person_has_their_own_keys_and_a_colon_cannot_join_two():
    from bot.web.auth import Caller
    from bot.web.conversations import scoped_key

    def person(**who) -> Caller:
        return Caller(**{"role": "supervisor", "agent": None, "accounts": frozenset(), **who})

    keys_ = [scoped_key(person(user="zhuguan1"), "k"), scoped_key(person(user="zhuguan2"), "k"),
             scoped_key(person(role="agent", agent="a"), "b:k"), scoped_key(person(role="agent", agent="a:b"), "k"),
             scoped_key(person(), "k")]
    assert len(set(keys_)) == len(keys_), keys_
    assert all(k.startswith("agent:") for k in keys_)
