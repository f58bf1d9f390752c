"""Query parameters every list shares (limit, default 50, at most 1000, and offset) and the reports'
period (from, to).

A value the served document refuses (not a number, not a date, out of range) is 400, and so is a
well-formed period refused on its meaning (its end before its start, more than a year): issues 4 and
17 fix 400 for those."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from aiohttp import web

from bot.web.errors import ApiError


MAX_OFFSET = 10**9

# Whitespace to Python (str.strip, re's \s) or to JSON Schema's regular expressions (ECMA 262's \s): the
# document's patterns and the server's checks use this one class, so that they refuse the same texts.
SPACES = "\\s\x1c-\x1f\x85\ufeff"
NOT_BLANK = f"[^{SPACES}]"  # the pattern of a text that is not only spaces


def blank(text: str) -> bool:
    return re.search(NOT_BLANK, text) is None


def _number(text: str) -> int | float:
    """A JSON number written with a point or an exponent; 886.0 is the integer 886 (JSON Schema says so)."""
    value = float(text)
    return int(value) if value.is_integer() else value


def loads(text: str) -> object:
    """A request body: json.loads, with whole numbers as ints however they are written."""
    return json.loads(text, parse_float=_number)


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


MAX_PERIOD_DAYS = 366  # a year, leap or not
# The days a period may hold. The figures look days and weeks past a period's ends (conversion windows,
# UTC a day either side of shop time), which near the calendar's edges are no datetimes (a 500 before).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def period(request: web.Request, *, today: date, default_days: int = 1) -> tuple[date, date]:
    """`from` and `to` (YYYY-MM-DD, days inclusive, shop time): one left out means the other, both left
    out the `default_days` days up to `today`. 400 `bad_period` for a value that is not a date (an empty
    one too), from after to, or more than MAX_PERIOD_DAYS days."""
    def day(name: str) -> date | None:
        text = request.query.get(name)
        if text is None:
            return None
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ApiError(400, "bad_period", f"{name} must be a date YYYY-MM-DD, not {text[:40]!r}") from None

    start, end = day("from"), day("to")
    if start is None and end is None:
        start, end = today - timedelta(days=default_days - 1), today
    start, end = start or end, end or start
    if start > end:
        raise ApiError(400, "bad_period", f"from ({start}) is after to ({end})")
    if start < FIRST_DAY or end > LAST_DAY:
        raise ApiError(400, "bad_period", f"days are from {FIRST_DAY} to {LAST_DAY}")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ApiError(400, "bad_period", f"the period is {(end - start).days + 1} days, more than a year "
                                          f"({MAX_PERIOD_DAYS} days at most); the last day may be "
                                          f"{start + timedelta(days=MAX_PERIOD_DAYS - 1)} at most")
    return start, end


@web.middleware
async def one_value_each(request: web.Request, handler) -> web.StreamResponse:
    """Every query parameter the document describes takes one value: a repeated one is 400, not its first
    value taken silently. (Webhooks are left alone: their query belongs to the platform's signature.)"""
    if not request.path.startswith("/webhooks/"):
        keys = [k for k, _ in request.query.items()]  # (.keys() lists a repeated key once)
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ApiError(400, "bad_request", f"{repeated[0][:40]} is given more than once")
    return await handler(request)
