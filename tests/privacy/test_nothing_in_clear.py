"""Done when: after a day's worth of simulated traffic (compressed into seconds) with buyers' phone
numbers, ID numbers and addresses in the messages and in the orders' raw forms, none of them is found
in clear in the bot's log file, in the database or in /metrics. On SQLite the database is the raw bytes
of its files (the database, its WAL and shared memory); on PostgreSQL it is a plain-text pg_dump of it,
and the database's own files in the server's data directory when this process can read them. The
same values are found once decrypted: the grep can fail."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import os
import sqlite3
import subprocess
import sys

import aiohttp
import asyncpg
import pytest

from bot.clock import SystemClock
from bot.config import load_config
from bot.events import OrderCreated
from bot.gateway import PLATFORMS
from bot.sim import traffic
from bot.store import sealed
from tests.conftest import ROOT, pg_database
from tests.privacy.test_masking import ADDRESSES
from tests.privacy.test_sealed import KEY_A
from tests.test_durability import free_port, write_config
from tests.test_multiprocess import write_pg_config

pytestmark = pytest.mark.slow
DURATION_S, RATE = 5.0, 60.0
PHONES = [f"1{3 + i % 7}{i}8{i:02d}6{i:02d}47"[:11] for i in range(10)]
ID_NUMBERS = ["330106198807150413", "11010519491231002X", "440304200012310028"]
STREETS = [detail for _, _, detail in ADDRESSES]
PLANTED = PHONES + ID_NUMBERS + [address for address, _, _ in ADDRESSES] + STREETS


def planted_text(n: int) -> str:
    return (f" 我的电话{PHONES[n % len(PHONES)]}，身份证{ID_NUMBERS[n % len(ID_NUMBERS)]}，"
            f"地址{ADDRESSES[n % len(ADDRESSES)][0]}")


def order_form(shop: traffic.Shop, n: int) -> dict[str, str]:
    """An order's push as a real platform sends it: the receiver's address and phone in its content."""
    now = SystemClock().now()
    event = OrderCreated(platform=shop.platform, shop=shop.app_key, buyer=f"addr_buyer{n}", push_id=f"addr{n}",
                         at=now, order_id=str(880000 + n), title="羊毛围巾", amount_fen=9900, created_at=now, closes_at=None)
    adapter = PLATFORMS[shop.platform]
    form = adapter.push_form(event, app_key=shop.app_key, secret=shop.app_secret, now=now, seller_nick=shop.seller_nick)
    for key, value in form.items():
        try:
            content = json.loads(value)
        except ValueError:
            continue
        if isinstance(content, dict):
            content.update(receiver_mobile=PHONES[n % len(PHONES)], receiver_address=ADDRESSES[n % len(ADDRESSES)][0])
            form[key] = json.dumps(content, ensure_ascii=False)
    return adapter.sign(form, shop.app_secret)


class SqliteFiles:
    """The bot's SQLite database, read as the raw bytes of its files."""

    def __init__(self, folder):
        self.folder, self.db = folder, folder / "bot.db"

    def config(self, port: int):
        return write_config(self.folder, port)

    async def pending(self) -> int:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM pushes WHERE processed_at IS NULL").fetchone()[0]

    async def raw(self, when: str) -> dict[str, bytes]:
        return {f"{p.name}{when}": p.read_bytes() for p in self.folder.glob("bot.db*")}

    def check_files(self, files: dict[str, bytes]) -> None:
        assert "bot.db-wal" in files, sorted(files)  # read while running: the WAL too

    async def column(self, sql: str) -> list[str]:
        with sqlite3.connect(self.db) as conn:
            return [v for (v,) in conn.execute(sql)]


