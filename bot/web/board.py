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
from bot.metrics.report import parse_period
from bot.store import changes
from bot.store import metrics as metrics_store
from bot.store.db import reading
from bot.web import keys
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
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


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
    try:
        first, last = parse_period(request.query.get("from"), request.query.get("to"),
                                   today=now.astimezone(board.rules.zone).date())
    except ValueError as e:
        raise ApiError(400, "bad_period", str(e)) from None
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


def prometheus_lines(app: web.Application) -> list[str]:
    """The board's series for GET /metrics: waiting buyers, today's per-agent figures, viewers."""
    from datetime import datetime

    from bot.web.prometheus import label

    board = app[keys.BOARD]
    now = app[keys.CLOCK].now()
    lines = ["# HELP csbot_waiting_buyers Buyers waiting for an agent now, by platform.",
             "# TYPE csbot_waiting_buyers gauge"]
    waiting = board.waiting_by_platform()
    for platform, (n, _) in sorted(waiting.items()):
        lines.append(f'csbot_waiting_buyers{{platform="{label(platform)}"}} {n}')
    lines += ["# HELP csbot_longest_wait_seconds The longest current wait, by platform.",
              "# TYPE csbot_longest_wait_seconds gauge"]
    for platform, (_, earliest) in sorted(waiting.items()):
        since = datetime.fromisoformat(earliest.replace("Z", "+00:00"))
        lines.append(f'csbot_longest_wait_seconds{{platform="{label(platform)}"}} {max(0.0, (now - since).total_seconds()):.1f}')
    series = [
        ("responses", "csbot_agent_responses_today", "Responses today (shop time), by agent.", "gauge"),
        ("avg_response_s", "csbot_agent_response_seconds_avg_today", "Mean response time today, by agent.", "gauge"),
        ("p90_response_s", "csbot_agent_response_seconds_p90_today", "90th percentile response time today, by agent.", "gauge"),
        ("reply_rate", "csbot_agent_reply_rate_today", "Reply rate today, by agent.", "gauge"),
        ("within_30s_rate", "csbot_agent_within_30s_rate_today", "Share of today's responses within 30 s, by agent.", "gauge"),
    ]
    agents = board.agents()
    for field, name, help_text, kind in series:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for row in agents:
            if row[field] is not None:
                lines.append(f'{name}{{agent="{label(row["agent"])}",platform="{label(row["platform"])}"}} {row[field]}')
    lines += ["# HELP csbot_effective_reply_rate_today The shop's effective-reply rate today, by platform.",
              "# TYPE csbot_effective_reply_rate_today gauge",
              "# HELP csbot_effective_reply_flagged 1 when today's effective-reply rate is flagged, by platform.",
              "# TYPE csbot_effective_reply_flagged gauge"]
    today = board.day.isoformat() if board.day else ""
    for row in board.shop()["effective"]:
        if row["day"] == today:
            if row["rate"] is not None:
                lines.append(f'csbot_effective_reply_rate_today{{platform="{label(row["platform"])}"}} {row["rate"]}')
            lines.append(f'csbot_effective_reply_flagged{{platform="{label(row["platform"])}"}} {int(row["flagged"])}')
    lines += ["# HELP csbot_handovers_open Buyers handed over at a shift change and still waiting.",
              "# TYPE csbot_handovers_open gauge", f"csbot_handovers_open {len(board.handovers())}",
              "# HELP csbot_board_viewers Open board streams.", "# TYPE csbot_board_viewers gauge",
              f"csbot_board_viewers {board.subscribers}"]
    return lines
