"""The fault scenarios of issue 14 against a real `csbot serve` process, on SQLite and PostgreSQL.

Each scenario starts a fresh bot process (its own SQLite file, or its own PostgreSQL database made
from --pg), the simulated gateway in this process on a free port, and a driver that behaves as the
gateway does (a push that gets no 200 is retried). It prints, per scenario and store, pushes
accepted / processed / lost / duplicated and messages queued / delivered / duplicated:

- accepted: push ids answered 200; processed: of those, the ones processed without error; lost:
  accepted and never processed; duplicated: chat messages stored twice for one push id;
- queued: replies the API accepted (202); delivered: of those, what the gateway delivered;
  duplicated: a reply delivered or recorded more than once.

Scenarios (the fast versions of each are tests; see README "Under faults"):
  gateway-down   the gateway answers every send 503 for --down seconds (longer than the old 31 s give-up)
  gateway-stall  the gateway delivers but answers after the bot's timeout, for --stall seconds
  slow-clients   --slow sockets trickle headers and bodies at the bot while pushes arrive
  bad-pushes     concurrent pushes, some with lone surrogates and NULs in nicknames and texts
  full-disk      SQLite on a small tmpfs (or a size-capped loop image) filled up while pushes arrive
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import SystemClock  # noqa: E402
from bot.events import BuyerMessage  # noqa: E402
from bot.gateway import PLATFORMS  # noqa: E402
from bot.sim.gateway import STATE, create_gateway_app  # noqa: E402
from bot.store.db import async_url, create_engine  # noqa: E402

APP_KEYS = {"wangwang": "faults-tb", "dongdong": "faults-jd"}
SECRETS = {"wangwang": "faults-tb-secret", "dongdong": "faults-jd-secret"}
SUPERVISOR = {"Authorization": "Bearer faults-supervisor-token"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Tally:
    accepted: set[str] = field(default_factory=set)
    processed: int = 0
    duplicated: int = 0
    queued: set[str] = field(default_factory=set)
    delivered: int = 0
    delivered_twice: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(self.accepted) - self.processed


class Gateway:
    """The simulated gateway in this process, on a free port."""

    def __init__(self) -> None:
        self.app = create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in APP_KEYS})
        self.port = free_port()
        self.runner = web.AppRunner(self.app, access_log=None)

    @property
    def state(self):
        return self.app[STATE]

    async def __aenter__(self) -> Gateway:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


class Bot:
    """One `csbot serve` process with its own database."""

    def __init__(self, folder: Path, *, store: str, pg: str | None, gateway: Gateway, extra: str = "",
                 db_folder: Path | None = None) -> None:
        self.folder, self.port, self.extra = folder, free_port(), extra
        self.pg_admin, self.pg_name = pg, None
        if store == "postgres":
            self.pg_name = f"csbot_faults_{uuid.uuid4().hex[:10]}"
            self.url = pg.rsplit("/", 1)[0] + "/" + self.pg_name
        else:
            self.url = f"sqlite:///{(db_folder or folder) / 'bot.db'}"
        self.gateway_url = f"http://127.0.0.1:{gateway.port}"
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        platforms = "".join(
            f'[[platforms]]\nname = "{p}"\napp_key = "{APP_KEYS[p]}"\napp_secret = "{SECRETS[p]}"\n'
            f'gateway_url = "{self.gateway_url}"\n' for p in APP_KEYS)
        path = self.folder / "csbot.toml"
        path.write_text(
            f'[server]\nport = {self.port}\n{self.extra}\n[database]\nurl = "{self.url}"\n'
            f'[knowledge]\npath = "{ROOT / "knowledge"}"\n'
            '[[agents]]\nid = "xiaomei"\nname = "小美"\naccounts = ["wangwang:小店:小美", "dongdong:jd_xiaomei"]\n'
            '[[tokens]]\ntoken = "faults-supervisor-token"\nrole = "supervisor"\n' + platforms, encoding="utf-8")
        return path

    async def start(self) -> None:
        if self.pg_name:
            import asyncpg
            admin = await asyncpg.connect(self.pg_admin)
            await admin.execute(f'CREATE DATABASE "{self.pg_name}"')
            await admin.close()
        config = self.write_config()
        log = open(self.folder / "bot.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "WARNING", "serve", "--config",
                                      str(config)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        log.close()
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.base}/healthz") as resp:
                        if resp.status == 200:
                            return
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the bot exited: {(self.folder / 'bot.log').read_text()[-2000:]}")
                await asyncio.sleep(0.1)
        raise RuntimeError("the bot did not become healthy")

    async def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pg_name:
            import asyncpg
            admin = await asyncpg.connect(self.pg_admin)
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            await admin.close()

    async def query(self, sql: str) -> list[tuple]:
        engine = create_engine(async_url(self.url))
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]
        finally:
            await engine.dispose()


def push_forms(n: int, *, prefix: str, bad_every: int = 0) -> list[tuple[str, str, dict[str, str]]]:
    """`n` signed buyer-message pushes; with `bad_every`, every such one carries a lone surrogate or a NUL."""
    now = SystemClock().now()
    out = []
    for i in range(n):
        platform = "wangwang" if i % 2 else "dongdong"
        buyer, text = f"buyer{i % 23}", f"第{i}条：有货吗"
        if bad_every and i % bad_every == 0:
            buyer, text = (f"坏SURROGATE昵称{i}", "在吗") if i % (2 * bad_every) == 0 else (f"nul{i}", "在NUL吗")
        event = BuyerMessage(platform=platform, shop=APP_KEYS[platform], buyer=buyer, push_id=f"{prefix}{i}",
                             at=now - timedelta(seconds=n - i), text=text,
                             agent_account="小店:小美" if platform == "wangwang" else "jd_xiaomei")
        adapter = PLATFORMS[platform]
        form = adapter.push_form(event, app_key=APP_KEYS[platform], secret=SECRETS[platform], now=now)
        if bad_every and i % bad_every == 0:
            # As a gateway would send them: JSON's \u escapes (a raw lone surrogate is no UTF-8 at all).
            form[adapter.JSON_FIELD] = form[adapter.JSON_FIELD].replace("SURROGATE", "\\ud800").replace("NUL", "\\u0000")
            form = adapter.sign(form, SECRETS[platform])
        out.append((platform, event.push_id, form))
    return out


async def deliver(bot: Bot, forms, tally: Tally, *, concurrency: int = 32, retry_for_s: float = 60.0) -> Counter:
    """POST every push as the gateway does: concurrently, retrying a 5xx or no answer until answered."""
    statuses: Counter = Counter()
    sem = asyncio.Semaphore(concurrency)

    async def one(session, platform, push_id, form):
        deadline, wait = time.monotonic() + retry_for_s, 0.5
        while True:
            async with sem:
                try:
                    async with session.post(f"{bot.base}/webhooks/{platform}", data=form) as resp:
                        statuses[resp.status] += 1
                        if resp.status == 200:
                            tally.accepted.add(push_id)
                            return
                        if resp.status < 500:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    statuses["no answer"] += 1
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(wait)
            wait = min(wait * 2, 8)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(*(one(session, *f) for f in forms))
    return statuses


async def settle_pushes(bot: Bot, tally: Tally, *, timeout_s: float = 120) -> None:
    """Wait until every stored push is processed (or the timeout), then count."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        [(pending,)] = await bot.query("SELECT count(*) FROM pushes WHERE processed_at IS NULL")
        if pending == 0:
            break
        await asyncio.sleep(0.5)
    rows = await bot.query("SELECT push_id FROM pushes WHERE processed_at IS NOT NULL AND last_error IS NULL")
    done = {r[0] for r in rows}
    tally.processed = len(tally.accepted & done)
    [(twice,)] = await bot.query(
        "SELECT count(*) FROM (SELECT push_id FROM messages WHERE push_id IS NOT NULL "
        "GROUP BY platform, push_id HAVING count(*) > 1) AS d")
    tally.duplicated = twice


