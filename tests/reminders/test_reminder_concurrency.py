"""Two bot instances (two apps, two engines, two scheduler jobs) over the same due reminders, on
SQLite and on the real PostgreSQL (CSBOT_TEST_PG_DSN; skipped with a reason without it): each
reminder is claimed, queued and sent exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.reminders.job import ReminderJob
from bot.reminders.policy import Rules
from bot.web import keys
from tests.reminders.conftest import Shop, shop

pytestmark = pytest.mark.postgres


def small_batches(app) -> ReminderJob:
    """The app's scan with small transactions, so that the two instances interleave many times."""
    config = app[keys.CONFIG]
    return ReminderJob(app[keys.DB], rules=Rules.from_config(config.reminders, zone=config.shop.timezone),
                       render=lambda intent, platform, values: f"{intent} {values['amount']}", batch=3)


async def test_two_instances_send_each_reminder_exactly_once(make_bot, db_url, clock, gateway):
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
    assert len(keys_queued) == len(set(keys_queued)) == 20  # one message per buyer, by exactly one instance
    assert sum(r.count("sent") for r in results) == 30
    assert all(r.state == "sent" for r in await first.reminders())
    outbox = await second.outbox()
    assert sorted(m.client_msg_id for m in outbox) == sorted(keys_queued)

    clock.set(shop(10, 15))
    await asyncio.gather(first.app[keys.OUTBOX].send_due(), second.app[keys.OUTBOX].send_due())
    sent = await first.sent()
    assert Counter(m["client_msg_id"] for m in sent) == Counter(set(keys_queued))
    again = await asyncio.gather(*(job.run(now=shop(10, 16)) for job in jobs))
    assert all(r.messages == [] for r in again)
