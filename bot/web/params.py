"""Query parameters every list shares: limit (default 50, at most 1000) and offset."""

from __future__ import annotations

from aiohttp import web

from bot.web.errors import ApiError


MAX_OFFSET = 10**9


def paging(request: web.Request, *, default: int = 50, most: int = 1000, error: str = "bad_request") -> tuple[int, int]:
    """(limit, offset) of a list request; 400 with `error` (the board's endpoints answer
    `bad_paging`) and what is wrong."""
    def number(name: str, fallback: int) -> int:
        raw = request.query.get(name)
        if raw is None:
            return fallback
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
            raise ApiError(400, error, f"{name} must be a whole number")
        return int(raw)

    limit, offset = number("limit", default), number("offset", 0)
    if not 1 <= limit <= most:
        raise ApiError(400, error, f"limit must be from 1 to {most}")
    if offset > MAX_OFFSET:
        raise ApiError(400, error, f"offset must be at most {MAX_OFFSET}")
    return limit, offset


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        raise ApiError(404, "not_found", f"no such {name}")
    return int(raw)


def is_row_id(value: object) -> bool:
    """A JSON value that can be a row id or a version: an integer a database column holds (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
