"""POST /api/suggest, GET /api/kb/intents, POST /api/kb/reload."""

from __future__ import annotations

import time

from aiohttp import web

from bot.matching.engine import shop_values
from bot.matching.kb import KnowledgeBaseError
from bot.tickets.detect import RulesError, detect
from bot.web import keys, params
from bot.web.auth import caller
from bot.web.errors import ApiError

MAX_TEXT = 10_000


async def json_body(request: web.Request) -> dict:
    try:
        body = await request.json(loads=params.loads)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ApiError(400, "bad_json", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the body must be a JSON object")
    return body


async def suggest(request: web.Request) -> web.Response:
    caller(request, role="agent")
    body = await json_body(request)
    text, limit = body.get("text"), body.get("limit", 3)
    if not isinstance(text, str):
        raise ApiError(400, "bad_request", "text must be a string")
    if len(text) > MAX_TEXT:
        raise ApiError(400, "bad_request", f"text is longer than {MAX_TEXT} characters")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10:
        raise ApiError(400, "bad_request", "limit must be an integer from 1 to 10")
    platform = body.get("platform")
    if platform is not None and platform not in ("wangwang", "dongdong"):
        raise ApiError(400, "bad_request", "platform must be wangwang or dongdong")
    engine = request.app[keys.ENGINES].engine
    started = time.perf_counter()
    found = engine.suggest(text, limit=limit, platform=platform,
                           values=shop_values(request.app[keys.CONFIG].shop))
    request.app[keys.INSTRUMENTS].suggestion.observe(time.perf_counter() - started)
    return web.json_response({
        "suggestions": [
            {"intent": s.intent, "title": s.title, "score": s.score, "question": s.question, "reply": s.reply}
            for s in found
        ],
        "complaint": _complaint(text, [s.intent for s in found[:1]], request),
    })


def _complaint(text: str, intents: list[str], request: web.Request) -> dict | None:
    """Whether the ticket queue would take `text` as a complaint, and why."""
    found = detect(text, request.app[keys.TICKET_RULES].rules, intents=intents)
    return None if found is None else {"severity": found.severity, "reason": found.reason,
                                       "rule": found.rule, "category": found.category}


async def intents(request: web.Request) -> web.Response:
    caller(request, role="admin")
    kb = request.app[keys.ENGINES].engine.kb
    items = [
        {"id": i.id, "title": i.title, "questions": list(i.questions), "keywords": list(i.keywords),
         "auto_reply": i.auto_reply, "template": i.template,
         "replies": [{"platform": r.platform, "text": r.text} for r in i.replies], "file": i.file}
        for i in kb.intents
    ]
    return web.json_response({"items": items, "total": len(items)})


async def reload(request: web.Request) -> web.Response:
    caller(request, role="admin")
    try:
        engine = await request.app[keys.RELOAD_KNOWLEDGE]()
    except KnowledgeBaseError as e:
        problems = [str(p) for p in e.problems]
    except RulesError as e:
        problems = [str(e)]
    else:
        return web.json_response({"reloaded": True, "intents": len(engine.kb.intents)})
    return web.json_response({
        "error": "invalid_knowledge_base",
        "message": "the knowledge base has errors; the previous one keeps serving",
        "problems": problems,
    }, status=422)
