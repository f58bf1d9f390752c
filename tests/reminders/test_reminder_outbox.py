"""A reminder waiting out a failing gateway is checked again before each try: once none of its
orders is unpaid and open it is not sent, and its reminders say why (issue 14)."""

from __future__ import annotations

from datetime import timedelta

from bot.sim.gateway import STATE
from bot.web import keys
from tests.reminders.conftest import shop


async def test_a_reminder_stops_when_its_order_passes_its_close_time_while_the_gateway_is_down(make_shop, clock):
    s = await make_shop()
    s.gateway.app[STATE].down = True
    await s.create("T1", at=shop(10), closes_in=timedelta(minutes=60))
    assert len((await s.scan(shop(10, 15))).messages) == 1
    assert await s.app[keys.OUTBOX].send_due() == 1
    [message] = await s.outbox()
    assert (message.state, message.attempts) == ("pending", 1)
    s.gateway.app[STATE].down = False
    clock.set(shop(11, 1))  # the order auto-closed at 11:00, with no close push yet
    await s.app[keys.OUTBOX].send_due()
    [message] = await s.outbox()
    assert message.state == "cancelled" and "paid or closed" in message.last_error
    assert await s.states("T1") == {"1": ("skipped", "paid_or_closed")}
    assert await s.sent() == []


async def test_a_reminder_waits_out_a_long_outage_while_its_order_is_unpaid(make_shop, clock):
    s = await make_shop()
    s.gateway.app[STATE].down = True
    await s.create("T1", at=shop(10), closes_in=timedelta(hours=24))
    await s.scan(shop(10, 15))
    for minute in range(16, 60, 2):
        clock.set(shop(10, minute))
        await s.app[keys.OUTBOX].send_due()
    s.gateway.app[STATE].down = False
    clock.set(shop(11, 2))
    await s.app[keys.OUTBOX].send_due()
    [message] = await s.outbox()
    assert message.state == "sent"
    assert [m["client_msg_id"] for m in await s.sent()] == ["remind:wangwang:T1:1"]
    assert await s.states("T1") == {"1": ("sent", None)}
