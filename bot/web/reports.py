"""The supervisor's reports: the /reports page, GET /api/reports/agents (JSON, CSV, XLSX), and the
monthly scorecard (GET /api/scorecard, POST /api/scorecard/deductions)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bot.reports import export, monthly, scorecard
from bot.store import daily_reports as daily_reports_store
from bot.store import reports as reports_store
from bot.reports.figures import period_report
from bot.metrics.board import iso
from bot.web import keys, params
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
    first, last = params.period(request, today=now.astimezone(rules.zone).date())
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


MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # the document's pattern


def _month(request: web.Request, text: object):
    """400 for what the document's pattern refuses, and for a month it allows but that cannot be
    reported on: one in the future, or before 1970."""
    if not isinstance(text, str) or not MONTH.fullmatch(text):
        raise ApiError(400, "bad_month", f"month must be YYYY-MM, not {str(text)[:20]!r}")
    rules = request.app[keys.BOARD].rules
    today = request.app[keys.CLOCK].now().astimezone(rules.zone).date()
    try:
        first, last = scorecard.parse_month(text, today=today)
    except ValueError as e:
        raise ApiError(400, "bad_month", str(e)) from None
    if first < params.FIRST_DAY:
        raise ApiError(400, "bad_month", f"months are from {params.FIRST_DAY:%Y-%m} on")
    return first, last


async def get_scorecard(request: web.Request) -> web.Response:
    """GET /api/scorecard?month=YYYY-MM (supervisor): per agent the 10-point card, deductions with
    evidence, sales and commission."""
    caller(request, role="supervisor")
    first, last = _month(request, request.query.get("month"))
    body = await monthly.scorecards(request.app[keys.DB], request.app[keys.PERIOD], config=request.app[keys.CONFIG],
                                    first=first, last=last, now=request.app[keys.CLOCK].now(),
                                    rules=request.app[keys.BOARD].rules)
    return web.json_response(body)


async def add_deduction(request: web.Request) -> web.Response:
    """POST /api/scorecard/deductions {"agent", "month", "points", "reason"} (supervisor): 201 with the entry."""
    who = caller(request, role="supervisor")
    try:
        body = await request.json(loads=params.loads)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", "the body must be JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    config = request.app[keys.CONFIG]
    # What the document refuses first, then what it cannot say (an unknown agent, a month in the
    # future, more points than [scorecard] max_manual_points): 400 both, as issue 17 fixes.
    agent, points, reason = body.get("agent"), body.get("points"), body.get("reason")
    if not isinstance(agent, str):  # a dict is unhashable: 400, not 500
        raise ApiError(400, "bad_request", f"agent must be an agent id, not {str(agent)[:40]!r}")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 < points < float("inf"):
        raise ApiError(400, "bad_request", "points must be a number above 0")
    if not isinstance(reason, str) or params.blank(reason):
        raise ApiError(400, "bad_request", "a manual deduction needs a reason")
    if len(reason) > 500:
        raise ApiError(400, "bad_request", "reason is at most 500 characters")
    first, _ = _month(request, body.get("month"))
    if agent not in {a.id for a in config.agents}:
        raise ApiError(400, "unknown_agent", f"agent must be one of the configured agents, not {agent[:40]!r}")
    most = config.scorecard.max_manual_points
    if points > most:
        raise ApiError(400, "bad_request", f"points must be at most {most:g} ([scorecard] max_manual_points)")
    async with request.app[keys.DB]() as session, session.begin():
        row = await reports_store.add_deduction(session, agent=agent, month=monthly.month_label(first),
                                                points=float(points), reason=reason.strip(), created_by=who.role,
                                                now=request.app[keys.CLOCK].now())
        entry = {"id": row.id, "agent": row.agent, "month": row.month, "points": row.points, "reason": row.reason,
                 "created_by": row.created_by, "created_at": iso(row.created_at)}
    return web.json_response(entry, status=201)


async def daily_deliveries(request: web.Request) -> web.Response:
    """GET /api/reports/daily (supervisor): the daily report's deliveries of the last 30 days, newest first."""
    caller(request, role="supervisor")
    rules = request.app[keys.BOARD].rules
    today = request.app[keys.CLOCK].now().astimezone(rules.zone).date()
    async with request.app[keys.DB]() as session:
        items = await daily_reports_store.recent(session, since=today - timedelta(days=30))
    return web.json_response({"items": items, "total": len(items)})
