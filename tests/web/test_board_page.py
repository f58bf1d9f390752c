"""The board in a real headless Chromium (Debian's, driven by Playwright): a buyer push shows the
buyer waiting, the agent's answer takes them off and changes the agent's figures, a cut stream
reconnects by itself; and the page stays readable with 30 agents and 200 waiting buyers.
Screenshots go to artifacts/."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from playwright.async_api import expect

from bot.events import AgentMessage
from bot.web import keys
from tests.conftest import START, buyer_message, make_config, post_push, signed_form
from tests.web.conftest import ARTIFACTS


async def start_bot(tmp_path, aiohttp_client, make_app, clock, **sections):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", **sections)
    return await aiohttp_client(make_app(config, clock, background=True))


async def push(bot, *events) -> None:
    now = bot.app[keys.CLOCK].now()
    for i in range(0, len(events), 50):  # concurrently, as the gateway does: they share group commits
        results = await asyncio.gather(*(post_push(bot, e.platform, signed_form(e, now=now)) for e in events[i:i + 50]))
        assert all(status == 200 for status, _ in results), results


def answer(buyer: str, at, agent="小店:小美"):
    return AgentMessage(platform="wangwang", shop="demo-tb", buyer=buyer, push_id=f"a-{buyer}-{at.timestamp()}",
                        at=at, text="亲，在的", agent_account=agent)


async def test_a_waiting_buyer_appears_goes_when_answered_and_the_stream_reconnects(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    status = page.locator("#status")
    await expect(status).to_have_attribute("data-state", "live")
    assert "token" not in page.url

    await push(bot, buyer_message(buyer="tb_xiaoyu", text="亲，能发顺丰吗？", at=START, agent="小店:小美"))
    row = page.locator('#waiting tr.waiting[data-buyer="tb_xiaoyu"]')
    await expect(row).to_be_visible(timeout=2000)
    await expect(row).to_contain_text("亲，能发顺丰吗？")
    await expect(row).to_contain_text("小美")
    await expect(page.locator("#k-waiting")).to_have_text("1")

    await push(bot, answer("tb_xiaoyu", START + timedelta(seconds=40)))
    await expect(row).to_have_count(0, timeout=2000)
    mei = page.locator('#agents tr.agent[data-agent="xiaomei"][data-platform="wangwang"]')
    await expect(mei.locator("td.responses")).to_have_text("1")
    await expect(mei.locator("td.avg")).to_have_text("40.0")
    await expect(mei.locator("td.avg")).to_have_class("num avg t1")  # 30 s ≤ 40 s < 60 s
    await expect(page.locator("#chart rect.bar")).to_have_count(1)

    # Cut every stream: the page notices, reconnects by itself, and gets changes again.
    bot.app[keys.BOARD].disconnect_all()
    await expect(status).to_have_attribute("data-connections", "2", timeout=5000)
    await expect(status).to_have_attribute("data-state", "live")
    await push(bot, buyer_message(buyer="jd_again", platform="dongdong", at=START + timedelta(seconds=50), agent="jd_aqiang"))
    await expect(page.locator('#waiting tr.waiting[data-buyer="jd_again"]')).to_be_visible(timeout=2000)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)


async def test_a_wrong_token_asks_for_one(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    await page.goto(str(bot.make_url("/board")) + "#token=agent-xiaomei-token")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#login-reason")).to_contain_text("supervisor")
    assert bot.app[keys.BOARD].subscribers == 0
    await page.goto("about:blank")
    await page.goto(str(bot.make_url("/board")) + "#token=no-such-token-at-all")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#login-reason")).to_contain_text("unknown or expired")
    await expect(page.locator("#status")).to_have_attribute("data-state", "login")
    await page.fill("#token", "supervisor-token")
    await page.click("#login button")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")


async def test_thirty_agents_and_two_hundred_waiting_buyers_stay_readable(page, tmp_path, aiohttp_client, make_app, clock):
    agents = [{"id": f"agent{i:02d}", "name": f"客服{i:02d}", "accounts": [f"wangwang:小店:客服{i:02d}"], "roles": ["presale"]}
              for i in range(30)]
    shifts = [{"name": "早班", "start": "08:00", "end": "17:00", "agents": [a["id"] for a in agents[:20]]},
              {"name": "晚班", "start": "16:00", "end": "24:00", "agents": [a["id"] for a in agents[20:]]}]
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock, agents=agents, shifts=shifts,
                          tokens=[{"token": "supervisor-token", "role": "supervisor"}])
    events = []
    for i in range(200):
        account = f"小店:客服{i % 30:02d}"
        events.append(buyer_message(buyer=f"waiting{i:03d}", at=START - timedelta(seconds=7 * i), agent=account,
                                    text=f"第{i}位买家：这件衣服有XL码吗？能不能今天发货？"))
    for i in range(60):
        account = f"小店:客服{i % 30:02d}"
        t = START - timedelta(hours=1, minutes=i)
        events += [buyer_message(buyer=f"done{i:03d}", at=t, agent=account), answer(f"done{i:03d}", t + timedelta(seconds=10 + 3 * i), account)]
    await push(bot, *events)
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await expect(page.locator("#waiting tr.waiting")).to_have_count(200, timeout=10000)
    await expect(page.locator("#agents tr.agent")).to_have_count(30)
    # longest wait first, and the oldest (over 100 s) is in the red
    first = page.locator("#waiting tr.waiting").first
    await expect(first).to_have_attribute("data-buyer", "waiting199")
    await expect(first).to_have_class("waiting t3")
    # the waiting list scrolls inside its box instead of pushing the agents off the screen
    box = await page.locator("#waiting-box .scroll").bounding_box()
    assert box["height"] < 1000
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "board-busy.png"))


async def test_thanks_are_listed_apart_and_each_agent_shows_its_load(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    await push(bot, buyer_message(buyer="tb_asks", text="还没发货吗", at=START, agent="小店:小美"),
               buyer_message(buyer="tb_thanks", text="好的谢谢", at=START, agent="小店:小美"),
               buyer_message(buyer="tb_emoji", text="👍", at=START, agent="小店:阿强"))
    await expect(page.locator('#waiting tr.waiting[data-buyer="tb_asks"]')).to_be_visible(timeout=3000)
    await expect(page.locator('#waiting tr.waiting:not(.closing)')).to_have_count(1, timeout=3000)
    await expect(page.locator('#waiting tr.closing')).to_have_count(2)
    await expect(page.locator('#waiting tr.group')).to_contain_text("已致谢")
    await expect(page.locator("#waiting-count")).to_have_text("(1 + 2 已致谢)")
    await expect(page.locator("#k-waiting")).to_have_text("3")  # the figure is metrics.md's: every wait
    mei = page.locator('#agents tr.agent[data-agent="xiaomei"][data-platform="wangwang"] td.load')
    await expect(mei).to_have_text("1")

    # 小美 ends the thanking buyer's conversation (结束会话): the board counts it for her once it rechecks.
    resp = await bot.get("/api/conversations", headers={"Authorization": "Bearer agent-xiaomei-token"})
    thanks = next(c["id"] for c in (await resp.json())["items"] if c["buyer"] == "tb_thanks")
    resp = await bot.post(f"/api/conversations/{thanks}/end", headers={"Authorization": "Bearer agent-xiaomei-token"})
    assert resp.status == 200, await resp.text()
    clock.advance(seconds=31)  # the board reads other parts' figures every 30 s
    ended = page.locator('#agents tr.agent[data-agent="xiaomei"][data-platform="wangwang"] td.ended')
    await expect(ended).to_have_text("1", timeout=3000)
    await expect(page.locator('#agents tr.agent[data-agent="aqiang"][data-platform="wangwang"] td.ended')).to_have_text("0")


async def test_a_click_on_a_waiting_buyer_opens_the_chat_and_the_reply_goes_out_as_the_supervisor(
        page, tmp_path, aiohttp_client, make_app, clock, gateway):
    import sqlalchemy as sa

    from bot.store.tables import OutboxMessage
    from tests.conftest import gateway_url, sent_by_gateway

    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock, gateway_url=gateway_url(gateway))
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await push(bot, buyer_message(buyer="tb_late", text="到底什么时候发货？", at=START, agent="小店:小美"))
    await page.click('#waiting tr.waiting[data-buyer="tb_late"]', timeout=3000)
    await expect(page.locator("#chat")).to_be_visible()
    await expect(page.locator("#chat-messages li.buyer")).to_contain_text("到底什么时候发货？")
    await expect(page.locator("#chat-messages li.buyer time")).to_contain_text("2026/11/24 10:00:00")  # shop time
    await page.fill("#chat-text", "亲，今天下午就发，我盯着")
    await page.click("#chat-reply button")
    # Sent only once the gateway took it (the page follows the message, not the 202 that queued it).
    await expect(page.locator("#chat-status")).to_have_text("已发送", timeout=10_000)
    assert [m["text"] for m in await sent_by_gateway(gateway)] == ["亲，今天下午就发，我盯着"]
    async with bot.app[keys.DB]() as session:
        queued = (await session.execute(sa.select(OutboxMessage.buyer, OutboxMessage.agent_account, OutboxMessage.text))).all()
    assert [tuple(r) for r in queued] == [("tb_late", "主管", "亲，今天下午就发，我盯着")]


async def test_a_reply_from_the_board_the_gateway_refuses_is_not_shown_as_sent(page, tmp_path, aiohttp_client,
                                                                               make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)  # its gateway: nothing listens there
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await push(bot, buyer_message(buyer="tb_down", text="在吗", at=START, agent="小店:小美"))
    await page.click('#waiting tr.waiting[data-buyer="tb_down"]', timeout=3000)
    await page.fill("#chat-text", "亲，在的")
    await page.click("#chat-reply button")
    await expect(page.locator("#chat-status")).to_contain_text("发送中")
    await expect(page.locator("#chat-status")).to_contain_text("ClientConnectorError", timeout=10_000)  # the reason
    await expect(page.locator("#chat-status")).not_to_contain_text("已发送")


async def test_a_ticket_is_reassigned_from_the_board(page, tmp_path, aiohttp_client, make_app, clock):
    from bot.store import chat
    from bot.store.tables import Ticket

    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    async with bot.app[keys.DB]() as session, session.begin():
        buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick="tb_angry", seen_at=START)
        session.add(Ticket(buyer_id=buyer, platform="wangwang", shop="demo-tb", buyer="tb_angry", category="quality",
                           severity="P2", rule="quality", state="assigned", owner="xiaomei", created_at=START,
                           updated_at=START, first_response_due_at=START + timedelta(hours=4),
                           resolution_due_at=START + timedelta(days=2)))
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    row = page.locator("#tickets tr.ticket")
    await expect(row).to_have_count(1)
    await expect(row.locator("td.owner")).to_have_text("小美")
    await row.locator("select").select_option("aqiang")
    await row.locator("button").click()
    await expect(page.locator("#ticket-status")).to_contain_text("阿强")
    await expect(page.locator("#tickets tr.ticket td.owner")).to_have_text("阿强")
    resp = await bot.get("/api/tickets?owner=aqiang", headers={"Authorization": "Bearer supervisor-token"})
    assert [t["buyer"] for t in (await resp.json())["items"]] == ["tb_angry"]


async def test_a_waiting_buyer_is_transferred_from_the_board_and_shows_under_the_new_agent(
        page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await push(bot, buyer_message(buyer="tb_refund", text="我要退款", at=START, agent="小店:小美"))
    row = page.locator('#waiting tr.waiting[data-buyer="tb_refund"]')
    await expect(row.locator("td.agent")).to_have_text("小美", timeout=3000)
    await row.click()
    await expect(page.locator("#chat")).to_be_visible()
    # the agents to choose from, with their status; the buyer's agent now cannot be chosen
    await expect(page.locator('#chat-transfer-to option[value="aqiang"]')).to_contain_text("阿强 · 离线")
    await expect(page.locator('#chat-transfer-to option[value="xiaomei"]')).to_be_disabled()
    await page.select_option("#chat-transfer-to", "aqiang")
    await page.fill("#chat-transfer-note", "退款归售后")
    await page.click("#chat-transfer button")
    await expect(page.locator("#chat-transfer-status")).to_have_text("已转给 阿强")
    await expect(row.locator("td.agent")).to_have_text("阿强", timeout=3000)
    await expect(row).to_have_attribute("data-agent", "aqiang")
    qiang = page.locator('#agents tr.agent[data-agent="aqiang"][data-platform="wangwang"] td.load')
    await expect(qiang).to_have_text("1")
    resp = await bot.get(f"/api/conversations/{await row.get_attribute('data-conversation')}",
                         headers={"Authorization": "Bearer supervisor-token"})
    body = await resp.json()
    assert [(t["from"], t["to"], t["note"]) for t in body["transfers"]] == [("supervisor", "aqiang", "退款归售后")]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "board-transfer.png"))


async def test_the_board_shows_each_agents_status_and_follows_it(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock,
                          tokens=[{"token": "supervisor-token", "role": "supervisor"},
                                  {"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
                                  {"token": "agent-aqiang-token", "role": "agent", "agent": "aqiang"}])
    mei, qiang = ({"Authorization": f"Bearer agent-{a}-token"} for a in ("xiaomei", "aqiang"))
    assert (await bot.put("/api/me/status", headers=mei, json={"status": "busy"})).status == 200
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    status = lambda agent: page.locator(f'#agents tr.agent[data-agent="{agent}"] td.status').first  # noqa: E731
    await expect(status("xiaomei")).to_have_text("忙碌", timeout=3000)
    await expect(status("xiaomei")).to_have_attribute("data-status", "busy")
    await expect(status("aqiang")).to_have_text("离线")  # never opened the console
    # 阿强 opens the console; 小美's console goes quiet for over two minutes (the server's clock)
    clock.advance(seconds=150)
    assert (await bot.post("/api/me/heartbeat", headers=qiang)).status == 200
    # the page polls GET /api/agents every 5 s
    await expect(status("aqiang")).to_have_text("在线", timeout=8000)
    await expect(status("xiaomei")).to_have_text("离线")
