"""`csbot report scorecard --month YYYY-MM`: each agent's 10-point card, deductions and commission."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys

from bot.clock import Clock, SystemClock
from bot.config import Config, config_dir
from bot.metrics.report import Rules
from bot.reports import scorecard


def run(args: argparse.Namespace, config: Config, *, clock: Clock | None = None) -> int:
    rules = Rules.from_config(config)
    now = (clock or SystemClock()).now()
    try:
        first, last = scorecard.parse_month(args.month, today=now.astimezone(rules.zone).date())
    except ValueError as e:
        print(f"csbot report scorecard: --month: {e}", file=sys.stderr)
        return 2
    body = asyncio.run(_collect(config, first, last, now, rules))
    out = sys.stdout
    if args.format == "json":
        json.dump(body, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("month", "agent", "name", "score", "status", "flagged", "deductions", "sales", "commission"))
        for c in body["items"]:
            writer.writerow((c["month"], c["agent"], c["name"], c["score"], c["status"], c["flagged"],
                             "; ".join(f"{d['rule']} -{d['points']:g}" for d in c["deductions"]), c["sales"],
                             c["commission"]))
    else:
        out.write(f"scorecard 10分制 {body['month']} ({body['timezone']})\n")
        for c in body["items"]:
            flag = "  FLAGGED (3 months at or below the warning line)" if c["flagged"] else ""
            out.write(f"{c['name']} ({c['agent']}): {c['score']:g} {c['status']}{flag}; "
                      f"sales ¥{c['sales']:.2f}, commission ¥{c['commission']:.0f}\n")
            for d in c["deductions"]:
                out.write(f"  {d['rule']} -{d['points']:g}: " + ", ".join(e["label"] for e in d["evidence"]) + "\n")
    return 0


async def _collect(config: Config, first, last, now, rules: Rules) -> dict:
    from bot.metrics.period import PeriodFigures
    from bot.reports.monthly import scorecards
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        db = sessionmaker(engine)
        return await scorecards(db, PeriodFigures(db, rules=rules), config=config, first=first, last=last, now=now,
                                rules=rules)
    finally:
        await engine.dispose()
