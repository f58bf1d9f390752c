"""The supervisor's board: the /board page, its event stream, per-agent figures for a period, handovers.

The stream authenticates like the rest of /api/ (Authorization: Bearer), and, because a browser's
EventSource cannot send headers, also by `?token=` — on this one endpoint only. The page keeps the
token in the URL fragment (`/board#token=...`) or sessionStorage, which never reach server logs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from bot.metrics.board import iso, sse
from bot.store import changes
from bot.store import metrics as metrics_store
from bot.store.db import reading
from bot.web import keys, params
from bot.web import sse as sse_stream
from bot.web.buyer_text import json_for
from bot.web.auth import Caller, authenticate, caller
from bot.web.errors import ApiError
from bot.web.params import paging

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def _page(name: str, content_type: str):
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
    return handler


board_page = _page("board.html", "text/html; charset=utf-8")
board_js = _page("board.js", "application/javascript; charset=utf-8")
board_css = _page("board.css", "text/css; charset=utf-8")


def _stream_caller(request: web.Request) -> Caller:
    token = request.query.get("token")
    if token is None:
        return caller(request, role="supervisor")
    found = authenticate(request, token)
    if not found.at_least("supervisor"):
        raise ApiError(403, "forbidden", f"this needs the supervisor role; the token has {found.role}")
    return found


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /api/board/stream: a snapshot on connect, then the board's changes as they happen."""
    _stream_caller(request)
    board, clock = request.app[keys.BOARD], request.app[keys.CLOCK]
    viewer = board.subscribe()
    board.now = clock.now()
    opening = await _opening(request, board)

    try:
        # The keepalive is an event, not an SSE comment: the page's watchdog sees it and knows the line is alive.
        return await sse_stream.serve(request, viewer, first=lambda: opening, snapshot=board.snapshot_message,
                                      keepalive=lambda: sse("ping", {"now": iso(clock.now())}), name="board")
    finally:
        board.unsubscribe(viewer)


def _last_event_id(request: web.Request) -> int | None:
    """The position a reconnecting client had: EventSource's Last-Event-ID header, or
    `?last_event_id=` from a page that opens a new EventSource (which cannot send the header)."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None  # "²" is a digit to isdigit


async def _opening(request: web.Request, board) -> str:
    """A snapshot; or, for a client that says where it was (it may have been on another process, now
    gone), what changed since then: each change once, none missed."""
    since = _last_event_id(request)
    if not since or not board.position:
        return board.snapshot_message()
    if since >= board.position:  # nothing new here (or this process is behind that client): totals only
        return board.resume_message(set(), [])
    horizon = timedelta(hours=request.app[keys.CONFIG].metrics.waiting_horizon_hours)
    async with request.app[keys.DB]() as session:
        await reading(session)
        changed = await changes.buyers_between(session, after_id=since, until_id=board.position)
        if changed is None:
            return board.snapshot_message()
        buyer_ids = set(await metrics_store.buyer_ids_of(session, changed))
        not_waiting = await metrics_store.conversations_not_waiting(
            session, buyer_ids=buyer_ids, active_since=board.now - horizon)
    return board.resume_message(buyer_ids, not_waiting)


async def agent_metrics(request: web.Request) -> web.Response:
    """GET /api/metrics/agents?from=YYYY-MM-DD&to=YYYY-MM-DD (supervisor)."""
    caller(request, role="supervisor")
    board = request.app[keys.BOARD]
    now = request.app[keys.CLOCK].now()
    first, last = params.period(request, today=now.astimezone(board.rules.zone).date())
    limit, offset = paging(request, error="bad_paging")
    totals = await request.app[keys.PERIOD].totals(first=first, last=last, now=now)
    names = {a.id: a.name or a.id for a in request.app[keys.CONFIG].agents}
    items = [{**row, "name": names.get(row["agent"], row["agent"])} for row in totals.agents()]
    return web.json_response({
        "from": first.isoformat(), "to": last.isoformat(), "timezone": request.app[keys.CONFIG].shop.timezone,
        "items": items[offset:offset + limit], "total": len(items),
        "shop": {"consulting_buyers": totals.consulting, "responses": totals.responses,
                 "effective_reply": totals.effective_days()},
    })


async def handovers(request: web.Request) -> web.Response:
    """GET /api/handovers: waiting buyers handed over at a shift change (交接); an agent sees those handed to them."""
    who = caller(request, role="agent")
    limit, offset = paging(request, error="bad_paging")
    async with request.app[keys.DB]() as session:
        rows = await metrics_store.open_handovers(session, to_agent=None if who.at_least("supervisor") else who.agent)
    items = [{**h, "shift_change_at": iso(h["shift_change_at"]), "waiting_since": iso(h["waiting_since"])} for h in rows]
    return json_for(request, who, {"items": items[offset:offset + limit], "total": len(items)})


def prometheus_families(app: web.Application) -> list:
    """The board's series for GET /metrics: waiting buyers, the day's ratios, viewers. (Response times
    are a histogram that processing fills: bot.web.prometheus.Instruments.)"""
    from bot.web.prometheus import gauge, seconds_since

    board = app[keys.BOARD]
    now = app[keys.CLOCK].now()
    waiting = sorted(board.waiting_by_platform().items())
    agents = board.agents()
    today = board.day.isoformat() if board.day else ""
    effective = [row for row in board.shop()["effective"] if row["day"] == today]
    day = "the shop's day so far"
    return [
        gauge("csbot_waiting_buyers", "Buyers waiting for an agent now, by platform.", ("platform",),
              [((platform,), n) for platform, (n, _) in waiting]),
        gauge("csbot_longest_wait_seconds", "The longest current wait, by platform.", ("platform",),
              [((platform,), seconds_since(earliest, now)) for platform, (_, earliest) in waiting]),
        gauge("csbot_agent_reply_ratio", f"Share of consulting buyers an agent replied to ({day}), by agent.",
              ("agent", "platform", "window"),
              [((row["agent"], row["platform"], "day"), row["reply_rate"]) for row in agents if row["reply_rate"] is not None]),
        gauge("csbot_effective_reply_ratio", f"The shop's effective-reply ratio ({day}), by platform.",
              ("platform", "window"), [((row["platform"], "day"), row["rate"]) for row in effective if row["rate"] is not None]),
        gauge("csbot_effective_reply_flagged", f"1 when the effective-reply ratio ({day}) is flagged, by platform.",
              ("platform", "window"), [((row["platform"], "day"), int(row["flagged"])) for row in effective]),
        gauge("csbot_handovers_open", "Buyers handed over at a shift change and still waiting.",
              rows=[((), len(board.handovers()))]),
        gauge("csbot_board_viewers", "Open board streams.", rows=[((), board.subscribers)]),
    ]
