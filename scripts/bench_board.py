"""`scripts/bench board`: how fast the supervisor's board follows the traffic, and how fast a month's report is.

Part 1, live: starts the real bot (`csbot serve`, fresh SQLite with synchronous FULL as shipped, free
ports) and the simulator (`csbot simulate --rate 200`), connects 50 board viewers to
/api/board/stream, and meanwhile sends probe pushes (a new buyer each, 5 a second). For each probe:
the delay from the push's 200 answer to the moment its buyer appears as waiting on *every* viewer
(p50/p99; target p99 < 1 s), and per viewer.

Part 2, report: writes 30 days (`--days`) of history (1,000,000 messages by default, and orders) straight into a
fresh SQLite file (synchronous FULL as shipped; no ANALYZE, which the bot never runs), builds the per-buyer facts the report sums with `csbot metrics rebuild` (timed apart), then
times GET /api/metrics/agents for those 30 days on the real bot, cold (the first request after
its start) and warm apart (target < 2 s), then the reports page's per-day report for the period
(GET /api/reports/agents?by=day) against the same days asked one at a time, and prints SQLite's
query plan for each of the report's queries. Baseline, in the same run on the same file: the same
period recomputed from every raw message, as the report did before the stored facts.

A benchmark, not a test: CI does not run it; it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CSBOT = ROOT / ".venv" / "bin" / "csbot"
TOKEN = "supervisor-demo-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: Path, *, port: int, gateway_port: int, db: Path) -> Path:
    """The example configuration on free ports and a fresh SQLite file; synchronous FULL, as shipped."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^port = \d+", f"port = {port}", text, count=1)
    # every viewer, the simulator and the probes come from 127.0.0.1: one address, many connections
    text = re.sub(r"(?m)^max_connections_per_client = \d+", "max_connections_per_client = 1000", text, count=1)
    text = text.replace('url = "sqlite:///var/csbot.db"', f'url = "sqlite:///{db}"')
    text = text.replace("http://127.0.0.1:8090", f"http://127.0.0.1:{gateway_port}")
    text = text.replace('path = "knowledge"', f'path = "{ROOT / "knowledge"}"')
    path = folder / "bench.toml"
    path.write_text(text, encoding="utf-8")
    return path


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the bot exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the bot did not become healthy")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


# ------------------------------------------------------------------------------------------- part 1

async def viewer(session, url: str, seen: dict, index: int, ready: asyncio.Event, counter: list) -> None:
    async with session.get(url, timeout=None) as resp:
        assert resp.status == 200, resp.status
        counter[0] += 1
        if counter[0] == counter[1]:
            ready.set()
        kind = None
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind in ("update", "snapshot"):
                now = time.monotonic()
                data = json.loads(line[6:])
                rows = data.get("waiting_upsert", []) if kind == "update" else data.get("waiting", [])
                for row in rows:
                    if row["buyer"].startswith("probe-"):
                        seen.setdefault(row["buyer"], {}).setdefault(index, now)


