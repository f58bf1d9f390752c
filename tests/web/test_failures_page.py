"""Failed processing on /admin, walked in Chromium (issue 14): a push set aside and a consumer's failure
are listed with their reason, and once the causes are fixed, 全部重试 has the running bot process the
push and replay the consumer."""

from __future__ import annotations

import json

import sqlalchemy as sa
from playwright.async_api import expect

from bot.store.tables import RawPush
from bot.web import keys
from tests.conftest import START, buyer_message, eventually, signed_form
from tests.test_consumer_failures import _Buggy, failures_of, seen_by_buggy
from tests.web.test_login_page import log_in
from tests.web.test_staff_accounts import ADMIN_PASSWORD, staff_config


async def test_an_admin_sees_and_replays_failures_in_the_browser(page, db_url, aiohttp_client, make_app, clock):
    bot = await aiohttp_client(make_app(staff_config(db_url), clock, background=True))
    buggy = _Buggy()
    processor = bot.app[keys.PROCESSOR]
    processor._consumers = (*processor._consumers, buggy)
    async with bot.app[keys.DB]() as session, session.begin():
        session.add(RawPush(platform="wangwang", push_id="broken", kind="wangwang_ChatMessage", shop="demo-tb",
                            buyer="b9", event_at=START, received_at=START, form='{"topic": "nope"}'))
    resp = await bot.post("/webhooks/wangwang", data=signed_form(buyer_message(text="在吗", push_id="p7", at=START)))
    assert resp.status == 200
    processor.wake()
    assert await eventually(lambda: failures_of(bot), lambda found: found == {("p7", "buggy")}) == {("p7", "buggy")}

    base = str(bot.make_url("")).rstrip("/")
    await log_in(page, base, "boss", ADMIN_PASSWORD)
    await expect(page.locator("#set-aside tbody tr[data-push=broken]")).to_contain_text("missing field")
    await expect(page.locator("#consumer-failures tbody tr[data-push=p7][data-consumer=buggy]")).to_contain_text(
        "index out of range")

    buggy.bug = False  # the fixes are deployed
    good = signed_form(buyer_message(buyer="b9", text="还在吗", push_id="broken", at=START))
    async with bot.app[keys.DB]() as session, session.begin():
        await session.execute(sa.update(RawPush).where(RawPush.push_id == "broken").values(form=json.dumps(good)))
    await page.click("#retry-all")
    await expect(page.locator("#retry-result")).to_have_text("已放回 1 条推送，1 个环节待重试")
    assert await eventually(lambda: failures_of(bot), lambda found: found == set()) == set()
    seen = {"buggy-saw-p7", "buggy-saw-broken"}
    assert await eventually(lambda: seen_by_buggy(bot), lambda found: found == seen) == seen
    await page.reload()
    await expect(page.locator("#set-aside tbody tr")).to_have_count(0)
    await expect(page.locator("#consumer-failures tbody tr")).to_have_count(0)
    await expect(page.locator("#retry-all")).to_be_disabled()
