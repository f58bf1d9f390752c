"""`scripts/bench reminders`: the payment-reminder scan at scale.

1. Fills a fresh database (SQLite file, or a new PostgreSQL database with --db postgresql://...) with
   N unpaid orders (default 100,000), each with its reminder slot; `--due` of them (default 10,000)
   fall due at the scan time, the rest later. One buyer per order.
2. Times one scan (`ReminderJob.run`): find, claim, decide and queue the due reminders in the outbox.
3. Sends a sample of the queued messages through the simulated gateway on a local port (the real
   OutboxSender and GatewayClient), and times the send rate.
4. Prints resident memory before and after the scan, and the EXPLAIN of the scan's claim query.

A benchmark, not a test: nothing fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.clock import FakeClock
from bot.config import config_from_dict
from bot.gateway.client import GatewayClient
from bot.outbox import OutboxSender
from bot.reminders.job import ReminderJob
from bot.reminders.policy import Rules
from bot.sim.gateway import create_gateway_app
from bot.store.db import async_url, create_engine, migrate, sessionmaker
from bot.store.tables import Buyer, Order, OutboxMessage, Reminder

# 10:15 in Shanghai: outside the quiet hours.
NOW = datetime(2026, 11, 24, 2, 15, tzinfo=UTC)
APP_KEY, SECRET = "bench-tb", "bench-secret"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def fill(engine, *, orders: int, due: int) -> None:
    chunk = 5000
    async with engine.begin() as conn:
        for start in range(0, orders, chunk):
            n = range(start, min(orders, start + chunk))
            await conn.execute(sa.insert(Buyer.__table__), [
                dict(id=i + 1, platform="wangwang", shop=APP_KEY, nick=f"buyer{i}", first_seen_at=NOW) for i in n])
            await conn.execute(sa.insert(Order.__table__), [
                dict(id=i + 1, platform="wangwang", shop=APP_KEY, order_id=f"T{i}", buyer_id=i + 1, title="羊毛围巾",
                     amount_fen=9900, created_at=NOW - timedelta(minutes=15), closes_at=NOW + timedelta(hours=23),
                     status="unpaid") for i in n])
            # Every (orders // due)-th order is due now; the others fall due later (spread over a day).
            await conn.execute(sa.insert(Reminder.__table__), [
                dict(order_pk=i + 1, buyer_id=i + 1, platform="wangwang", shop=APP_KEY, order_id=f"T{i}", slot="1",
                     scheduled_at=at, due_at=at, state="due")
                for i in n
                for at in [NOW - timedelta(seconds=1) if i % (orders // due) == 0 and i // (orders // due) < due
                           else NOW + timedelta(minutes=1 + i % 1440)]])


def claim_sql(dialect: str) -> str:
    """The claim of `store.reminders.claim_due`, written out (its rows lock only on PostgreSQL)."""
    lock = " FOR UPDATE OF reminders SKIP LOCKED" if dialect == "postgresql" else ""
    return ("SELECT reminders.id, orders.status, buyers.nick FROM reminders "
            "JOIN orders ON orders.id = reminders.order_pk JOIN buyers ON buyers.id = reminders.buyer_id "
            f"WHERE reminders.state = 'due' AND reminders.due_at <= '{NOW.replace(tzinfo=None).isoformat(' ')}' "
            f"ORDER BY reminders.due_at, reminders.id LIMIT 500{lock}")


async def explain(engine) -> list[str]:
    sql = claim_sql(engine.dialect.name)
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)).all()
            return [str(r[-1]) for r in rows]
        rows = (await conn.exec_driver_sql("EXPLAIN " + sql)).all()
        return [r[0] for r in rows]


async def bench(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="csbot-bench-rem-"))
    pg_db = None
    if args.db:
        import asyncpg

        pg_db = f"csbot_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.db)
        await admin.execute(f'CREATE DATABASE "{pg_db}"')
        await admin.close()
        url = args.db.rsplit("/", 1)[0] + "/" + pg_db
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    engine = create_engine(async_url(url), sqlite_synchronous="NORMAL")
    try:
        await migrate(engine)
        t0 = time.perf_counter()
        await fill(engine, orders=args.orders, due=args.due)
        print(f"filled {args.orders:,} unpaid orders ({args.due:,} due) in {time.perf_counter() - t0:.1f} s "
              f"on {engine.dialect.name}")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")

        db = sessionmaker(engine)
        clock = FakeClock(NOW)
        config = config_from_dict({
            "knowledge": {"path": str(ROOT / "knowledge")},
            "platforms": [{"name": "wangwang", "app_key": APP_KEY, "app_secret": SECRET,
                           "gateway_url": "http://127.0.0.1:9"}],
        }, source="<bench>")
        rules = Rules.from_config(config.reminders, zone=config.shop.timezone)
        job = ReminderJob(db, rules=rules, render=lambda intent, platform, values: f"亲，{values['item']}还未付款哦")
        before = rss_mb()
        t0 = time.perf_counter()
        result = await job.run(now=NOW)
        scan_s = time.perf_counter() - t0
        after = rss_mb()
        print(f"scan: {len(result.messages):,} reminders claimed and queued in {scan_s:.2f} s "
              f"({len(result.messages) / scan_s:,.0f}/s)")
        print(f"resident memory: {before:.0f} MB before the scan, {after:.0f} MB after")

        # Sending through a local gateway.
        gateway = create_gateway_app({"wangwang": {APP_KEY: SECRET}}, clock=clock)
        runner = web.AppRunner(gateway)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        config = config_from_dict({
            "knowledge": {"path": str(ROOT / "knowledge")},
            "platforms": [{"name": "wangwang", "app_key": APP_KEY, "app_secret": SECRET,
                           "gateway_url": f"http://127.0.0.1:{port}"}],
        }, source="<bench>")
        async with aiohttp.ClientSession() as session:
            sender = OutboxSender(db, GatewayClient(session, clock=clock, timeout_s=5), config=config, clock=clock,
                                  batch=100)
            sent = 0
            t0 = time.perf_counter()
            while sent < args.send:
                n = await sender.send_due()
                if not n:
                    break
                sent += n
            send_s = time.perf_counter() - t0
        await runner.cleanup()
        print(f"send: {sent:,} reminders through the local gateway in {send_s:.2f} s ({sent / send_s:,.0f}/s)")
        async with db() as session:
            states = dict((await session.execute(
                sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state))).all())
        print(f"outbox: {states}")
        print(f"resident memory at the end: {rss_mb():.0f} MB")
        print(f"EXPLAIN of the claim ({engine.dialect.name}):")
        for line in await explain(engine):
            print("   ", line)
    finally:
        await engine.dispose()
        if pg_db:
            import asyncpg

            admin = await asyncpg.connect(args.db)
            await admin.execute(f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench reminders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000, help="unpaid orders (default 100000)")
    parser.add_argument("--due", type=int, default=10_000, help="of which due at the scan (default 10000)")
    parser.add_argument("--send", type=int, default=2_000, help="how many queued reminders to send (default 2000)")
    parser.add_argument("--db", default=os.environ.get("CSBOT_BENCH_PG_DSN"),
                        help="a PostgreSQL DSN to bench on instead of SQLite (a new database is created)")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
