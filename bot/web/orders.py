"""GET /api/orders: orders (e.g. `?status=unpaid`) with their payment-reminder history; supervisor."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.store import reminders
from bot.web import keys
from bot.web.auth import caller
from bot.web.errors import ApiError
from bot.web.params import paging

STATUSES = ("unpaid", "paid", "closed", "unknown")
NO_CREATION = "unknown order: its payment or close came before (or without) its creation, which is applied when it comes"


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


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
