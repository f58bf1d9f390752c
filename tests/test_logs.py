"""The log: times with the shop's offset, --log-format json, --log-level before or after the
subcommand, no INFO noise from CLI commands, and the webhook's INFO summary instead of a line per push."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

from bot.web import keys
from tests.conftest import ROOT, buyer_message, post_push, signed_form


def csbot(*args: str, tmp_path) -> subprocess.CompletedProcess:
    config = tmp_path / "csbot.toml"
    config.write_text(f'[knowledge]\npath = "{ROOT / "knowledge"}"\n[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
                      '[shop]\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    return subprocess.run([sys.executable, "-m", "bot", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=120, env=env)


def test_a_cli_command_logs_nothing_at_info_unless_asked(tmp_path):
    quiet = csbot("db", "upgrade", tmp_path=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "schema up to date\n" and quiet.stderr == ""
    told = csbot("db", "upgrade", "--log-level", "info", tmp_path=tmp_path)
    lines = told.stderr.splitlines()
    assert any(" INFO bot.store.db schema up to date" in line for line in lines), told.stderr
    # The shop's time zone, with its offset, to the millisecond.
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00 ", line) for line in lines), lines


def test_log_level_before_the_subcommand_still_works(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot", "--log-level", "DEBUG", "db", "upgrade", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--log-format" in result.stdout
    result = csbot("--log-level", "info", "db", "upgrade", tmp_path=tmp_path)
    assert "INFO bot.store.db" in result.stderr


def test_json_lines(tmp_path):
    result = csbot("db", "upgrade", "--log-level", "info", "--log-format", "json", tmp_path=tmp_path)
    records = [json.loads(line) for line in result.stderr.splitlines()]
    mine = [r for r in records if r["logger"] == "bot.store.db"]
    assert mine and mine[0]["level"] == "INFO" and mine[0]["message"].startswith("schema up to date")
    assert all(r["time"].endswith("+08:00") for r in records)


async def test_pushes_are_summed_up_at_info_once_a_minute(client, caplog):
    caplog.set_level(logging.INFO)
    clock = client.app[keys.CLOCK]
    for n in range(3):
        assert (await post_push(client, "wangwang", signed_form(buyer_message(buyer=f"b{n}"), now=clock.now())))[0] == 200
    await post_push(client, "wangwang", {**signed_form(buyer_message(buyer="x"), now=clock.now()), "sign": "0" * 32})
    webhook_lines = [r for r in caplog.records if r.name == "bot.web.webhooks"]
    assert webhook_lines == []  # a line per push is DEBUG
    clock.advance(seconds=61)
    await post_push(client, "wangwang", signed_form(buyer_message(buyer="late"), now=clock.now()))
    [summary] = [r.getMessage() for r in caplog.records if r.name == "bot.web.webhooks"]
    assert summary.startswith("pushes seconds=61 total=4 ") and "wangwang.ok=3" in summary
    assert "wangwang.bad_signature=1" in summary


def test_a_value_with_a_line_break_cannot_forge_a_line():
    """The text format as `setup` installs it: one record is one line, a traceback's lines kept."""
    from bot.logs import _Text

    record = logging.LogRecord("bot.intake", logging.ERROR, __file__, 1, "push processing failed push_id=%s",
                               ("a\n2026-12-06T00:00:00.000Z INFO bot.x forged=1",), None)
    line = _Text(None).format(record)
    assert "\n" not in line and line.endswith("push_id=a\\n2026-12-06T00:00:00.000Z INFO bot.x forged=1")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("bot.intake", logging.ERROR, __file__, 1, "failed id=%s", ("x\ry",), sys.exc_info())
    first, *traceback = _Text(None).format(record).splitlines()
    assert first.endswith("failed id=x\\ry") and traceback[-1] == "ValueError: boom"
