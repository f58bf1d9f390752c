"""JSON errors everywhere: the API's `{"error", "message"}` and the gateway's `{"code", "msg"}`."""

from __future__ import annotations

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
