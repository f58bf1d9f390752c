"""`scripts/bench process`: how fast stored pushes become conversations, suggestions, metrics,
reminders and tickets, on one process (SQLite) and on 1, 2 and 4 processes sharing one PostgreSQL.

For each setup: a fresh database; N pushes of the simulator's traffic (chat and orders, both platforms,
complaints included; seeded, so every setup gets the same pushes) are planned; the `csbot serve`
processes are started and become healthy; then the pushes are stored in one transaction, as intake
would have stored them (their partition included), and the clock runs until none is pending. Printed:
processed pushes/s (wall), the processes' CPU ms per push (user+system, from /proc), the statements
per push the processes ran (csbot_store_statements_total), and the speed-up over one process on the
same store. The baseline is the first setup of each store, measured in the same run. On SQLite two
more setups against it: `sqlite-threaded` (`database.sqlite_inline = false`) and `sqlite-sealed`
(buyer text encrypted at rest under a fresh CSBOT_DATA_KEY); every other setup runs without a key.

After the drain, the per-agent figures, conversations, suggestions, orders, reminders and tickets
are read back from each database and compared with the first setup's: they must be identical.

A benchmark, not a test: CI does not run it; it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
CSBOT = ROOT / ".venv" / "bin" / "csbot"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, *, port: int, db_url: str, partitions: int, name: str, gateway_port: int = 9,
                 sqlite_inline: bool = True) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    if not sqlite_inline:
        text = re.sub(r"(?m)^sqlite_inline = true", "sqlite_inline = false", text, count=1)
    text = re.sub(r"(?m)^port = \d+", f"port = {port}", text, count=1)
    text = text.replace('url = "sqlite:///var/csbot.db"', f'url = "{db_url}"')
    text = text.replace('path = "knowledge"', f'path = "{ROOT / "knowledge"}"')
    text = re.sub(r"(?m)^partitions = \d+", f"partitions = {partitions}", text, count=1)
    # every viewer, the simulator and the probes come from 127.0.0.1: one address, many connections
    text = re.sub(r"(?m)^max_connections_per_client = \d+", "max_connections_per_client = 1000", text, count=1)
    # the drain sends nothing anywhere (a closed port); the live part runs the simulator's gateway there
    text = re.sub(r'http://127\.0\.0\.1:8090', f"http://127.0.0.1:{gateway_port}", text)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def plan_rows(n: int, *, seed: int, partitions: int) -> list[dict]:
    """The stored form of n pushes of the simulator's demo traffic, event times from now on."""
    from bot.clock import SystemClock
    from bot.config import load_config
    from bot.gateway import PLATFORMS
    from bot.partitions import partition_of
    from bot.sim import traffic

    config = load_config(ROOT / "config.example.toml", environ={})
    shops = {s.platform: s for s in traffic.shops_from_config(config)}
    questions = traffic.questions_from_config(config)
    start = SystemClock().now()
    rows = []
    # 20 pushes/s of planned traffic: long enough sessions that answers, payments and closes come in
    for p in itertools.islice(traffic.plan(list(shops.values()), seed=seed, rate=20, questions=questions), n):
        at = start + timedelta(seconds=p.offset_s)
        event = traffic.event_of(p, at)
        shop = shops[p.platform]
        form = PLATFORMS[p.platform].push_form(event, app_key=shop.app_key, secret=shop.app_secret, now=at,
                                               seller_nick=shop.seller_nick)
        rows.append({"platform": p.platform, "push_id": p.push_id, "kind": p.kind, "shop": event.shop,
                     "buyer": event.buyer, "event_at": at, "received_at": at,
                     "form": json.dumps(form, ensure_ascii=False), "processed_at": None, "attempts": 0,
                     "last_error": None, "partition": partition_of(p.platform, event.shop, event.buyer,
                                                                   partitions=partitions)})
    return rows


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a bot process exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            get(url + "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("a bot process did not become healthy")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def metric(text: str, name: str) -> float:
    """The value of a series; `name` is a regular expression (labels escaped)."""
    m = re.search(rf"(?m)^{name} ([0-9.e+-]+)$", text)
    return float(m.group(1)) if m else 0.0


def stored(text: str) -> float:
    """Pushes this process stored, over both platforms (prometheus_client orders the labels by name)."""
    return sum(float(m.group(1)) for m in re.finditer(r'(?m)^csbot_pushes_total\{[^}]*outcome="stored"[^}]*\} (\S+)$', text))


async def store_rows(db_url: str, rows: list[dict], env: dict[str, str]) -> None:
    from bot.store import pushes, sealed
    from bot.store.db import async_url, create_engine

    sealed.use(sealed.Keyring.from_environ(env))  # stored as intake would, under the setup's CSBOT_DATA_KEY if any
    engine = create_engine(async_url(db_url))
    async with engine.begin() as conn:
        for i in range(0, len(rows), 1000):
            await pushes.insert_new(conn, rows[i:i + 1000])
    await engine.dispose()


async def pending(db_url: str) -> int:
    from bot.store import pushes
    from bot.store.db import async_url, create_engine

    engine = create_engine(async_url(db_url))
    async with engine.connect() as conn:
        n, _ = await pushes.backlog(conn)
    await engine.dispose()
    return n


async def sealed_messages(db_url: str) -> tuple[int, int]:
    """How many stored messages have their text sealed, of how many: proof of what a setup measured."""
    import sqlalchemy as sa

    from bot.store import sealed
    from bot.store.db import async_url, create_engine

    engine = create_engine(async_url(db_url))
    async with engine.connect() as conn:
        texts = (await conn.execute(sa.text("SELECT text FROM messages"))).scalars().all()
    await engine.dispose()
    return sum(sealed.sealed_by(t) is not None for t in texts), len(texts)


def _plain(value) -> str:
    """A value as text, the same whichever store it came from (SQLite gives times as text)."""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", value):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return str(value)


async def outcome(db_url: str) -> dict:
    """What the pushes became, in a form that does not depend on ids or on which process did it."""
    import sqlalchemy as sa

    from bot.store.db import async_url, create_engine

    engine = create_engine(async_url(db_url))
    queries = {
        "conversations": "SELECT b.platform, b.nick, c.started_at, c.last_message_at, c.waiting_since, c.agent_account "
                         "FROM conversations c JOIN buyers b ON b.id = c.buyer_id",
        "messages": "SELECT m.platform, m.push_id, m.sender, c.started_at FROM messages m "
                    "JOIN conversations c ON c.id = m.conversation_id",
        "suggestions": "SELECT m.platform, m.push_id, s.rank, s.intent FROM suggestions s JOIN messages m ON m.id = s.message_id",
        "orders": "SELECT platform, order_id, status, amount_fen FROM orders",
        "reminders": "SELECT o.platform, o.order_id, r.slot, r.due_at, r.state FROM reminders r JOIN orders o ON o.id = r.order_pk",
        "tickets": "SELECT platform, buyer, category, severity, state, owner FROM tickets",
        "pushes_failed": "SELECT platform, push_id FROM pushes WHERE last_error IS NOT NULL",
    }
    found = {}
    async with engine.connect() as conn:
        for name, sql in queries.items():
            try:
                rows = (await conn.execute(sa.text(sql))).all()
            except Exception as e:  # a table this version does not have
                found[name] = f"unreadable: {type(e).__name__}"
                continue
            found[name] = sorted(tuple(_plain(v) for v in row) for row in rows)
    await engine.dispose()
    return found


def live_setup(name: str, db_url: str, processes: int, *, partitions: int, folder: Path, rate: float,
               duration: float, viewers: int) -> dict:
    """Push-to-board delay at a fixed arrival rate: the simulator and the probes push to the first
    process, the viewers watch the last (with two processes: the one that did not receive them)."""
    from argparse import Namespace

    import bench_board

    ports, gateway_port = [free_port() for _ in range(processes)], free_port()
    configs = [write_config(folder, port=p, db_url=db_url, partitions=partitions, name=f"{name}-live-{i}",
                            gateway_port=gateway_port) for i, p in enumerate(ports)]
    procs = [subprocess.Popen([str(CSBOT), "--log-level", "WARNING", "serve", "--config", str(c)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in configs]
    try:
        for port, proc in zip(ports, procs):
            wait_healthy(f"http://127.0.0.1:{port}", proc)
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        before = stored(get(urls[0] + "/metrics"))
        started = time.monotonic()
        args = Namespace(rate=rate, duration=duration, viewers=viewers, probes_per_s=5)
        result = asyncio.run(bench_board.live(args, configs[0], urls[0], view_url=urls[-1]))
        text = get(urls[0] + "/metrics")
        accepted = stored(text) - before
        result["accepted_per_s"] = accepted / (time.monotonic() - started)
        return result
    finally:
        stop(procs)


def run_setup(name: str, db_url: str, processes: int, rows: list[dict], *, partitions: int, folder: Path,
              timeout_s: float, profile: Path | None = None) -> dict:
    ports = [free_port() for _ in range(processes)]
    configs = [write_config(folder, port=p, db_url=db_url, partitions=partitions, name=f"{name}-{i}",
                            sqlite_inline=name != "sqlite-threaded")
               for i, p in enumerate(ports)]
    procs = []
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    if name == "sqlite-sealed":  # the same drain with buyer text sealed at rest, as with a key in production
        env["CSBOT_DATA_KEY"] = base64.b64encode(os.urandom(32)).decode()
    try:
        for config in configs:
            procs.append(subprocess.Popen([str(CSBOT), "--log-level", "WARNING", "serve", "--config", str(config)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env))
        for port, proc in zip(ports, procs):
            wait_healthy(f"http://127.0.0.1:{port}", proc)
        time.sleep(2.5)  # leases spread over the processes (PostgreSQL)
        before = [metric(get(f"http://127.0.0.1:{p}/metrics"), "csbot_store_statements_total") for p in ports]
        cpu0 = [cpu_s(p.pid) for p in procs]
        # --profile: py-spy samples the first process over the drain only (it sees through the
        # greenlets and coroutines that confuse cProfile's call tree)
        spy = subprocess.Popen([str(ROOT / ".venv" / "bin" / "py-spy"), "record", "--format", "raw", "--rate", "250",
                                "--nonblocking", "-o", str(profile), "--pid", str(procs[0].pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) if profile else None
        asyncio.run(store_rows(db_url, rows, env))
        started = time.monotonic()
        while True:
            left = asyncio.run(pending(db_url))
            if left == 0 or time.monotonic() - started > timeout_s:
                break
            time.sleep(0.05)
        wall = time.monotonic() - started
        cpu = sum(cpu_s(p.pid) for p in procs) - sum(cpu0)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        texts = [get(f"http://127.0.0.1:{p}/metrics") for p in ports]
        statements = sum(metric(t, "csbot_store_statements_total") for t in texts) - sum(before)
        per_process = [int(metric(t, "csbot_pushes_processed_total")) for t in texts]
    finally:
        stop(procs)
    done = len(rows) - left
    return {"name": name, "pushes": len(rows), "left": left, "wall_s": wall, "rate": done / wall,
            "cpu_ms_per_push": 1000 * cpu / max(1, done), "statements_per_push": statements / max(1, done),
            "per_process": per_process}


def print_profile(path: Path, top: int = 30) -> None:
    """The drain's samples (py-spy's collapsed stacks): the share of samples in each of the bot's
    functions and everything they called, the top ones; the file keeps every stack."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            func, _, where = frame.partition(" (")
            name = f"{func} ({where.split(':', 1)[0]})" if where.startswith("bot/") else None
            if name and name not in seen:
                seen.add(name)
                inclusive[name] = inclusive.get(name, 0) + n
    print(f"profile of the drain ({total} samples, py-spy; stacks in {path}), share of samples by function with its callees:")
    for name, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / max(1, total):5.1f}%  {name}")


async def fresh_pg(dsn: str) -> str:
    import asyncpg

    name = f"csbot_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return dsn.rsplit("/", 1)[0] + "/" + name


async def drop_pg(dsn: str, url: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(dsn)
    await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=20_000, help="pushes drained per setup (0: no drain)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--partitions", type=int, default=64)
    parser.add_argument("--pg", default=os.environ.get("CSBOT_TEST_PG_DSN", "postgresql://root@127.0.0.1:5432/test"),
                        help="a PostgreSQL database to create the bench's databases from ('' to skip PostgreSQL)")
    parser.add_argument("--processes", default="1,2,4", help="process counts on PostgreSQL")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--live-rate", type=float, default=1000, help="arrival rate of the push-to-board part")
    parser.add_argument("--live-duration", type=float, default=30, help="seconds of probes (0: skip that part)")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="sample the first setup's (first) process with py-spy over the drain; stacks to FILE")
    args = parser.parse_args()
    for name in ("CSBOT_DATA_KEY", "CSBOT_DATA_KEY_OLD"):  # like with like: only sqlite-sealed has a key
        os.environ.pop(name, None)
    print("command: scripts/bench process " + shlex.join(sys.argv[1:]), flush=True)
    print(f"machine: {os.cpu_count()} cores (shared by the bot processes, PostgreSQL and this script)")
    rows = plan_rows(args.pushes, seed=args.seed, partitions=args.partitions)
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"pushes: {len(rows)} {kinds}")
    results, outcomes, cleanup = [], {}, []
    with tempfile.TemporaryDirectory(prefix="csbot-bench-process-") as tmp:
        folder = Path(tmp)
        # sqlite-threaded: the same process with `database.sqlite_inline = false`, to show what the
        # in-loop SQLite driver (bot/store/inline_sqlite.py) buys; sqlite-sealed: what encryption costs
        setups = [] if args.skip_sqlite or not rows else [("sqlite-1", f"sqlite:///{folder / 'bench.db'}", 1),
                                                          ("sqlite-threaded", f"sqlite:///{folder / 'threaded.db'}", 1),
                                                          ("sqlite-sealed", f"sqlite:///{folder / 'sealed.db'}", 1)]
        if args.pg and rows:
            for n in (int(x) for x in args.processes.split(",") if x):
                setups.append((f"postgresql-{n}", None, n))
        warmed: set[str] = set()
        try:
            for name, url, n in setups:
                store = name.split("-")[0]
                if store not in warmed:
                    # An unmeasured drain first, on each store: the first setup of a run (the baseline)
                    # was slower than the same setup run later (sqlite-1 run third had 1.68x the rate of
                    # sqlite-sealed run first; in the other order 1.35-1.51x the other way).
                    warmed.add(store)
                    warm = f"sqlite:///{folder / 'warm-up.db'}" if url else asyncio.run(fresh_pg(args.pg))
                    if not url:
                        cleanup.append(warm)
                    subprocess.run([str(CSBOT), "--log-level", "WARNING", "db", "upgrade", "--config",
                                    str(write_config(folder, port=9, db_url=warm, partitions=args.partitions, name="upgrade"))],
                                   check=True, stdout=subprocess.DEVNULL)
                    r = run_setup(f"{store}-warm-up", warm, 1, rows[:1000], partitions=args.partitions, folder=folder,
                                  timeout_s=args.timeout)
                    print(f"{store} warm-up (not measured: {r['pushes']} pushes on a scratch database, {r['wall_s']:.1f} s)",
                          flush=True)
                if url is None:
                    url = asyncio.run(fresh_pg(args.pg))
                    cleanup.append(url)
                subprocess.run([str(CSBOT), "--log-level", "WARNING", "db", "upgrade", "--config",
                                str(write_config(folder, port=9, db_url=url, partitions=args.partitions, name="upgrade"))],
                               check=True, stdout=subprocess.DEVNULL)
                profile = args.profile if args.profile and not results else None
                result = run_setup(name, url, n, rows, partitions=args.partitions, folder=folder, timeout_s=args.timeout,
                                   profile=profile)
                results.append(result)
                outcomes[name] = asyncio.run(outcome(url))
                result["sealed"] = asyncio.run(sealed_messages(url))
                if profile:
                    print_profile(profile)
                print(f"{name:16} {result['rate']:8.0f} pushes/s  {result['cpu_ms_per_push']:6.2f} CPU ms/push  "
                      f"{result['statements_per_push']:5.1f} statements/push  {result['wall_s']:6.1f} s  "
                      f"left {result['left']}  per process {result['per_process']}  "
                      f"sealed text {result['sealed'][0]} of {result['sealed'][1]} messages", flush=True)
        finally:
            for url in cleanup:
                asyncio.run(drop_pg(args.pg, url))
    print()
    base = {}
    for r in results:
        store = r["name"].split("-")[0]
        base.setdefault(store, r)
        print(f"{r['name']:16} speed-up over {base[store]['name']}: {r['rate'] / base[store]['rate']:.2f}x, "
              f"CPU per push {r['cpu_ms_per_push'] / base[store]['cpu_ms_per_push']:.2f}x")
    if outcomes:
        first, reference = next(iter(outcomes.items()))
        for name, found in outcomes.items():
            differ = [k for k in reference if found.get(k) != reference[k]]
            for k in differ[:3]:
                extra = sorted(set(found.get(k) or []) ^ set(reference[k]))[:2]
                print(f"{name:16} {k} differs, e.g. {extra}")
            sizes = {k: len(v) if isinstance(v, list) else v for k, v in found.items()}
            print(f"{name:16} outcome {'identical to ' + first if not differ else 'DIFFERS from ' + first + ' in ' + ', '.join(differ)} {sizes}")
    if args.live_duration > 0:
        print()
        lives = [] if args.skip_sqlite else [("sqlite-1", None, 1)]
        if args.pg:
            lives.append(("postgresql-2", "pg", 2))
        with tempfile.TemporaryDirectory(prefix="csbot-bench-live-") as tmp:
            for name, url, n in lives:
                url = f"sqlite:///{Path(tmp) / 'live.db'}" if url is None else asyncio.run(fresh_pg(args.pg))
                try:
                    r = live_setup(name, url, n, partitions=args.partitions, folder=Path(tmp), rate=args.live_rate,
                                   duration=args.live_duration, viewers=args.viewers)
                finally:
                    if url.startswith("postgresql"):
                        asyncio.run(drop_pg(args.pg, url))
                where = "viewers on the process that received the pushes" if n == 1 else \
                    "viewers on the other process"
                print(f"{name:16} push answered -> on every one of {args.viewers} viewers ({where}): "
                      f"p50 {r['every_p50_ms']:.0f} ms, p99 {r['every_p99_ms']:.0f} ms over {r['probes']} probes "
                      f"(missing {r['missing']}); simulator asked {args.live_rate:g}/s, accepted {r['accepted_per_s']:.0f}/s",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
