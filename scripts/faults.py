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
  full-disk      SQLite on a small tmpfs (or a size-capped loop image) filled up while pushes arrive;
                 PostgreSQL: a throwaway cluster of its own (initdb) whose data directory is on one
  messages-away  pushes at --rate/s; the messages table renamed away for --away seconds, then back
  tickets-away   the same with the tickets table, every third push a complaint from its own buyer
  privilege-revoked  PostgreSQL: INSERT on tickets revoked for --away s from the non-superuser role
                 the bot runs as (SQLite has no privileges: skipped)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
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
from tests import small_disk  # noqa: E402

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
    work_lost: int = 0  # work an accepted push should have led to and did not (a complaint's ticket)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # what else a scenario found wrong (it then fails)

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
                 db_folder: Path | None = None, role: str | None = None, file_limit: int | None = None) -> None:
        self.folder, self.port, self.extra = folder, free_port(), extra
        self.file_limit = file_limit  # the process's RLIMIT_NOFILE, soft and hard (None: this one's)
        self.pg_admin, self.pg_name, self.role = pg, None, role
        if store == "postgres":
            self.pg_name = f"csbot_faults_{uuid.uuid4().hex[:10]}"
            # The database as the admin (a superuser); the bot runs as `role` (not one) when given.
            self.admin_url = pg.rsplit("/", 1)[0] + "/" + self.pg_name
            self.url = self.admin_url.replace("://root@", f"://{role}@") if role else self.admin_url
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
            if self.role:  # it owns the database and the tables it migrates, and is no superuser
                await admin.execute(f'CREATE ROLE "{self.role}" LOGIN')
            await admin.execute(f'CREATE DATABASE "{self.pg_name}"' + (f' OWNER "{self.role}"' if self.role else ""))
            await admin.close()
        config = self.write_config()
        log = open(self.folder / "bot.log", "ab")
        limit = self.file_limit
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "--log-level", "WARNING", "serve", "--config",
                                      str(config)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
                                     preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
                                     if limit else None)
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
            if self.role:
                await admin.execute(f'DROP ROLE IF EXISTS "{self.role}"')
            await admin.close()

    async def execute(self, sql: str) -> None:
        """A statement on the bot's database from outside the bot (PostgreSQL: as the superuser)."""
        engine = create_engine(async_url(self.admin_url if self.pg_name else self.url))
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text(sql))
        finally:
            await engine.dispose()

    async def query(self, sql: str) -> list[tuple]:
        engine = create_engine(async_url(self.url))
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]
        finally:
            await engine.dispose()


COMPLAINT = "客服态度太差了，我要投诉"


def push_forms(n: int, *, prefix: str, bad_every: int = 0, complaint_every: int = 0) -> list[tuple[str, str, dict[str, str]]]:
    """`n` signed buyer-message pushes; with `bad_every`, every such one carries a lone surrogate or a NUL;
    with `complaint_every`, every such one is a complaint from a buyer of its own (one ticket each)."""
    now = SystemClock().now()
    out = []
    for i in range(n):
        platform = "wangwang" if i % 2 else "dongdong"
        buyer, text = f"buyer{i % 23}", f"第{i}条：有货吗"
        if complaint_every and i % complaint_every == 0:
            buyer, text = f"{prefix}-complainer{i}", COMPLAINT
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


async def deliver(bot: Bot, forms, tally: Tally, *, concurrency: int = 32, retry_for_s: float = 60.0,
                  rate: float = 0) -> Counter:
    """POST every push as the gateway does: concurrently (or, with `rate`, that many a second),
    retrying a 5xx or no answer until answered."""
    statuses: Counter = Counter()
    sem = asyncio.Semaphore(concurrency)
    start = time.monotonic()

    async def one(session, platform, push_id, form, *, at: float = 0):
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
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
        await asyncio.gather(*(one(session, *f, at=i / rate if rate else 0) for i, f in enumerate(forms)))
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
        # The common default file limit, hard as well: the one under which slow sockets once made the
        # bot unreachable and its accept errors wrote 300 MB of log in 35 s.
        bot = Bot(folder, store=store, pg=args.pg, gateway=gateway, extra=extra, file_limit=1024)
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
            log_bytes = (folder / "bot.log").stat().st_size
            tally.notes.append(f"/healthz under {args.slow} slow sockets: {healthz}; push answers {dict(statuses)}; "
                               f"log {log_bytes:,} bytes")
            if any(h != 200 for h in healthz):
                tally.failures.append("/healthz did not answer 200 every time under the slow sockets")
            if log_bytes > 1_000_000:
                tally.failures.append(f"the log grew to {log_bytes:,} bytes under the slow sockets")
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


async def healthz(bot: Bot) -> str:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        try:
            async with session.get(f"{bot.base}/healthz") as resp:
                body = await resp.json()
                return f"{resp.status} {'; '.join(body.get('reasons', []))[:200]}".replace("\n", " ").strip()
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            return f"no answer ({type(e).__name__})"


