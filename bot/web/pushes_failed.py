"""GET /api/pushes/failed (admin): the pushes set aside as failed, with their error, newest first: the
list `csbot pushes failed` prints (bot.store.set_aside); `csbot pushes retry` replays them."""

from __future__ import annotations

from aiohttp import web

from bot.store import set_aside
from bot.store.db import reading
from bot.web import keys
from bot.web.auth import caller


async def failed_pushes(request: web.Request) -> web.Response:
    caller(request, role="admin")
    async with request.app[keys.DB]() as session:
        await reading(session)
        rows = await set_aside.listed(session)
        total = await set_aside.count(session)
    return web.json_response({"total": total, "items": [
        {"platform": r.platform, "push_id": r.push_id, "kind": r.kind, "attempts": r.attempts,
         "set_aside_at": r.processed_at.isoformat(), "error": r.last_error} for r in rows]})


OPENAPI_PATHS = {"/api/pushes/failed": {"get": {
    "summary": "Pushes set aside as failed (admin), newest first, at most 100; `csbot pushes retry` replays them",
    "responses": {
        "200": {"description": "`{\"total\", \"items\": [{platform, push_id, kind, attempts, set_aside_at, error}]}`"},
        "401": {"description": "no or unknown token"},
        "403": {"description": "not an admin"},
    }}}}
