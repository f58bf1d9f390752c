"""Exactly-once, checked where it matters: at the receiver (the simulated gateway keeps every send
request it received, with each `client_msg_id`'s attempts), and the mutation that shows the check can fail.

`delivered_once` asserts both bounds: each expected key accepted exactly once and nothing else
accepted (a lower and an upper bound on what the buyer got), and each tried exactly as many times as
the test expects (an upper bound on attempts: a second sender, or a resend, shows here even though the
gateway dedupes it).

`overlapping(...)` makes the claims of concurrent callers overlap for certain, instead of by chance:
each caller, having claimed, waits until every other one has claimed too before its transaction goes
on. `without_lock(...)` is the mutation: the claim runs with every `FOR UPDATE [SKIP LOCKED]` it asks
for dropped. Together, on PostgreSQL, the exactly-once tests must fail; tests assert that they do.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp
import pytest
import sqlalchemy as sa


@dataclass(frozen=True)
class Delivery:
    accepted: int  # entries in the gateway's /sent with this key: what the buyer got
    attempts: int  # send requests that carried the key, whatever the gateway answered


async def received_by_gateway(gateway) -> list[dict]:
    """GET /received of the simulated gateway: every send request, accepted or not, in arrival order."""
    async with aiohttp.ClientSession() as session, session.get(gateway.make_url("/received")) as resp:
        return (await resp.json())["items"]


async def deliveries(gateway) -> dict[str, Delivery]:
    """What the simulated gateway received, per client_msg_id (from GET /sent and GET /received)."""
    async with aiohttp.ClientSession() as session, session.get(gateway.make_url("/sent")) as resp:
        sent = (await resp.json())["items"]
    received = await received_by_gateway(gateway)
    accepted: dict[str, int] = {}
    attempts: dict[str, int] = {}
    for item in sent:
        accepted[item["client_msg_id"]] = accepted.get(item["client_msg_id"], 0) + 1
    for item in received:
        attempts[item["client_msg_id"]] = attempts.get(item["client_msg_id"], 0) + 1
    return {key: Delivery(accepted.get(key, 0), n) for key, n in attempts.items()}


async def delivered_once(gateway, expected: Iterable[str], *, attempts: int | Mapping[str, int] = 1) -> None:
    """Each key in `expected` accepted exactly once, nothing else accepted or tried, and each key tried
    exactly `attempts` times (a number for all, or per key)."""
    expected = sorted(expected)
    got = await deliveries(gateway)
    want_attempts = {k: attempts if isinstance(attempts, int) else attempts[k] for k in expected}
    accepted = {k: d.accepted for k, d in got.items() if d.accepted}
    assert accepted == {k: 1 for k in expected}, f"each message must reach the buyer exactly once: {accepted}"
    tried = {k: d.attempts for k, d in got.items()}
    assert tried == want_attempts, (
        f"each message must be tried exactly as often as expected (more means a second sender): {tried}")


class _Rendezvous:
    """Callers meet here in groups of `parties`; one that waits longer than `wait_s` goes on alone."""

    def __init__(self, parties: int, wait_s: float) -> None:
        self.parties, self.wait_s = parties, wait_s
        self._gate: asyncio.Event | None = None
        self._arrived = 0

    async def meet(self) -> None:
        if self._gate is None or self._gate.is_set():
            self._gate, self._arrived = asyncio.Event(), 0
        gate = self._gate
        self._arrived += 1
        if self._arrived >= self.parties:
            gate.set()
        try:
            await asyncio.wait_for(gate.wait(), self.wait_s)
        except TimeoutError:
            gate.set()  # the other is blocked (e.g. on a lock this transaction holds): go on


def overlapping(monkeypatch, module, name: str, *, parties: int = 2, wait_s: float = 10.0) -> None:
    """`module.name(...)` (a claim) returns only when `parties` calls have all claimed, so their
    transactions overlap: what two processes polling at the same moment would do. PostgreSQL only:
    on SQLite a second claim waits for the first one's write lock, and they cannot overlap."""
    real = getattr(module, name)
    rendezvous = _Rendezvous(parties, wait_s)

    async def claim(*args, **kwargs):
        rows = await real(*args, **kwargs)
        await rendezvous.meet()
        return rows

    monkeypatch.setattr(module, name, claim)


_unlocked: contextvars.ContextVar[bool] = contextvars.ContextVar("unlocked", default=False)


def without_lock(monkeypatch, module, name: str) -> None:
    """The mutation: `module.name(...)` builds its statements with every `with_for_update(...)` dropped
    (no `FOR UPDATE`, no `SKIP LOCKED`); statements built anywhere else keep theirs."""
    real_for_update = sa.Select.with_for_update

    def with_for_update(self, *args, **kwargs):
        return self if _unlocked.get() else real_for_update(self, *args, **kwargs)

    monkeypatch.setattr(sa.Select, "with_for_update", with_for_update)
    real = getattr(module, name)

    async def unlocked(*args, **kwargs):
        token = _unlocked.set(True)
        try:
            return await real(*args, **kwargs)
        finally:
            _unlocked.reset(token)

    monkeypatch.setattr(module, name, unlocked)


def postgres_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("two claims overlap only on PostgreSQL; SQLite's writers take turns")