async def full_disk(store: str, args, folder: Path) -> Tally | str:
    """SQLite: the database file on a small file system. PostgreSQL: a throwaway cluster whose data
    directory is on one (tests/small_disk.py). Filled to the last block while pushes arrive, freed
    after --full seconds; the pushes refused meanwhile are retried by the driver, as the gateway would."""
    with contextlib.ExitStack() as stack:
        if store == "sqlite":
            mount = stack.enter_context(small_disk.small_filesystem(folder, 40))
            if mount is None:
                return "skipped: this machine allows neither a tmpfs nor a loop mount"
            pg, db_folder = None, mount
        else:
            pg, mount, why = stack.enter_context(small_disk.throwaway_postgres(folder))
            if pg is None:
                return f"skipped: {why}"
            db_folder = None
        tally = Tally()
        async with Gateway() as gateway:
            bot = Bot(folder, store=store, pg=pg, gateway=gateway, db_folder=db_folder,
                      extra="[health]\nmin_free_disk_mb = 1\n")
            await bot.start()
            try:
                await with_conversations(bot, tally)
                filler = small_disk.fill(mount)
                tally.notes.append(f"/healthz with the disk full: {await healthz(bot)}")

                async def free_later() -> None:
                    await asyncio.sleep(args.full)
                    tally.notes.append(f"/healthz after {args.full:g} s full: {await healthz(bot)}")
                    filler.unlink()

                freeing = asyncio.create_task(free_later())
                statuses = await deliver(bot, push_forms(args.pushes, prefix="f"), tally, retry_for_s=args.full + 60,
                                         rate=args.rate)
                await freeing
                tally.notes.append(f"push answers {dict(statuses)}")
                await settle_pushes(bot, tally)
                tally.notes.append(f"/healthz at the end: {await healthz(bot)}")
            finally:
                await bot.stop()
        return tally


async def complaints_ticketed(bot: Bot, forms, tally: Tally, *, prefix: str) -> None:
    """Every complaint answered 200 has its buyer's ticket (one each: one complaint per buyer)."""
    complainers = {push_id: f"{prefix}-complainer{push_id.removeprefix(prefix)}" for _, push_id, form in forms
                   if COMPLAINT in json.dumps(form, ensure_ascii=False)}
    accepted = complainers.keys() & tally.accepted
    ticketed = {r[0] for r in await bot.query("SELECT buyer FROM tickets")}
    missing = [p for p in accepted if complainers[p] not in ticketed]
    tally.work_lost += len(missing)
    tally.notes.append(f"complaints accepted {len(accepted)}, without a ticket {len(missing)}")


async def store_away(store: str, args, folder: Path, *, table: str, how: str) -> Tally | str:
    """Pushes at --rate/s; --away seconds in, `table` made unavailable for --away seconds: renamed
    (`how="rename"`), or its INSERT privilege revoked from the role the bot runs as (`how="revoke"`)."""
    if how == "revoke" and store != "postgres":
        return "skipped: SQLite has no roles or privileges"
    tally = Tally()
    role = f"csbot_faults_{uuid.uuid4().hex[:8]}" if how == "revoke" else None
    async with Gateway() as gateway:
        bot = Bot(folder, store=store, pg=args.pg, gateway=gateway, role=role)
        await bot.start()
        try:
            forms = push_forms(int(args.rate * args.away * 3), prefix="a", complaint_every=3)
            away, back = ((f"ALTER TABLE {table} RENAME TO {table}_away", f"ALTER TABLE {table}_away RENAME TO {table}")
                          if how == "rename" else
                          (f'REVOKE INSERT ON {table} FROM "{role}"', f'GRANT INSERT ON {table} TO "{role}"'))

            async def fault() -> None:
                await asyncio.sleep(args.away)
                await bot.execute(away)
                await asyncio.sleep(min(3.0, args.away / 2))
                tally.notes.append(f"/healthz with {table} away: {await healthz(bot)}")
                await asyncio.sleep(args.away - min(3.0, args.away / 2))
                await bot.execute(back)

            statuses, _ = await asyncio.gather(deliver(bot, forms, tally, rate=args.rate), fault())
            tally.notes.append(f"push answers {dict(statuses)}")
            await settle_pushes(bot, tally)
            await complaints_ticketed(bot, forms, tally, prefix="a")
            [(set_aside,)] = await bot.query("SELECT count(*) FROM pushes WHERE last_error IS NOT NULL")
            tally.notes.append(f"pushes set aside as failed {set_aside}; /healthz at the end: {await healthz(bot)}")
        finally:
            await bot.stop()
    return tally


SCENARIOS = {"gateway-down": gateway_down, "gateway-stall": gateway_stall, "slow-clients": slow_clients,
             "bad-pushes": bad_pushes, "full-disk": full_disk,
             "messages-away": functools.partial(store_away, table="messages", how="rename"),
             "tickets-away": functools.partial(store_away, table="tickets", how="rename"),
             "privilege-revoked": functools.partial(store_away, table="tickets", how="revoke")}


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
                where = traceback.extract_tb(e.__traceback__)[-1]
                result = f"failed to run: {type(e).__name__}: {e} (at {Path(where.filename).name}:{where.lineno})"
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
                for failure in result.failures:
                    print(f"{'':24}FAILED: {failure}")
                bad += bool(result.lost or result.duplicated or result.delivered_twice or lost_msgs or result.work_lost
                            or result.failures)
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                print(f"{'':24}kept {folder}")
    print("zero lost and zero duplicated in every scenario" if not bad else f"{bad} scenario(s) lost, duplicated or failed")
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
    parser.add_argument("--away", type=float, default=10, help="seconds a table stays away (default 10)")
    parser.add_argument("--rate", type=float, default=20, help="pushes a second in the paced scenarios (default 20)")
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
