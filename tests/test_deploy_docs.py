"""docs/deploy.md and deploy/: every csbot command in the guide's code blocks exists, with its options,
and the unit file and nginx example name what the guide says."""

from __future__ import annotations

import configparser
import re
import shlex

from bot.cli import build_parser
from tests.conftest import ROOT

GUIDE = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")


def commands() -> list[list[str]]:
    found = []
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S)
    for block in blocks:
        for match in re.finditer(r"(?:^|[\s/])csbot ((?:check-config|serve|db|kb|report|demo|simulate)[^;'\n]*)", block, re.M):
            found.append(shlex.split(match.group(1).replace("$(date +\\%F)", "DAY")))
    return found


def test_every_csbot_command_of_the_guide_parses():
    found = commands()
    assert {tuple(c[:1]) for c in found} >= {("check-config",), ("db",)}
    for words in found:
        try:
            build_parser().parse_args(words)
        except SystemExit:
            raise AssertionError(f"docs/deploy.md: `csbot {' '.join(words)}` is not a command csbot takes") from None


def test_the_unit_file_runs_what_the_guide_says():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "deploy" / "csbot.service").read_text(encoding="utf-8"))
    start = shlex.split(unit["Service"]["ExecStart"])
    assert start[0].endswith("/csbot") and start[1] == "serve"
    args = build_parser().parse_args(start[1:])
    assert (args.command, args.log_format) == ("serve", "json")
    check = shlex.split(unit["Service"]["ExecStartPre"])
    assert build_parser().parse_args(check[1:]).command == "check-config"
    assert unit["Service"]["EnvironmentFile"] in GUIDE or "/etc/csbot/csbot.env" in GUIDE
    assert "deploy/csbot.service" in GUIDE


def test_the_nginx_example_bounds_slow_clients():
    conf = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    for directive in ("client_header_timeout", "client_body_timeout", "limit_conn ", "limit_req ", "ssl_certificate ",
                      "client_max_body_size"):
        assert re.search(rf"^\s*{directive}", conf, re.M), directive
    assert conf.count("{") == conf.count("}")
    assert "deploy/nginx.conf" in GUIDE


def test_the_series_the_guide_alerts_on_exist():
    """Every csbot_* name in the guide is one /metrics has (checked against the code that writes them)."""
    sources = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "bot" / "web").glob("*.py"))
    for name in set(re.findall(r"csbot_[a-z_0-9]+", GUIDE)):
        base = re.sub(r"_(total|bucket|count|sum|info)$", "", name)
        assert f'"{base}' in sources, name

