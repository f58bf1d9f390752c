"""`csbot simulate` and `csbot demo` as functions: --faults parsing, a short run of each on free
ports, and a cancel (Ctrl+C) that still prints the report."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.clock import SystemClock
from bot.gateway import PLATFORMS
from bot.gateway.base import Rejected
from bot.sim.run import demo, parse_faults, simulate
from tests.conftest import make_config


def test_parse_faults_reads_names_and_probabilities():
    assert parse_faults("") == {}
    assert parse_faults("duplicate=0.1, stale=0.02,") == {"duplicate": 0.1, "stale": 0.02}
    assert parse_faults("bad_sign=0,out_of_order=1") == {"bad_sign": 0.0, "out_of_order": 1.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("typo=0.1", "unknown fault 'typo'; known: bad_sign, stale, duplicate, out_of_order"),
        ("duplicate", "'duplicate' is not name=probability"),
        ("stale=1.5", "stale: probability 1.5 is not between 0 and 1"),
        ("stale=-0.1", "stale: probability -0.1 is not between 0 and 1"),
        ("stale=nan", "stale: probability nan is not between 0 and 1"),
        ("stale=often", "stale: 'often' is not a number"),
        ("stale=0.1,stale=0.2", "fault 'stale' given twice"),
    ],
)
def test_parse_faults_refuses_what_it_cannot_use(text, message):
    with pytest.raises(ValueError) as e:
        parse_faults(text)
    assert str(e.value) == message


@pytest.mark.parametrize(("rate", "duration", "message"), [
    (0, 1, "--rate must be more than 0, not 0"), (5, -1, "--duration must be 0 (until Ctrl+C) or more, not -1"),
])
async def test_options_that_make_no_traffic_are_refused(sqlite_url, capsys, rate, duration, message):
    config = make_config(sqlite_url)
    assert await simulate(config, bot_url=None, rate=rate, duration=duration, seed=1, faults={}) == 2
    assert await demo(config, rate=rate, duration=duration, seed=1, faults={}) == 2
    assert capsys.readouterr().err == f"csbot: {message}\n" * 2


async def test_a_gateway_address_in_use_is_reported_not_raised(aiohttp_server, sqlite_url, capsys):
    taken = await aiohttp_server(web.Application())
    config = make_config(sqlite_url, gateway_url=str(taken.make_url("")).rstrip("/"))
    assert await simulate(config, bot_url="http://127.0.0.1:9", rate=1, duration=1, seed=1, faults={}) == 1
    assert f"cannot listen on 127.0.0.1:{taken.port}" in capsys.readouterr().err


class FakeBot:
    """Answers pushes as the bot would, checking signatures with the real adapters; no store."""

    def __init__(self, config) -> None:
        self.secrets = {p.name: p.app_secret for p in config.platforms}
        self.received = asyncio.Event()
        self.count = 0

    async def receive(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        form = dict(parse_qsl((await request.read()).decode()))
        self.count += 1
        if self.count >= 5:
            self.received.set()
        try:
            PLATFORMS[platform].verify(form, self.secrets[platform], now=SystemClock().now())
        except Rejected as e:
            return web.json_response({"code": e.code, "msg": e.msg}, status=e.status)
        return web.json_response({"code": 0, "msg": "ok"})


@pytest.fixture
async def fake_bot(aiohttp_server, sqlite_url):
    gateway_port = unused_port()
    config = make_config(sqlite_url, gateway_url=f"http://127.0.0.1:{gateway_port}")
    bot = FakeBot(config)
    app = web.Application()
    app.router.add_post("/webhooks/{platform}", bot.receive)
    server = await aiohttp_server(app)
    return config, bot, str(server.make_url(""))


async def test_simulate_drives_traffic_at_the_bot_and_prints_the_report(fake_bot, capsys):
    config, bot, url = fake_bot
    assert await simulate(config, bot_url=url, rate=30, duration=1.0, seed=2, faults={"stale": 0.2}) == 0
    out = capsys.readouterr().out
    assert f"pushing to {url}" in out and "traffic report" in out
    assert _row(out, "unexpected answers") == [0, 0, 0]
    assert _row(out, "rejected 401")[-1] > 0


async def test_a_cancelled_simulation_still_prints_its_report(fake_bot, capsys):
    config, bot, url = fake_bot
    task = asyncio.create_task(simulate(config, bot_url=url, rate=50, duration=0, seed=2, faults={}))
    await asyncio.wait_for(bot.received.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    out = capsys.readouterr().out
    assert "traffic report" in out and _row(out, "pushes")[-1] >= 5


async def test_demo_runs_the_bot_the_gateway_and_the_traffic(sqlite_url, capsys):
    bot_port, gateway_port = unused_port(), unused_port()
    config = make_config(sqlite_url, gateway_url=f"http://127.0.0.1:{gateway_port}",
                         server={"host": "127.0.0.1", "port": bot_port})
    assert await demo(config, rate=20, duration=0.5, seed=1, faults={"duplicate": 0.5}) == 0
    out = capsys.readouterr().out
    for url in ("/board", "/console", "/healthz", "/metrics"):
        assert f"http://127.0.0.1:{bot_port}{url}" in out
    assert f"http://127.0.0.1:{gateway_port}/sent" in out
    assert "supervisor-token" in out and "agent-xiaomei-token" in out
    assert _row(out, "unexpected answers") == [0, 0, 0]
    assert _row(out, "duplicates (200 duplicate)")[-1] == _row(out, "fault duplicate")[-1]


def _row(report: str, label: str) -> list[int]:
    line = next(line for line in report.splitlines() if line.startswith(label))
    return [int(n) for n in line.removeprefix(label).split()]
