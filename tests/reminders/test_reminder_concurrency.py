"""Two bot instances (two apps, two engines, two scheduler jobs) over the same due reminders, on
SQLite and on the real PostgreSQL (CSBOT_TEST_PG_DSN; skipped with a reason without it): each
reminder is claimed, queued and sent exactly once, as the simulated gateway counts it (accepted once,
requested once). On PostgreSQL the instances' claims are made to overlap for certain; with the
reminder claim's lock removed (the mutation) the test fails, and a test here says so."""

from __future__ import annotations

import asyncio

import pytest

from bot.reminders.job import ReminderJob
from bot.reminders.policy import Rules
from bot.store import outbox as outbox_store
from bot.store import reminders as reminder_store
from bot.web import keys
from tests.exactly_once import delivered_once, overlapping, postgres_only, without_lock
from tests.reminders.conftest import Shop, shop

pytestmark = pytest.mark.postgres


def small_batches(app) -> ReminderJob:
    """The app's scan with small transactions, so that the two instances interleave many times."""
    config = app[keys.CONFIG]
    return ReminderJob(app[keys.DB], rules=Rules.from_config(config.reminders, zone=config.shop.timezone),
                       render=lambda intent, platform, values: f"{intent} {values['amount']}", batch=3)


async def two_instances_remind(make_bot, db_url, clock, gateway) -> None:
    first = Shop(await make_bot(db_url, max_per_buyer_per_day=5), clock, gateway)
    second = Shop(await make_bot(db_url, max_per_buyer_per_day=5), clock, gateway)
    assert first.app[keys.ENGINE] is not second.app[keys.ENGINE]
    for i in range(30):
        buyer = f"buyer{i % 20}"  # ten buyers with two orders each: one message covers both
        platform = "wangwang" if i % 20 % 3 else "dongdong"
        await first.create(f"T{i}", at=shop(10), buyer=buyer, platform=platform)
    rows = await first.reminders()
    assert len(rows) == 30

    jobs = [small_batches(first.app), small_batches(second.app)] * 2
    results = await asyncio.gather(*(job.run(now=shop(10, 15)) for job in jobs))
    keys_queued = [m.client_msg_id for r in results for m in r.messages]
    assert len(keys_queued) == len(set(keys_queued)) == 20, (
        f"one message per buyer, by exactly one instance: {len(keys_queued)} queued, {len(set(keys_queued))} keys")
    assert sum(r.count("sent") for r in results) == 30
    assert all(r.state == "sent" for r in await first.reminders())
    outbox = await second.outbox()
    assert sorted(m.client_msg_id for m in outbox) == sorted(keys_queued)

    clock.set(shop(10, 15))
    await asyncio.gather(first.app[keys.OUTBOX].send_due(), second.app[keys.OUTBOX].send_due())
    await delivered_once(gateway, keys_queued)
    again = await asyncio.gather(*(job.run(now=shop(10, 16)) for job in jobs))
    assert all(r.messages == [] for r in again)


async def test_two_instances_send_each_reminder_exactly_once(make_bot, db_url, clock, gateway, monkeypatch):
    if db_url.startswith("postgresql"):
        overlapping(monkeypatch, reminder_store, "claim_due", parties=4, wait_s=1)
        overlapping(monkeypatch, outbox_store, "claim_due")
    await two_instances_remind(make_bot, db_url, clock, gateway)


async def test_with_the_reminder_claims_lock_removed_the_test_fails(make_bot, db_url, clock, gateway, monkeypatch):
    """The mutation: the scan's claim without `FOR UPDATE [SKIP LOCKED]`. The instances claim the same
    reminders and each queues their messages; the outbox's key still keeps the buyer from getting
    two, so what catches it is the count of messages each instance queued."""
    postgres_only(db_url)
    without_lock(monkeypatch, reminder_store, "claim_due")
    overlapping(monkeypatch, reminder_store, "claim_due", parties=4, wait_s=1)
    with pytest.raises(AssertionError, match="one message per buyer"):
        await two_instances_remind(make_bot, db_url, clock, gateway)


async def test_with_the_outbox_claims_lock_removed_the_test_fails(make_bot, db_url, clock, gateway, monkeypatch):
    """The mutation on the sending side: both instances send every reminder; the gateway accepts each
    once (same key) but counts two requests, and the receiver check fails."""
    postgres_only(db_url)
    overlapping(monkeypatch, reminder_store, "claim_due", parties=4, wait_s=1)
    without_lock(monkeypatch, outbox_store, "claim_due")
    overlapping(monkeypatch, outbox_store, "claim_due")
    with pytest.raises(AssertionError, match="more means a second sender"):
        await two_instances_remind(make_bot, db_url, clock, gateway)
