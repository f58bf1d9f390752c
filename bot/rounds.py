"""The loop of a background worker that works in rounds (the processor, the outbox sender)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# After failed rounds (the store is away: a renamed table, a full disk, a lost server) the wait doubles
# from the idle wait up to this, jittered, so that a long outage is neither hammered nor logged as a
# traceback at every commit that wakes the worker; the store's return is noticed within it.
MAX_FAILED_WAIT_S = 8.0


def failed_wait(failures: int, *, idle_s: float, rng: random.Random = random.Random()) -> float:
    """How long to wait after `failures` rounds in a row failed: doubling, capped, jittered down to half."""
    cap = min(max(idle_s, 0.05) * 2 ** (failures - 1), max(MAX_FAILED_WAIT_S, idle_s))
    return rng.uniform(cap / 2, cap)


async def run_rounds(round_: Callable[[], Awaitable[int]], *, wake: asyncio.Event, idle_s: float, what: str,
                     pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run `round_` until cancelled: again at once while it finds work (it returns how much), else
    when `wake` is set or after `idle_s`. A round that fails is logged and retried after
    `failed_wait` (not woken sooner: work arriving does not make the store come back)."""
    failures = 0
    while True:
        wake.clear()
        try:
            done = await round_()
        except Exception as e:
            failures += 1
            if failures == 1:
                log.exception("%s failed; retrying with backoff", what)
            else:
                log.warning("%s failed again (%d in a row): %s: %s", what, failures, type(e).__name__, str(e)[:200])
            await pause(failed_wait(failures, idle_s=idle_s))
            continue
        if failures:
            log.warning("%s works again after %d failed rounds", what, failures)
            failures = 0
        if done == 0:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that comes in
            # the instant `wake` is set, and shutdown then waited for this loop forever.
            try:
                async with asyncio.timeout(idle_s):
                    await wake.wait()
            except TimeoutError:
                pass
