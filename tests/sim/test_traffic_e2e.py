"""Traffic with every fault against the real bot and the simulated gateway, both on port 0, in
real time: what the bot answered 200 is stored exactly once, what it refused is not stored."""

from __future__ import annotations

import itertools
from collections import Counter

import sqlalchemy as sa

from bot.app import create_app
from bot.clock import SystemClock
from bot.sim import traffic
from bot.sim.gateway import create_gateway_app
from bot.store.tables import RawPush
from bot.web import keys
from tests.conftest import APP_KEYS, SECRETS, make_config

DURATION_S = 3.0
FAULTS = {"duplicate": 0.2, "out_of_order": 0.2, "bad_sign": 0.05, "stale": 0.05}


async def test_traffic_with_faults_is_stored_exactly_once(aiohttp_server, sqlite_url):
    # The real clock on both sides: the bot checks each push's timestamp against its own clock.
    clock = SystemClock()
    gateway = await aiohttp_server(create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS}, clock=clock))
    config = make_config(sqlite_url, gateway_url=str(gateway.make_url("")).rstrip("/"))
    bot = await aiohttp_server(create_app(config, clock=clock, background=True))

    shops = traffic.shops_from_config(config)
    planned = list(itertools.takewhile(
        lambda p: p.offset_s < DURATION_S,
        traffic.plan(shops, seed=3, rate=50.0, questions=traffic.questions_from_config(config), faults=FAULTS)))
    report = await traffic.drive(planned, shops=shops, bot_url=str(bot.make_url("")), duration_s=DURATION_S, clock=clock)

    async with bot.app[keys.DB]() as session:
        rows = (await session.execute(sa.select(RawPush.platform, RawPush.push_id))).all()
    stored = Counter((platform, push_id) for platform, push_id in rows)
    assert set(stored) == report.accepted
    assert set(stored.values()) == {1}
    bad = {(p.platform, p.push_id) for p in planned if p.faults & traffic.REJECTING_FAULTS}
    assert report.refused == bad and bad and not bad & set(stored)
    assert report.accepted | report.refused == {(p.platform, p.push_id) for p in planned}

    total = report.total()
    assert total.pushes == len(planned) > 50
    assert all(total.faults[name] > 0 for name in FAULTS)
    assert (total.unexpected, total.failed, total.in_flight, total.held) == (0, 0, 0, 0)
    assert total.copies == total.pushes + total.faults["duplicate"]
    assert total.copies == total.delivered + total.duplicates + sum(total.rejected.values())
    assert set(total.rejected) == {401}
