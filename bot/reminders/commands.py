"""`csbot reminders preview [--at TIME]` and `csbot report reminders`: what the scan would send, and
what reminders won back."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import UTC, Clock, SystemClock
from bot.config import Config, config_dir
from bot.reminders.job import ReminderJob, Render
from bot.reminders.policy import Rules
from bot.reminders.report import figures, period, summary


def add_parser(sub, config_arg) -> None:
    reminders = sub.add_parser("reminders", help="payment reminders (催付): preview what would be sent")
    reminders_sub = reminders.add_subparsers(dest="reminders_command", required=True, metavar="REMINDERS_COMMAND")
    preview = reminders_sub.add_parser("preview", help="what a scan would send, to whom and when, without sending")
    config_arg(preview)
    preview.add_argument("--at", default=None,
                         help="scan as if it were TIME, shop time: 'YYYY-MM-DD HH:MM' or HH:MM today (default: now)")
    preview.add_argument("--format", choices=("table", "json"), default="table")
    preview.add_argument("--hours", type=int, default=24, help="also list what falls due this many hours after (default 24)")


def parse_at(text: str | None, *, now: datetime, zone: ZoneInfo) -> datetime:
    """--at in shop time: "YYYY-MM-DD HH:MM[:SS]", or "HH:MM" for today; ValueError otherwise.

    >>> from datetime import timezone
    >>> z = ZoneInfo("Asia/Shanghai")
    >>> parse_at("23:30", now=datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc), zone=z).isoformat()
    '2026-11-24T15:30:00+00:00'
    """
    if not text:
        return now
    text = text.strip()
    try:
        if len(text) <= 5:
            local = datetime.combine(now.astimezone(zone).date(), time.fromisoformat(text))
        else:
            local = datetime.fromisoformat(text.replace("T", " "))
    except ValueError:
        raise ValueError(f"--at {text!r}: use 'YYYY-MM-DD HH:MM' or HH:MM (shop time)") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    return local.astimezone(UTC)


async def _with_db(config: Config, work):
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        return await work(sessionmaker(engine))
    finally:
        await engine.dispose()


def preview(args: argparse.Namespace, config: Config, *, render: Render, clock: Clock | None = None,
            out=None) -> int:
    """`render` fills the reminder templates (the composition root builds it from the knowledge base)."""
    out = out or sys.stdout
    zone = ZoneInfo(config.shop.timezone)
    try:
        at = parse_at(args.at, now=(clock or SystemClock()).now(), zone=zone)
    except ValueError as e:
        print(f"csbot reminders preview: {e}", file=sys.stderr)
        return 2

    async def work(db):
        from bot.store import reminders as store

        job = ReminderJob(db, rules=Rules.from_config(config.reminders, zone=config.shop.timezone), render=render)
        result = await job.preview(now=at)
        async with db() as session:
            upcoming = await store.due_between(session, since=at, until=at + timedelta(hours=args.hours))
        return result, upcoming

    result, upcoming = asyncio.run(_with_db(config, work))
    local = at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    others = {f"{platform}:{outcome}": n for (platform, outcome), n in sorted(result.outcomes.items())
              if outcome != "sent"}
    if args.format == "json":
        json.dump({"at": local, "timezone": config.shop.timezone, "messages": [
            {"platform": m.platform, "buyer": m.buyer, "client_msg_id": m.client_msg_id, "orders": list(m.orders),
             "text": m.text} for m in result.messages], "not_sent": others,
            "upcoming": [{"due_at": u.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), "platform": u.platform,
                          "buyer": u.buyer, "order_id": u.order_id, "slot": u.slot} for u in upcoming]},
            out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    out.write(f"reminders a scan at {local} ({config.shop.timezone}) would send: {len(result.messages)}\n")
    for m in result.messages:
        out.write(f"  {m.platform:9} {m.buyer:16} {','.join(m.orders):20} {m.client_msg_id}\n    {m.text}\n")
    for name, n in others.items():
        out.write(f"  not sent: {name} {n}\n")
    out.write(f"falling due in the {args.hours} h after (checked again by the policy when they do): {len(upcoming)}\n")
    for u in upcoming:
        out.write(f"  {u.due_at.astimezone(zone):%Y-%m-%d %H:%M} {u.platform:9} {u.buyer:16} {u.order_id} slot {u.slot}\n")
    return 0


def report(args: argparse.Namespace, config: Config, *, clock: Clock | None = None, out=None) -> int:
    out = out or sys.stdout
    zone = ZoneInfo(config.shop.timezone)
    today = (clock or SystemClock()).now().astimezone(zone).date()
    try:
        first, last = period(getattr(args, "first", None), getattr(args, "last", None), today=today)
    except ValueError as e:
        print(f"csbot report reminders: {e}", file=sys.stderr)
        return 2
    since = datetime.combine(first, time(0), zone)
    until = datetime.combine(last + timedelta(days=1), time(0), zone)

    async def work(db):
        from bot.store import reminders as store

        async with db() as session:
            return await store.decided_between(session, since=since, until=until)

    rows = figures(asyncio.run(_with_db(config, work)), zone=zone,
                   recovered_within=timedelta(hours=config.reminders.recovered_hours))
    if getattr(args, "format", "table") == "json":
        json.dump({"from": first.isoformat(), "to": last.isoformat(), "timezone": config.shop.timezone, "items": rows,
                   "totals": summary(rows)}, out, ensure_ascii=False, indent=2)
        out.write("\n")
        return 0
    if getattr(args, "format", "table") == "csv":
        fields = ("day", "platform", "reminded_orders", "recovered_orders", "recovered_sales_fen", "recovery_rate")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((*fields, "skipped"))
        for r in rows:
            writer.writerow((*(r[f] for f in fields), ";".join(f"{k}={v}" for k, v in r["skipped"].items())))
        return 0
    out.write(f"payment reminders {first.isoformat()}..{last.isoformat()} ({config.shop.timezone})\n")
    out.write(f"{'day':10} {'platform':9} {'reminded':>8} {'recovered':>9} {'rate':>6} {'sales ¥':>10}  skipped\n")
    for r in rows:
        rate = "-" if r["recovery_rate"] is None else f"{r['recovery_rate'] * 100:.0f}%"
        skipped = ", ".join(f"{k} {v}" for k, v in r["skipped"].items()) or "-"
        out.write(f"{r['day']:10} {r['platform']:9} {r['reminded_orders']:>8} {r['recovered_orders']:>9} {rate:>6} "
                  f"{r['recovered_sales_fen'] / 100:>10.2f}  {skipped}\n")
    return 0
