"""The loop of a background worker that works in rounds (the processor, the outbox sender)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_rounds(round_: Callable[[], Awaitable[int]], *, wake: asyncio.Event, idle_s: float, what: str) -> None:
    """Run `round_` until cancelled: again at once while it finds work (it returns how much), else
    when `wake` is set or after `idle_s`. A round that fails is logged and counts as idle."""
    while True:
        wake.clear()
        try:
            done = await round_()
        except Exception:
            log.exception("%s failed; retrying", what)
            done = 0
        if done == 0:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that comes in
            # the instant `wake` is set, and shutdown then waited for this loop forever.
            try:
                async with asyncio.timeout(idle_s):
                    await wake.wait()
            except TimeoutError:
                pass
