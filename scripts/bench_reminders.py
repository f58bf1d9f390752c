"""`scripts/bench reminders`: the payment-reminder scan at scale.

1. Fills a fresh database (SQLite file, or a new PostgreSQL database with --db postgresql://...) with
   N unpaid orders (default 100,000), each with its reminder slot; `--due` of them (default 10,000)
   fall due at the scan time, the rest later. One buyer per order.
2. Baseline, in the same run on the same data: the database work alone for the same outcome (the
   bot's claim query, one outbox insert and one reminder update over the same rows), rolled back;
   timed twice, cold and warm, and the scan (which follows, on a warm file) is compared with the warm one.
3. Times one scan of the bot's own job (`app[keys.REMINDERS]` of `create_app`: the real templates
   from knowledge/ and the compliance guard): find, claim, decide and queue the due reminders.
4. Sends a sample of the queued messages through the simulated gateway on a local port (the bot's
   own OutboxSender and GatewayClient), and times the send rate.
5. Prints resident memory before and after the scan, and the EXPLAIN of the claim statement the bot
   itself ran (captured from the engine during the scan, with its parameters).

SQLite runs with the shipped `database.sqlite_synchronous` (FULL); nothing is ANALYZEd (the bot never does).

A benchmark, not a test: nothing fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shlex
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa
from aiohttp import web

from sqlalchemy import event

from bot.app import create_app
from bot.clock import FakeClock
from bot.config import config_from_dict
from bot.sim.gateway import create_gateway_app
from bot.store import reminders as reminder_store
from bot.store.tables import Buyer, Order, OutboxMessage, Reminder
from bot.web import keys

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


async def explain(engine, statement: str, parameters) -> list[str]:
    """The plan of `statement` as the bot ran it (captured from the engine, parameters included)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = (await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all()
            return [str(r[-1]) for r in rows]
        rows = (await conn.exec_driver_sql("EXPLAIN " + statement, parameters)).all()
        return [r[0] for r in rows]


async def baseline(db, *, due: int) -> float:
    """The database work alone for the scan's outcome: the bot's claim, then one executemany insert
    into the outbox and one update of the reminders, for the same rows; rolled back. Seconds."""
    t0 = time.perf_counter()
    async with db() as session:
        await session.begin()
        try:
            claimed = await reminder_store.claim_due(session, now=NOW, limit=due)
            if claimed:
                await session.execute(sa.insert(OutboxMessage.__table__), [dict(
                    client_msg_id=f"base:{c.id}", platform=c.platform, shop=c.shop, buyer=c.buyer, agent_account="",
                    text="亲，您的订单还未付款哦", kind="reminder", sender="bot", state="pending", attempts=0,
                    created_at=NOW, next_attempt_at=NOW) for c in claimed])
                await session.execute(sa.update(Reminder), [
                    dict(id=c.id, state="sent", decided_at=NOW, client_msg_id=f"base:{c.id}") for c in claimed])
        finally:
            await session.rollback()
    return time.perf_counter() - t0


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
    clock = FakeClock(NOW)
    gateway = web.AppRunner(create_gateway_app({"wangwang": {APP_KEY: SECRET}}, clock=clock))
    await gateway.setup()
    site = web.TCPSite(gateway, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    config = config_from_dict({
        "database": {"url": url},
        "knowledge": {"path": str(ROOT / "knowledge")},
        "platforms": [{"name": "wangwang", "app_key": APP_KEY, "app_secret": SECRET,
                       "gateway_url": f"http://127.0.0.1:{port}"}],
    }, source="<bench>")
    # The bot itself, as `csbot serve` builds it (migrated at start), with the loops driven from here.
    bot = web.AppRunner(create_app(config, clock=clock, background=False))
    await bot.setup()
    app = bot.app
    engine, db = app[keys.ENGINE], app[keys.DB]
    try:
        print(f"database: {engine.dialect.name}" + (f", synchronous={config.database.sqlite_synchronous} (as shipped)"
                                                     if engine.dialect.name == "sqlite" else ""))
        t0 = time.perf_counter()
        await fill(engine, orders=args.orders, due=args.due)
        print(f"filled {args.orders:,} unpaid orders ({args.due:,} due) in {time.perf_counter() - t0:.1f} s")

        # twice: the first reads a cold file; the second, like the scan after it, a warm one
        cold_s, base_s = await baseline(db, due=args.due), await baseline(db, due=args.due)
        print(f"baseline (the same rows: the bot's claim + one outbox insert + one update, rolled back): "
              f"cold {cold_s:.2f} s wall, warm {base_s:.2f} s wall ({args.due / base_s:,.0f}/s)")

        captured: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if not captured and "FROM reminders" in statement:
                captured.append((statement, parameters))

        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        before = rss_mb()
        t0 = time.perf_counter()
        result = await app[keys.REMINDERS].run(now=NOW)
        scan_s = time.perf_counter() - t0
        after = rss_mb()
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        print(f"scan (the bot's job: real templates, the guard): {len(result.messages):,} reminders claimed and "
              f"queued in {scan_s:.2f} s wall ({len(result.messages) / scan_s:,.0f}/s); "
              f"{scan_s / base_s:.1f}× the warm baseline's wall time")
        if result.messages:
            print(f"  first text: {result.messages[0].text}")
        print(f"resident memory: {before:.0f} MB before the scan, {after:.0f} MB after")

        sender = app[keys.OUTBOX]
        sent = 0
        t0 = time.perf_counter()
        while sent < args.send:
            n = await sender.send_due()
            if not n:
                break
            sent += n
        send_s = time.perf_counter() - t0
        print(f"send: {sent:,} reminders through the local gateway in {send_s:.2f} s wall ({sent / send_s:,.0f}/s)")
        async with db() as session:
            states = dict((await session.execute(
                sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state))).all())
        print(f"outbox: {states}")
        print(f"resident memory at the end: {rss_mb():.0f} MB")
        if captured:
            statement, parameters = captured[0]
            print(f"EXPLAIN of the claim the bot ran ({engine.dialect.name}):")
            print("   ", " ".join(statement.split())[:300], "...")
            for line in await explain(engine, statement, parameters):
                print("   ", line)
    finally:
        await bot.cleanup()
        await gateway.cleanup()
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
    print("command: scripts/bench reminders " + shlex.join(sys.argv[1:]))


if __name__ == "__main__":
    main()
