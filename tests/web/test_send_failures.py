"""Send failures on the supervisor's board (issue 14): GET /api/board/outbox lists the messages the
gateway has not taken, replies, auto-replies and ticket callbacks alike, with the reason: retrying
(发送中) while the gateway fails, given up (发送失败) past their horizon; sent ones leave the list. The
board page shows them in #send-failures (headless Chromium)."""

from __future__ import annotations


from playwright.async_api import expect

from bot.sim.gateway import STATE
from bot.store import outbox as outbox_store
from bot.web import keys
from tests.conftest import APP_KEYS, gateway_url, make_config

SUP = {"Authorization": "Bearer supervisor-token"}
QUEUED = [("reply-1", "reply", "agent", "buyer1"), ("auto:wangwang:p1", "reply", "bot", "buyer2"),
          ("ticket:7:callback", "notice", "bot", "buyer3")]


async def start(aiohttp_client, make_app, clock, gateway, db_url, *, background: bool = False):
    config = make_config(db_url, gateway_url=gateway_url(gateway),
                         outbox={"timeout_seconds": 3.0, "backoff_seconds": 1, "max_backoff_seconds": 30})
    return await aiohttp_client(make_app(config, clock, background=background))


async def queue(bot) -> None:
    async with bot.app[keys.DB]() as session, session.begin():
        for key, kind, sender, buyer in QUEUED:
            await outbox_store.enqueue(session, client_msg_id=key, platform="wangwang", shop=APP_KEYS["wangwang"],
                                       buyer=buyer, agent_account="小店:小美", text="亲，在的", kind=kind,
                                       sender=sender, now=bot.app[keys.CLOCK].now())


async def failures(bot) -> dict:
    resp = await bot.get("/api/board/outbox", headers=SUP)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_failing_sends_are_listed_with_the_reason_until_sent_or_given_up(aiohttp_client, make_app, clock,
                                                                              gateway, db_url):
    bot = await start(aiohttp_client, make_app, clock, gateway, db_url)
    await queue(bot)
    assert (await failures(bot))["items"] == []  # queued, not failing: nothing to show

    gateway.app[STATE].down = True
    await bot.app[keys.OUTBOX].send_due()
    clock.advance(seconds=100)
    body = await failures(bot)
    assert (body["retrying"], body["failed"], body["failing_seconds"]) == (3, 0, 100)
    items = {m["client_msg_id"]: m for m in body["items"]}
    assert set(items) == {key for key, *_ in QUEUED}
    assert {(m["kind"], m["sender"], m["state_name"]) for m in items.values()} == {
        ("reply", "agent", "发送中"), ("reply", "bot", "发送中"), ("notice", "bot", "发送中")}
    tried = [m for m in items.values() if m["attempts"]]
    assert tried and all("503" in m["error"] for m in tried)  # the gateway's answer, as the reason
    assert all("gateway is failing" in m["error"] for m in items.values() if not m["attempts"])

    # Past the replies' 30-minute horizon: both replies given up, with why; the callback still tried (24 h).
    for _ in range(40):
        clock.advance(seconds=60)
        await bot.app[keys.OUTBOX].send_due()
    body = await failures(bot)
    states = {m["client_msg_id"]: (m["state"], m["state_name"]) for m in body["items"]}
    assert states == {"reply-1": ("failed", "发送失败"), "auto:wangwang:p1": ("failed", "发送失败"),
                      "ticket:7:callback": ("pending", "发送中")}
    assert all("not sent within" in m["error"] for m in body["items"] if m["state"] == "failed")

    gateway.app[STATE].down = False
    clock.advance(seconds=60)
    await bot.app[keys.OUTBOX].send_due()
    body = await failures(bot)
    assert [m["client_msg_id"] for m in body["items"]] == ["auto:wangwang:p1", "reply-1"]  # the callback went out
    assert (body["retrying"], body["failing_seconds"]) == (0, 0)
    clock.advance(days=1, minutes=1)
    assert (await failures(bot))["items"] == []  # given up more than a day ago: off the board


async def test_only_a_supervisor_sees_them(aiohttp_client, make_app, clock, gateway, sqlite_url):
    bot = await start(aiohttp_client, make_app, clock, gateway, sqlite_url)
    assert (await bot.get("/api/board/outbox")).status == 401
    resp = await bot.get("/api/board/outbox", headers={"Authorization": "Bearer agent-xiaomei-token"})
    assert resp.status == 403


async def test_the_board_shows_the_send_failures(page, aiohttp_client, make_app, clock, gateway, sqlite_url):
    bot = await start(aiohttp_client, make_app, clock, gateway, sqlite_url)
    gateway.app[STATE].down = True
    await queue(bot)
    await bot.app[keys.OUTBOX].send_due()
    clock.advance(seconds=30)
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    shown = page.locator("#send-failures li")
    await expect(shown).to_have_count(3)
    await expect(page.locator('#send-failures li[data-key="reply-1"]')).to_contain_text("回复 → buyer1 (wangwang): 发送中")
    await expect(page.locator('#send-failures li[data-key="auto:wangwang:p1"]')).to_contain_text("自动回复 → buyer2")
    await expect(page.locator('#send-failures li[data-key="ticket:7:callback"]')).to_contain_text("工单回访 → buyer3")
    await expect(page.locator("#send-failures")).to_contain_text("503")
