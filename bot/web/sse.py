"""Serving one Server-Sent-Event stream from a viewer's bounded queue (the board's, a console's).

A viewer that stops reading fills its socket; a write then waits, and after WRITE_TIMEOUT_S the
viewer is dropped. A viewer that fell behind gets one fresh snapshot instead of what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.metrics.board import CLOSE, RESNAPSHOT, Subscriber

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0
WRITE_TIMEOUT_S = 10.0  # a viewer whose socket takes no data for this long is dropped
RETRY_MS = 1000  # how soon EventSource reconnects after the stream ends
class SessionStreams:
    """The open streams of each login session, so that a logout or a disabled account ends them at once."""

    def __init__(self) -> None:
        self._open: dict[str, set[Subscriber]] = {}

    def add(self, session: str, viewer: Subscriber) -> None:
        self._open.setdefault(session, set()).add(viewer)

    def remove(self, session: str, viewer: Subscriber) -> None:
        viewers = self._open.get(session, set())
        viewers.discard(viewer)
        if not viewers:
            self._open.pop(session, None)

    def close(self, sessions: list[str]) -> int:
        """End the streams of these sessions; how many were open."""
        ended = 0
        for session in sessions:
            for viewer in self._open.pop(session, set()):
                viewer.offer(CLOSE)
                ended += 1
        return ended


HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def serve(
    request: web.Request, viewer: Subscriber, *, first: Callable[[], str], snapshot: Callable[[], str],
    keepalive: Callable[[], str], name: str,
) -> web.StreamResponse:
    """Send `first()`, then the viewer's queued messages (`snapshot()` in place of a RESNAPSHOT,
    `keepalive()` after KEEPALIVE_S of quiet) until CLOSE or the socket gives up. A stream opened with a
    login session ends when the session does: at once when it ends in this process, else (logged out or
    disabled through another process) at the next keepalive, which checks the session first."""
    # Imported here: bot.web.keys imports the console feed, which imports this module.
    from bot.store import staff as staff_store
    from bot.web import keys
    from bot.web.auth import CALLER

    who = request.get(CALLER)
    session = who.session if who is not None else None
    streams = request.app[keys.SESSION_STREAMS]
    if not session:
        return await _serve(request, viewer, first=first, snapshot=snapshot, keepalive=keepalive, name=name)

    async def session_live() -> bool:
        async with request.app[keys.DB]() as db:
            return await staff_store.live_session(db, session, now=request.app[keys.CLOCK].now()) is not None

    streams.add(session, viewer)
    try:
        return await _serve(request, viewer, first=first, snapshot=snapshot, keepalive=keepalive, name=name,
                            still_live=session_live)
    finally:
        streams.remove(session, viewer)


async def _serve(
    request: web.Request, viewer: Subscriber, *, first: Callable[[], str], snapshot: Callable[[], str],
    keepalive: Callable[[], str], name: str, still_live: Callable[[], Awaitable[bool]] | None = None,
) -> web.StreamResponse:
    response = web.StreamResponse(headers=HEADERS)
    await response.prepare(request)
    try:
        await _write(response, f"retry: {RETRY_MS}\n\n" + first())
        while True:
            try:  # asyncio.timeout, not wait_for: see bot/rounds.py
                async with asyncio.timeout(KEEPALIVE_S):
                    message = await viewer.next()
            except TimeoutError:
                if still_live is not None and not await still_live():
                    break
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
