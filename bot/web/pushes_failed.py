"""GET /api/pushes/failed (admin): the pushes set aside as failed, with their error, newest first, and
the consumers' failures on single pushes: the lists `csbot pushes failed` prints (bot.store.set_aside,
bot.store.consumer_failures). POST /api/pushes/retry (admin) replays them, as `csbot pushes retry` does:
the /admin page's 重试 buttons."""

from __future__ import annotations

from aiohttp import web

from bot.store import consumer_failures, set_aside
from bot.store.db import reading
from bot.web import keys
from bot.web.auth import caller
from bot.web.errors import ApiError
from bot.web.kb_api import json_body


async def failed_pushes(request: web.Request) -> web.Response:
    caller(request, role="admin")
    async with request.app[keys.DB]() as session:
        await reading(session)
        rows = await set_aside.listed(session)
        total = await set_aside.count(session)
        failures = await consumer_failures.listed(session)
        failures_total = sum((await consumer_failures.open_by_consumer(session)).values())
    return web.json_response({"total": total, "items": [set_aside.as_item(r) for r in rows], "consumer_failures": {
        "total": failures_total, "items": [consumer_failures.as_item(f) for f in failures]}})


async def retry(request: web.Request) -> web.Response:
    """POST /api/pushes/retry {push_ids: [...] | all: true, consumer?}: the pushes set aside put back to be
    processed, and the consumers' failures on them replayed (only `consumer`'s when given)."""
    caller(request, role="admin")
    body = await json_body(request)
    unknown = set(body) - {"push_ids", "all", "consumer"}
    if unknown:
        raise ApiError(400, "bad_request", "unknown field: " + ", ".join(sorted(unknown)))
    if ("push_ids" in body) == ("all" in body):
        raise ApiError(400, "bad_request", "give push_ids (1 to 1000 push ids) or all: true")
    push_ids, everything, consumer = body.get("push_ids"), "all" in body, body.get("consumer")
    if everything and body["all"] is not True:
        raise ApiError(400, "bad_request", "all must be true")
    if not everything and (not isinstance(push_ids, list) or not 0 < len(push_ids) <= 1000
                           or not all(isinstance(p, str) and 0 < len(p) <= 128 for p in push_ids)):
        raise ApiError(400, "bad_request", "push_ids must be 1 to 1000 push ids (strings of 1 to 128 characters)")
    names = request.app[keys.PROCESSOR].consumer_names
    if "consumer" in body and consumer not in names:
        raise ApiError(400, "bad_request", "consumer must be one of " + ", ".join(names))
    ids = None if everything else push_ids
    async with request.app[keys.DB]() as session, session.begin():
        n, replays = await set_aside.replay(session, push_ids=ids, consumer=consumer)
    request.app[keys.PROCESSOR].wake()
    return web.json_response({"pushes": n, "consumer_failures": replays})


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
    }}},
    "/api/pushes/retry": {"post": {
        "summary": "Put pushes set aside back to be processed and replay the consumers' failures on them (admin)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {"push_ids": {"type": "array", "minItems": 1, "maxItems": 1000,
                                        "items": {"type": "string", "minLength": 1, "maxLength": 128}},
                           "all": {"type": "boolean", "enum": [True]},
                           "consumer": {"type": "string", "enum": ["matching", "metrics", "reminders", "tickets"]}},
            "oneOf": [{"required": ["push_ids"]}, {"required": ["all"]}]}}}},
        "responses": {
            "200": {"description": "how many pushes were put back and how many consumer failures will be replayed",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["pushes", "consumer_failures"],
                        "properties": {"pushes": {"type": "integer"}, "consumer_failures": {"type": "integer"}}}}}},
            "400": {"description": "`bad_request`: neither push_ids nor all, both, or an unknown consumer"},
            "401": {"description": "no or unknown token"},
            "403": {"description": "not an admin, or a session request without its CSRF token"},
        }}},
}
