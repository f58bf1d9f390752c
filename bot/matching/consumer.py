"""BuyerMessage → its suggestions, computed once and stored with the message for the console."""

from __future__ import annotations

import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import BuyerMessage, Event
from bot.matching.engine import EngineHolder
from bot.store import suggestions

log = logging.getLogger(__name__)


class MatchingConsumer:
    name = "matching"

    def __init__(self, engines: EngineHolder, *, limit: int = 3, on_latency=lambda seconds: None) -> None:
        self._engines = engines
        self._limit = limit
        self._on_latency = on_latency

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if not isinstance(event, BuyerMessage):
            return
        message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
        if message is None:
            return
        started = time.perf_counter()
        matches = self._engines.engine.matcher.suggest(event.text, limit=self._limit)
        self._on_latency(time.perf_counter() - started)
        await suggestions.replace(session, message_id=message.id,
                                  ranked=[(m.label, m.score, m.question) for m in matches])
