"""Serving one Server-Sent-Event stream from a viewer's bounded queue (the board's, a console's).

A viewer that stops reading fills its socket; a write then waits, and after WRITE_TIMEOUT_S the
viewer is dropped. A viewer that fell behind gets one fresh snapshot instead of what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import web

from bot.metrics.board import CLOSE, RESNAPSHOT, Subscriber

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0
WRITE_TIMEOUT_S = 10.0  # a viewer whose socket takes no data for this long is dropped
RETRY_MS = 1000  # how soon EventSource reconnects after the stream ends
HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def serve(
    request: web.Request, viewer: Subscriber, *, first: Callable[[], str], snapshot: Callable[[], str],
    keepalive: Callable[[], str], name: str,
) -> web.StreamResponse:
    """Send `first()`, then the viewer's queued messages (`snapshot()` in place of a RESNAPSHOT,
    `keepalive()` after KEEPALIVE_S of quiet) until CLOSE or the socket gives up."""
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    try:
        await _write(response, f"retry: {RETRY_MS}\n\n" + first())
        while True:
            try:  # asyncio.timeout, not wait_for: see bot/rounds.py
                async with asyncio.timeout(KEEPALIVE_S):
                    message = await viewer.next()
            except TimeoutError:
                message = keepalive()
            if message is CLOSE:
                break
            if message is RESNAPSHOT:
                message = snapshot()
            await _write(response, message)
    except (ConnectionError, TimeoutError):
        log.info("%s viewer dropped resnapshots=%d", name, viewer.resnapshots)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


async def _write(response: web.StreamResponse, text: str) -> None:
    async with asyncio.timeout(WRITE_TIMEOUT_S):  # not wait_for: see bot/rounds.py
        await response.write(text.encode())