class PostgresDump:
    """The bot's PostgreSQL database, read as a plain-text pg_dump and as the database's own files."""

    def __init__(self, folder, url: str):
        self.folder, self.url = folder, url

    def config(self, port: int):
        return write_pg_config(self.folder, port, self.url)

    async def pending(self) -> int:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval("SELECT count(*) FROM pushes WHERE processed_at IS NULL")
        finally:
            await conn.close()

    async def raw(self, when: str) -> dict[str, bytes]:
        dump = subprocess.run(["pg_dump", "--format=plain", f"--dbname={self.url}"], capture_output=True, check=True)
        found = {f"pg_dump{when}": dump.stdout}
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("CHECKPOINT")  # the pages on disk, not only in the server's buffers
            folder = os.path.join(await conn.fetchval("SHOW data_directory"), "base", str(await conn.fetchval(
                "SELECT oid FROM pg_database WHERE datname = current_database()")))
        except asyncpg.PostgresError:  # not a superuser: the dump is what can be read
            return found
        finally:
            await conn.close()
        if os.access(folder, os.R_OK):
            for name in os.listdir(folder):
                with open(os.path.join(folder, name), "rb") as f:
                    found[f"{folder}/{name}{when}"] = f.read()
        return found

    def check_files(self, files: dict[str, bytes]) -> None:
        assert b"COPY public.messages" in files["pg_dump"], files["pg_dump"][:500]

    async def column(self, sql: str) -> list[str]:
        conn = await asyncpg.connect(self.url)
        try:
            return [v for (v,) in await conn.fetch(sql)]
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteFiles(tmp_path)
        return
    async with pg_database() as url:
        yield PostgresDump(tmp_path, url)


async def test_a_day_of_traffic_leaves_no_buyer_data_in_clear(tmp_path, monkeypatch, store):
    monkeypatch.setenv(sealed.KEY_ENV, KEY_A)
    port = free_port()
    config_file = store.config(port)
    config = load_config(config_file)
    log_file = tmp_path / "bot.log"
    with log_file.open("ab") as log:  # DEBUG: every line the bot can write, SQLAlchemy's included
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "DEBUG", "serve", "--config", str(config_file)],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.poll() is None, log_file.read_text()[-2000:]
                await asyncio.sleep(0.1)
            shops = traffic.shops_from_config(config)
            planned = []
            for n, push in enumerate(itertools.takewhile(lambda p: p.offset_s < DURATION_S, traffic.plan(
                    shops, seed=11, rate=RATE, questions=traffic.questions_from_config(config)))):
                if push.kind in ("buyer_message", "agent_message") and n % 2 == 0:
                    push = dataclasses.replace(push, text=push.text + planted_text(n))
                planned.append(push)
            report = await traffic.drive(planned, shops=shops, bot_url=base, duration_s=DURATION_S)
            assert len(report.accepted) > 100, report.format()
            for n in range(20):
                shop = shops[n % len(shops)]
                async with http.post(f"{base}/webhooks/{shop.platform}", data=order_form(shop, n)) as resp:
                    assert resp.status == 200, await resp.text()
            for _ in range(300):
                if await store.pending() == 0:
                    break
                await asyncio.sleep(0.1)
            async with http.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            files = await store.raw("")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    store.check_files(files)
    files.update(await store.raw(" (stopped)"))
    logged = log_file.read_text(encoding="utf-8")
    assert "push" in logged and len(logged) > 1000, logged[-500:]

    found = [(value, where) for value in PLANTED for where, text in
             [("log", logged), ("/metrics", metrics)] + [(name, data.decode("utf-8", "replace")) for name, data in files.items()]
             if value in text]
    assert found == [], found

    # The control: the planted values are in the database, sealed.
    keyring = sealed.Keyring(base64.b64decode(KEY_A))
    texts = [keyring.open(v) for v in await store.column("SELECT text FROM messages")]
    raw_forms = [keyring.open(v) for v in await store.column("SELECT form FROM pushes")]
    assert sum(PHONES[0] in t for t in texts) > 0
    assert any(ADDRESSES[0][0] in f for f in raw_forms)
