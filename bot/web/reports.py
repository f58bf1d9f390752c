"""The supervisor's reports: the /reports page, GET /api/reports/agents (JSON, CSV, XLSX), and the
monthly scorecard (GET /api/scorecard, POST /api/scorecard/deductions)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.metrics.report import parse_period
from bot.reports import export
from bot.reports.figures import period_report
from bot.web import keys
from bot.web.auth import caller
from bot.web.errors import ApiError

STATIC = Path(__file__).parent / "static"


def _page(name: str, content_type: str):
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
    return handler


reports_page = _page("reports.html", "text/html; charset=utf-8")
reports_js = _page("reports.js", "application/javascript; charset=utf-8")
reports_css = _page("reports.css", "text/css; charset=utf-8")


def _names(request: web.Request) -> dict[str, str]:
    return {a.id: a.name or a.id for a in request.app[keys.CONFIG].agents}


async def agents_report(request: web.Request) -> web.StreamResponse:
    """GET /api/reports/agents?from=&to=&by=day|period&format=json|csv|xlsx (supervisor)."""
    caller(request, role="supervisor")
    rules = request.app[keys.BOARD].rules
    now = request.app[keys.CLOCK].now()
    try:
        first, last = parse_period(request.query.get("from"), request.query.get("to"),
                                   today=now.astimezone(rules.zone).date())
    except ValueError as e:
        raise ApiError(400, "bad_period", str(e)) from None
    by = request.query.get("by", "day")
    if by not in ("day", "period"):
        raise ApiError(400, "bad_request", "by must be day or period")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "xlsx"):
        raise ApiError(400, "bad_request", "format must be json, csv or xlsx")
    report = await period_report(request.app[keys.DB], request.app[keys.PERIOD], first=first, last=last, now=now,
                                 rules=rules, names=_names(request), by_day=by == "day")
    if fmt == "json":
        return web.json_response(report)
    name = f"csbot-report-{first.isoformat()}-{last.isoformat()}"
    if fmt == "csv":
        # What the page shows: the agents and the shop's totals (per day with by=day, else the period).
        rows = report["items"] + (report["daily_totals"] if by == "day" else report["totals"])
        return web.Response(body=export.to_csv(rows).encode("utf-8-sig"), headers={
            "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}.csv"'})
    sheets = [("period", report["period"] + report["totals"])]
    if by == "day":
        sheets.append(("by day", report["items"] + report["daily_totals"]))
    return web.Response(body=export.to_xlsx(sheets), headers={
        "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
