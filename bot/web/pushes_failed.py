"""GET /api/pushes/failed (admin): the pushes set aside as failed, with their error, newest first, and
the consumers' failures on single pushes: the lists `csbot pushes failed` prints (bot.store.set_aside,
bot.store.consumer_failures); `csbot pushes retry` replays them."""

from __future__ import annotations

from aiohttp import web

from bot.store import consumer_failures, set_aside
from bot.store.db import reading
from bot.web import keys
from bot.web.auth import caller


async def failed_pushes(request: web.Request) -> web.Response:
    caller(request, role="admin")
    async with request.app[keys.DB]() as session:
        await reading(session)
        rows = await set_aside.listed(session)
        total = await set_aside.count(session)
        failures = await consumer_failures.listed(session)
        failures_total = sum((await consumer_failures.open_by_consumer(session)).values())
    return web.json_response({"total": total, "items": [
        {"platform": r.platform, "push_id": r.push_id, "kind": r.kind, "attempts": r.attempts,
         "set_aside_at": r.processed_at.isoformat(), "error": r.last_error} for r in rows],
        "consumer_failures": {"total": failures_total, "items": [consumer_failure_item(f) for f in failures]}})


def consumer_failure_item(f) -> dict:
    return {"platform": f.platform, "push_id": f.push_id, "consumer": f.consumer, "attempts": f.attempts,
            "failed_at": f.failed_at.isoformat(), "replay_asked": f.replay, "error": f.error}


_TS = {"$ref": "#/components/schemas/Timestamp"}
_PUSH = {"type": "object", "required": ["platform", "push_id", "kind", "attempts", "set_aside_at", "error"],
         "properties": {"platform": {"type": "string"}, "push_id": {"type": "string"}, "kind": {"type": "string"},
                        "attempts": {"type": "integer"}, "set_aside_at": _TS, "error": {"type": "string"}}}
_FAILURE = {"type": "object", "required": ["platform", "push_id", "consumer", "attempts", "failed_at", "replay_asked", "error"],
            "properties": {"platform": {"type": "string"}, "push_id": {"type": "string"}, "consumer": {"type": "string"},
                           "attempts": {"type": "integer"}, "failed_at": _TS, "replay_asked": {"type": "boolean"},
                           "error": {"type": "string"}}}
OPENAPI_PATHS = {"/api/pushes/failed": {"get": {
    "summary": "Pushes set aside as failed, and consumers' failures on single pushes (admin), newest first, at most "
               "100 each; `csbot pushes retry` replays them",
    "responses": {
        "200": {"description": "the pushes set aside and the consumers' failures not replayed yet",
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["total", "items", "consumer_failures"],
                    "properties": {"total": {"type": "integer"}, "items": {"type": "array", "items": _PUSH},
                                   "consumer_failures": {"type": "object", "required": ["total", "items"], "properties": {
                                       "total": {"type": "integer"}, "items": {"type": "array", "items": _FAILURE}}}}}}}},
        "401": {"description": "no or unknown token"},
        "403": {"description": "not an admin"},
    }}}}
