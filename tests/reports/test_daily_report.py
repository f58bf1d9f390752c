"""The daily report reaches a simulated 企业微信 and 钉钉 robot (and an SMTP receiver) on port 0 once,
with the exact payloads and 钉钉's signed URL; across two apps on one database it is sent once; a robot
that answers an error code, times out or is unreachable is retried with backoff, never sent again
after a success, and shown on the board when it fails for good."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import urllib.parse
from datetime import datetime, timedelta

from aiohttp import web

from bot.clock import PLATFORM_TZ, to_epoch_ms
from bot.web import keys
from tests.conftest import START, make_config
from tests.reports.seed import seed

SECRET = "SEC0123456789abcdef"
DUE = datetime(2026, 11, 25, 9, 0, tzinfo=PLATFORM_TZ)  # the report of 24 November is due from here


class Robot:
    """A simulated robot: records each request; answers the scripted replies in turn, then errcode 0."""

    def __init__(self, replies=()):
        self.requests: list[dict] = []
        self.replies = list(replies)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"query": dict(request.query), "json": await request.json(),
                              "content_type": request.content_type})
        reply = self.replies.pop(0) if self.replies else {"errcode": 0, "errmsg": "ok"}
        if reply == "slow":
            await asyncio.sleep(2)  # longer than the bot's timeout: the bot gives up first
            reply = {"errcode": 0, "errmsg": "ok"}
        return web.json_response(reply)


async def robots(aiohttp_server, wecom: Robot, ding: Robot):
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", wecom.handle)
    app.router.add_post("/robot/send", ding.handle)
    return await aiohttp_server(app)


async def bot_with(aiohttp_client, make_app, clock, tmp_path, server, **daily):
    settings = {"enabled": True, "at": "09:00",
                "wecom_webhook_url": str(server.make_url("/cgi-bin/webhook/send?key=KEY")),
                "dingtalk_webhook_url": str(server.make_url("/robot/send?access_token=TOKEN")),
                "dingtalk_secret": SECRET, "backoff_seconds": 60, "timeout_seconds": 0.5, "max_attempts": 3, **daily}
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", daily_report=settings)
    return await aiohttp_client(make_app(config, clock))


async def test_the_report_arrives_once_with_the_exact_payloads(aiohttp_server, aiohttp_client, make_app, clock, tmp_path):
    wecom, ding = Robot(), Robot()
    server = await robots(aiohttp_server, wecom, ding)
    bot = await bot_with(aiohttp_client, make_app, clock, tmp_path, server)
    await seed(bot.app[keys.DB])
    job = bot.app[keys.DAILY_REPORT]
    assert await job.run(now=DUE - timedelta(minutes=1)) == []  # 08:59: not yet
    assert await job.run(now=DUE) == [("wecom", "sent"), ("dingtalk", "sent")]
    assert await job.run(now=DUE + timedelta(hours=3)) == []  # sent: never again that day
    assert len(wecom.requests) == len(ding.requests) == 1

    [w] = wecom.requests
    assert w["query"] == {"key": "KEY"} and w["content_type"] == "application/json"
    assert list(w["json"]) == ["msgtype", "markdown"] and w["json"]["msgtype"] == "markdown"
    content = w["json"]["markdown"]["content"]
    assert list(w["json"]["markdown"]) == ["content"]
    assert content.startswith("### 小店 客服日报 2026-11-24")
    # 24 November: 小美 answered b1 in 20 s and b2 in 50 s, 阿强 b3 in 120 s on wangwang; j1 on dongdong.
    assert "- wangwang: 咨询 3, 回复率 100.0%, 平均响应 63s, 30秒 33.3%" in content
    assert "- 小美 (wangwang): 咨询 2, 响应 2, 平均 35s" in content
    assert "- 超时工单 tickets past SLA: 0" in content

    [d] = ding.requests
    timestamp = to_epoch_ms(DUE)
    expected_sign = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    assert d["query"] == {"access_token": "TOKEN", "timestamp": str(timestamp), "sign": expected_sign}
    assert d["json"] == {"msgtype": "markdown", "markdown": {"title": "小店 客服日报 2026-11-24", "text": content}}


async def test_two_processes_send_it_once(aiohttp_server, aiohttp_client, make_app, clock, tmp_path):
    # SQLite only: its writers take turns, so the claims cannot overlap here. The overlapping claims,
    # on PostgreSQL, and the lock-removal mutation are in test_reports_postgres.py.
    wecom, ding = Robot(), Robot()
    server = await robots(aiohttp_server, wecom, ding)
    first = await bot_with(aiohttp_client, make_app, clock, tmp_path, server)
    second = await bot_with(aiohttp_client, make_app, clock, tmp_path, server)  # the same database file
    results = await asyncio.gather(first.app[keys.DAILY_REPORT].run(now=DUE), second.app[keys.DAILY_REPORT].run(now=DUE))
    assert sorted(r for rs in results for r in rs) == [("dingtalk", "sent"), ("wecom", "sent")]
    # A restart (a new app on the same database) the same day sends nothing.
    third = await bot_with(aiohttp_client, make_app, clock, tmp_path, server)
    assert await third.app[keys.DAILY_REPORT].run(now=DUE + timedelta(minutes=5)) == []
    assert len(wecom.requests) == len(ding.requests) == 1


async def test_an_error_code_and_a_timeout_are_retried_with_backoff_then_sent_once(aiohttp_server, aiohttp_client,
                                                                                 make_app, clock, tmp_path):
    wecom = Robot([{"errcode": 93000, "errmsg": "invalid webhook url"}, "slow"])
    ding = Robot()
    server = await robots(aiohttp_server, wecom, ding)
    bot = await bot_with(aiohttp_client, make_app, clock, tmp_path, server, dingtalk_webhook_url="")
    job = bot.app[keys.DAILY_REPORT]
    assert await job.run(now=DUE) == [("wecom", "retry")]
    assert await job.run(now=DUE + timedelta(seconds=59)) == []  # the first backoff is 60 s
    assert await job.run(now=DUE + timedelta(seconds=60)) == [("wecom", "retry")]  # timed out
    assert await job.run(now=DUE + timedelta(seconds=60 + 119)) == []  # then 120 s
    assert await job.run(now=DUE + timedelta(seconds=60 + 120)) == [("wecom", "sent")]
    assert await job.run(now=DUE + timedelta(hours=5)) == []
    assert len(wecom.requests) == 3
    resp = await bot.get("/api/reports/daily", headers={"Authorization": "Bearer supervisor-token"})
    [delivery] = (await resp.json())["items"]
    assert (delivery["state"], delivery["attempts"], delivery["day"]) == ("sent", 3, "2026-11-24")


async def test_an_unreachable_robot_fails_after_its_attempts_and_shows_on_the_board(aiohttp_client, make_app, clock,
                                                                                  tmp_path, unused_tcp_port):
    settings = {"enabled": True, "wecom_webhook_url": f"http://127.0.0.1:{unused_tcp_port}/cgi-bin/webhook/send?key=K",
                "max_attempts": 2, "backoff_seconds": 60, "timeout_seconds": 0.5}
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", daily_report=settings)
    bot = await aiohttp_client(make_app(config, clock))
    job = bot.app[keys.DAILY_REPORT]
    assert await job.run(now=DUE) == [("wecom", "retry")]
    assert await job.run(now=DUE + timedelta(minutes=1)) == [("wecom", "failed")]
    assert await job.run(now=DUE + timedelta(hours=1)) == []
    clock.set(DUE + timedelta(hours=1))
    await bot.app[keys.METRICS].refresh()
    [failure] = bot.app[keys.BOARD].shop()["daily_report_failures"]
    assert (failure["channel"], failure["state"], failure["attempts"]) == ("wecom", "failed", 2)
    assert "unreachable" in failure["last_error"]


async def smtp_receiver(received: list[bytes]):
    """A minimal SMTP receiver on port 0 (enough of RFC 5321 for smtplib): keeps each message's DATA."""
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 test ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250 test\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                data = b""
                while (chunk := await reader.readline()) != b".\r\n":
                    data += chunk
                received.append(data)
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    return await asyncio.start_server(session, "127.0.0.1", 0)


async def test_the_report_by_email(aiohttp_client, make_app, clock, tmp_path):
    from email import message_from_bytes, policy

    received: list[bytes] = []
    server = await smtp_receiver(received)
    port = server.sockets[0].getsockname()[1]
    settings = {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": port, "mail_from": "bot@shop.example",
                "mail_to": ["lead@shop.example", "boss@shop.example"]}
    bot = await aiohttp_client(make_app(make_config(f"sqlite:///{tmp_path / 'bot.db'}", daily_report=settings), clock))
    try:
        assert await bot.app[keys.DAILY_REPORT].run(now=DUE) == [("email", "sent")]
        assert await bot.app[keys.DAILY_REPORT].run(now=DUE + timedelta(hours=1)) == []
    finally:
        server.close()
    [raw] = received
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "小店 客服日报 2026-11-24"
    assert (message["From"], message["To"]) == ("bot@shop.example", "lead@shop.example, boss@shop.example")
    assert message.get_content().startswith("### 小店 客服日报 2026-11-24")
