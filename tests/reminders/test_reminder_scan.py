"""The reminder scan under a fake clock, driven through the real webhooks, processor and store:
offsets, the before-close reminder, caps, quiet hours, stops, opt-out, live conversations, downtime."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.web import keys
from tests.reminders.conftest import shop
from tests.scrape import value


async def test_each_offset_falls_due_on_time_and_once(make_shop):
    s = await make_shop(offsets_minutes=[15, 120], before_close_minutes=60)
    await s.create("T1", at=shop(10), closes_in=timedelta(hours=24))
    assert (await s.scan(shop(10, 14))).messages == []
    [first] = (await s.scan(shop(10, 15))).messages
    assert first.client_msg_id == "remind:wangwang:T1:1"
    assert "羊毛围巾" in first.text and "99.00" in first.text and "11月25日 10:00" in first.text
    assert (await s.scan(shop(10, 15))).messages == []  # claimed once: a second scan finds nothing
    assert (await s.scan(shop(11, 59))).messages == []
    [second] = (await s.scan(shop(12, 0))).messages
    assert second.client_msg_id == "remind:wangwang:T1:2"
    assert await s.states("T1") == {"1": ("sent", None), "2": ("sent", None), "close": ("due", None)}
    assert [m.client_msg_id for m in await s.outbox()] == ["remind:wangwang:T1:1", "remind:wangwang:T1:2"]
    assert all((m.sender, m.kind) == ("bot", "reminder") for m in await s.outbox())


async def test_the_before_close_reminder(make_shop):
    s = await make_shop(offsets_minutes=[15], before_close_minutes=60, max_per_buyer_per_day=2)
    await s.create("T1", at=shop(10), closes_in=timedelta(hours=3))
    await s.scan(shop(10, 15))
    assert (await s.scan(shop(11, 59))).messages == []
    [message] = (await s.scan(shop(12, 0))).messages
    assert message.client_msg_id == "remind:wangwang:T1:close"
    assert "11月24日 13:00" in message.text
    assert await s.states("T1") == {"1": ("sent", None), "close": ("sent", None)}


async def test_no_close_slot_when_the_order_closes_too_soon(make_shop):
    s = await make_shop(offsets_minutes=[15, 90], before_close_minutes=60)
    await s.create("T1", at=shop(10), closes_in=timedelta(minutes=50))
    assert [r.slot for r in await s.reminders("T1")] == ["1"]


async def test_at_most_max_per_order(make_shop):
    s = await make_shop(offsets_minutes=[15, 30, 45], max_per_order=2)
    await s.create("T1", at=shop(10))
    for minute in (15, 30, 45):
        await s.scan(shop(10, minute))
    assert await s.states("T1") == {"1": ("sent", None), "2": ("sent", None), "3": ("skipped", "order_cap")}
    assert len(await s.outbox()) == 2


async def test_one_message_covers_several_unpaid_orders_and_the_daily_cap_holds(make_shop):
    s = await make_shop(max_per_buyer_per_day=1)
    await s.create("T1", at=shop(10), amount_fen=9900)
    await s.create("T2", at=shop(10, 5), amount_fen=2050, closes_in=timedelta(hours=2))
    await s.create("T3", at=shop(10), buyer="buyer2")
    result = await s.scan(shop(10, 20))
    by_buyer = {m.buyer: m for m in result.messages}
    assert set(by_buyer) == {"buyer1", "buyer2"}
    combined = by_buyer["buyer1"]
    assert combined.orders == ("T1", "T2") and combined.client_msg_id == "remind:wangwang:T1:1"
    assert "2笔订单" in combined.text and "119.50" in combined.text and "11月24日 12:05" in combined.text
    assert await s.states("T1") == await s.states("T2") == {"1": ("sent", None)}
    assert len(await s.outbox()) == 2

    await s.create("T4", at=shop(11))  # a third order the same day: the buyer had their one message
    assert (await s.scan(shop(11, 15))).messages == []
    assert await s.states("T4") == {"1": ("skipped", "daily_cap")}
    await s.create("T5", at=shop(9, day=25))  # the next shop day the cap starts again
    assert len((await s.scan(shop(9, 15, day=25))).messages) == 1


@pytest.mark.parametrize(("due", "sent_at_once"), [
    ((21, 59), True), ((22, 0), False), ((7, 59), False), ((8, 0), True),
])
async def test_quiet_hours_edges(make_shop, due, sent_at_once):
    s = await make_shop()
    hour, minute = due
    day = 25 if hour < 12 else 24
    at = shop(hour, minute, day=day)
    await s.create("T1", at=at - timedelta(minutes=15), closes_in=timedelta(hours=48))
    result = await s.scan(at)
    if sent_at_once:
        assert len(result.messages) == 1
        return
    assert result.messages == [] and result.count("waiting") == 1
    [row] = await s.reminders("T1")
    assert (row.state, row.due_at) == ("due", shop(8, 0, day=25))  # waits for the end of the quiet hours
    assert row.scheduled_at == at
    assert (await s.scan(shop(7, 59, day=25))).messages == []
    assert len((await s.scan(shop(8, 0, day=25))).messages) == 1


async def test_an_order_that_closes_during_the_quiet_hours_is_skipped(make_shop):
    s = await make_shop(offsets_minutes=[90])
    await s.create("T1", at=shop(21), closes_in=timedelta(minutes=150))  # due 22:30, closes 23:30
    result = await s.scan(shop(22, 30))
    assert result.messages == []
    assert await s.states("T1") == {"1": ("skipped", "quiet_hours")}


@pytest.mark.parametrize("stop", ["paid", "closed"])
async def test_paid_or_closed_between_claim_and_send_is_not_sent(make_shop, stop):
    s = await make_shop()
    await s.create("T1", at=shop(10))
    assert len((await s.scan(shop(10, 15))).messages) == 1  # claimed and queued in the outbox
    if stop == "paid":
        await s.pay("T1", at=shop(10, 16))
    else:
        await s.close("T1", at=shop(10, 16))
    assert await s.states("T1") == {"1": ("skipped", stop)}
    [message] = await s.outbox()
    assert message.state == "cancelled"
    assert await s.app[keys.OUTBOX].send_due() == 0
    assert await s.sent() == []


async def test_paid_while_the_reminder_is_being_sent_is_recorded_as_sent(aiohttp_server, aiohttp_client, make_app,
                                                                          clock, sqlite_url):
    """The send cannot be called back once under way: the buyer got it, and the records say so."""
    import asyncio

    from aiohttp import web

    from bot.sim.gateway import create_gateway_app
    from tests.conftest import APP_KEYS, SECRETS, make_config
    from tests.reminders.conftest import RULES, Shop

    arrived, release = asyncio.Event(), asyncio.Event()

    @web.middleware
    async def hold_sends(request, handler):
        if request.path.endswith("/send"):
            arrived.set()
            await release.wait()
        return await handler(request)

    gateway_app = create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS}, clock=clock)
    gateway_app.middlewares.append(hold_sends)
    gateway = await aiohttp_server(gateway_app)
    config = make_config(sqlite_url, gateway_url=str(gateway.make_url("")).rstrip("/"), reminders=RULES)
    s = Shop(await aiohttp_client(make_app(config, clock)), clock, gateway)
    await s.create("T1", at=shop(10))
    await s.scan(shop(10, 15))
    sending = asyncio.create_task(s.app[keys.OUTBOX].send_due())
    await asyncio.wait_for(arrived.wait(), 5)  # the message is at the gateway, not yet answered
    await s.pay("T1", at=shop(10, 16))
    release.set()
    assert await sending == 1
    assert [m["client_msg_id"] for m in await s.sent()] == ["remind:wangwang:T1:1"]
    [message] = await s.outbox()
    assert message.state == "sent"
    assert await s.states("T1") == {"1": ("sent", "paid_while_sending")}


async def test_paid_before_due_is_skipped_and_nothing_is_queued(make_shop):
    s = await make_shop(offsets_minutes=[15, 60])
    await s.create("T1", at=shop(10))
    await s.scan(shop(10, 15))
    assert await s.app[keys.OUTBOX].send_due() == 1
    await s.pay("T1", at=shop(10, 30))
    assert (await s.scan(shop(11, 0))).messages == []
    assert await s.states("T1") == {"1": ("sent", None), "2": ("skipped", "paid")}


async def test_a_combined_message_stays_while_one_of_its_orders_is_unpaid(make_shop):
    s = await make_shop()
    await s.create("T1", at=shop(10))
    await s.create("T2", at=shop(10))
    await s.scan(shop(10, 15))
    await s.pay("T1", at=shop(10, 16))
    [message] = await s.outbox()
    assert message.state == "pending"
    assert await s.app[keys.OUTBOX].send_due() == 1
    assert [m["client_msg_id"] for m in await s.sent()] == ["remind:wangwang:T1:1"]


async def test_the_queued_reminder_is_sent_through_the_gateway_as_the_bot(make_shop):
    s = await make_shop()
    await s.create("T1", at=shop(10), platform="dongdong", buyer="jd_buyer")
    await s.scan(shop(10, 15))
    assert await s.app[keys.OUTBOX].send_due() == 1
    [sent] = await s.sent()
    assert (sent["platform"], sent["buyer"], sent["kind"], sent["client_msg_id"]) == (
        "dongdong", "jd_buyer", "reminder", "remind:dongdong:T1:1")
    assert "京东" in sent["text"]


async def test_opt_out_by_chat_message(make_shop):
    s = await make_shop()
    await s.create("T1", at=shop(10))
    await s.create("T2", at=shop(10), buyer="buyer2")
    await s.say("别催了，想好了会付的", at=shop(10, 5))
    result = await s.scan(shop(10, 15))
    assert [m.buyer for m in result.messages] == ["buyer2"]
    assert await s.states("T1") == {"1": ("skipped", "opted_out")}


async def test_the_stop_list(make_shop):
    s = await make_shop(stop_list=["wangwang:buyer1"])
    await s.create("T1", at=shop(10))
    await s.scan(shop(10, 15))
    assert await s.states("T1") == {"1": ("skipped", "opted_out")}


@pytest.mark.parametrize(("agent_minute", "sent"), [(6, False), (4, True)])
async def test_live_conversation_with_an_agent(make_shop, agent_minute, sent):
    s = await make_shop()
    await s.create("T1", at=shop(10))
    await s.say("有什么可以帮您", at=shop(10, agent_minute), agent="小店:小美")
    result = await s.scan(shop(10, 15))
    assert len(result.messages) == (1 if sent else 0)
    assert await s.states("T1") == {"1": ("sent", None) if sent else ("skipped", "live_conversation")}


async def test_the_bots_own_messages_are_no_live_conversation(make_shop):
    s = await make_shop(offsets_minutes=[15, 20])
    await s.create("T1", at=shop(10))
    await s.scan(shop(10, 15))
    await s.app[keys.OUTBOX].send_due()  # recorded as a bot message
    await s.scan(shop(10, 20))
    assert await s.states("T1") == {"1": ("sent", None), "2": ("sent", None)}


@pytest.mark.parametrize("first", ["paid", "closed"])
async def test_pay_or_close_before_create_schedules_nothing(make_shop, first):
    s = await make_shop()
    if first == "paid":
        await s.pay("T1", at=shop(10, 1))
    else:
        await s.close("T1", at=shop(10, 1))
    assert (await s.order("T1")).status == first
    await s.create("T1", at=shop(10))
    assert (await s.order("T1")).status == first
    assert await s.reminders("T1") == []
    assert (await s.scan(shop(10, 15))).messages == []


async def test_a_duplicate_creation_schedules_once(make_shop):
    s = await make_shop()
    await s.create("T1", at=shop(10))
    await s.create("T1", at=shop(10))
    assert len(await s.reminders("T1")) == 1


async def test_downtime_catch_up_sends_what_is_still_valid_and_misses_the_rest(make_shop):
    s = await make_shop(offsets_minutes=[15, 120], max_late_minutes=120)
    await s.create("LATE", at=shop(10))  # slot 1 at 10:15 is 45 min late at 11:00: still sent
    await s.create("SUPERSEDED", at=shop(8, 50), buyer="buyer2")  # 09:05 and 10:50 both due: only the later
    await s.create("STALE", at=shop(6), buyer="buyer3", closes_in=timedelta(hours=48))  # 08:00 is 3 h late
    await s.create("CLOSED", at=shop(9), buyer="buyer4", closes_in=timedelta(minutes=30))  # closed at 09:30
    result = await s.scan(shop(11, 0))  # the first scan after the bot was down from 07:00 to 11:00
    assert sorted(m.client_msg_id for m in result.messages) == [
        "remind:wangwang:LATE:1", "remind:wangwang:SUPERSEDED:2"]
    assert await s.states("SUPERSEDED") == {"1": ("missed", "missed"), "2": ("sent", None)}
    assert await s.states("STALE") == {"1": ("missed", "missed"), "2": ("missed", "missed")}
    assert await s.states("CLOSED") == {"1": ("missed", "missed")}


async def test_a_blocked_text_is_never_queued(make_shop):
    s = await make_shop()
    await s.create("T1", at=shop(10), title="加微信 wx123456 返现")
    await s.scan(shop(10, 15))
    states = await s.states("T1")
    if states["1"] == ("sent", None):
        pytest.fail("a title with a WeChat id went out in a reminder")
    assert states == {"1": ("skipped", "blocked")}
    assert await s.outbox() == []


async def test_outcomes_are_counted_for_prometheus(make_shop):
    s = await make_shop(stop_list=["wangwang:buyer2"])
    await s.create("T1", at=shop(10))
    await s.create("T2", at=shop(10), buyer="buyer2")
    await s.scan(shop(10, 15))
    resp = await s.client.get("/metrics")
    text = await resp.text()
    assert value(text, "csbot_reminders_total", platform="wangwang", outcome="sent", reason="") == 1
    assert value(text, "csbot_reminders_total", platform="wangwang", outcome="skipped", reason="opted_out") == 1
