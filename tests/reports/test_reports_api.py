"""GET /api/reports/agents: per day and per agent the same numbers as GET /api/metrics/agents and
`csbot report`, the shop's totals per platform as computed by hand, CSV and XLSX that parse back,
bad periods 400, an agent's token 403."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from bot.cli import main
from bot.web import keys
from tests.conftest import ROOT, START
from tests.reports.seed import TRAFFIC, seed

SUP = {"Authorization": "Bearer supervisor-token"}
PERIOD = {"from": "2026-11-24", "to": "2026-11-26"}
FIGURES = ("consulting_buyers", "replied_buyers", "reply_rate", "responses", "avg_response_s", "p50_response_s",
           "p90_response_s", "first_response_avg_s", "within_30s_rate", "effective_reply_rate",
           "effective_reply_pending", "conversion_rate", "sales", "avg_order_value")
PENDING_BUYER = (2, "b7", "wangwang", "小店:小美", None, None)


async def report(client, **query):
    resp = await client.get("/api/reports/agents", params={**PERIOD, **query}, headers=SUP)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def pick(row: dict) -> dict:
    return {k: row[k] for k in ("agent", "platform", *FIGURES)}


async def test_the_report_agrees_with_metrics_agents_and_csbot_report(client, clock, tmp_path, capsys):
    await seed(client.app[keys.DB], TRAFFIC + [PENDING_BUYER])
    clock.set(START + timedelta(days=5))
    body = await report(client)
    assert body["by"] == "day" and body["timezone"] == "Asia/Shanghai"

    for day in ("2026-11-24", "2026-11-25", "2026-11-26"):
        resp = await client.get("/api/metrics/agents", params={"from": day, "to": day}, headers=SUP)
        expected = [pick(r) for r in (await resp.json())["items"]]
        assert expected, day
        assert [pick(r) for r in body["items"] if r["day"] == day] == expected
    resp = await client.get("/api/metrics/agents", params=PERIOD, headers=SUP)
    assert [pick(r) for r in body["period"]] == [pick(r) for r in (await resp.json())["items"]]

    # csbot report on the same database, per day, as CSV: the same numbers.
    toml = tmp_path / "cli.toml"
    toml.write_text(f"""
