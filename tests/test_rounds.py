"""A worker that runs in rounds stops when cancelled, even in the instant it is woken.

Python 3.11's asyncio.wait_for returns the inner result when the outer task is cancelled just as the
inner one finishes, swallowing the cancellation: under load the processor, woken by every commit,
kept running after shutdown cancelled it, and `csbot serve` hung on SIGTERM.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.rounds import run_rounds


async def test_cancelled_in_the_instant_it_is_woken_it_stops():
    wake = asyncio.Event()
    rounds = []

    async def idle_round() -> int:
        rounds.append(1)
        return 0

    task = asyncio.create_task(run_rounds(idle_round, wake=wake, idle_s=60, what="test"))
    for _ in range(3):
        await asyncio.sleep(0)  # the first round ran; the task waits to be woken
    assert rounds == [1]
    wake.set()  # the wait finishes ...
    task.cancel()  # ... and shutdown cancels the task in the same turn of the loop
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await task
