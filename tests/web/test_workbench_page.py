"""A whole shift in the console, in a real headless Chromium (Debian's, driven by Playwright).

阿强 starts the 12:00 shift: he logs in, finds the buyer 小美 handed over to him first, opens their
orders, answers with a suggestion (1 then 2 leaves only suggestion 2), answers the next waiting buyer
with a quick phrase, is warned before a risky reply, transfers a buyer to 小美 (whose console tells
her at once), goes busy (a new complaint ticket does not come to him), comes back (the next one does).
Screenshots at 1440, 683 and 400 px go to tests/web/screenshots/ (ignored by git)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import expect

from bot.events import OrderCreated
from bot.web import keys
from tests.conftest import (
    APP_KEYS,
    START,
    buyer_message,
    eventually,
    gateway_url,
    make_config,
    post_push,
    sent_by_gateway,
    signed_form,
)

SCREENSHOTS = __import__("pathlib").Path(__file__).parent / "screenshots"
SHIFTS = [{"name": "早班", "start": "08:00", "end": "12:00", "agents": ["xiaomei"]},
          {"name": "午班", "start": "12:00", "end": "20:00", "agents": ["aqiang"]}]
TOKENS = [{"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
          {"token": "agent-aqiang-token", "role": "agent", "agent": "aqiang"},
          {"token": "supervisor-token", "role": "supervisor"}]
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
BEFORE = START.replace(hour=11, minute=57)  # shop time 11:57
HANDED_TEXT = "订单T20261124001什么时候发货，能发顺丰吗"


async def push(bot, event) -> None:
    status, body = await post_push(bot, event.platform, signed_form(event, now=bot.app[keys.CLOCK].now()))
    assert status == 200, body


@pytest.fixture
async def bot(tmp_path, aiohttp_client, make_app, clock, gateway):
    clock.set(BEFORE)
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", gateway_url=gateway_url(gateway), shifts=SHIFTS,
                         tokens=TOKENS)
    client = await aiohttp_client(make_app(config, clock, background=True))
    # Before the 12:00 change: 阿强's own buyer, and one routed to 小美 with an unpaid order.
    await push(client, buyer_message(buyer="tb_own", text="在吗", agent="小店:阿强", at=BEFORE))
    created = BEFORE - timedelta(minutes=30)
    await push(client, OrderCreated(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="tb_handed",
                                    push_id="order-1", at=created, order_id="T20261124001",
                                    title="<b>羊毛衫</b> 灰色 L", amount_fen=19900, created_at=created,
                                    closes_at=created + timedelta(hours=24)))
    clock.set(BEFORE + timedelta(minutes=1))
    await push(client, buyer_message(buyer="tb_handed", text=HANDED_TEXT, agent="小店:小美", at=clock.now()))
    await eventually(lambda: _waiting(client), lambda n: n == 2)
    clock.set(START.replace(hour=12, minute=0, second=30))
    await client.app[keys.METRICS].refresh()
    # After the change: a buyer routed to 阿强, whom he will transfer.
    await push(client, buyer_message(buyer="tb_move", text="我想改一下收货地址", agent="小店:阿强", at=clock.now()))
    return client


async def _waiting(client) -> int:
    body = await (await client.get("/api/conversations", headers=SUPERVISOR)).json()
    return sum(1 for c in body["items"] if c["waiting_since"])


async def login(page, bot, token: str, name: str) -> None:
    await page.goto(str(bot.make_url("/console")))
    await page.fill("#token", token)
    await page.click("#login button")
    await expect(page.locator("#who")).to_have_text(name)


async def open_ticket(bot, buyer: str, category: str) -> dict:
    items = (await (await bot.get("/api/conversations", headers=SUPERVISOR)).json())["items"]
    conversation = next(c["id"] for c in items if c["buyer"] == buyer)
    resp = await bot.post("/api/tickets", headers=SUPERVISOR, json={
        "conversation_id": conversation, "severity": "P3", "category": category, "note": "质量问题"})
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def test_an_agent_works_a_whole_shift_in_the_console(page, bot, gateway):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    await page.set_viewport_size({"width": 1440, "height": 900})
    await login(page, bot, "agent-aqiang-token", "阿强")
    await expect(page.locator("#status")).to_have_value("online")

    # The handed-over buyer is first, with who handed them over; 阿强's own waits longer, second.
    rows = page.locator("#conversations li")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("tb_handed")
    await expect(rows.first).to_contain_text("交接自 小美")
    await expect(rows.first.locator(".wait")).to_contain_text("分")

    # Open them: the orders beside the chat, the order number in the chat links to the order.
    await rows.first.click()
    await expect(page.locator("#messages li.buyer")).to_contain_text(HANDED_TEXT)
    order = page.locator("#orders li", has_text="T20261124001")
    await expect(order).to_contain_text("待付款")
    await expect(order).to_contain_text("<b>羊毛衫</b> 灰色 L")  # a title with HTML is text
    assert await page.locator("#orders b").count() == 0
    await expect(order).to_contain_text("¥199.00")
    await expect(order.locator(".countdown")).to_contain_text("后自动关闭")
    await page.locator("#messages a.order-link", has_text="T20261124001").click()
    await expect(order).to_have_class("order unpaid highlight")
    await page.screenshot(path=str(SCREENSHOTS / "shift-1440.png"), full_page=True)

    # 1 then 2 (nothing focused): the box holds suggestion 2 only, never a digit.
    suggestions = page.locator("#suggestions li")
    await expect(suggestions.nth(1)).to_be_visible()
    second = (await suggestions.nth(1).locator(".reply-text").text_content()).strip()
    await page.keyboard.press("1")
    await page.keyboard.press("2")
    reply = page.locator("#reply")
    assert await reply.input_value() == second
    # Inside the reply box, a digit types; Alt+1 picks.
    await reply.click()
    await page.keyboard.press("Alt+1")
    first = (await suggestions.nth(0).locator(".reply-text").text_content()).strip()
    assert await reply.input_value() == first
    await page.keyboard.press("Alt+2")
    assert await reply.input_value() == second
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#reply-status")).to_have_text("已发送")
    await expect(page.locator("#messages li.agent")).to_contain_text(second)
    sent = await eventually(lambda: sent_by_gateway(gateway), lambda items: len(items) == 1)
    assert [(m["buyer"], m["text"], m["agent_account"]) for m in sent] == [("tb_handed", second, "小店:阿强")]

    # A personal quick phrase, added in the console (its HTML stays text), used by typing /code.
    await page.fill("#phrase-code", "cx")
    await page.fill("#phrase-text", "亲，<i>稍等</i>，马上为您查询")
    await page.click("#phrase-form button[type=submit]")
    await expect(page.locator("#phrases li", has_text="/cx")).to_contain_text("亲，<i>稍等</i>，马上为您查询")
    assert await page.locator("#phrases i").count() == 0
    await page.fill("#phrase-code", "cx")
    await page.fill("#phrase-text", "另一条")
    await page.click("#phrase-form button[type=submit]")
    await expect(page.locator("#phrase-error")).to_contain_text("代码已经有人用了")
    await page.fill("#phrase-code", "wx")
    await page.fill("#phrase-text", "加我微信聊")
    await page.click("#phrase-form button[type=submit]")
    await expect(page.locator("#phrase-error")).to_contain_text("contact.wechat")

    # J: the next waiting buyer (阿强's own); answer with the phrase.
    await page.locator("body").click(position={"x": 5, "y": 300})
    await page.keyboard.press("Escape")
    await page.keyboard.press("j")
    await expect(page.locator("#chat-title")).to_contain_text("tb_own")
    await reply.click()
    await reply.type("/c")
    await expect(page.locator("#phrase-popup li")).to_contain_text(["/cx"])
    await page.keyboard.press("Enter")
    assert await reply.input_value() == "亲，<i>稍等</i>，马上为您查询"
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#reply-status")).to_have_text("已发送")
    await expect(page.locator("#messages li.agent")).to_contain_text("亲，<i>稍等</i>，马上为您查询")

    # Part of a phrase's text offers it too; Esc clears the reply.
    await reply.type("马上为您")
    await expect(page.locator("#phrase-popup li")).to_contain_text(["/cx"])
    await page.keyboard.press("Escape")
    assert await reply.input_value() == ""
    await expect(page.locator("#phrase-popup")).to_be_hidden()

    # A warning rule is shown before sending; "send anyway" sends.
    await reply.fill("亲，我们是绝对正品")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#warn")).to_contain_text("promise.absolute")
    assert len(await sent_by_gateway(gateway)) == 2
    await page.click("#send-anyway")
    await expect(page.locator("#reply-status")).to_contain_text("已发送")
    await eventually(lambda: sent_by_gateway(gateway), lambda items: len(items) == 3)

    # 小美, in her own console, sees the transfer the moment 阿强 makes it.
    mei = await page.context.browser.new_page(viewport={"width": 1440, "height": 900})
    mei.set_default_timeout(5000)
    await login(mei, bot, "agent-xiaomei-token", "小美")
    await expect(mei.locator("#conversations li", has_text="tb_move")).to_have_count(0)
    await page.locator("#conversations li", has_text="tb_move").click()
    await page.click("#open-transfer")
    await page.select_option("#transfer-to", "xiaomei")
    await page.fill("#transfer-note", "要改地址，麻烦跟进")
    await page.click("#transfer-form button[type=submit]")
    await expect(page.locator("#chat-notice")).to_have_text("已转接给 小美")
    await expect(page.locator("#conversations li", has_text="tb_move")).to_have_count(0)
    await expect(mei.locator("#chat-notice")).to_contain_text("阿强 把买家 tb_move 转接给你：要改地址，麻烦跟进")
    moved = mei.locator("#conversations li", has_text="tb_move")
    await expect(moved).to_contain_text("转接自 阿强：要改地址，麻烦跟进")
    await expect(mei).to_have_title("(1) 客服工作台")
    await moved.click()
    await expect(mei.locator("#transfers li")).to_contain_text("阿强 转接给 小美：要改地址，麻烦跟进")
    await mei.close()

    # Busy: no new ticket comes to him; back online: the next one does.
    await page.select_option("#status", "busy")
    await expect(page.locator("#status")).to_have_class("status-busy")
    busy = await open_ticket(bot, "tb_own", "quality")
    assert (busy["state"], busy["owner"]) == ("new", None)
    await page.select_option("#status", "online")
    await expect(page.locator("#status")).to_have_class("status-online")
    back = await open_ticket(bot, "tb_handed", "damage")
    assert (back["state"], back["owner"]) == ("assigned", "aqiang")
    agents = {a["id"]: a for a in (await (await bot.get("/api/agents", headers=SUPERVISOR)).json())["items"]}
    assert (agents["aqiang"]["status"], agents["aqiang"]["on_shift"]) == ("online", True)

    # My figures today, from the board.
    await expect(page.locator("#figures")).to_contain_text("响应")
    await page.locator("#conversations li", has_text="tb_handed").click()
    await expect(page.locator("#buyer-tickets li")).to_contain_text("破损")
    assert dialogs == []

    # The three widths, the side panel beside 千牛 included.
    await page.set_viewport_size({"width": 683, "height": 800})
    chat = await page.locator("section.chat").bounding_box()
    assert chat["width"] > 400, chat
    assert (await page.locator("#reply").bounding_box())["width"] > 380
    await page.screenshot(path=str(SCREENSHOTS / "shift-683.png"), full_page=True)
    await page.set_viewport_size({"width": 400, "height": 800})
    await expect(page.locator("#list-pane")).to_be_hidden()
    await expect(page.locator("#show-list")).to_be_visible()
    for part in ("#reply", "#suggestions", "#orders"):
        await expect(page.locator(part)).to_be_visible()
        box = await page.locator(part).bounding_box()
        assert box["width"] > 330, (part, box)
    await page.screenshot(path=str(SCREENSHOTS / "shift-400.png"), full_page=True)
    await page.click("#show-list")
    await expect(page.locator("#list-pane")).to_be_visible()
    await expect(page.locator("#reply")).to_be_hidden()
    await page.screenshot(path=str(SCREENSHOTS / "shift-400-list.png"), full_page=True)
    await page.locator("#conversations li", has_text="tb_own").click()
    await expect(page.locator("#reply")).to_be_visible()
    await expect(page.locator("#chat-title")).to_contain_text("tb_own")


@pytest.fixture(autouse=True)
def _screenshots_dir():
    SCREENSHOTS.mkdir(exist_ok=True)


async def test_a_refused_reply_shows_failed_with_the_reason_and_a_retry_sends_it(page, bot, gateway, clock):
    import aiohttp

    # a buyer whose nickname is HTML: shown as text
    await push(bot, buyer_message(buyer="<b>tb_html</b>", text="在吗", agent="小店:小美", at=clock.now()))
    await login(page, bot, "agent-xiaomei-token", "小美")
    row = page.locator("#conversations li", has_text="<b>tb_html</b>")
    await row.click()
    assert await page.locator("#conversations b").count() == 0
    # a buyer she may not see is refused, in Chinese, with nothing to answer
    other = next(c["id"] for c in (await (await bot.get("/api/conversations", headers=SUPERVISOR)).json())["items"]
                 if c["buyer"] == "tb_own")
    async with aiohttp.ClientSession() as s:
        await s.post(gateway.make_url("/faults"), json={"down": True})
    await page.fill("#reply", "亲，在的")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#reply-status")).to_have_text("发送中…")
    await expect(page.locator("#deliveries li.pending")).to_contain_text("亲，在的")

    async def drive_outbox():
        clock.advance(minutes=11)  # the gateway stays down past the reply's horizon (30 min): failed for good
        await bot.app[keys.OUTBOX].send_due()
        return await page.locator("#deliveries li.failed").count()

    assert await eventually(drive_outbox, lambda n: n == 1) == 1
    failed = page.locator("#deliveries li.failed")
    await expect(failed).to_contain_text("发送失败")
    await expect(page.locator("#reply-status")).to_contain_text("发送失败")
    assert await sent_by_gateway(gateway) == []
    await page.screenshot(path=str(SCREENSHOTS / "delivery-failed.png"))
    async with aiohttp.ClientSession() as s:
        await s.post(gateway.make_url("/faults"), json={"down": False})
    await failed.locator("button.retry").click()
    await expect(page.locator("#reply-status")).to_have_text("已发送")
    await expect(page.locator("#deliveries li")).to_have_count(0)
    await expect(page.locator("#messages li.agent")).to_contain_text("亲，在的")
    assert [m["text"] for m in await sent_by_gateway(gateway)] == ["亲，在的"]
    # opening someone else's buyer by hand: the Chinese refusal, no reply box
    await page.evaluate(f"select({other})")
    await expect(page.locator("#chat-title")).to_contain_text("这个买家没有分配给你")
    await expect(page.locator("#reply")).to_be_disabled()


async def test_a_supervisor_keeps_the_team_phrases_in_the_browser_and_agents_use_them(page, bot):
    await login(page, bot, "supervisor-token", "主管")
    await page.fill("#phrase-code", "sf")
    await page.fill("#phrase-text", "默认中通，补差价可发顺丰")
    await page.select_option("#phrase-scope", "team")
    await page.click("#phrase-form button[type=submit]")
    await expect(page.locator("#phrases li", has_text="/sf")).to_contain_text("团队")
    await page.click("#logout")
    await login(page, bot, "agent-aqiang-token", "阿强")
    await expect(page.locator("#phrase-scope")).to_be_hidden()  # agents add personal phrases only
    team = page.locator("#phrases li", has_text="/sf")
    await expect(team).to_contain_text("团队")
    await expect(team.locator("button")).to_have_count(0)  # and do not delete the team's
    await page.locator("#conversations li", has_text="tb_own").click()
    await expect(page.locator("#chat-title")).to_contain_text("tb_own")
    await page.locator("#reply").type("/s")
    await expect(page.locator("#phrase-popup li")).to_contain_text(["/sf"])
    await page.keyboard.press("Tab")
    assert await page.locator("#reply").input_value() == "默认中通，补差价可发顺丰"
