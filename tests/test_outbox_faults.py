"""The outbox under a failing or stalling gateway (issue 14): messages stay pending for as long as
they are worth sending, one probe at a time while the gateway fails, every waiting message at once
when it answers again, a timeout retried with the same key and counted once, and each kind's horizon."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import pytest
import sqlalchemy as sa

from bot.events import AgentMessage
from bot.sim.gateway import STATE
from bot.store.tables import Message, OutboxMessage
from bot.web import keys
from tests.conftest import APP_KEYS, gateway_url, make_config, push_and_process, sent_by_gateway
from tests.test_outbox import enqueue, outbox_row
from tests.scrape import value

# A generous timeout where the gateway answers at once (a loaded machine must not time a send out);
# the stalling gateway's tests use `slow_bot`, whose timeout the stall exceeds.
POLICY = {"timeout_seconds": 3.0, "backoff_seconds": 1, "max_backoff_seconds": 30}


@pytest.fixture
async def bot(db_url, aiohttp_client, make_app, clock, gateway):
    return await aiohttp_client(make_app(make_config(db_url, gateway_url=gateway_url(gateway), outbox=POLICY), clock))


@pytest.fixture
async def slow_bot(db_url, aiohttp_client, make_app, clock, gateway):
    return await aiohttp_client(make_app(make_config(db_url, gateway_url=gateway_url(gateway),
                                                     outbox={**POLICY, "timeout_seconds": 0.3}), clock))


async def rounds(bot, clock, *, seconds: int, step: int = 5) -> None:
    """The outbox's rounds over `seconds` of the fake clock."""
    for _ in range(seconds // step):
        clock.advance(seconds=step)
        await bot.app[keys.OUTBOX].send_due()


async def gateway_tries(gateway) -> int:
    async with aiohttp.ClientSession() as session, session.get(gateway.make_url("/sent")) as resp:
        return (await resp.json())["tries"]


async def test_a_gateway_down_for_ten_minutes_loses_nothing_and_is_probed_not_flooded(bot, gateway, clock):
    gateway.app[STATE].down = True
    for i in range(5):
        await enqueue(bot, client_msg_id=f"r{i}")
    await bot.app[keys.OUTBOX].send_due()
    await rounds(bot, clock, seconds=600)
    rows = [await outbox_row(bot, f"r{i}") for i in range(5)]
    assert {r.state for r in rows} == {"pending"}  # 发送中, never given up within the reply horizon
    assert all("503" in (r.last_error or "") for r in rows if r.attempts)
    tries = await gateway_tries(gateway)
    # One probe at a time, the wait doubling to 30 s (jittered down to no less than 15 s): at most
    # 5 + 600 / 15 tries in 10 minutes, where each message backing off on its own would be over 100.
    assert tries <= 5 + 600 // 15
    gateway.app[STATE].down = False
    await rounds(bot, clock, seconds=35)
    # The probe went through and the rest were due at once, in the next round.
    rows = [await outbox_row(bot, f"r{i}") for i in range(5)]
    assert [r.state for r in rows] == ["sent"] * 5
    assert sorted(m["client_msg_id"] for m in await sent_by_gateway(gateway)) == [f"r{i}" for i in range(5)]
    counts = bot.app[keys.OUTBOX].counts
    assert counts[("reply", "sent")] == 5
    assert counts[("reply", "retry")] == tries
    async with bot.app[keys.DB]() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 5


async def test_recovery_is_picked_up_at_once_by_the_probe(bot, gateway, clock):
    gateway.app[STATE].down = True
    await enqueue(bot, client_msg_id="a")
    await enqueue(bot, client_msg_id="b")
    await rounds(bot, clock, seconds=120)
    gateway.app[STATE].down = False
    # Within the longest backoff (30 s) both are sent, though "b" was put back for longer.
    await rounds(bot, clock, seconds=35)
    assert [(await outbox_row(bot, k)).state for k in "ab"] == ["sent", "sent"]


async def test_a_reply_is_given_up_after_its_horizon_with_the_reason(bot, gateway, clock):
    gateway.app[STATE].down = True
    await enqueue(bot)
    await rounds(bot, clock, seconds=31 * 60, step=30)
    row = await outbox_row(bot)
    assert row.state == "failed"
    assert "not sent within 0:30:00" in row.last_error and "503" in row.last_error
    assert bot.app[keys.OUTBOX].counts[("reply", "failed")] == 1
    gateway.app[STATE].down = False
    await rounds(bot, clock, seconds=60)
    assert await sent_by_gateway(gateway) == []


async def test_a_reply_is_not_sent_once_the_buyer_was_answered_in_the_platform_chat(bot, gateway, clock):
    gateway.app[STATE].down = True
    await enqueue(bot)
    await bot.app[keys.OUTBOX].send_due()
    clock.advance(minutes=2)
    await push_and_process(bot, AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="buyer1",
                                             push_id="typed-1", at=clock.now(), text="已经回复您啦",
                                             agent_account="小店:小美"))
    gateway.app[STATE].down = False
    await rounds(bot, clock, seconds=60)
    row = await outbox_row(bot)
    assert row.state == "failed" and "answered in the platform's chat" in row.last_error
    assert await sent_by_gateway(gateway) == []


