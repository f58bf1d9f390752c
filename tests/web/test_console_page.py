"""The console in a real headless Chromium (Debian's, driven by Playwright): log in, open a
conversation the gateway pushed, press 1, edit, send with Ctrl+Enter and find the message at the
simulated gateway; a blocked reply shows its rule and sends nothing; buyer HTML is shown as text."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.conftest import (
    buyer_message,
    eventually,
    gateway_url,
    make_config,
    post_push,
    sent_by_gateway,
    signed_form,
)
from tests.exactly_once import received_by_gateway
from tests.web.conftest import ARTIFACTS


@pytest.fixture
async def bot(tmp_path, aiohttp_client, make_app, clock, gateway):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", gateway_url=gateway_url(gateway))
    return await aiohttp_client(make_app(config, clock, background=True))


async def push(bot, **kw) -> None:
    status, body = await post_push(bot, "wangwang", signed_form(buyer_message("wangwang", agent="小店:小美", **kw)))
    assert status == 200, body


async def login(page, bot, token="agent-xiaomei-token"):
    await page.goto(str(bot.make_url("/console")))
    await page.fill("#token", token)
    await page.click("#login button")
    await expect(page.locator("#who")).to_contain_text("小美")


async def test_an_agent_answers_with_a_suggestion_and_it_reaches_the_gateway(page, bot, gateway):
    await push(bot, buyer="tb_xiaoyu", text="亲，能发顺丰吗？")
    await login(page, bot)
    assert "token" not in page.url
    conversation = page.locator("#conversations li", has_text="tb_xiaoyu")
    await conversation.click()
    await expect(page.locator("#messages li.buyer")).to_contain_text("亲，能发顺丰吗？")
    await expect(page.locator("#suggestions li").first).to_contain_text("快递")
    await page.locator("body").press("1")
    reply = page.locator("#reply")
    suggested = await reply.input_value()
    assert suggested and "{" not in suggested
    await reply.press("End")
    await reply.type("（今天下单）")
    await reply.press("Control+Enter")
    await expect(page.locator("#reply-status")).to_have_text("已发送")
    messages = await eventually(lambda: sent_by_gateway(gateway), lambda items: len(items) == 1)
    assert [(m["buyer"], m["text"], m["kind"], m["sign_valid"]) for m in messages] == [
        ("tb_xiaoyu", suggested + "（今天下单）", "reply", True)]
    await expect(page.locator("#messages li.agent")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)


async def test_a_blocked_reply_shows_the_rule_and_sends_nothing(page, bot, gateway):
    await push(bot, buyer="tb_block", text="可以便宜点吗")
    await login(page, bot)
    await page.locator("#conversations li", has_text="tb_block").click()
    await page.fill("#reply", "亲，加我 微 信 给你便宜")
    await page.click("#send")
    await expect(page.locator("#blocked")).to_contain_text("contact.wechat")
    await expect(page.locator("#blocked")).to_contain_text("微 信")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-blocked.png"))
    # The outbox runs in the background: "nothing sent" means something only once it has sent what
    # came after the blocked reply. A clean reply follows; when it has arrived, it is all that did.
    await page.fill("#reply", "亲，这款已经是活动价了哦")
    await page.click("#send")
    await expect(page.locator("#reply-status")).to_have_text("已发送")
    messages = await eventually(lambda: sent_by_gateway(gateway), lambda items: len(items) >= 1)
    assert [m["text"] for m in messages] == ["亲，这款已经是活动价了哦"]
    assert [r["client_msg_id"] for r in await received_by_gateway(gateway)] == [messages[0]["client_msg_id"]]


async def test_buyer_html_is_shown_as_text_never_run(page, bot):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    await push(bot, buyer="tb_xss", text="<img src=x onerror=alert(1)>")
    await login(page, bot)
    await page.locator("#conversations li", has_text="tb_xss").click()
    await expect(page.locator("#messages li.buyer").first).to_contain_text("<img src=x onerror=alert(1)>")
    assert await page.locator("#messages img").count() == 0
    assert await page.locator("#conversations img").count() == 0
    assert dialogs == []


async def test_a_new_buyer_message_appears_without_reloading(page, bot):
    await push(bot, buyer="tb_live", text="在吗")
    await login(page, bot)
    await page.locator("#conversations li", has_text="tb_live").click()
    await push(bot, buyer="tb_live", text="这款还有货吗")
    await expect(page.locator("#messages li.buyer")).to_have_count(2)


async def test_a_wrong_token_is_refused(page, bot):
    await page.goto(str(bot.make_url("/console")))
    await page.fill("#token", "not-a-real-token")
    await page.click("#login button")
    await expect(page.locator("#login-error")).to_contain_text("登录口令无效")


async def test_the_reply_shows_up_in_the_chat_once_sent(page, bot, gateway):
    await push(bot, buyer="tb_echo", text="在吗")
    await login(page, bot)
    await page.locator("#conversations li", has_text="tb_echo").click()
    await page.fill("#reply", "亲，在的，请问有什么可以帮您？")
    await page.keyboard.press("Control+Enter")
    # Only the stream tells the page that the outbox has sent it (the list is polled every 30 s).
    await expect(page.locator("#messages li.agent")).to_have_text([re.compile("亲，在的，请问有什么可以帮您？")])


async def test_an_agent_opens_a_ticket_from_a_conversation_and_works_it(page, bot):
    await push(bot, buyer="tb_angry", text="衣服洗一次就掉色了")
    await login(page, bot)
    await page.locator("#conversations li", has_text="tb_angry").click()
    await page.click("#open-ticket")
    await page.select_option("#ticket-severity", "P2")
    await page.select_option("#ticket-category", "quality")
    await page.fill("#ticket-note", "洗一次就掉色，要求退款")
    await page.click("#ticket-form button[type=submit]")
    await expect(page.locator("#ticket-status")).to_contain_text("工单 #")
    await expect(page.locator("#tickets li", has_text="tb_angry")).to_contain_text("P2")
    await expect(page.locator("#ticket-history li").first).to_contain_text("洗一次就掉色")
    # Round-robin gave it to the after-sales agent: 小美 may look, not move it.
    await expect(page.locator("#ticket-title")).to_contain_text("已分配（aqiang）")
    await page.click("#ticket-actions button[data-to=investigating]")
    await expect(page.locator("#ticket-error")).to_contain_text("归 aqiang 处理")
    # The supervisor works it; resolving without a note is refused with what is needed.
    await page.click("#logout")
    await page.fill("#token", "supervisor-token")
    await page.click("#login button")
    await page.locator("#tickets li", has_text="tb_angry").click()
    await page.click("#ticket-actions button[data-to=investigating]")
    await expect(page.locator("#ticket-title")).to_contain_text("调查中")
    await page.click("#ticket-actions button[data-to=resolved]")
    await expect(page.locator("#ticket-error")).not_to_be_empty()
    await page.fill("#ticket-action-note", "已退款 20 元")
    await page.select_option("#ticket-resolution", "refund")
    await page.click("#ticket-actions button[data-to=resolved]")
    await expect(page.locator("#ticket-title")).to_contain_text("回访中")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-ticket.png"), full_page=True)


async def test_the_agent_ends_a_conversation_and_the_buyer_gets_the_invitation(page, tmp_path, aiohttp_client, make_app,
                                                                              clock, gateway):
    config = make_config(f"sqlite:///{tmp_path / 'csat.db'}", gateway_url=gateway_url(gateway), csat={"enabled": True})
    bot = await aiohttp_client(make_app(config, clock, background=True))
    await push(bot, buyer="tb_done", text="好的谢谢")
    await login(page, bot)
    await page.locator("#conversations li", has_text="tb_done").click()
    await page.fill("#reply", "不客气，祝您购物愉快")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#messages li.agent")).to_have_count(1)
    await page.click("#end-conversation")
    await expect(page.locator("#chat-notice")).to_have_text("会话已结束，已邀请买家评价")
    await expect(page.locator("#end-conversation")).to_be_hidden()
    await expect(page.locator("#conversations li", has_text="tb_done")).to_contain_text("已结束")
    messages = await eventually(lambda: sent_by_gateway(gateway), lambda items: len(items) == 2)
    assert [(m["buyer"], m["kind"]) for m in messages] == [("tb_done", "reply"), ("tb_done", "notice")]
    assert messages[1]["text"] == config.csat.text
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-ended.png"), full_page=True)