[database]
url = "{client.app[keys.CONFIG].database.url}"
[knowledge]
path = "{ROOT / 'knowledge'}"
[[agents]]
id = "xiaomei"
name = "小美"
accounts = ["wangwang:小店:小美", "dongdong:jd_xiaomei"]
[[agents]]
id = "aqiang"
name = "阿强"
accounts = ["wangwang:小店:阿强", "dongdong:jd_aqiang"]
""", encoding="utf-8")
    args = ["report", "--config", str(toml), "--from", PERIOD["from"], "--to", PERIOD["to"], "--format", "csv"]
    assert await asyncio.to_thread(main, args) == 0  # it runs its own event loop
    cli_rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(cli_rows) == len(body["items"])
    for cli, api in zip(cli_rows, body["items"]):
        assert (cli["day"], cli["agent"], cli["platform"]) == (api["day"], api["agent"], api["platform"])
        for k in FIGURES:
            assert cli[k] == ("" if api[k] is None else str(api[k])), (k, cli, api)


async def test_agent_and_shop_totals_by_hand(client, clock):
    await seed(client.app[keys.DB], TRAFFIC + [PENDING_BUYER])
    clock.set(START + timedelta(days=2, minutes=30))  # b7 wrote 22 minutes ago: still pending
    body = await report(client, by="period")
    mei = next(r for r in body["items"] if (r["agent"], r["platform"]) == ("xiaomei", "wangwang"))
    assert pick(mei) == {
        "agent": "xiaomei", "platform": "wangwang", "consulting_buyers": 5, "replied_buyers": 3, "reply_rate": 0.6,
        "responses": 3, "avg_response_s": 50.0, "p50_response_s": 50.0, "p90_response_s": 74.0,
        "first_response_avg_s": 50.0, "within_30s_rate": 0.3333, "effective_reply_rate": 0.75,
        "effective_reply_pending": 1, "conversion_rate": 0.2, "sales": 120.0, "avg_order_value": 120.0}
    assert mei["name"] == "小美"
    shop = {r["platform"]: r for r in body["totals"]}
    assert pick(shop["wangwang"]) == {
        "agent": "", "platform": "wangwang", "consulting_buyers": 7, "replied_buyers": 5, "reply_rate": 0.7143,
        "responses": 5, "avg_response_s": 61.0, "p50_response_s": 50.0, "p90_response_s": 104.0,
        "first_response_avg_s": 61.0, "within_30s_rate": 0.2, "effective_reply_rate": 0.8333,
        "effective_reply_pending": 1, "conversion_rate": 0.2857, "sales": 170.0, "avg_order_value": 85.0}
    assert shop["wangwang"]["name"] == "全店"
    assert (shop["dongdong"]["consulting_buyers"], shop["dongdong"]["responses"], shop["dongdong"]["avg_response_s"],
            shop["dongdong"]["within_30s_rate"], shop["dongdong"]["sales"]) == (2, 2, 17.5, 1.0, 300.0)
    # The shop per day adds up to the period where the figure is a count.
    daily = (await report(client))["daily_totals"]
    assert sum(r["responses"] for r in daily if r["platform"] == "wangwang") == 5
    assert [r["day"] for r in daily if r["platform"] == "dongdong"] == ["2026-11-24", "2026-11-26"]


async def test_csv_and_xlsx_parse_back_to_the_same_numbers(client, clock):
    await seed(client.app[keys.DB])
    clock.set(START + timedelta(days=5))
    body = await report(client, by="period")
    resp = await client.get("/api/reports/agents", params={**PERIOD, "by": "period", "format": "csv"}, headers=SUP)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    shown = body["items"] + body["totals"]
    assert len(rows) == len(shown)
    for row, api in zip(rows, shown):
        assert (row["agent"], row["platform"], row["name"]) == (api["agent"], api["platform"], api["name"])
        assert [row[k] for k in FIGURES] == ["" if api[k] is None else str(api[k]) for k in FIGURES]

    resp = await client.get("/api/reports/agents", params={**PERIOD, "format": "xlsx"}, headers=SUP)
    assert resp.status == 200
    book = load_workbook(io.BytesIO(await resp.read()))
    assert book.sheetnames == ["period", "by day"]
    sheet = list(book["period"].values)
    head = list(sheet[0])
    assert len(sheet) - 1 == len(shown)
    for values, api in zip(sheet[1:], shown):
        cells = dict(zip(head, values))
        assert [cells[k] for k in FIGURES] == [api[k] for k in FIGURES]
    by_day = list(book["by day"].values)
    daily = await report(client)
    assert len(by_day) - 1 == len(daily["items"]) + len(daily["daily_totals"])


@pytest.mark.parametrize("query, status, fragment", [
    ({"from": "2026-11-26", "to": "2026-11-24"}, 400, "after"),
    ({"from": "2025-01-01", "to": "2026-01-02"}, 400, "367 days, more than a year"),
    ({"from": "2026-13-01", "to": "2026-11-24"}, 400, "from must be a date"),
    ({"from": "yesterday"}, 400, "from must be a date"),
    ({"from": "2026-11-24", "to": "2026-11-24T00"}, 400, "to must be a date"),
])
async def test_a_bad_period_is_400_with_a_message(client, query, status, fragment):
    resp = await client.get("/api/reports/agents", params=query, headers=SUP)
    assert resp.status == status
    body = await resp.json()
    assert body["error"] == "bad_period" and fragment in body["message"]


async def test_a_period_of_366_days_is_the_longest_answered(client):
    resp = await client.get("/api/reports/agents", params={"from": "2025-11-24", "to": "2026-11-24"}, headers=SUP)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["from"], body["to"]) == ("2025-11-24", "2026-11-24")
    resp = await client.get("/api/metrics/agents", params={"from": "2025-11-24", "to": "2026-11-24"}, headers=SUP)
    assert resp.status == 200, await resp.text()


async def test_bad_by_or_format_is_400_and_an_agent_token_403(client):
    for query in ({"by": "week"}, {"format": "pdf"}):
        resp = await client.get("/api/reports/agents", params={**PERIOD, **query}, headers=SUP)
        assert resp.status == 400
    resp = await client.get("/api/reports/agents", params=PERIOD, headers={"Authorization": "Bearer agent-xiaomei-token"})
    assert resp.status == 403
    resp = await client.get("/api/reports/agents", params=PERIOD)
    assert resp.status == 401
