"""The console's live feed: "these conversations changed", to each agent's open console, over
Server-Sent Events. The page reads it with fetch() so that the token goes in the Authorization
header, never in a URL. A viewer that stops reading is bounded like the board's."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web

from bot.events import Event
from bot.metrics.board import CLOSE, RESNAPSHOT, Subscriber, iso, sse
from bot.web import keys
from bot.web.auth import Caller, caller

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0
WRITE_TIMEOUT_S = 10.0


class ConsoleFeed:
    def __init__(self, *, queue_size: int = 64) -> None:
        self.queue_size = queue_size
        self._viewers: dict[Subscriber, Caller] = {}

    def subscribe(self, who: Caller) -> Subscriber:
        viewer = Subscriber(self.queue_size)
        self._viewers[viewer] = who
        return viewer

    def unsubscribe(self, viewer: Subscriber) -> None:
        self._viewers.pop(viewer, None)

    def publish(self, events: Iterable[Event]) -> None:
        """Tell each viewer about the buyers whose chat changed and who may see them."""
        touched = [(e.platform, e.buyer, getattr(e, "agent_account", "")) for e in events if hasattr(e, "text")]
        if not touched:
            return
        for viewer, who in self._viewers.items():
            mine = sorted({buyer for platform, buyer, account in touched
                           if who.at_least("supervisor") or who.owns(platform, account)})
            if mine:
                viewer.offer(sse("changed", {"buyers": mine}))

    def disconnect_all(self) -> None:
        for viewer in self._viewers:
            viewer.offer(CLOSE)


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /api/console/stream: `changed` events for the caller's conversations."""
    who = caller(request)
    feed = request.app[keys.CONSOLE_FEED]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    viewer = feed.subscribe(who)
    try:
        await _write(response, "retry: 1000\n\n" + sse("hello", {"role": who.role}))
        while True:
            try:
                message = await asyncio.wait_for(viewer.next(), KEEPALIVE_S)
            except TimeoutError:
                message = f": keepalive {iso(request.app[keys.CLOCK].now())}\n\n"
            if message is CLOSE:
                break
            if message is RESNAPSHOT:
                message = sse("changed", {"buyers": "*"})
            await _write(response, message)
    except (ConnectionError, TimeoutError):
        log.info("console viewer dropped")
    finally:
        feed.unsubscribe(viewer)
    return response


async def _write(response: web.StreamResponse, text: str) -> None:
    await asyncio.wait_for(response.write(text.encode()), WRITE_TIMEOUT_S)
