"""Every process's live views (the board, the consoles) follow the change log (store.changes), so
they show what any process processed; what this process processed itself they hear of at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import Clock
from bot.events import Event
from bot.store import changes
from bot.store.db import reading

log = logging.getLogger(__name__)

# PostgreSQL's sequences do not promise that ids become visible in order: a window of recent ids is
# read again each time (a transaction open longer than this many newer changes is caught by the
# board's periodic recheck).
LOOKBACK_IDS = 500
LOCAL_MAX = 100_000  # push ids this process processed and has not yet seen in the log


class ChangeTail:
    def __init__(self, db: async_sessionmaker, *, clock: Clock,
                 tell: Callable[[list[tuple[str, str, str, str]]], None], every_s: float = 0.1,
                 lookback: int = LOOKBACK_IDS) -> None:
        self._db = db
        self._clock = clock
        self._tell = tell  # (platform, shop, buyer, agent_account) of changes made by other processes
        self._every_s = every_s
        self._lookback = lookback
        self._last_id: int | None = None
        self._seen: set[int] = set()
        self._local: set[tuple[str, str]] = set()
        self._next_prune = None

    def processed_here(self, events: Iterable[Event]) -> None:
        """Pushes this process processed and already told its views about: skipped in the log."""
        if len(self._local) > LOCAL_MAX:
            self._local.clear()
        self._local.update((e.platform, e.push_id) for e in events)

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception as e:
                log.warning("change log not read error=%s", type(e).__name__)
            await asyncio.sleep(self._every_s)

    async def poll(self) -> int:
        """Read the changes after the last one seen; returns how many were new to this process."""
        async with self._db() as session:
            await reading(session)
            if self._last_id is None:
                self._last_id = await changes.last_id(session)  # the views start from a snapshot
                return 0
            # SQLite commits one writer at a time: its ids become visible in order.
            lookback = 0 if session.bind.dialect.name == "sqlite" else self._lookback
            rows = await changes.after(session, after_id=max(0, self._last_id - lookback))
        told = []
        for row in rows:
            if row.id in self._seen:
                continue
            self._seen.add(row.id)
            if (row.platform, row.push_id) in self._local:
                self._local.discard((row.platform, row.push_id))
                continue
            told.append((row.platform, row.shop, row.buyer, row.agent_account))
        if rows:
            self._last_id = max(self._last_id, rows[-1].id)
            floor = self._last_id - self._lookback
            self._seen = {i for i in self._seen if i > floor}
        if told:
            self._tell(told)
        await self._prune()
        return len(told)

    async def _prune(self) -> None:
        now = self._clock.now()
        if self._next_prune is not None and now < self._next_prune:
            return
        self._next_prune = now + changes.KEEP / 4
        async with self._db() as session, session.begin():
            await changes.prune(session, before=now - changes.KEEP)
