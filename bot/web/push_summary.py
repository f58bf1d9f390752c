"""The webhook's log: a line per push is DEBUG; at INFO, one summary line per interval counts the
pushes by platform and outcome (a line per push at 300 pushes/s was gigabytes a day)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from bot.clock import Clock

log = logging.getLogger("bot.web.webhooks")


class PushSummary:
    """Counts outcomes; the first push after `every` has passed logs the interval before it."""

    def __init__(self, clock: Clock, *, every: timedelta = timedelta(minutes=1)) -> None:
        self._clock = clock
        self._every = every
        self._since: datetime | None = None
        self._counts: Counter[tuple[str, str]] = Counter()

    def note(self, platform: str, outcome: str) -> None:
        now = self._clock.now()
        if self._since is None:
            self._since = now
        elif now - self._since >= self._every:
            self.flush()
            self._since = now
        self._counts[(platform, outcome)] += 1

    def flush(self) -> None:
        """Log what was counted since the last summary (at shutdown too), and start again."""
        if self._counts and self._since is not None:
            seconds = (self._clock.now() - self._since).total_seconds()
            parts = " ".join(f"{platform}.{outcome.replace(' ', '_')}={n}"
                             for (platform, outcome), n in sorted(self._counts.items()))
            log.info("pushes seconds=%.0f total=%d %s", seconds, sum(self._counts.values()), parts)
        self._counts.clear()
        self._since = None
