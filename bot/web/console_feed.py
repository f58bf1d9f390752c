"""The console's live feed: "these conversations changed", to each agent's open console, over
Server-Sent Events. The page reads it with fetch() so that the token goes in the Authorization
header, never in a URL. A viewer that stops reading is bounded like the board's."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from bot.events import Event
from bot.metrics.board import CLOSE, Subscriber, iso, sse
from bot.web import keys
from bot.web import sse as sse_stream
from bot.web.auth import Caller, caller



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
        self.publish_touched([(e.platform, e.buyer, getattr(e, "agent_account", "")) for e in events if hasattr(e, "text")])

    def publish_touched(self, touched: list[tuple[str, str, str]]) -> None:
        """(platform, buyer, agent account) of chats that changed, here or in another process."""
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
    feed, clock = request.app[keys.CONSOLE_FEED], request.app[keys.CLOCK]
    viewer = feed.subscribe(who)
    try:
        return await sse_stream.serve(
            request, viewer, first=lambda: sse("hello", {"role": who.role}),
            snapshot=lambda: sse("changed", {"buyers": "*"}),  # behind: refresh everything
            keepalive=lambda: f": keepalive {iso(clock.now())}\n\n", name="console",
        )
    finally:
        feed.unsubscribe(viewer)
