"""`csbot report tickets`: the complaint-ticket report for days (shop time), as text, CSV or JSON."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock, SystemClock
from bot.config import Config, config_dir
from bot.tickets.report import REPEAT_WINDOW, TicketFacts, figures, flat, text


def period(first: str | None, last: str | None, *, today: date) -> tuple[date, date]:
    """Parse --from/--to (YYYY-MM-DD, inclusive); ValueError on a bad day or an empty period."""
    try:
        start = date.fromisoformat(first) if first else today
        end = date.fromisoformat(last) if last else start
    except ValueError:
        raise ValueError("days are YYYY-MM-DD") from None
    if end < start:
        raise ValueError("--to is before --from")
    return start, end


def run(args, config: Config, *, clock: Clock | None = None, out=None) -> int:
    out = out or sys.stdout
    zone = ZoneInfo(config.shop.timezone)
    now = (clock or SystemClock()).now()
    try:
        first, last = period(getattr(args, "first", None), getattr(args, "last", None),
                             today=now.astimezone(zone).date())
    except ValueError as e:
        print(f"csbot report tickets: {e}", file=sys.stderr)
        return 2
    since = datetime.combine(first, time(0), zone)
    until = datetime.combine(last + timedelta(days=1), time(0), zone)
    report = asyncio.run(collect(config, since=since, until=until, now=now))
    label = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
    fmt = getattr(args, "format", "table")
    if fmt == "json":
        json.dump({"from": first.isoformat(), "to": last.isoformat(), "timezone": config.shop.timezone, **report},
                  out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("from", "to", "figure", "value"))
        writer.writerows((first.isoformat(), last.isoformat(), k, "" if v is None else v) for k, v in flat(report))
    elif fmt == "table":
        out.write(text(report, title=f"complaint tickets {label} ({config.shop.timezone})"))
    else:
        print(f"csbot report tickets: --format {fmt} is not supported (table, csv or json)", file=sys.stderr)
        return 2
    return 0


async def collect(config: Config, *, since: datetime, until: datetime, now: datetime) -> dict:
    from bot.store import tickets as store
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        async with sessionmaker(engine)() as session:
            rows = await store.opened_between(session, since=since, until=until)
            before = await store.opened_by_buyers(session, buyer_ids=sorted({t.buyer_id for t in rows}),
                                                  since=since - REPEAT_WINDOW)
        earlier = [(t.buyer_id, t.created_at) for t in before if t.created_at < since]
        return figures([TicketFacts.of(t) for t in rows], earlier=earlier, now=now)
    finally:
        await engine.dispose()
