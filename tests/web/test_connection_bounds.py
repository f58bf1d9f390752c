"""Slow and many clients cannot take the bot down (issue 14): a request's headers and a webhook's
body have deadlines, connections are capped in all and per client address (the ones over are closed
at once), /healthz still answers while the cap is reached by others, a client that goes away
mid-body is not counted as the store failing, and the loop's error floods are rate-limited."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from bot.web import keys
from bot.web.serving import RateLimitedLog, start
from tests.conftest import make_config


@pytest.fixture
async def served(make_app, clock, sqlite_url):
    """The bot through serving.start (the bounds `csbot serve` uses) on a free port."""
    config = make_config(sqlite_url, server={"port": 0, "header_timeout_seconds": 0.5, "body_timeout_seconds": 0.5,
                                             "max_connections": 6, "max_connections_per_client": 4})
    app = make_app(config, clock)
    runner, server, guard = await start(app, config.server)
    port = server.sockets[0].getsockname()[1]
    yield app, port, guard
    server.close()
    await runner.cleanup()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing the connection (b"" if it closed without a word)."""
    async with asyncio.timeout(seconds):
        return await reader.read()


async def test_headers_that_never_finish_are_cut_off(served):
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /webhooks/wangwang HTTP/1.1\r\nHost: x\r\n")  # and then nothing more
    await writer.drain()
    assert await closed_within(reader, 5) == b""
    writer.close()


async def test_a_body_that_never_finishes_is_408_and_counted_apart_from_the_store(served):
    app, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /webhooks/wangwang HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\napp_key=")
    await writer.drain()
    answer = await closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    writer.close()
    assert app[keys.PUSH_COUNTS][("wangwang", "body too slow")] == 1
    assert not any(outcome == "store unavailable" for _, outcome in app[keys.PUSH_COUNTS])


async def test_an_api_body_that_never_finishes_is_408(served):
    _, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # no login needed to try this
    writer.write(b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"user\": ")
    await writer.drain()
    answer = await closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer, answer[:200]
    writer.close()


async def test_a_client_that_goes_away_mid_body_is_not_store_unavailable(served):
    app, port, _ = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /webhooks/dongdong HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\napp_key=")
    await writer.drain()
    await asyncio.sleep(0.05)  # let the handler start reading the body
    writer.transport.abort()
    for _ in range(100):
        if app[keys.PUSH_COUNTS]:
            break
        await asyncio.sleep(0.02)
    assert dict(app[keys.PUSH_COUNTS]) == {("dongdong", "client gone"): 1}


async def test_connections_over_the_cap_per_client_are_closed_and_health_still_answers(served):
    _, port, guard = served
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
    await asyncio.sleep(0.05)
    assert guard.open == 4
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # a fifth from the same address
    assert await closed_within(reader, 5) == b""
    assert guard.refusals["too many connections from one address"] == 1
    # Another address is served while this one holds its cap (127.0.0.2 is loopback too).
    other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=other) as session, session.get(f"http://127.0.0.1:{port}/healthz") as resp:
        assert resp.status == 200
    for _, w in held:
        w.close()


async def test_the_total_cap(served):
    _, port, guard = served
    guard.max_per_client = 100
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
    reader, _ = await asyncio.open_connection("127.0.0.1", port)
    assert await closed_within(reader, 5) == b""
    assert guard.refusals["too many connections"] == 1
    for _, w in held:
        w.close()


def test_a_flood_of_one_error_is_logged_once_a_second(caplog):
    caplog.set_level(logging.WARNING)
    limited = RateLimitedLog(logging.getLogger("flood"), every_s=3600)
    for _ in range(10_000):
        limited.warning("accept", "socket.accept() out of system resource")
    assert len([r for r in caplog.records if r.name == "flood"]) == 1


async def test_serving_installs_the_rate_limited_loop_error_handler(served, caplog):
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    for _ in range(1000):  # what a flood of failing accept() calls looks like to the loop
        loop.call_exception_handler({"message": "socket.accept() out of system resource",
                                     "exception": OSError(24, "Too many open files")})
    assert len([r for r in caplog.records if r.name == "asyncio"]) == 1


def test_the_connection_cap_stays_under_a_small_file_limit():
    import subprocess
    import sys

    code = ("import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300)); "
            "from bot.web.serving import connection_cap; print(connection_cap(1000), connection_cap(150))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["200", "150"]  # 100 descriptors kept for the database, logs and the rest
