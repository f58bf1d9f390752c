"""`csbot report`: the daily per-agent report (figures and the day's sales) as a table, CSV or JSON;
`csbot metrics rebuild`: the stored facts those figures are summed from, rebuilt from every message."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
import time
from datetime import timedelta

from bot.clock import Clock, SystemClock
from bot.config import Config, config_dir
from bot.metrics.period import PeriodFigures
from bot.metrics.report import Rules, parse_period

FIELDS = ("day", "agent", "name", "platform", "consulting_buyers", "replied_buyers", "reply_rate", "responses",
          "avg_response_s", "p50_response_s", "p90_response_s", "first_response_avg_s", "within_30s_rate",
          "effective_reply_rate", "effective_reply_pending", "conversion_rate", "sales", "avg_order_value")
_TABLE = (("day", "day"), ("agent", "agent"), ("name", "name"), ("platform", "platform"),
          ("consulting_buyers", "buyers"), ("reply_rate", "reply%"), ("responses", "resp"),
          ("avg_response_s", "avg s"), ("p50_response_s", "p50 s"), ("p90_response_s", "p90 s"),
          ("first_response_avg_s", "first s"), ("within_30s_rate", "≤30s%"), ("effective_reply_rate", "eff%"),
          ("effective_reply_pending", "eff pend"),
          ("conversion_rate", "conv%"), ("sales", "sales ¥"), ("avg_order_value", "AOV ¥"))


def add_parser(sub, config_arg) -> None:
    metrics = sub.add_parser("metrics", help="the stored facts the period figures are summed from")
    metrics_sub = metrics.add_subparsers(dest="metrics_command", required=True, metavar="METRICS_COMMAND")
    rebuild_ = metrics_sub.add_parser(
        "rebuild", help="rebuild every buyer's facts from their messages (the bot also does it by itself, "
                        "in the background, after an upgrade or a change of the metrics rules)")
    config_arg(rebuild_)
    report = sub.add_parser("report", help="the per-agent report for days: response times, reply rate, conversion, sales")
    report.add_argument("--from", dest="first", default=None, help="first day, YYYY-MM-DD (default: today, shop time)")
    report.add_argument("--to", dest="last", default=None, help="last day, YYYY-MM-DD, inclusive (default: --from)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--whole", action="store_true", help="one row per agent for the whole period, not per day")


def run(args: argparse.Namespace, config: Config, *, clock: Clock | None = None) -> int:
    """`csbot report`; `clock` (the system's by default) says what today is and what is still undecided."""
    rules = Rules.from_config(config)
    now = (clock or SystemClock()).now()
    try:
        first, last = parse_period(args.first, args.last, today=now.astimezone(rules.zone).date())
    except ValueError as e:
        print(f"csbot report: {e}", file=sys.stderr)
        return 2
    days = [(first, last)] if args.whole else [(first + timedelta(days=i),) * 2 for i in range((last - first).days + 1)]
    rows, shop = asyncio.run(_collect(config, days, now, rules))
    names = {a.id: a.name or a.id for a in config.agents}
    for row in rows:
        row["name"] = names.get(row["agent"], row["agent"])
    out = sys.stdout
    if args.format == "json":
        json.dump({"from": first.isoformat(), "to": last.isoformat(), "timezone": config.shop.timezone,
                   "items": rows, "shop": shop}, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "csv":
        writer = csv.DictWriter(out, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        out.write(table(rows))
    return 0


def rebuild(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_rebuild(config))


async def _rebuild(config: Config) -> int:
    from bot.store import metric_facts
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)),
                           sqlite_synchronous=config.database.sqlite_synchronous)
    try:
        await migrate(engine)
        db = sessionmaker(engine)
        async with db() as session, session.begin():
            await metric_facts.mark_all_stale(session)
        started = time.monotonic()

        def progress(done: int, _batch: int) -> None:
            if done % 20_000 < _batch:
                print(f"  {done:,} buyers ...", file=sys.stderr, flush=True)

        n = await PeriodFigures(db, rules=Rules.from_config(config)).catch_up(batch=1000, now_stale=True,
                                                                            progress=progress)
        print(f"rebuilt the metric facts of {n:,} buyers in {time.monotonic() - started:.1f} s")
        return 0
    finally:
        await engine.dispose()


async def _collect(config: Config, days, now, rules: Rules) -> tuple[list[dict], list[dict]]:
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        figures = PeriodFigures(sessionmaker(engine), rules=rules)
        rows, shop = [], []
        for first, last in days:
            totals = await figures.totals(first=first, last=last, now=now)
            label = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
            rows += [{"day": label, **row} for row in totals.agents()]
            shop += totals.effective_days()
        return rows, shop
    finally:
        await engine.dispose()


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key.endswith("_rate"):
        return f"{value * 100:.1f}"
    if isinstance(value, float):
        return f"{value:.1f}" if key.endswith("_s") else f"{value:.2f}"
    return str(value)


def table(rows: list[dict]) -> str:
    """Aligned columns for a terminal (CJK names count as two columns wide)."""
    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)

    cells = [[head for _, head in _TABLE]] + [[_cell(key, row.get(key)) for key, _ in _TABLE] for row in rows]
    widths = [max(width(r[i]) for r in cells) for i in range(len(_TABLE))]
    buf = io.StringIO()
    for r in cells:
        buf.write("  ".join(c + " " * (w - width(c)) for c, w in zip(r, widths)).rstrip() + "\n")
    if not rows:
        buf.write("(no agent activity in the period)\n")
    return buf.getvalue()
