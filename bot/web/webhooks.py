"""POST /webhooks/{platform}: size → signature → parse → store → answer, exactly as gateway.md says.

Nothing from an unauthenticated request reaches /metrics or the log unbounded: an unknown platform
is counted as "unknown", outcomes are a fixed set, and logged values are escaped and cut short.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import parse_qsl

from aiohttp import web

from bot.gateway import PLATFORMS
from bot.gateway.base import Rejected, bounded_form, malformed, storable_form, unauthorized
from bot.intake import Overloaded
from bot.web import keys

log = logging.getLogger(__name__)
FORM = "application/x-www-form-urlencoded"
# The outcome label of a rejection, by status (401's messages are already a fixed set of strings).
OUTCOMES = {400: "malformed", 404: "unknown platform", 408: "body too slow"}


def answer(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def shown(value: str, limit: int = 64) -> str:
    """A value from a request as it may appear in a log line: escaped (no newline can forge a line)
    and cut short."""
    return ascii(value[:limit])[1:-1]


async def receive(request: web.Request) -> web.Response:
    started = time.monotonic()
    platform = request.match_info["platform"]
    label = platform if platform in PLATFORMS else "unknown"
    push_id = "-"
    try:
        push_id, outcome = await _accept(request, platform)
        response = answer(200, 0, outcome)
    except Rejected as e:
        outcome, response = (e.msg if e.status == 401 else OUTCOMES.get(e.status, "rejected")), \
            answer(e.status, e.code, e.msg)
    except web.HTTPRequestEntityTooLarge:
        outcome, response = "too large", answer(413, 41, "body over the size limit")
    except Overloaded:
        outcome, response = "overloaded", answer(503, 50, "overloaded, retry later")
    except (ConnectionResetError, asyncio.CancelledError) as e:
        # The client went away mid-request: nothing to answer, and the store is not to blame.
        request.app[keys.PUSH_COUNTS][(label, "client gone")] += 1
        request.app[keys.PUSH_SUMMARY].note(label, "client gone")
        log.debug("push abandoned by the client platform=%s push_id=%s", label, shown(push_id))
        if isinstance(e, asyncio.CancelledError):
            raise
        return answer(400, 40, "client gone")
    except Exception:
        log.exception("push failed platform=%s push_id=%s", label, shown(push_id))
        outcome, response = "store unavailable", answer(503, 50, "store unavailable, retry later")
    if response.status == 408:
        response.force_close()  # the rest of the body is not worth waiting for
    request.app[keys.PUSH_COUNTS][(label, outcome)] += 1
    request.app[keys.PUSH_SUMMARY].note(label, outcome)
    log.debug("push platform=%s push_id=%s outcome=%s status=%d ms=%.1f",
             label, shown(push_id), shown(outcome), response.status, (time.monotonic() - started) * 1000)
    return response


async def _read_body(request: web.Request, timeout_s: float) -> bytes:
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()  # aiohttp stops at client_max_size for chunked bodies
    except TimeoutError:
        raise Rejected(408, 40, f"the body did not arrive within {timeout_s:g} s") from None


async def _accept(request: web.Request, platform: str) -> tuple[str, str]:
    config = request.app[keys.CONFIG]
    adapter = PLATFORMS.get(platform)
    platform_config = config.platform(platform) if adapter else None
    if adapter is None or platform_config is None:
        raise Rejected(404, 44, "no such platform is configured")
    limit = config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.content_type != FORM:
        raise malformed(f"content type must be {FORM}")
    body = await _read_body(request, config.server.body_timeout_seconds)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise malformed("body is not a UTF-8 url-encoded form") from None
    form = bounded_form(pairs, json_field=adapter.JSON_FIELD)
    # The signature first: a request that fails it learns nothing else about what is wrong.
    if adapter.app_key(form) != platform_config.app_key:
        raise unauthorized("unknown app_key")
    adapter.verify(form, platform_config.app_secret, now=request.app[keys.CLOCK].now())
    form = storable_form(form, json_field=adapter.JSON_FIELD)
    push = adapter.parse_push(form)
    outcome = await request.app[keys.WRITER].accept(push, form)
    return push.push_id, outcome
