"""Exactly-once at the receiver: a reply, an auto-reply, a ticket's callback and a payment reminder,
queued through their real paths, then sent by two bot instances (two apps, two engines, one database)
polling at once. The simulated gateway must accept each message once, and receive each request once
(or exactly once more per simulated 5xx). On PostgreSQL the two claims are made to overlap for
certain, and with the outbox claim's lock removed (the mutation) the check must fail."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.events import OrderCreated
from bot.sim.gateway import STATE
from bot.store import outbox as outbox_store
from bot.store.tables import OutboxMessage, Ticket
from bot.web import keys
from tests.conftest import (
    APP_KEYS, START, buyer_message, gateway_url, make_config, minutes, push_and_process,
)
from tests.exactly_once import deliveries, delivered_once, overlapping, postgres_only, without_lock

pytestmark = pytest.mark.postgres
SUP = {"Authorization": "Bearer supervisor-token"}
LATE_SHIFT = [{"name": "晚班", "start": "13:00", "end": "22:00", "agents": ["xiaomei"]}]  # nobody on at 10:00


@pytest.fixture
async def bots(db_url, aiohttp_client, make_app, clock, gateway):
    def config():
        return make_config(db_url, gateway_url=gateway_url(gateway), shifts=LATE_SHIFT, auto_reply={"enabled": True},
                           reminders={"offsets_minutes": [15], "before_close_minutes": 0,
                                      "quiet_hours": ["22:00", "08:00"]})
    first = await aiohttp_client(make_app(config(), clock))
    second = await aiohttp_client(make_app(config(), clock))
    assert first.app[keys.ENGINE] is not second.app[keys.ENGINE]
    return first, second


async def queue_one_of_each(bot, clock) -> list[str]:
    """Through the bot's own paths; returns the client_msg_ids queued in the outbox (the question
    "能发顺丰吗", asked while nobody is on shift, is also answered by the bot: two auto-replies)."""
    greeting = buyer_message("wangwang", buyer="b-auto", text="在吗", at=START, push_id="m-auto")
    complaint = buyer_message("wangwang", buyer="b-ticket", text="客服态度太差了，我要投诉", at=START,
                               push_id="m-ticket")
    question = buyer_message("dongdong", buyer="b-reply", text="能发顺丰吗", at=START, agent="jd_xiaomei",
                              push_id="m-reply")
    order = OrderCreated(platform="dongdong", shop=APP_KEYS["dongdong"], buyer="b-remind", push_id="o-remind",
                         at=START, order_id="R1", title="羊毛围巾", amount_fen=9900, created_at=START,
                         closes_at=START + minutes(24 * 60))
    await push_and_process(bot, greeting, complaint, question, order)

    conversations = (await (await bot.get("/api/conversations", headers=SUP)).json())["items"]
    [conversation] = [c for c in conversations if c["buyer"] == "b-reply"]
    resp = await bot.post(f"/api/conversations/{conversation['id']}/reply",
                          json={"text": "亲，可以发顺丰的", "client_msg_id": "c-reply-1"}, headers=SUP)
    assert resp.status == 202, await resp.text()

    async with bot.app[keys.DB]() as session:
        ticket = await session.scalar(sa.select(Ticket))
    for to, extra in (("assigned", {"owner": "aqiang"}), ("investigating", {}), ("resolved", {"note": "已退款", "resolution": "refund"})):
        resp = await bot.post(f"/api/tickets/{ticket.id}/transition", json={"to": to, **extra}, headers=SUP)
        assert resp.status == 200, await resp.text()

    clock.advance(minutes=15)
    result = await bot.app[keys.REMINDERS].run(now=clock.now())
    assert result.count("sent") == 1

    async with bot.app[keys.DB]() as session:
        queued = sorted((await session.scalars(sa.select(OutboxMessage.client_msg_id))).all())
    assert set(queued) == {"auto:wangwang:m-auto", "auto:dongdong:m-reply", "agent:supervisor:c-reply-1", f"ticket:{ticket.id}:callback",
                           "remind:dongdong:R1:1"}
    return queued


async def send_from_both(first, second, *, rounds: int = 1) -> None:
    for _ in range(rounds):
        await asyncio.gather(first.app[keys.OUTBOX].send_due(), second.app[keys.OUTBOX].send_due())


async def test_each_kind_is_delivered_once_by_two_senders(bots, clock, gateway, db_url, monkeypatch):
    first, second = bots
    if db_url.startswith("postgresql"):
        overlapping(monkeypatch, outbox_store, "claim_due")
    queued = await queue_one_of_each(first, clock)
    await send_from_both(first, second, rounds=2)
    await delivered_once(gateway, queued)


async def test_a_5xx_is_tried_again_once_and_still_delivered_once(bots, clock, gateway, db_url, monkeypatch):
    first, second = bots
    if db_url.startswith("postgresql"):
        overlapping(monkeypatch, outbox_store, "claim_due")
    queued = await queue_one_of_each(first, clock)
    gateway.app[STATE].fail_next = len(queued)  # each message's first request answered 503
    await send_from_both(first, second)
    got = await deliveries(gateway)
    assert {k: (d.accepted, d.attempts) for k, d in got.items()} == {k: (0, 1) for k in queued}
    clock.advance(seconds=1)  # past the backoff
    await send_from_both(first, second, rounds=2)
    await delivered_once(gateway, queued, attempts=2)


async def test_with_the_outbox_claims_lock_removed_the_check_fails(bots, clock, gateway, db_url, monkeypatch):
    """The mutation: the same run with `FOR UPDATE SKIP LOCKED` dropped from the outbox's claim. Both
    senders claim every message and both send it: the gateway still accepts each once (same key), but
    sees two requests for each, and `delivered_once` says so."""
    postgres_only(db_url)
    first, second = bots
    without_lock(monkeypatch, outbox_store, "claim_due")
    overlapping(monkeypatch, outbox_store, "claim_due")
    queued = await queue_one_of_each(first, clock)
    await send_from_both(first, second)
    with pytest.raises(AssertionError, match="more means a second sender"):
        await delivered_once(gateway, queued)
    got = await deliveries(gateway)
    assert {k: (d.accepted, d.attempts) for k, d in got.items()} == {k: (1, 2) for k in queued}
