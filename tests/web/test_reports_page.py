"""/reports in a real headless Chromium (Debian's, driven by Playwright): a seeded month's totals as
the API gives them, a chart per figure, CSV and XLSX downloads that parse back to the same numbers,
a bad period's message, an agent's token refused with the reason. Screenshots go to artifacts/."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from openpyxl import load_workbook
from playwright.async_api import expect

from bot.web import keys
from tests.conftest import START, make_config
from tests.reports.seed import seed
from tests.web.conftest import ARTIFACTS

MONTH = "from=2026-11-01&to=2026-11-30"


async def start_bot(tmp_path, aiohttp_client, make_app, clock):
    bot = await aiohttp_client(make_app(make_config(f"sqlite:///{tmp_path / 'bot.db'}"), clock, background=True))
    await seed(bot.app[keys.DB])
    clock.set(START + timedelta(days=5))
    return bot


async def test_a_seeded_month_its_charts_and_its_downloads(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    resp = await bot.get(f"/api/reports/agents?{MONTH}", headers={"Authorization": "Bearer supervisor-token"})
    api = await resp.json()

    await page.goto(str(bot.make_url(f"/reports?{MONTH}")) + "#token=supervisor-token")
    await expect(page.locator("body")).to_have_attribute("data-loaded", "2026-11-01..2026-11-30")
    assert "token" not in page.url
    for row in api["totals"]:
        tr = page.locator(f'#figures tr.shop[data-platform="{row["platform"]}"]')
        await expect(tr.locator("td.buyers")).to_have_text(str(row["consulting_buyers"]))
        await expect(tr.locator("td.responses")).to_have_text(str(row["responses"]))
        await expect(tr.locator("td.avg")).to_have_text(f'{row["avg_response_s"]:.1f}')
        await expect(tr.locator("td.sales")).to_have_text(f'{row["sales"]:.2f}')
    for row in api["period"]:
        tr = page.locator(f'#figures tr.agent[data-agent="{row["agent"]}"][data-platform="{row["platform"]}"]')
        await expect(tr.locator("td.responses")).to_have_text(str(row["responses"]))
        await expect(tr.locator("td.conversion")).to_have_text(
            "–" if row["conversion_rate"] is None else f'{row["conversion_rate"] * 100:.1f}%')

    # A chart per figure; the shop's wangwang responses on three days, so three points of its average.
    await page.select_option("#subject", ":wangwang")
    await expect(page.locator("#charts .chart")).to_have_count(7)
    dots = page.locator('#charts .chart[data-figure="avg_response_s"] circle.dot')
    await expect(dots).to_have_count(3)
    daily = {r["day"]: r for r in api["daily_totals"] if r["platform"] == "wangwang"}
    assert [float(v) for v in await dots.evaluate_all("ds => ds.map(d => d.dataset.value)")] == [
        daily[d]["avg_response_s"] for d in sorted(daily)]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)

    period = (await (await bot.get(f"/api/reports/agents?{MONTH}&by=period",
                                   headers={"Authorization": "Bearer supervisor-token"})).json())
    shown = period["items"] + period["totals"]
    async with page.expect_download() as info:
        await page.click("#csv")
    download = await info.value
    rows = list(csv.DictReader(io.StringIO(open(await download.path(), encoding="utf-8-sig").read())))
    assert [(r["agent"], r["platform"], r["responses"], r["sales"]) for r in rows] == [
        (r["agent"], r["platform"], str(r["responses"]), str(r["sales"])) for r in shown]
    async with page.expect_download() as info:
        await page.click("#xlsx")
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = list(load_workbook(io.BytesIO((await download.path()).read_bytes()))["period"].values)
    head = sheet[0]
    assert [(c[head.index("agent")] or "", c[head.index("responses")], c[head.index("sales")]) for c in sheet[1:]] == [
        (r["agent"], r["responses"], r["sales"]) for r in shown]


async def test_a_bad_period_shows_the_message_and_an_agent_token_is_refused(page, tmp_path, aiohttp_client, make_app, clock):
    bot = await start_bot(tmp_path, aiohttp_client, make_app, clock)
    await page.goto(str(bot.make_url("/reports?from=2026-11-30&to=2026-11-01")) + "#token=supervisor-token")
    await expect(page.locator("#error")).to_contain_text("after")
    await page.fill("#from", "2025-01-01")
    await page.fill("#to", "2026-11-01")
    await page.click("#show")
    await expect(page.locator("#error")).to_contain_text("more than a year")

    await page.goto("about:blank")
    await page.goto(str(bot.make_url("/reports")) + "#token=agent-xiaomei-token")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#login-reason")).to_contain_text("supervisor")
    await expect(page.locator("#reports")).to_be_hidden()


async def test_the_scorecard_on_the_page_and_a_manual_deduction(page, tmp_path, aiohttp_client, make_app, clock):
    from tests.reports.test_scorecard import SCORECARD, SHIFTS, at, script

    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", shifts=SHIFTS, scorecard=SCORECARD)
    clock.set(at(5, 12))
    bot = await aiohttp_client(make_app(config, clock, background=True))
    await script(bot.app[keys.DB])
    await page.goto(str(bot.make_url("/reports?month=2026-11")) + "#token=supervisor-token")
    await expect(page.locator("#month")).to_have_value("2026-11")
    await page.click("#show-scorecard")
    mei = page.locator('#scorecard tr[data-agent="xiaomei"]')
    await expect(mei.locator("td.score")).to_have_text("1.5")  # the API test's card without its manual 0.5
    await expect(mei.locator("td.commission")).to_have_text("50.00")
    await expect(mei.locator("ul.evidence a").first).to_have_attribute("href", "/api/tickets/1")
    await expect(page.locator('#scorecard tr[data-agent="aqiang"] td.status-warning')).to_contain_text("warning")

    await page.select_option("#deduct-agent", "xiaomei")
    await page.fill("#deduct-points", "0.5")
    await page.click("#deduct button")  # no reason
    await expect(page.locator("#scorecard-error")).to_contain_text("reason")
    await page.fill("#deduct-reason", "未完成当日工作")
    await page.click("#deduct button")
    await expect(mei.locator("td.score")).to_have_text("1.0")
    await expect(mei.locator("ul.evidence")).to_contain_text("未完成当日工作")
    await page.screenshot(path=str(ARTIFACTS / "reports-scorecard.png"), full_page=True)
