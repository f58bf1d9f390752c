"""GET /api/board/outbox: the sends that are failing, for the supervisor's board (issue 14).

Messages still retrying after a failed try or waiting behind their platform's failing gateway (发送中,
with the last error), and those given up in the
last day (发送失败, with why): replies, reminders, ticket callbacks and auto-replies alike. The board
polls it (any process answers: it reads the shared outbox)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.clock import iso
from bot.outbox import LABELS
from bot.store import outbox as outbox_store
from bot.store.db import reading
from bot.store.tables import OutboxMessage
from bot.web import keys
from bot.web.auth import caller

SHOWN_FOR = timedelta(days=1)  # how long a message given up stays on the board


def _item(m: OutboxMessage) -> dict:
    return {
        "id": m.id, "kind": m.kind, "sender": m.sender, "platform": m.platform, "buyer": m.buyer, "agent": m.agent_account,
        "client_msg_id": outbox_store.shown_key(m.client_msg_id), "state": m.state, "state_name": LABELS[m.state],
        "attempts": m.attempts,
        "error": m.last_error or ("waiting: its platform's gateway is failing" if m.state == "pending" else None), "created_at": iso(m.created_at),
        "failing_since": iso(m.failed_at) if m.failed_at else None,
    }


async def send_failures(request: web.Request) -> web.Response:
    caller(request, role="supervisor")
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session:
        await reading(session)
        since = await outbox_store.failing_since(session)
        items = await outbox_store.troubles(session, since=now - SHOWN_FOR)
    return web.json_response({
        "failing_seconds": round((now - since).total_seconds()) if since else 0,
        "retrying": sum(1 for m in items if m.state == "pending"),
        "failed": sum(1 for m in items if m.state == "failed"),
        "items": [_item(m) for m in items],
    })


OPENAPI_PATHS = {"/api/board/outbox": {"get": {
    "summary": "Sends that are failing (supervisor): messages retrying after a failed try (发送中) and those given up "
               "in the last day (发送失败), each with kind, platform, buyer, attempts and the reason",
    "responses": {
        "200": {"description": "`{\"failing_seconds\", \"retrying\", \"failed\", \"items\": [{id, kind, sender, platform, buyer, "
                               "agent, client_msg_id, state, state_name, attempts, error, created_at, failing_since}]}`: "
                               "retrying oldest first, then failed newest first, at most 50"},
        "401": {"description": "no or unknown token"},
        "403": {"description": "not a supervisor"},
    }}}}
