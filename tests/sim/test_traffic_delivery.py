"""Delivering pushes as gateway.md's gateway does, against scripted bots on port 0: retries of no
answer and 5xx with a fresh signature, no retry of 4xx, the fault forms, and what gets counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web

from bot.clock import parse_platform_time
from bot.gateway import PLATFORMS
from bot.gateway.base import Rejected
from bot.sim.traffic import Deliverer, PlannedPush, Report, event_of, shops_from_config
from tests.conftest import make_config

SHOPS = {s.platform: s for s in shops_from_config(make_config("sqlite:///unused.db"))}
FAST = (0.01, 0.01, 0.01, 0.01, 0.01)


class ScriptedBot:
    """A bot whose answers come from a list (the last one repeats); it records every form it gets."""

    def __init__(self, clock, answers: list[tuple[int, str] | Callable[[], object]]) -> None:
        self.clock = clock
        self.answers = answers
        self.forms: list[dict[str, str]] = []

    async def receive(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        self.forms.append(form)
        self.clock.advance(seconds=7)  # so that each attempt is signed at another time
        answer = self.answers[min(len(self.forms), len(self.answers)) - 1]
        if callable(answer):
            await answer()
            answer = (200, "ok")
        status, msg = answer
        if status == 0:  # check the signature for real
            try:
                PLATFORMS[platform].verify(form, SHOPS[platform].app_secret, now=self.clock.now())
                status, msg = 200, "ok"
            except Rejected as e:
                status, msg = e.status, e.msg
        return web.json_response({"code": 0 if status == 200 else 1, "msg": msg}, status=status)


@pytest.fixture
def script(aiohttp_server, clock):
    async def start(*answers) -> tuple[ScriptedBot, str]:
        bot = ScriptedBot(clock, list(answers))
        app = web.Application()
        app.router.add_post("/webhooks/{platform}", bot.receive)
        server = await aiohttp_server(app)
        return bot, str(server.make_url(""))
    return start


def push(platform: str = "wangwang", *faults: str) -> PlannedPush:
    return PlannedPush(0.0, platform, SHOPS[platform].app_key, "tb_小鱼儿88", "buyer_message", push_id="sim0001-0000001",
                       text="这款还有货吗", agent_account="", faults=frozenset(faults))


async def deliver(url: str, clock, p: PlannedPush, **options) -> Report:
    report = Report()
    async with aiohttp.ClientSession() as http:
        deliverer = Deliverer(http, bot_url=url, shops=SHOPS, clock=clock, report=report,
                              retry_delays_s=options.pop("retry_delays_s", FAST), **options)
        await deliverer.deliver(p, event_of(p, clock.now()))
    return report


async def test_a_good_push_is_delivered_once(script, clock):
    bot, url = await script((0, ""))
    report = await deliver(url, clock, push("dongdong"))
    counts = report.of("dongdong")
    assert (counts.copies, counts.delivered, counts.retried, counts.unexpected, counts.in_flight) == (1, 1, 0, 0, 0)
    assert report.accepted == {("dongdong", "sim0001-0000001")}


async def test_5xx_is_retried_with_the_same_id_and_a_fresh_timestamp(script, clock):
    bot, url = await script((503, "overloaded"), (503, "overloaded"), (0, ""))
    report = await deliver(url, clock, push())
    counts = report.of("wangwang")
    assert (counts.delivered, counts.retried, counts.failed) == (1, 2, 0)
    assert len({f["id"] for f in bot.forms}) == 1
    assert len({f["timestamp"] for f in bot.forms}) == 3
    assert [f["content"] for f in bot.forms] == [bot.forms[0]["content"]] * 3


async def test_no_answer_in_time_is_retried_and_a_duplicate_then_is_expected(script, clock):
    bot, url = await script(lambda: asyncio.sleep(1), (200, "duplicate"))
    report = await deliver(url, clock, push(), answer_timeout_s=0.1)
    counts = report.of("wangwang")
    assert (counts.duplicates, counts.retried, counts.unexpected) == (1, 1, 0)


async def test_a_push_is_given_up_after_five_retries(script, clock):
    bot, url = await script((500, "boom"))
    report = await deliver(url, clock, push())
    counts = report.of("wangwang")
    assert (counts.failed, counts.retried, len(bot.forms), counts.in_flight) == (1, 5, 6, 0)
    assert report.accepted == set()


@pytest.mark.parametrize("status", [400, 401, 413])
async def test_4xx_is_not_retried(script, clock, status):
    bot, url = await script((status, "no"))
    report = await deliver(url, clock, push())
    counts = report.of("wangwang")
    assert (counts.rejected[status], counts.retried, len(bot.forms)) == (1, 0, 1)
    assert counts.unexpected == 1  # a good push deserved a 200
    assert report.refused == {("wangwang", "sim0001-0000001")}


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_bad_sign_is_signed_with_another_secret(script, clock, platform):
    bot, url = await script((0, ""))
    report = await deliver(url, clock, push(platform, "bad_sign"))
    assert (report.of(platform).rejected[401], report.of(platform).unexpected) == (1, 0)
    with pytest.raises(Rejected, match="bad signature"):
        PLATFORMS[platform].verify(bot.forms[0], SHOPS[platform].app_secret, now=clock.now())


async def test_stale_is_signed_15_minutes_in_the_past(script, clock):
    bot, url = await script((0, ""))
    sent_at = clock.now()
    report = await deliver(url, clock, push("dongdong", "stale"))
    assert (report.of("dongdong").rejected[401], report.of("dongdong").unexpected) == (1, 0)
    assert (sent_at - parse_platform_time(bot.forms[0]["timestamp"])).total_seconds() == 15 * 60


async def test_a_duplicated_push_is_sent_twice_and_must_be_a_duplicate_the_second_time(script, clock):
    bot, url = await script((200, "ok"), (200, "duplicate"))
    report = await deliver(url, clock, push("wangwang", "duplicate"))
    counts = report.of("wangwang")
    assert (counts.copies, counts.delivered, counts.duplicates, counts.unexpected) == (2, 1, 1, 0)
    assert bot.forms[0]["id"] == bot.forms[1]["id"]


async def test_a_second_ok_for_a_duplicated_push_is_unexpected(script, clock):
    bot, url = await script((200, "ok"))
    report = await deliver(url, clock, push("wangwang", "duplicate"))
    assert (report.of("wangwang").delivered, report.of("wangwang").unexpected) == (2, 1)
