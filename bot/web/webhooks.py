"""POST /webhooks/{platform}: size → signature → parse → store → answer, exactly as gateway.md says."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from aiohttp import web

from bot.gateway import PLATFORMS
from bot.gateway.base import Rejected, malformed, unauthorized
from bot.intake import Overloaded
from bot.web import keys

log = logging.getLogger(__name__)
FORM = "application/x-www-form-urlencoded"


def answer(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


async def receive(request: web.Request) -> web.Response:
    started = time.monotonic()
    platform = request.match_info["platform"]
    push_id = "-"
    try:
        push_id, outcome = await _accept(request, platform)
        response = answer(200, 0, outcome)
    except Rejected as e:
        outcome, response = e.msg, answer(e.status, e.code, e.msg)
    except web.HTTPRequestEntityTooLarge:
        outcome, response = "too large", answer(413, 41, "body over the size limit")
    except Overloaded:
        outcome, response = "overloaded", answer(503, 50, "overloaded, retry later")
    except Exception:
        log.exception("push failed platform=%s push_id=%s", platform, push_id)
        outcome, response = "store unavailable", answer(503, 50, "store unavailable, retry later")
    request.app[keys.PUSH_COUNTS][(platform, outcome)] += 1
    log.info("push platform=%s push_id=%s outcome=%s status=%d ms=%.1f",
             platform, push_id, outcome, response.status, (time.monotonic() - started) * 1000)
    return response


async def _accept(request: web.Request, platform: str) -> tuple[str, str]:
    config = request.app[keys.CONFIG]
    adapter = PLATFORMS.get(platform)
    platform_config = config.platform(platform) if adapter else None
    if adapter is None or platform_config is None:
        raise Rejected(404, 44, f"no platform {platform[:40]!r} is configured")
    limit = config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.content_type != FORM:
        raise malformed(f"content type must be {FORM}")
    body = await request.read()  # aiohttp stops at client_max_size for chunked bodies
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError):
        raise malformed("body is not a UTF-8 url-encoded form") from None
    # The signature first: a request that fails it learns nothing else about what is wrong.
    if adapter.app_key(form) != platform_config.app_key:
        raise unauthorized("unknown app_key")
    adapter.verify(form, platform_config.app_secret, now=request.app[keys.CLOCK].now())
    push = adapter.parse_push(form)
    outcome = await request.app[keys.WRITER].accept(push, form)
    return push.push_id, outcome
