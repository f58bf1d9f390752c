"""GET /api/orders with the reminder history; bad input around orders never crashes the bot."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.events import OrderCreated
from bot.web import keys
from tests.conftest import APP_KEYS, post_push, resign, signed_form
from tests.reminders.conftest import shop

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}


async def test_unpaid_orders_with_their_reminder_history(make_shop):
    s = await make_shop()
    await s.create("T1", at=shop(10))
    await s.create("T2", at=shop(10, 1), buyer="buyer2")
    await s.create("T3", at=shop(10, 2), buyer="buyer3")
    await s.pay("T3", at=shop(10, 3), buyer="buyer3")
    await s.scan(shop(10, 15))
    resp = await s.client.get("/api/orders?status=unpaid", headers=SUPERVISOR)
    assert resp.status == 200
    body = await resp.json()
    assert body["total"] == 2
    assert [o["order_id"] for o in body["items"]] == ["T2", "T1"]  # newest first
    t1 = body["items"][1]
    assert (t1["buyer"], t1["amount_fen"], t1["status"]) == ("buyer1", 9900, "unpaid")
    assert [(r["slot"], r["state"], r["client_msg_id"]) for r in t1["reminders"]] == [
        ("1", "sent", "remind:wangwang:T1:1")]
    paged = await (await s.client.get("/api/orders?status=unpaid&limit=1&offset=1", headers=SUPERVISOR)).json()
    assert ([o["order_id"] for o in paged["items"]], paged["total"]) == (["T1"], 2)
    paid = await (await s.client.get("/api/orders?status=paid", headers=SUPERVISOR)).json()
    assert [(o["order_id"], [r["reason"] for r in o["reminders"]]) for o in paid["items"]] == [("T3", ["paid"])]


@pytest.mark.parametrize(("query", "headers", "status"), [
    ("status=unpaid", {}, 401),
    ("status=unpaid", {"Authorization": "Bearer agent-xiaomei-token"}, 403),
    ("status=owed", SUPERVISOR, 400),
    ("status=unpaid&limit=0", SUPERVISOR, 400),
    ("status=unpaid&offset=-1", SUPERVISOR, 400),
    ("platform=weixin", SUPERVISOR, 400),
])
async def test_orders_api_errors(make_shop, query, headers, status):
    s = await make_shop()
    resp = await s.client.get(f"/api/orders?{query}", headers=headers)
    assert resp.status == status
    assert set(await resp.json()) == {"error", "message"}


async def test_a_payment_for_an_unknown_order_is_recorded_with_a_reason(make_shop):
    s = await make_shop()
    await s.pay("NEVER-CREATED", at=shop(10))
    body = await (await s.client.get("/api/orders", headers=SUPERVISOR)).json()
    [item] = body["items"]
    assert (item["order_id"], item["created_at"], item["reminders"]) == ("NEVER-CREATED", None, [])
    assert "unknown order" in item["note"]
    order = await s.order("NEVER-CREATED")
    assert order.created_at is None and order.paid_at is not None
    assert (await s.scan(shop(12))).messages == []


@pytest.mark.parametrize(("field", "value", "why"), [
    ("payment", "-1.00", "non-negative"),
    ("payment", "abc", "not a decimal"),
    ("created", "2026-11-24 25:00:00", "content.created"),
    ("timeout_action_time", "2026-11-23 10:00:00", "before content.created"),
    ("tid", "", "missing field content.tid"),
])
async def test_bad_order_pushes_are_rejected_with_a_reason(make_shop, clock, field, value, why):
    import json

    s = await make_shop()
    event = OrderCreated(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="buyer1", push_id="bad1",
                         at=shop(10), order_id="T1", title="围巾", amount_fen=100, created_at=shop(10),
                         closes_at=shop(10) + timedelta(hours=1))
    form = signed_form(event, now=clock.now())
    content = json.loads(form["content"])
    content[field] = value
    form["content"] = json.dumps(content, ensure_ascii=False)
    status, body = await post_push(s.client, "wangwang", resign("wangwang", form))
    assert (status, body["code"]) == (400, 40)
    assert why in body["msg"]
    assert await s.reminders() == []


async def test_the_reminder_report_api(make_shop):
    s = await make_shop(stop_list=["wangwang:buyer2"])
    await s.create("T1", at=shop(10))
    await s.create("T2", at=shop(10), buyer="buyer2")
    await s.scan(shop(10, 15))
    await s.app[keys.OUTBOX].send_due()
    await s.pay("T1", at=shop(12))
    resp = await s.client.get("/api/reminders/report?from=2026-11-24", headers=SUPERVISOR)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["totals"] == {"reminded_orders": 1, "recovered_orders": 1, "recovered_sales_fen": 9900,
                              "recovery_rate": 1.0, "skipped": {"opted_out": 1}}
    assert [(i["day"], i["platform"]) for i in body["items"]] == [("2026-11-24", "wangwang")]
    resp = await s.client.get("/api/reminders/report?from=2026-11-25&to=2026-11-24", headers=SUPERVISOR)
    assert (resp.status, (await resp.json())["error"]) == (400, "bad_period")
    resp = await s.client.get("/api/reminders/report", headers={"Authorization": "Bearer agent-xiaomei-token"})
    assert resp.status == 403


async def test_a_reminder_the_outbox_gave_up_on_is_not_counted_as_reminded(make_shop, gateway, clock):
    from bot.sim.gateway import STATE

    s = await make_shop()
    await s.create("T1", at=shop(10), closes_in=timedelta(hours=48))
    await s.scan(shop(10, 15))
    gateway.app[STATE].fail_next = 100
    await s.app[keys.OUTBOX].send_due()
    clock.advance(hours=25)  # past outbox.reminder_horizon_minutes (a day), the order still open
    await s.app[keys.OUTBOX].send_due()
    assert [m.state for m in await s.outbox()] == ["failed"]
    body = await (await s.client.get("/api/reminders/report?from=2026-11-24", headers=SUPERVISOR)).json()
    assert body["totals"]["reminded_orders"] == 0
    assert body["totals"]["skipped"] == {"send_failed": 1}
