"""`csbot reminders preview` sends nothing and shows what would go; `csbot report reminders` counts
reminded and recovered orders, recovered sales and skips."""

from __future__ import annotations

import argparse
import asyncio
import io
import json

from bot.cli import build_parser, reminder_render
from bot.reminders import commands
from bot.web import keys
from tests.reminders.conftest import shop


async def test_preview_shows_what_would_be_sent_and_sends_nothing(make_shop, clock):
    s = await make_shop(max_late_minutes=24 * 60)
    await s.create("T1", at=shop(10))
    config = s.app[keys.CONFIG]
    render = reminder_render(config)

    async def preview(at: str) -> dict:
        out = io.StringIO()
        args = argparse.Namespace(at=at, format="json", hours=24)
        assert await asyncio.to_thread(commands.preview, args, config, render=render, clock=clock, out=out) == 0
        return json.loads(out.getvalue())

    early = await preview("2026-11-24 10:14")
    assert early["messages"] == []
    assert early["upcoming"] == [{"due_at": "2026-11-24 10:15", "platform": "wangwang", "buyer": "buyer1",
                                  "order_id": "T1", "slot": "1"}]
    shown = await preview("2026-11-24 10:15")
    [message] = shown["messages"]
    assert (message["buyer"], message["client_msg_id"], message["orders"]) == ("buyer1", "remind:wangwang:T1:1", ["T1"])
    assert "羊毛围巾" in message["text"]
    assert (await preview("23:00"))["not_sent"] == {"wangwang:waiting": 1}
    assert await s.states("T1") == {"1": ("due", None)} and await s.outbox() == []


async def test_report_reminders(make_shop, clock):
    s = await make_shop(stop_list=["wangwang:buyer3"])
    await s.create("T1", at=shop(10), amount_fen=9900)
    await s.create("T2", at=shop(10), buyer="buyer2")
    await s.create("T3", at=shop(10), buyer="buyer3")
    await s.create("T4", at=shop(10), buyer="buyer4", platform="dongdong", amount_fen=5000)
    await s.scan(shop(10, 15))
    assert await s.app[keys.OUTBOX].send_due() == 3
    await s.pay("T1", at=shop(11))  # within 24 h of its reminder: recovered
    await s.pay("T4", at=shop(11), buyer="buyer4", platform="dongdong")  # no amount on the push: the order's
    await s.pay("T2", at=shop(11, day=26), buyer="buyer2")  # too late to count
    out = io.StringIO()
    args = argparse.Namespace(first="2026-11-24", last=None, format="json")
    assert await asyncio.to_thread(commands.report, args, s.app[keys.CONFIG], clock=clock, out=out) == 0
    items = {i["platform"]: i for i in json.loads(out.getvalue())["items"]}
    assert items["wangwang"] == {"day": "2026-11-24", "platform": "wangwang", "reminded_orders": 2,
                                 "recovered_orders": 1, "recovered_sales_fen": 9900, "recovery_rate": 0.5,
                                 "skipped": {"opted_out": 1}}
    assert (items["dongdong"]["recovered_orders"], items["dongdong"]["recovered_sales_fen"]) == (1, 5000)


def test_the_commands_parse():
    parser = build_parser()
    assert parser.parse_args(["report", "reminders", "--from", "2026-11-24"]).subject == "reminders"
    args = parser.parse_args(["reminders", "preview", "--at", "2026-11-24 10:15"])
    assert (args.command, args.reminders_command, args.at) == ("reminders", "preview", "2026-11-24 10:15")
