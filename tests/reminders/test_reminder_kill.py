"""kill -9 while reminders are being sent, restart: the simulator's /sent witnesses each reminder
exactly once, on SQLite and on PostgreSQL. The bot runs as a real process (SystemClock, APScheduler
scanning every second); the gateway runs in the test process, slowed down so that the kill lands in
the middle of the sending."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web

from bot.clock import SystemClock
from bot.events import OrderCreated
from bot.gateway import PLATFORMS
from bot.sim.gateway import create_gateway_app
from tests.conftest import APP_KEYS, SECRETS
from tests.exactly_once import deliveries
from tests.test_durability import free_port, query, start_bot, write_config

pytestmark = pytest.mark.slow
ORDERS = 24


def write_reminder_config(tmp_path, port: int, gateway_url: str, db_url: str):
    return write_config(tmp_path, port, gateway_url=gateway_url, db_url=db_url, extra=(
        '[reminders]\noffsets_minutes = [15]\nbefore_close_minutes = 0\nmax_per_buyer_per_day = 1\n'
        'quiet_hours = ["00:00", "00:00"]\nscan_seconds = 1\n'
        '[outbox]\nbackoff_seconds = 0.1\ntimeout_seconds = 2\n'))


def slow_sends(app: web.Application) -> None:
    """One send at a time, each answered after a pause: the sending takes seconds, not milliseconds."""
    lock = asyncio.Lock()

    @web.middleware
    async def slow(request, handler):
        if not request.path.endswith("/send"):
            return await handler(request)
        async with lock:
            response = await handler(request)
            await asyncio.sleep(0.08)
            return response

    app.middlewares.append(slow)


async def push_orders(port: int) -> list[str]:
    now = SystemClock().now()
    keys, forms = [], []
    for i in range(ORDERS):
        platform = "wangwang" if i % 2 else "dongdong"
        created = now - timedelta(minutes=16)
        event = OrderCreated(platform=platform, shop=APP_KEYS[platform], buyer=f"kbuyer{i}", push_id=f"o{i}",
                             at=created, order_id=f"K{i}", title="羊毛围巾", amount_fen=9900,
                             created_at=created, closes_at=created + timedelta(hours=24))
        forms.append((platform, PLATFORMS[platform].push_form(
            event, app_key=APP_KEYS[platform], secret=SECRETS[platform], now=now)))
        keys.append(f"remind:{platform}:K{i}:1")

    async def post(session, platform, form):
        async with session.post(f"http://127.0.0.1:{port}/webhooks/{platform}", data=form) as resp:
            assert resp.status == 200, await resp.text()

    async with aiohttp.ClientSession() as session:  # all at once: one scan finds them together
        await asyncio.gather(*(post(session, platform, form) for platform, form in forms))
    return keys


async def sent(gateway) -> tuple[list[str], int]:
    async with aiohttp.ClientSession() as s, s.get(gateway.make_url("/sent")) as resp:
        body = await resp.json()
    return [m["client_msg_id"] for m in body["items"]], body["repeats"]


async def outbox_states(db_url: str) -> Counter:
    return Counter(dict(await query(db_url, "SELECT state, count(*) FROM outbox WHERE kind = 'reminder' GROUP BY state")))


async def test_kill_9_while_sending_reminders_then_restart_sends_each_once(tmp_path, aiohttp_server, db_url):
    gateway_app = create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS})
    slow_sends(gateway_app)
    gateway = await aiohttp_server(gateway_app)
    port = free_port()
    config = write_reminder_config(tmp_path, port, str(gateway.make_url("")).rstrip("/"), db_url)

    proc = await start_bot(config, port)
    try:
        expected = await push_orders(port)
        for _ in range(1000):  # until the sending is well under way (generous: a loaded machine is slow)
            ids, _ = await sent(gateway)
            if len(ids) >= 4:
                break
            await asyncio.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    at_kill = await outbox_states(db_url)
    assert at_kill["sent"] < ORDERS, f"the kill came after the sending: {at_kill}"
    delivered_at_kill = set((await sent(gateway))[0])
    recorded_at_kill = {r[0] for r in await query(db_url, "SELECT client_msg_id FROM outbox WHERE state = 'sent'")}
    in_flight = delivered_at_kill - recorded_at_kill  # delivered, but the bot died before it knew
    # The killed process had leased what it was sending for 60 s; as if that lease had run out (the
    # due time alone is not enough: the restarted bot would wait out the lease, a minute).
    await query(db_url, "UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00.000000', leased_until = NULL "
                        "WHERE state = 'pending'")

    proc = await start_bot(config, port)
    try:
        for _ in range(1200):
            if (await outbox_states(db_url)).get("sent") == ORDERS:
                break
            await asyncio.sleep(0.05)
        ids, repeats = await sent(gateway)
        assert sorted(ids) == sorted(expected), "each reminder must reach the buyer exactly once"
        assert repeats >= len(in_flight), "what was in flight is sent again, with its key, and delivered once"
        # Upper bounds, at the receiver: what the killed process had recorded as sent is never tried
        # again, what it had delivered unrecorded is tried exactly once more, and nothing more than twice.
        got = await deliveries(gateway)
        assert {k: d.accepted for k, d in got.items()} == {k: 1 for k in expected}
        assert all(got[k].attempts == 1 for k in recorded_at_kill), {k: got[k] for k in recorded_at_kill}
        assert all(got[k].attempts == 2 for k in in_flight), {k: got[k] for k in in_flight}
        assert all(1 <= d.attempts <= 2 for d in got.values()), got
        assert await outbox_states(db_url) == Counter({"sent": ORDERS})
        rows = await query(db_url, "SELECT state, count(*), count(DISTINCT client_msg_id) FROM reminders GROUP BY state")
        assert rows == [("sent", ORDERS, ORDERS)]
    finally:
        proc.terminate()
        # Waited for off this loop: the gateway runs on it, and a bot stopping in the middle of a
        # send must get its answer, as from a real gateway (a blocked loop held the stop up).
        await asyncio.to_thread(proc.wait, 10)
