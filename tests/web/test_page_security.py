"""The pages carry a Content-Security-Policy and frame headers, and still work under them in a real
Chromium (no violation reported); wrong tokens are limited per address (issue 14)."""

from __future__ import annotations

from playwright.async_api import expect

from bot.web.security import CSP
from tests.conftest import make_config


async def test_every_answer_has_the_headers(client):
    for path in ("/console", "/board", "/static/console.js", "/healthz", "/api/me"):
        resp = await client.get(path)
        assert resp.headers["Content-Security-Policy"] == CSP, path
        assert (resp.headers["X-Frame-Options"], resp.headers["X-Content-Type-Options"]) == ("DENY", "nosniff")


async def test_the_pages_work_under_the_policy(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await aiohttp_client(make_app(make_config(f"sqlite:///{tmp_path / 'bot.db'}"), clock, background=True))
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(str(bot.make_url("/board")) + "#token=supervisor-token")
    await expect(page.locator("#status")).to_have_attribute("data-state", "live")
    await page.goto(str(bot.make_url("/console")))
    await page.evaluate("sessionStorage.clear()")
    await expect(page.locator("body")).to_be_visible()
    assert violations == []
    # A page framed by another site is refused by the browser.
    framed = await page.evaluate("""async (url) => {
        const f = document.createElement('iframe'); f.src = url; document.body.appendChild(f);
        await new Promise(r => setTimeout(r, 500));
        try { return f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerHTML.length : -1; }
        catch (e) { return -2; } }""", str(bot.make_url("/board")))
    assert framed <= 0


async def test_token_guesses_are_limited_per_address(aiohttp_client, make_app, clock, sqlite_url):
    bot = await aiohttp_client(make_app(make_config(sqlite_url, server={"token_failures_per_minute": 5}), clock))
    for i in range(5):
        resp = await bot.get("/api/me", headers={"Authorization": f"Bearer guess-{i}"})
        assert resp.status == 401
    resp = await bot.get("/api/me", headers={"Authorization": "Bearer guess-6"})
    assert (resp.status, (await resp.json())["error"]) == (429, "too_many_attempts")
    # Even the right token waits out the window, so a guess that hits is not told apart...
    assert (await bot.get("/api/me", headers={"Authorization": "Bearer supervisor-token"})).status == 429
    assert (await bot.get("/api/board/stream?token=guess")).status == 429
    clock.advance(seconds=61)
    assert (await bot.get("/api/me", headers={"Authorization": "Bearer supervisor-token"})).status == 200