async def queue_replies(bot: Bot, n: int, tally: Tally) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{bot.base}/api/conversations?limit=1000", headers=SUPERVISOR) as resp:
            conversations = [c["id"] for c in (await resp.json())["items"]]
        for i in range(n):
            key = f"reply-{i}"
            body = {"text": f"亲，第{i}条回复：有货的哦", "client_msg_id": key}
            async with session.post(f"{bot.base}/api/conversations/{conversations[i % len(conversations)]}/reply",
                                    json=body, headers=SUPERVISOR) as resp:
                if resp.status == 202:
                    tally.queued.add(key)


async def settle_sends(bot: Bot, gateway: Gateway, tally: Tally, *, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        [(pending,)] = await bot.query("SELECT count(*) FROM outbox WHERE state = 'pending'")
        if pending == 0:
            break
        await asyncio.sleep(0.5)
    ours = {f"agent:supervisor:{k}" for k in tally.queued}
    delivered = Counter(m.client_msg_id for m in gateway.state.sent if m.client_msg_id in ours)
    recorded = Counter(r[0] for r in await bot.query("SELECT client_msg_id FROM messages WHERE client_msg_id IS NOT NULL")
                       if r[0] in ours)
    tally.delivered = len(delivered)
    tally.delivered_twice = sum(1 for k in ours if delivered[k] > 1 or recorded[k] > 1)
    states = Counter(r[0] for r in await bot.query("SELECT state FROM outbox"))
    tally.notes.append(f"outbox states {dict(states)}; gateway tries {gateway.state.tries}")


async def with_conversations(bot: Bot, tally: Tally, n: int = 20) -> None:
    await deliver(bot, push_forms(n, prefix="seed"), tally)
    await settle_pushes(bot, tally)


OUTBOX_FAST = "[outbox]\ntimeout_seconds = 1.0\nbackoff_seconds = 0.5\nmax_backoff_seconds = 5\n"


async def gateway_down(store: str, args, folder: Path) -> Tally:
    tally = Tally()
    async with Gateway() as gateway:
        bot = Bot(folder, store=store, pg=args.pg, gateway=gateway, extra=OUTBOX_FAST)
        await bot.start()
        try:
            await with_conversations(bot, tally)
            gateway.state.down = True
            await queue_replies(bot, args.replies, tally)
            await asyncio.sleep(args.down)
            tries_down = gateway.state.tries
            gateway.state.down = False
            tally.notes.append(f"{tries_down} tries while down {args.down:g} s")
            await settle_sends(bot, gateway, tally)
        finally:
            await bot.stop()
    return tally


async def gateway_stall(store: str, args, folder: Path) -> Tally:
    tally = Tally()
    async with Gateway() as gateway:
        bot = Bot(folder, store=store, pg=args.pg, gateway=gateway, extra=OUTBOX_FAST)
        await bot.start()
        try:
            await with_conversations(bot, tally)
            gateway.state.stall_s = 3.0  # the bot waits 1 s
            await queue_replies(bot, args.replies, tally)
            await asyncio.sleep(args.stall)
            gateway.state.stall_s = 0
            await settle_sends(bot, gateway, tally)
        finally:
            await bot.stop()
    return tally


async def slow_clients(store: str, args, folder: Path) -> Tally:
    tally = Tally()
    extra = "header_timeout_seconds = 5\nbody_timeout_seconds = 5\nmax_connections = 400\nmax_connections_per_client = 50\n"
    async with Gateway() as gateway:
        bot = Bot(folder, store=store, pg=args.pg, gateway=gateway, extra=extra)
        await bot.start()
        stop = asyncio.Event()

        async def trickle(i: int) -> None:
            # From 127.0.0.2: another client address than the gateway's (127.0.0.1).
            while not stop.is_set():
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", bot.port, local_addr=("127.0.0.2", 0))
                    head = (b"POST /webhooks/wangwang HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                            b"POST /webhooks/wangwang HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
                            b"urlencoded\r\nContent-Length: 60000\r\n\r\n")
                    for b in head:
                        if stop.is_set():
                            break
                        writer.write(bytes([b]))
                        await writer.drain()
                        await asyncio.sleep(1.0)
                    writer.close()
                except (OSError, ConnectionError):
                    await asyncio.sleep(0.5)

        slow = [asyncio.create_task(trickle(i)) for i in range(args.slow)]
        try:
            await asyncio.sleep(3)
            healthz = []
            statuses_task = asyncio.create_task(deliver(bot, push_forms(args.pushes, prefix="s"), tally))
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                for _ in range(5):
                    try:
                        async with session.get(f"{bot.base}/healthz") as resp:
                            healthz.append(resp.status)
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        healthz.append("no answer")
                    await asyncio.sleep(1)
            statuses = await statuses_task
            tally.notes.append(f"/healthz under {args.slow} slow sockets: {healthz}; push answers {dict(statuses)}")
            await settle_pushes(bot, tally)
        finally:
            stop.set()
            for t in slow:
                t.cancel()
            await asyncio.gather(*slow, return_exceptions=True)
            await bot.stop()
    return tally


async def bad_pushes(store: str, args, folder: Path) -> Tally:
    tally = Tally()
    async with Gateway() as gateway:
        bot = Bot(folder, store=store, pg=args.pg, gateway=gateway)
        await bot.start()
        try:
            statuses = await deliver(bot, push_forms(args.pushes, prefix="b", bad_every=10), tally, concurrency=128)
            tally.notes.append(f"push answers {dict(statuses)}")
            await settle_pushes(bot, tally)
        finally:
            await bot.stop()
    return tally


def small_filesystem(folder: Path, mb: int) -> tuple[Path, list[list[str]]] | None:
    """A small mounted file system: tmpfs if this machine lets us mount one, else a loop image."""
    mount = folder / "small"
    mount.mkdir()
    tries = [(["mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(mount)], [["umount", str(mount)]])]
    image = folder / "small.img"
    tries.append(([["truncate", "-s", f"{mb}M", str(image)], ["mkfs.ext4", "-q", str(image)],
                   ["mount", "-o", "loop", str(image), str(mount)]], [["umount", str(mount)]]))
    for commands, undo in tries:
        commands = commands if isinstance(commands[0], list) else [commands]
        if all(subprocess.run(c, capture_output=True).returncode == 0 for c in commands):
            return mount, undo
    return None


async def full_disk(store: str, args, folder: Path) -> Tally | str:
    if store != "sqlite":
        return "skipped: a full disk is the PostgreSQL server's own (its disk is not this process's)"
    small = small_filesystem(folder, 40)
    if small is None:
        return "skipped: this machine allows neither a tmpfs nor a loop mount"
    mount, undo = small
    tally = Tally()
    try:
        async with Gateway() as gateway:
            bot = Bot(folder, store=store, pg=args.pg, gateway=gateway, db_folder=mount,
                      extra="[health]\nmin_free_disk_mb = 1\n")
            await bot.start()
            try:
                filler = mount / "filler"
                with open(filler, "wb") as f:  # fill the file system to the last block
                    with contextlib.suppress(OSError):
                        while True:
                            f.write(b"\0" * 65536)
                            f.flush()
                async with aiohttp.ClientSession() as session, session.get(f"{bot.base}/healthz") as resp:
                    tally.notes.append(f"/healthz with the disk full: {resp.status} {(await resp.text())[:160]}")

                async def free_later() -> None:
                    await asyncio.sleep(args.full)
                    filler.unlink()

                freeing = asyncio.create_task(free_later())
                statuses = await deliver(bot, push_forms(args.pushes, prefix="f"), tally, retry_for_s=args.full + 60)
                await freeing
                tally.notes.append(f"push answers {dict(statuses)}")
                await settle_pushes(bot, tally)
            finally:
                await bot.stop()
    finally:
        for command in undo:
            subprocess.run(command, capture_output=True)
    return tally


SCENARIOS = {"gateway-down": gateway_down, "gateway-stall": gateway_stall, "slow-clients": slow_clients,
             "bad-pushes": bad_pushes, "full-disk": full_disk}


async def run(args) -> int:
    stores = ["sqlite"] + (["postgres"] if args.pg else [])
    if not args.pg:
        print("PostgreSQL: not run (give --pg postgresql://... or set CSBOT_TEST_PG_DSN)")
    header = f"{'scenario':14} {'store':8} {'accepted':>8} {'processed':>9} {'lost':>4} {'dup':>3}   " \
             f"{'queued':>6} {'delivered':>9} {'dup':>3}"
    print(header)
    bad = 0
    for name in args.scenarios:
        for store in stores:
            folder = Path(tempfile.mkdtemp(prefix=f"csbot-faults-{name}-"))
            try:
                result = await SCENARIOS[name](store, args, folder)
            except Exception as e:  # a scenario that cannot run says why; the others go on
                result = f"failed to run: {type(e).__name__}: {e}"
            if isinstance(result, str):
                print(f"{name:14} {store:8} {result}")
                bad += result.startswith("failed")
            else:
                lost_msgs = len(result.queued) - result.delivered
                print(f"{name:14} {store:8} {len(result.accepted):>8} {result.processed:>9} {result.lost:>4} "
                      f"{result.duplicated:>3}   {len(result.queued):>6} {result.delivered:>9} "
                      f"{result.delivered_twice:>3}")
                for note in result.notes:
                    print(f"{'':24}{note}")
                bad += bool(result.lost or result.duplicated or result.delivered_twice or lost_msgs)
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                print(f"{'':24}kept {folder}")
    print("zero lost and zero duplicated in every scenario" if not bad else f"{bad} scenario(s) lost or duplicated")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS), help=f"some of {', '.join(SCENARIOS)}")
    parser.add_argument("--pg", default=os.environ.get("CSBOT_TEST_PG_DSN"),
                        help="a PostgreSQL URL to create databases from (default $CSBOT_TEST_PG_DSN)")
    parser.add_argument("--down", type=float, default=40, help="seconds the gateway is down (default 40)")
    parser.add_argument("--stall", type=float, default=15, help="seconds the gateway stalls (default 15)")
    parser.add_argument("--full", type=float, default=8, help="seconds the disk stays full (default 8)")
    parser.add_argument("--replies", type=int, default=20, help="replies queued per outbox scenario (default 20)")
    parser.add_argument("--pushes", type=int, default=300, help="pushes per intake scenario (default 300)")
    parser.add_argument("--slow", type=int, default=300, help="slow sockets in slow-clients (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's folder (config, database, log)")
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]} (known: {', '.join(SCENARIOS)})")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
