"""The staff login walked in Chromium (issue 18): a wrong password's message, the first admin adds an
agent and a supervisor on /admin, each logs in and lands on their page working from the session cookie,
a change without the CSRF token is refused 403, and logging out ends the session, on /kb too."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import ARTIFACTS
from tests.web.test_staff_accounts import ADMIN_PASSWORD, staff_config

CHANGE_WITHOUT_CSRF = """async () => (await fetch('/api/admin/tokens', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({role: 'supervisor', expires_days: 1})})).status"""


async def log_in(page, base: str, user: str, password: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#user", user)
    await page.fill("#password", password)
    await page.click("#login-submit")


async def test_staff_log_in_work_and_log_out(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await aiohttp_client(make_app(staff_config(f"sqlite:///{tmp_path / 'bot.db'}"), clock, background=True))
    base = str(bot.make_url("")).rstrip("/")

    await log_in(page, base, "boss", "not-the-password")
    await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")

    await log_in(page, base, "boss", ADMIN_PASSWORD)
    await expect(page).to_have_url(base + "/admin")
    await expect(page.locator("#users tbody tr[data-user=boss]")).to_be_visible()
    # The file's agents are listed as the file declares them, read-only, and can be given a login.
    await expect(page.locator("#agents tbody tr[data-agent=xiaomei]")).to_contain_text("配置文件（只读）")
    await page.locator("#agents tbody tr[data-agent=aqiang] button").click()
    await expect(page.locator("#new-user")).to_have_value("aqiang")
    await page.fill("#new-password", "aqiang-pw-1")
    await page.click("#add-user button[type=submit]")
    await expect(page.locator("#agents tbody tr[data-agent=aqiang]")).to_contain_text("已开通")
    await page.fill("#new-user", "xiaoli")
    await page.fill("#new-name", "小丽")
    await page.fill("#new-accounts", "wangwang:小店:小丽")
    await page.fill("#new-password", "xiaoli-pw-1")
    await page.click("#add-user button[type=submit]")
    await expect(page.locator("#users tbody tr[data-user=xiaoli]")).to_be_visible()
    await page.fill("#new-user", "zhuguan")
    await page.select_option("#new-role", "supervisor")
    await page.fill("#new-password", "zhuguan-pw-1")
    await page.click("#add-user button[type=submit]")
    await expect(page.locator("#users tbody tr[data-user=zhuguan]")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "admin.png"), full_page=True)
    # The cookie alone does not make a change: the CSRF token is missing.
    assert await page.evaluate(CHANGE_WITHOUT_CSRF) == 403
    await page.click("#logout")
    await expect(page).to_have_url(base + "/login?next=%2Fadmin")

    await log_in(page, base, "xiaoli", "xiaoli-pw-1")
    await expect(page).to_have_url(base + "/console")
    await expect(page.locator("#work")).to_be_visible()
    await expect(page.locator("#who")).to_have_text("小丽")
    await expect(page.locator("#live")).to_have_class("live on")  # the live feed, from the session too
    await page.click("#logout")
    await expect(page).to_have_url(base + "/login?next=%2Fconsole")
    assert await page.evaluate("async () => (await fetch('/api/me')).status") == 401

    await log_in(page, base, "zhuguan", "zhuguan-pw-1")
    await expect(page).to_have_url(base + "/board")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")


async def test_logging_out_of_kb_ends_the_login_session(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await aiohttp_client(make_app(staff_config(f"sqlite:///{tmp_path / 'bot.db'}"), clock))
    base = str(bot.make_url("")).rstrip("/")
    await log_in(page, base, "boss", ADMIN_PASSWORD)
    await expect(page).to_have_url(base + "/admin")
    await page.goto(base + "/kb")
    await expect(page.locator("#who")).to_have_text("管理员")
    await page.click("#logout")
    await expect(page).to_have_url(base + "/login?next=%2Fkb")
    assert await page.evaluate("async () => (await fetch('/api/me')).status") == 401
    await page.goto(base + "/kb")  # not logged in again by a cookie that outlived the logout
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#work")).to_be_hidden()
