"""`csbot report`: bad dates exit 2 with a message; the daily per-agent figures as CSV, JSON and a table."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sqlite3
from datetime import timedelta

import pytest

from bot.cli import main
from bot.clock import FakeClock
from bot.config import load_config
from bot.metrics import commands
from bot.store import chat
from bot.store.db import async_url, create_engine, migrate, sessionmaker
from tests.conftest import ROOT, START

CONFIG = """
[database]
url = "sqlite:///{db}"
[knowledge]
path = "{kb}"
[[agents]]
id = "xiaomei"
name = "小美"
accounts = ["wangwang:小店:小美"]
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "csbot.toml"
    path.write_text(CONFIG.format(db=tmp_path / "bot.db", kb=ROOT / "knowledge"), encoding="utf-8")
    return path


def populate(db_path) -> None:
    async def run():
        engine = create_engine(async_url(f"sqlite:///{db_path}"))
        await migrate(engine)
        async with sessionmaker(engine)() as session, session.begin():
            gap = timedelta(minutes=30)
            for day, seconds in ((0, 20), (1, 50)):
                at = START + timedelta(days=day)
                buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=f"b{day}", seen_at=at)
                for sender, t, account in (("buyer", at, "小店:小美"), ("agent", at + timedelta(seconds=seconds), "小店:小美")):
                    await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender=sender,
                                              agent_account=account, text="x", sent_at=t, gap=gap)
        await engine.dispose()
    asyncio.run(run())


@pytest.mark.parametrize("args, fragment", [
    (["--from", "2026-11-25", "--to", "2026-11-24"], "after"),
    (["--from", "24/11/2026"], "from must be a date"),
    (["--from", "2025-01-01", "--to", "2026-01-02"], "367 days, more than a year"),
])
def test_bad_dates_exit_2_with_a_message(config_file, capsys, args, fragment):
    assert main(["report", "--config", str(config_file), *args]) == 2
    assert fragment in capsys.readouterr().err


def test_the_daily_report_as_csv_json_and_table(config_file, tmp_path, capsys):
    populate(tmp_path / "bot.db")
    period = ["--from", "2026-11-24", "--to", "2026-11-25"]
    assert main(["report", "--config", str(config_file), *period, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["day"], r["agent"], r["name"], r["responses"], r["avg_response_s"]) for r in rows] == [
        ("2026-11-24", "xiaomei", "小美", "1", "20.0"), ("2026-11-25", "xiaomei", "小美", "1", "50.0")]

    assert main(["report", "--config", str(config_file), *period, "--format", "json", "--whole"]) == 0
    body = json.loads(capsys.readouterr().out)
    [row] = body["items"]
    assert (row["day"], row["responses"], row["avg_response_s"], row["consulting_buyers"]) == ("2026-11-24..2026-11-25", 2, 35.0, 2)

    assert main(["report", "--config", str(config_file), *period]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["day", "agent", "name", "platform"]
    assert "小美" in table[1] and "20.0" in table[1]


def test_the_report_defaults_to_today_on_the_injected_clock(config_file, tmp_path, capsys):
    """No --from: today in the shop's zone, as the clock given to the command says (START's day, then
    the next one), never the machine's date."""
    populate(tmp_path / "bot.db")
    config = load_config(str(config_file))
    args = argparse.Namespace(first=None, last=None, whole=False, format="csv")
    for clock, day, responses in ((FakeClock(START), "2026-11-24", "1"),
                                  (FakeClock(START + timedelta(days=1)), "2026-11-25", "1"),
                                  (FakeClock(START + timedelta(days=2)), "2026-11-26", None)):
        assert commands.run(args, config, clock=clock) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert [(r["day"], r["responses"]) for r in rows] == ([(day, responses)] if responses else []), day


def test_metrics_rebuild_builds_every_buyers_facts(config_file, tmp_path, capsys):
    populate(tmp_path / "bot.db")
    assert main(["metrics", "rebuild", "--config", str(config_file)]) == 0
    assert "rebuilt the metric facts of 2 buyers" in capsys.readouterr().out
    con = sqlite3.connect(tmp_path / "bot.db")
    assert con.execute("SELECT agent, response_us FROM metric_responses ORDER BY response_us").fetchall() == [
        ("xiaomei", 20_000_000), ("xiaomei", 50_000_000)]
    assert con.execute("SELECT count(*) FROM metric_stale").fetchone() == (0,)
    con.close()


def test_the_report_counts_agents_added_on_admin(tmp_path, capsys):
    """An agent the file does not declare, added on /admin (a staff user with the account), is named in
    the report as the server names them, not by the bare platform account."""
    from bot.store.tables import StaffUser

    path = tmp_path / "csbot.toml"
    path.write_text(CONFIG.split("[[agents]]")[0].format(db=tmp_path / "bot.db", kb=ROOT / "knowledge"), encoding="utf-8")
    populate(tmp_path / "bot.db")

    async def add_user():
        engine = create_engine(async_url(f"sqlite:///{tmp_path / 'bot.db'}"))
        async with sessionmaker(engine)() as session, session.begin():
            session.add(StaffUser(username="xiaomei", name="小美", accounts="wangwang:小店:小美", created_at=START,
                                  changed_at=START))
        await engine.dispose()
    asyncio.run(add_user())
    assert main(["report", "--config", str(path), "--from", "2026-11-24", "--to", "2026-11-24", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["agent"], r["name"]) for r in rows] == [("xiaomei", "小美")]
