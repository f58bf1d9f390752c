"""A 200 survives kill -9, on SQLite and on PostgreSQL: the bot as a real process, a few hundred
concurrent pushes, killed in the middle, restarted; every push that got 200 is stored once and
processed, and the gateway's retries of the rest complete the set with no duplicates. Every answer is
looked at: anything but a 200 fails the test, and so does no answer at all, except after the kill."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.clock import SystemClock
from bot.events import BuyerMessage
from bot.gateway import PLATFORMS
from tests.conftest import APP_KEYS, ROOT, SECRETS

pytestmark = pytest.mark.slow
PUSHES = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path: Path, port: int, *, gateway_url: str = "http://127.0.0.1:9", extra: str = "",
                 db_url: str | None = None) -> Path:
    """A configuration file for a bot process on `port`, its database `db_url` (by default a SQLite
    file in `tmp_path`); `extra` is more TOML."""
    platforms = "".join(
        f'[[platforms]]\nname = "{p}"\napp_key = "{APP_KEYS[p]}"\napp_secret = "{SECRETS[p]}"\n'
        f'gateway_url = "{gateway_url}"\n' for p in ("wangwang", "dongdong")
    )
    path = tmp_path / "csbot.toml"
    db_url = db_url or f"sqlite:///{tmp_path / 'bot.db'}"
    path.write_text(
        f'[server]\nport = {port}\n[database]\nurl = "{db_url}"\n'
        f'[knowledge]\npath = "{ROOT / "knowledge"}"\n{extra}{platforms}', encoding="utf-8")
    return path


async def start_bot(config: Path, port: int, *, log_level: str = "WARNING", patches: str = "") -> subprocess.Popen:
    """`csbot serve` as a process, once healthy; with `patches`, through tests/patched_bot.py (which see)."""
    log = open(config.parent / "bot.log", "ab")  # a file, not a pipe: a full pipe would stall the bot
    bot = [str(ROOT / "tests" / "patched_bot.py")] if patches else ["-m", "bot"]
    proc = subprocess.Popen([sys.executable, *bot, "--log-level", log_level, "serve", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "CSBOT_TEST_PATCHES": patches} if patches else None)
    log.close()
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"bot exited: {(config.parent / 'bot.log').read_text()[-2000:]}")
            await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("bot did not become healthy")


def forms() -> list[tuple[str, str, dict[str, str]]]:
    now = SystemClock().now()
    out = []
    for i in range(PUSHES):
        platform = "wangwang" if i % 2 else "dongdong"
        event = BuyerMessage(platform=platform, shop=APP_KEYS[platform], buyer=f"buyer{i % 37}",
                             push_id=f"k{i}", at=now - timedelta(seconds=PUSHES - i), text=f"第{i}条：有货吗",
                             agent_account="")
        out.append((platform, event.push_id, PLATFORMS[platform].push_form(
            event, app_key=APP_KEYS[platform], secret=SECRETS[platform], now=now)))
    return out


async def deliver(port: int, batch, *, kill_after: int | None = None, proc=None) -> dict[str, str]:
    """POST every push concurrently; returns push_id -> "ok" / "duplicate" for those answered 200.

    Every answer counts: an answer other than 200 fails, and so does a push that got no answer at all
    (a refused or cut connection, a timeout), unless it came after the kill -9 (`kill_after` 200s)."""
    answered: dict[str, str] = {}
    unanswered: dict[str, str] = {}  # push_id -> the error, for pushes that got no answer after the kill
    wrong: list[str] = []  # what must not happen
    killed = False
    sem = asyncio.Semaphore(32)

    async def one(session, platform, push_id, form):
        nonlocal killed
        async with sem:
            try:
                async with session.post(f"http://127.0.0.1:{port}/webhooks/{platform}", data=form) as resp:
                    if resp.status != 200:
                        wrong.append(f"{push_id}: {resp.status} {await resp.text()}")
                        return
                    answered[push_id] = (await resp.json())["msg"]
                    if kill_after is not None and len(answered) == kill_after:
                        os.kill(proc.pid, signal.SIGKILL)
                        killed = True
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                if killed:
                    unanswered[push_id] = repr(e)  # the process is gone: the gateway would retry it
                else:
                    wrong.append(f"{push_id}: no answer before any kill: {e!r}")

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(session, *f) for f in batch))
    assert wrong == [], f"{len(wrong)} pushes got an answer other than 200, or none before the kill: {wrong[:5]}"
    assert len(answered) + len(unanswered) == len(batch)
    return answered


async def query(db_url: str, sql: str) -> list[tuple]:
    """Rows of `sql` on the bot's database, SQLite file or PostgreSQL."""
    if db_url.startswith("sqlite"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql).fetchall()
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def stored_in(db_url: str) -> tuple[list[str], int, int]:
    ids = [r[0] for r in await query(db_url, "SELECT push_id FROM pushes")]
    [(pending,)] = await query(db_url, "SELECT count(*) FROM pushes WHERE processed_at IS NULL")
    [(messages,)] = await query(db_url, "SELECT count(*) FROM messages")
    return ids, pending, messages


def stored(db: Path) -> tuple[list[str], int, int]:
    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT push_id FROM pushes")]
        pending = conn.execute("SELECT count(*) FROM pushes WHERE processed_at IS NULL").fetchone()[0]
        messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    return ids, pending, messages


async def wait_processed(db_url: str, expected: int) -> tuple[list[str], int, int]:
    for _ in range(300):
        ids, pending, messages = await stored_in(db_url)
        if pending == 0 and messages == expected:
            break
        await asyncio.sleep(0.1)
    return ids, pending, messages


async def test_every_200_survives_kill_9_and_retries_complete_the_set(tmp_path, db_url):
    port = free_port()
    config = write_config(tmp_path, port, db_url=db_url)
    batch = forms()

    proc = await start_bot(config, port)
    first = await deliver(port, batch, kill_after=PUSHES // 4, proc=proc)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    ok_before_kill = {push_id for push_id, msg in first.items() if msg == "ok"}
    assert len(ok_before_kill) >= PUSHES // 4
    assert len(first) < PUSHES, "the kill came after every push was answered"

    ids, _, _ = await stored_in(db_url)
    assert ok_before_kill <= set(ids), "a push answered 200 was lost by kill -9"
    assert len(ids) == len(set(ids))

    proc = await start_bot(config, port)
    try:
        ids, pending, messages = await wait_processed(db_url, len(set(ids)))
        assert pending == 0 and messages == len(ids), "stored pushes were not processed after the restart"

        # The gateway retries what got no 200 (and, at least once, may repeat what did).
        second = await deliver(port, batch)
        assert len(second) == PUSHES
        assert {push_id for push_id, msg in second.items() if msg == "duplicate"} == set(ids)
        ids, pending, messages = await wait_processed(db_url, PUSHES)
        assert sorted(ids) == sorted(f"k{i}" for i in range(PUSHES))
        assert (pending, messages) == (0, PUSHES)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
