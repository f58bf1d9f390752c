"""JSON errors everywhere: the API's `{"error", "message"}` and the gateway's `{"code", "msg"}`."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger(__name__)


def api_error(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


@web.middleware
async def json_errors(request: web.Request, handler) -> web.StreamResponse:
    """No HTML error page and never a traceback: every failure becomes a JSON body."""
    try:
        return await handler(request)
    except ApiError as e:
        return api_error(e.status, e.error, e.message, e.headers)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        if request.path.startswith("/webhooks/"):
            response = web.json_response({"code": 40 if e.status < 500 else 50, "msg": e.reason}, status=e.status)
        else:
            response = api_error(e.status, e.reason.lower().replace(" ", "_"), e.text or e.reason)
        if "Allow" in e.headers:  # a 405 says which methods the path takes
            response.headers["Allow"] = e.headers["Allow"]
        return response
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        return api_error(500, "internal", "internal error; it has been logged")


def body_deadline(timeout_s: float):
    """A middleware: the body of an API or page request must arrive within `timeout_s` (else 408), so
    that a client sending a byte now and then cannot hold a handler forever. Webhooks read theirs under
    the same deadline themselves (bot.web.webhooks), to answer in the platform's own error format."""

    @web.middleware
    async def middleware(request: web.Request, handler) -> web.StreamResponse:
        if request.body_exists and not request.path.startswith("/webhooks/"):
            try:
                async with asyncio.timeout(timeout_s):
                    await request.read()  # kept by aiohttp: the handler's request.json() reads it from memory
            except TimeoutError:
                raise ApiError(408, "body_timeout", f"the body did not arrive within {timeout_s:g} s") from None
        return await handler(request)

    return middleware
