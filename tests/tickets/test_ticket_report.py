"""`csbot report tickets` on a scripted set of tickets: counts by category and severity, SLA compliance,
time to first response and to resolution (mean, p90), callback ratings, repeat complaints."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from argparse import Namespace

import pytest
from datetime import datetime, timedelta

from bot import cli
from bot.clock import PLATFORM_TZ, FakeClock
from bot.store import chat
from bot.store.db import async_url, create_engine, migrate, sessionmaker
from bot.store.tables import Ticket
from bot.tickets import commands
from bot.tickets.report import p90
from tests.conftest import ROOT, make_config

DAY = datetime(2026, 11, 24, 0, 0, tzinfo=PLATFORM_TZ)  # shop day 2026-11-24
SLA = {"P1": (60, 1440), "P2": (240, 2880), "P3": (1440, 4320)}


def h(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def ticket(buyer_id, category, severity, opened, *, state="assigned", first=None, resolved=None, rating=None):
    first_min, resolution_min = SLA[severity]
    return Ticket(buyer_id=buyer_id, platform="wangwang", shop="demo-tb", buyer=f"b{buyer_id}", category=category,
                  severity=severity, rule="test", state=state, created_at=opened, updated_at=opened,
                  first_response_at=first, resolved_at=resolved, rating=rating,
                  first_response_due_at=opened + timedelta(minutes=first_min),
                  resolution_due_at=opened + timedelta(minutes=resolution_min))


async def _script(url: str) -> None:
    engine = create_engine(async_url(url))
    await migrate(engine)
    async with sessionmaker(engine)() as session, session.begin():
        a, b, c = [await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=n, seen_at=DAY)
                   for n in ("a", "b", "c")]
        session.add_all([
            ticket(c, "quality", "P2", h(-14 * 24), state="closed"),  # before the period: makes c's a repeat
            ticket(a, "service", "P3", h(10), state="closed", first=h(10) + timedelta(seconds=600),
                   resolved=h(12), rating=5),
            ticket(a, "refund", "P2", h(11), state="investigating", first=h(11.5)),  # a's second: a repeat
            ticket(b, "general", "P1", h(12), state="closed", first=h(13.5), resolved=h(16), rating=4),
            ticket(c, "quality", "P2", h(9)),  # never answered: first response missed
            ticket(b, "service", "P3", h(26)),  # the next day: not in the period
        ])
    await engine.dispose()


def test_the_ticket_report_on_a_scripted_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'report.db'}"
    asyncio.run(_script(url))
    out = io.StringIO()
    args = Namespace(first="2026-11-24", last=None, format="json")
    now = FakeClock(h(36))  # 2026-11-25 12:00 shop time
    assert commands.run(args, make_config(url), clock=now, out=out) == 0
    r = json.loads(out.getvalue())
    assert r["tickets"] == 4
    assert r["by_category"] == {"general": 1, "quality": 1, "refund": 1, "service": 1}
    assert r["by_severity"] == {"P1": 1, "P2": 2, "P3": 1}
    assert r["open_by_state"] == {"assigned": 1, "investigating": 1}
    assert r["first_response_sla"] == {"met": 2, "missed": 2, "rate": 0.5}  # b's P1 after 90 min; c's never
    assert r["resolution_sla"] == {"met": 2, "missed": 0, "rate": 1.0}  # the two open ones are not due yet
    assert r["first_response_s"] == {"n": 3, "mean": 2600.0, "p90": 5400.0}
    assert r["resolution_s"] == {"n": 2, "mean": 10800.0, "p90": 14400.0}
    assert r["callback"] == {"n": 2, "mean": 4.5, "ratings": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}, "satisfied": 2}
    assert r["repeat_complaints"] == {"tickets": 2, "buyers": 2}


def test_csbot_report_tickets_prints_the_figures(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'report.db'}"
    asyncio.run(_script(url))
    config = tmp_path / "csbot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[knowledge]\npath = "{ROOT / "knowledge"}"\n', encoding="utf-8")
    assert cli.main(["report", "tickets", "--config", str(config), "--from", "2026-11-24"]) == 0
    text = capsys.readouterr().out
    assert "tickets                 4" in text
    assert "by severity             P1 1, P2 2, P3 1" in text
    assert "first response s        mean 2600, p90 5400 (n=3)" in text
    assert "repeat complaints       2 tickets from 2 buyers" in text
    assert cli.main(["report", "tickets", "--config", str(config), "--from", "2026-11-25", "--to", "2026-11-24"]) == 2


def test_p90_is_the_nearest_rank():
    assert p90(list(range(1, 11))) == 9 and p90([7]) == 7 and p90([]) is None


def test_csbot_report_tickets_writes_csv_and_refuses_an_unsupported_format(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'report.db'}"
    asyncio.run(_script(url))
    config = tmp_path / "csbot.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[knowledge]\npath = "{ROOT / "knowledge"}"\n', encoding="utf-8")
    assert cli.main(["report", "tickets", "--config", str(config), "--from", "2026-11-24", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    figures = {r["figure"]: r["value"] for r in rows}
    assert {r["from"] for r in rows} == {"2026-11-24"}
    assert figures["tickets"] == "4"
    assert figures["by_severity.P1"] == "1"
    assert figures["first_response_s.mean"] == "2600.0"
    assert figures["repeat_complaints.buyers"] == "2"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "tickets", "--config", str(config), "--from", "2026-11-24", "--format", "pdf"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
