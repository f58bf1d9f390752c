"""A worker that runs in rounds stops when cancelled, even in the instant it is woken.

Python 3.11's asyncio.wait_for returns the inner result when the outer task is cancelled just as the
inner one finishes, swallowing the cancellation: under load the processor, woken by every commit,
kept running after shutdown cancelled it, and `csbot serve` hung on SIGTERM.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.rounds import MAX_FAILED_WAIT_S, run_rounds


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


async def test_failed_rounds_back_off_doubling_capped_and_reset_after_a_success(caplog):
    """A store away for a while: the worker waits longer after each failed round (up to the cap,
    jittered), is not woken sooner by arriving work, logs one traceback per streak, and after a
    round that works is back to its ordinary pace."""
    wake, waits, outcomes = asyncio.Event(), [], [RuntimeError("store away")] * 8 + [0]
    done = asyncio.Event()

    async def round_() -> int:
        wake.set()  # work keeps arriving (each commit wakes the worker)
        outcome = outcomes.pop(0) if outcomes else None
        if outcome is None:
            done.set()
            await asyncio.Event().wait()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def pause(seconds: float) -> None:
        waits.append(seconds)

    task = asyncio.create_task(run_rounds(round_, wake=wake, idle_s=1.0, what="test", pause=pause))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    assert len(waits) == 8  # one wait per failed round, none after the success
    caps = [min(2 ** i, MAX_FAILED_WAIT_S) for i in range(8)]
    assert all(cap / 2 <= w <= cap for w, cap in zip(waits, caps)), waits
    assert max(waits) > 2  # it did back off, instead of retrying at every wake
    assert caplog.text.count("Traceback") == 1
    assert "works again after 8 failed rounds" in caplog.text