async def test_a_callback_question_is_tried_for_a_day(db_url, aiohttp_client, make_app, clock, gateway):
    bot = await aiohttp_client(make_app(make_config(db_url, gateway_url=gateway_url(gateway),
                                                    outbox={**POLICY, "max_backoff_seconds": 600}), clock))
    gateway.app[STATE].down = True
    async with bot.app[keys.DB]() as session, session.begin():
        from bot.store import outbox as outbox_store
        await outbox_store.enqueue(session, client_msg_id="ticket:1:callback", platform="wangwang",
                                   shop=APP_KEYS["wangwang"], buyer="buyer1", agent_account="小店:小美",
                                   text="请为这次处理打个分", kind="notice", sender="bot", now=clock.now())
    await rounds(bot, clock, seconds=23 * 3600, step=600)
    assert (await outbox_row(bot, "ticket:1:callback")).state == "pending"
    await rounds(bot, clock, seconds=3600, step=600)
    assert (await outbox_row(bot, "ticket:1:callback")).state == "failed"


async def test_a_timeout_after_delivery_is_retried_with_the_same_key_and_counted_once(slow_bot, gateway, clock):
    bot = slow_bot
    gateway.app[STATE].stall_s = 1.0  # delivers, then answers after the bot's 0.3 s timeout
    await enqueue(bot)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("pending", 1) and "Timeout" in row.last_error
    assert await bot.app[keys.OUTBOX].send_due() == 0  # not again at once: it waits at least the timeout
    gateway.app[STATE].stall_s = 0
    clock.advance(seconds=1)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("sent", 2)
    [delivered] = await sent_by_gateway(gateway)
    assert row.gateway_msg_id == delivered["msg_id"]  # the gateway's first answer, for the same key
    counts = bot.app[keys.OUTBOX].counts
    assert (counts[("reply", "sent")], counts[("reply", "timeout")]) == (1, 1)
    async with bot.app[keys.DB]() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


async def test_a_slow_gateway_is_not_sent_the_same_message_in_a_burst(slow_bot, gateway, clock):
    bot = slow_bot
    gateway.app[STATE].stall_s = 1.0
    for i in range(5):
        await enqueue(bot, client_msg_id=f"s{i}")
    await rounds(bot, clock, seconds=120)
    tries = await gateway_tries(gateway)
    # The first round tries all five; after that one probe at a time, backing off (5, 10, 20, 30 s...),
    # where retrying every message in every round would be 5 × 24.
    assert tries <= 5 + 9
    assert len(await sent_by_gateway(gateway)) == 5  # each delivered once; repeats are answered, not resent
    gateway.app[STATE].stall_s = 0
    await rounds(bot, clock, seconds=35)
    assert [(await outbox_row(bot, f"s{i}")).state for i in range(5)] == ["sent"] * 5
    assert sorted(m["client_msg_id"] for m in await sent_by_gateway(gateway)) == [f"s{i}" for i in range(5)]
    async with bot.app[keys.DB]() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 5


async def test_two_senders_never_try_one_message_at_the_same_time(bot, gateway, clock):
    await enqueue(bot)
    async with bot.app[keys.DB]() as session, session.begin():
        from bot.store import outbox as outbox_store
        [claimed] = await outbox_store.claim_due(session, now=clock.now(), limit=10)
    # Another process's round while the first still holds its lease (its try may be slow): nothing.
    clock.advance(seconds=30)
    assert await bot.app[keys.OUTBOX].send_due() == 0
    clock.advance(seconds=31)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    assert (await outbox_row(bot)).state == "sent"


async def test_failures_are_counted_in_metrics(bot, gateway, clock):
    gateway.app[STATE].down = True
    await enqueue(bot)
    await bot.app[keys.OUTBOX].send_due()
    clock.advance(seconds=40)
    text = await (await bot.get("/metrics")).text()
    assert value(text, "csbot_outbox_retries_total", kind="reply", reason="error") + value(
        text, "csbot_outbox_retries_total", kind="reply", reason="timeout") == 1
    assert value(text, "csbot_outbox_messages", state="queued") == 1
    assert value(text, "csbot_outbox_failing_seconds") == 40
