"""The outbox against the simulated gateway on a real socket: signed sends, retries of 5xx and
timeouts with the same key, no retry of 4xx, and a resend after a crash delivered once."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.sim.gateway import STATE, create_gateway_app
from bot.store import outbox as outbox_store
from bot.store.tables import Message, OutboxMessage
from bot.web import keys
from tests.conftest import APP_KEYS, gateway_url, make_config, sent_by_gateway
from tests.exactly_once import received_by_gateway


async def bot_with_gateway(aiohttp_client, make_app, db_url, clock, gateway_url):
    return await aiohttp_client(make_app(make_config(db_url, gateway_url=gateway_url), clock))


@pytest.fixture
async def bot(db_url, aiohttp_client, make_app, clock, gateway):
    return await bot_with_gateway(aiohttp_client, make_app, db_url, clock, gateway_url(gateway))


async def enqueue(bot, *, client_msg_id="r1", platform="wangwang", text="亲，今天下单明天发货哦") -> bool:
    async with bot.app[keys.DB]() as session, session.begin():
        return await outbox_store.enqueue(
            session, client_msg_id=client_msg_id, platform=platform, shop=APP_KEYS[platform], buyer="buyer1",
            agent_account="小店:小美" if platform == "wangwang" else "jd_xiaomei", text=text, kind="reply",
            sender="agent", now=bot.app[keys.CLOCK].now(),
        )


async def outbox_row(bot, client_msg_id="r1") -> OutboxMessage:
    async with bot.app[keys.DB]() as session:
        return await session.scalar(sa.select(OutboxMessage).where(OutboxMessage.client_msg_id == client_msg_id))


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_a_queued_reply_is_sent_signed_and_recorded(bot, gateway, platform):
    assert await enqueue(bot, platform=platform)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    [message] = await sent_by_gateway(gateway)
    assert (message["platform"], message["text"], message["kind"], message["client_msg_id"]) == (
        platform, "亲，今天下单明天发货哦", "reply", "r1")
    row = await outbox_row(bot)
    assert (row.state, row.attempts, row.gateway_msg_id) == ("sent", 1, message["msg_id"])
    async with bot.app[keys.DB]() as session:
        recorded = (await session.scalars(sa.select(Message))).all()
    assert [(m.sender, m.text, m.client_msg_id) for m in recorded] == [("agent", "亲，今天下单明天发货哦", "r1")]


async def test_the_same_key_is_queued_once(bot):
    assert await enqueue(bot) is True
    assert await enqueue(bot) is False


async def test_5xx_is_retried_with_backoff_and_the_same_key(bot, gateway, clock):
    gateway.app[STATE].fail_next = 2
    await enqueue(bot)
    sender = bot.app[keys.OUTBOX]
    assert await sender.send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("pending", 1)
    assert await sender.send_due() == 0  # not due before its backoff
    clock.advance(seconds=1)
    assert await sender.send_due() == 1
    clock.advance(seconds=1)
    assert await sender.send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("sent", 3)
    assert [m["client_msg_id"] for m in await sent_by_gateway(gateway)] == ["r1"]
    assert [(r["client_msg_id"], r["status"]) for r in await received_by_gateway(gateway)] == [
        ("r1", 503), ("r1", 503), ("r1", 200)]  # exactly three requests: no more, no fewer


async def test_4xx_is_not_retried(db_url, aiohttp_client, make_app, clock, aiohttp_server):
    # The gateway knows another secret for this shop: it answers 401 and the bot must not retry.
    gateway = await aiohttp_server(create_gateway_app({"wangwang": {"demo-tb": "another-secret"}}, clock=clock))
    bot = await bot_with_gateway(aiohttp_client, make_app, db_url, clock, gateway_url(gateway))
    await enqueue(bot)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "401" in row.last_error
    clock.advance(minutes=10)
    assert await bot.app[keys.OUTBOX].send_due() == 0


async def test_a_timeout_is_retried(db_url, aiohttp_client, make_app, clock, aiohttp_server):
    arrived: list[str] = []  # the client_msg_id of every request that reached the slow gateway

    async def never_answers(request):
        arrived.append((await request.post()).get("client_msg_id", "?"))
        await asyncio.sleep(30)
        return web.Response()

    slow = web.Application()
    slow.router.add_post("/{platform}/send", never_answers)
    server = await aiohttp_server(slow)
    config = make_config(db_url, gateway_url=str(server.make_url("")).rstrip("/"),
                         outbox={"timeout_seconds": 0.2, "max_attempts": 2, "backoff_seconds": 1})
    bot = await aiohttp_client(make_app(config, clock))
    await enqueue(bot)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "Timeout" in row.last_error
    assert arrived == ["r1"]
    clock.advance(seconds=1)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.attempts) == ("failed", 2)  # max_attempts reached
    assert arrived == ["r1", "r1"]  # the second attempt happened, with the same key


async def test_a_resend_after_a_crash_mid_send_is_delivered_once(bot, gateway, clock):
    """Sent, then the process died before marking it sent: the lease runs out and it is sent again
    with the same client_msg_id, which the gateway answers with its first answer."""
    await enqueue(bot)
    async with bot.app[keys.DB]() as session, session.begin():
        [claimed] = await outbox_store.claim_due(session, now=clock.now(), limit=10)
    first = await bot.app[keys.OUTBOX]._send(claimed)  # the send happened; the crash loses the record
    assert first.ok
    assert await bot.app[keys.OUTBOX].send_due() == 0  # leased: nobody else sends it meanwhile
    clock.advance(seconds=61)
    assert await bot.app[keys.OUTBOX].send_due() == 1
    row = await outbox_row(bot)
    assert (row.state, row.gateway_msg_id) == ("sent", first.msg_id)
    assert len(await sent_by_gateway(gateway)) == 1