async def live(args, config_path: Path, bot_url: str, view_url: str | None = None) -> dict:
    """Pushes (the simulator's and the probes) go to `bot_url`; the viewers watch `view_url` (another
    process on the same PostgreSQL, for scripts/bench process), by default the same."""
    import aiohttp

    from bot.clock import SystemClock
    from bot.config import load_config
    from bot.events import BuyerMessage
    from bot.gateway import PLATFORMS

    config = load_config(config_path)
    platform = config.platform("wangwang")
    account = next(acc.partition(":")[2] for a in config.agents for acc in a.accounts if acc.startswith("wangwang:"))
    sim = subprocess.Popen([str(CSBOT), "--log-level", "WARNING", "simulate", "--config", str(config_path), "--bot-url", bot_url,
                            "--rate", str(args.rate), "--duration", str(args.duration + 10)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: dict[str, dict[int, float]] = {}
    answered: dict[str, float] = {}
    ready = asyncio.Event()
    counter = [0, args.viewers]
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        stream = f"{view_url or bot_url}/api/board/stream?token={TOKEN}"
        viewers = [asyncio.create_task(viewer(session, stream, seen, i, ready, counter)) for i in range(args.viewers)]
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(3)  # the simulator's traffic under way
        clock = SystemClock()
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < args.duration:
            n += 1
            buyer = f"probe-{n}"
            event = BuyerMessage(platform="wangwang", shop=platform.app_key, buyer=buyer, push_id=f"probe-{n}-{os.getpid()}",
                                 at=clock.now(), text="在吗，这个有货吗", agent_account=account)
            form = PLATFORMS["wangwang"].push_form(event, app_key=platform.app_key, secret=platform.app_secret, now=clock.now())
            async with session.post(f"{bot_url}/webhooks/wangwang", data=form) as resp:
                if resp.status == 200:
                    answered[buyer] = time.monotonic()
            await asyncio.sleep(1 / args.probes_per_s)
        await asyncio.sleep(3)
        for task in viewers:
            task.cancel()
        await asyncio.gather(*viewers, return_exceptions=True)
    sim.terminate()
    sim.wait(10)
    every, each, missing = [], [], 0
    for buyer, t0 in answered.items():
        got = seen.get(buyer, {})
        each += [t - t0 for t in got.values()]
        if len(got) == args.viewers:
            every.append(max(got.values()) - t0)
        else:
            missing += 1
    return {"probes": len(answered), "missing": missing,
            "every_p50_ms": pct(every, 0.5) * 1000, "every_p99_ms": pct(every, 0.99) * 1000,
            "each_p50_ms": pct(each, 0.5) * 1000, "each_p99_ms": pct(each, 0.99) * 1000}


# ------------------------------------------------------------------------------------------- part 2

def fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def make_history(db: Path, *, messages: int, days: int, first_day: datetime, seed: int = 7) -> tuple[int, int]:
    """Write `messages` messages over `days` days into an already migrated SQLite file, with their
    buyers, conversations and orders (about one buyer in five orders, within the hour; most of them
    pay) as the bot would have made them. Returns how many messages and orders were written."""
    rng = random.Random(seed)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA journal_mode=WAL")
    accounts = ["示例小店:小美", "示例小店:阿强", "示例小店:丽丽"]
    written = orders_written = 0
    buyer_id = 0
    conv_id = 0
    per_day = messages // days
    with con:
        for day in range(days):
            day_start = first_day + timedelta(days=day)
            day_written = 0
            buyers, convs, msgs, orders = [], [], [], []
            while day_written < per_day:
                buyer_id += 1
                conv_id += 1
                buyers.append((buyer_id, "wangwang", "demo-tb", f"hist-{buyer_id}", fmt(day_start)))
                t = day_start + timedelta(seconds=rng.uniform(0, 86000))
                started = t
                agent = rng.choice(accounts)
                waiting = None
                for _ in range(rng.randint(1, 4)):  # exchanges
                    for _ in range(rng.randint(1, 3)):  # a burst of buyer messages
                        msgs.append((conv_id, buyer_id, "wangwang", "buyer", agent, "在吗", fmt(t)))
                        t += timedelta(seconds=rng.uniform(2, 20))
                        day_written += 1
                    if rng.random() < 0.95:
                        t += timedelta(seconds=rng.choice([rng.uniform(5, 60), rng.uniform(60, 200)]))
                        msgs.append((conv_id, buyer_id, "wangwang", "agent", agent, "亲，在的", fmt(t)))
                        day_written += 1
                        waiting = None
                    else:
                        waiting = started
                    t += timedelta(seconds=rng.uniform(10, 300))
                convs.append((conv_id, buyer_id, "wangwang", "demo-tb", fmt(started), fmt(t), agent,
                              fmt(waiting) if waiting else None, "在吗"))
                if rng.random() < 0.2:
                    created = started + timedelta(seconds=rng.uniform(60, 3600))
                    paid = rng.random() < 0.8
                    amount = rng.randint(990, 49900)
                    orders.append((f"H{buyer_id}", buyer_id, amount, fmt(created), fmt(created + timedelta(hours=24)),
                                   fmt(created + timedelta(minutes=5)) if paid else None, amount if paid else None,
                                   "paid" if paid else "unpaid"))
            con.executemany("INSERT INTO buyers (id, platform, shop, nick, first_seen_at) VALUES (?,?,?,?,?)", buyers)
            con.executemany("INSERT INTO conversations (id, buyer_id, platform, shop, started_at, last_message_at, "
                            "agent_account, waiting_since, last_buyer_text) VALUES (?,?,?,?,?,?,?,?,?)", convs)
            con.executemany("INSERT INTO messages (conversation_id, buyer_id, platform, sender, agent_account, text, sent_at) "
                            "VALUES (?,?,?,?,?,?,?)", msgs)
            con.executemany("INSERT INTO orders (platform, shop, order_id, buyer_id, title, amount_fen, created_at, "
                            "closes_at, paid_at, paid_amount_fen, status) VALUES ('wangwang','demo-tb',?,?,'羊毛围巾',?,?,?,?,?,?)",
                            orders)
            written += day_written
            orders_written += len(orders)
    con.close()  # no ANALYZE: the bot never runs one
    return written, orders_written


def query_plans(db: Path, config: Path, *, first_day: datetime, days: int) -> list[tuple[str, list[str]]]:
    """SQLite's plan for each query a period's figures run (bot.store.metric_facts), as they run them."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite

    from bot.config import load_config
    from bot.metrics.report import Rules
    from bot.store import metric_facts

    rules = Rules.from_config(load_config(config))
    first = first_day.astimezone(rules.zone).date()
    last = first + timedelta(days=days - 1)
    start, end = rules.day_bounds(first, last)
    statements = metric_facts.period_statements(first=first, last=last, start=start, end=end, now=end,
                                                margin=rules.conversion + timedelta(days=1))
    engine = sa.create_engine(f"sqlite:///{db}")
    plans = []
    with engine.connect() as conn:
        for name, statement in statements:
            sql = str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
            plans.append((name, [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]))
    engine.dispose()
    return plans


def recompute(config: Path, *, first_day: datetime, days: int) -> tuple[float, int]:
    """The baseline, on the same file and settings: the period's figures recomputed from every raw
    message (bot.store.metrics.buyer_events + bot.metrics.report.period_report, what the report did
    before the stored facts, and what the tests still check the facts against). Seconds, responses."""
    from bot.clock import SystemClock
    from bot.config import config_dir, load_config
    from bot.metrics.consumer import activity_of
    from bot.metrics.report import Rules, period_report
    from bot.store import metrics as raw
    from bot.store.db import async_url, create_engine, sessionmaker

    loaded = load_config(config)
    rules = Rules.from_config(loaded)
    first = first_day.astimezone(rules.zone).date()
    start, end = rules.day_bounds(first, first + timedelta(days=days - 1))

    async def run() -> tuple[float, int]:
        engine = create_engine(async_url(loaded.database.url, base=config_dir(loaded)),
                               sqlite_synchronous=loaded.database.sqlite_synchronous)
        try:
            t = time.monotonic()
            async with sessionmaker(engine)() as session:
                everyone = await raw.buyer_events(session, start=start, end=end,
                                                  order_margin=rules.conversion + timedelta(days=1))
            totals = period_report([activity_of(e) for e in everyone], start=start, end=end,
                                   now=SystemClock().now(), rules=rules)
            return time.monotonic() - t, totals.responses
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _get(url: str) -> tuple[float, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    t = time.monotonic()
    with urllib.request.urlopen(request, timeout=600) as r:
        body = json.loads(r.read())
    return time.monotonic() - t, body


def report(args, folder: Path) -> dict:
    db = folder / "history.db"
    port, gateway_port = free_port(), free_port()
    config = write_config(folder, port=port, gateway_port=gateway_port, db=db)
    subprocess.run([str(CSBOT), "--log-level", "WARNING", "db", "upgrade", "--config", str(config)], check=True, stdout=subprocess.DEVNULL)
    shop = timezone(timedelta(hours=8))
    # 1-30 October 2026 as always for 30 days; a longer period ends before today (a period may not end later).
    first_day = min(datetime(2026, 10, 1, tzinfo=shop),
                    datetime.combine(datetime.now(shop).date() - timedelta(days=args.days + 1), datetime.min.time(), shop))
    first_day = first_day.astimezone(timezone.utc)
    days = args.days
    t = time.monotonic()
    written, orders = make_history(db, messages=args.messages, days=days, first_day=first_day)
    print(f"  wrote {written:,} messages and {orders:,} orders in {time.monotonic() - t:.1f} s", flush=True)
    # The facts the report sums, built by the bot's own rebuild (what it also does in the background
    # after an upgrade): the triggers marked every buyer written above as stale.
    t = time.monotonic()
    built = subprocess.run([str(CSBOT), "--log-level", "WARNING", "metrics", "rebuild", "--config", str(config)],
                           check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    print(f"  {built} (csbot metrics rebuild, {time.monotonic() - t:.1f} s with its start)", flush=True)
    first = first_day.astimezone(shop).date()
    period = f"from={first.isoformat()}&to={(first + timedelta(days=days - 1)).isoformat()}"
    bot = subprocess.Popen([str(CSBOT), "--log-level", "WARNING", "serve", "--config", str(config)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, bot)
        timings, per_day = [], []
        for _ in range(3):
            seconds, body = _get(f"{url}/api/metrics/agents?{period}")
            timings.append(seconds)
        for _ in range(2):  # the reports page's request: every figure per agent and per day of the period
            seconds, daily = _get(f"{url}/api/reports/agents?{period}&by=day")
            per_day.append(seconds)
        # its baseline: the same rows asked one day at a time (what the per-day rows are tested equal to)
        t = time.monotonic()
        for day in range(days):
            d = (first + timedelta(days=day)).isoformat()
            _get(f"{url}/api/metrics/agents?from={d}&to={d}")
        day_by_day = time.monotonic() - t
    finally:
        bot.terminate()
        bot.wait(10)
    baseline_s, baseline_responses = (None, None) if args.skip_baseline else recompute(config, first_day=first_day, days=days)
    return {"messages": written, "seconds": timings, "agents": body["total"], "per_day_seconds": per_day,
            "day_by_day_s": day_by_day,
            "per_day_rows": len(daily["items"]) + len(daily["daily_totals"]),
            "baseline_s": baseline_s, "baseline_responses": baseline_responses,
            "responses": sum(i["responses"] for i in body["items"]),
            "plans": query_plans(db, config, first_day=first_day, days=days)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench board", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="simulator pushes per second (default 200)")
    parser.add_argument("--viewers", type=int, default=50, help="board viewers (default 50)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of probing (default 30)")
    parser.add_argument("--probes-per-s", type=float, default=5.0)
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages of history for the report (default 1,000,000)")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--days", type=int, default=30, help="days of history and of the report's period (default 30, at most 366)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not recompute the period from raw messages")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csbot-bench-board-") as tmp:
        folder = Path(tmp)
        if not args.skip_live:
            port, gateway_port = free_port(), free_port()
            config = write_config(folder, port=port, gateway_port=gateway_port, db=folder / "live.db")
            bot = subprocess.Popen([str(CSBOT), "--log-level", "WARNING", "serve", "--config", str(config)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(url, bot)
                print(f"live: simulator at {args.rate:g} pushes/s, {args.viewers} viewers, {args.duration:g} s of probes ...", flush=True)
                r = asyncio.run(live(args, config, url))
            finally:
                bot.terminate()
                bot.wait(10)
            print(f"  probes answered: {r['probes']}, not seen by every viewer: {r['missing']}")
            print(f"  push answered -> on every viewer (wall clock): p50 {r['every_p50_ms']:.0f} ms, p99 {r['every_p99_ms']:.0f} ms (target p99 < 1000 ms)")
            print(f"  push answered -> on one viewer (wall clock):   p50 {r['each_p50_ms']:.0f} ms, p99 {r['each_p99_ms']:.0f} ms")
        if not args.skip_report:
            print(f"report: GET /api/metrics/agents for {args.days} days over {args.messages:,} messages on SQLite ...", flush=True)
            r = report(args, folder)
            cold, *warm = r["seconds"]
            print(f"  {r['messages']:,} messages, {r['responses']:,} responses, {r['agents']} agents (SQLite "
                  f"synchronous=FULL, as shipped): cold (the first request after the start) {cold:.2f} s wall, "
                  f"warm {', '.join(f'{s:.2f}' for s in warm)} s wall (target < 2 s)")
            print(f"  per-day report (GET /api/reports/agents?by=day, {r['per_day_rows']:,} rows): "
                  f"{', '.join(f'{s:.2f}' for s in r['per_day_seconds'])} s wall; its baseline, GET /api/metrics/agents "
                  f"for each of the {args.days} days alone: {r['day_by_day_s']:.2f} s wall")
            if r["baseline_s"] is not None:
                print(f"  baseline, the same period recomputed from every raw message (the reference the tests check "
                      f"the facts against): {r['baseline_s']:.2f} s wall, {r['baseline_responses']:,} responses")
            for name, plan in r["plans"]:
                print(f"  query plan, {name}: " + " | ".join(plan))
    print("command: scripts/bench board " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
