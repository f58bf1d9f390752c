"""GET /api/orders (e.g. `?status=unpaid`) with each order's payment-reminder history, and
GET /api/reminders/report, what the reminders won back; both for supervisors."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.reminders.report import figures, summary
from bot.store import reminders
from bot.metrics.board import iso
from bot.web import keys, params
from bot.web.auth import caller
from bot.web.errors import ApiError
from bot.web.params import paging

STATUSES = ("unpaid", "paid", "closed", "unknown")
NO_CREATION = "unknown order: its payment or close came before (or without) its creation, which is applied when it comes"


def _time(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


async def list_orders(request: web.Request) -> web.Response:
    caller(request, role="supervisor")
    status = request.query.get("status", "all")
    if status not in (*STATUSES, "all"):
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(STATUSES)} or all")
    platform = request.query.get("platform") or None
    if platform is not None and platform not in ("wangwang", "dongdong"):
        raise ApiError(400, "bad_request", "platform must be wangwang or dongdong")
    limit, offset = paging(request)
    async with request.app[keys.DB]() as session:
        page, total = await reminders.orders_page(session, status=None if status == "all" else status,
                                                  platform=platform, limit=limit, offset=offset)
        history = await reminders.history(session, [o.id for o, _ in page])
    items = [
        {
            "platform": o.platform, "shop": o.shop, "order_id": o.order_id, "buyer": nick, "title": o.title,
            "amount_fen": o.amount_fen, "status": o.status, "note": NO_CREATION if o.created_at is None else None,
            "created_at": _time(o.created_at), "closes_at": _time(o.closes_at), "paid_at": _time(o.paid_at),
            "paid_amount_fen": o.paid_amount_fen, "closed_at": _time(o.closed_at),
            "reminders": [
                {"slot": r.slot, "state": r.state, "reason": r.reason, "scheduled_at": _time(r.scheduled_at),
                 "due_at": _time(r.due_at), "decided_at": _time(r.decided_at), "client_msg_id": r.client_msg_id}
                for r in history[o.id]
            ],
        }
        for o, nick in page
    ]
    return web.json_response({"items": items, "total": total})


async def reminder_report(request: web.Request) -> web.Response:
    """GET /api/reminders/report?from=YYYY-MM-DD&to=YYYY-MM-DD (supervisor): the figures of metrics.md's
    payment reminders per shop day and platform, and their totals (for the board and reports)."""
    caller(request, role="supervisor")
    config = request.app[keys.CONFIG]
    zone = ZoneInfo(config.shop.timezone)
    today = request.app[keys.CLOCK].now().astimezone(zone).date()
    first, last = params.period(request, today=today)
    since = datetime.combine(first, time(0), zone)
    until = datetime.combine(last + timedelta(days=1), time(0), zone)
    async with request.app[keys.DB]() as session:
        decided = await reminders.decided_between(session, since=since, until=until)
    rows = figures(decided, zone=zone, recovered_within=timedelta(hours=config.reminders.recovered_hours))
    return web.json_response({"from": first.isoformat(), "to": last.isoformat(), "timezone": config.shop.timezone,
                              "items": rows, "total": len(rows), "totals": summary(rows)})
