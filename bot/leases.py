"""Which partitions this process processes.

SQLite has one process: it holds every partition (`AllPartitions`). On PostgreSQL each process holds
leases as session advisory locks on one dedicated connection (`AdvisoryLeases`):

- PostgreSQL keeps a session lock exactly as long as the connection lives, so a process that dies
  (`kill -9` included) or loses its connection frees its partitions at once, with no expiry to wait
  for and no lease table to clean up. A lease table with heartbeats would need an expiry (seconds of
  nobody processing) and clock agreement between processes.
- Every process also holds a "member" lock; pg_locks then tells each process how many are alive,
  and each takes ceil(partitions / members) of the free partitions and gives back what it holds over
  that share, so leases spread evenly and move when a process joins or leaves.

A lease says who *should* process a partition; each processing transaction also takes a transaction
advisory lock on the partitions it works on (`store.pushes.lock_partitions`), so that while a lease
moves, the old holder's batch in flight and the new holder's first batch never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable

import asyncpg

from bot.store.db import application_name

log = logging.getLogger(__name__)

# The first key of the two-int advisory locks: "csb" + a kind, so that other users of advisory locks
# in the same database (migrate() uses the one-bigint form) never collide with these.
MEMBER_NS = 0x63736201
LEASE_NS = 0x63736202
BATCH_NS = 0x63736203  # store.pushes.lock_partitions

_HELD_BY_ANYONE = """
SELECT classid::int AS ns, objid::int AS key FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::int IN ($1, $2)
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class AllPartitions:
    """One process on SQLite: every partition is its own."""

    def __init__(self, partitions: int) -> None:
        self.held = frozenset(range(partitions))
        self.members = 1

    async def run(self) -> None:
        await asyncio.Event().wait()


class AdvisoryLeases:
    def __init__(self, dsn: str, *, partitions: int, heartbeat_s: float = 1.0,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self._dsn = dsn
        self._partitions = partitions
        self._heartbeat_s = heartbeat_s
        self._on_change = on_change
        self._member = random.randrange(1, 2**31 - 1)
        self._conn: asyncpg.Connection | None = None
        self.held: frozenset[int] = frozenset()
        self.members = 0

    async def run(self) -> None:
        """Rebalance every heartbeat until cancelled; a lost connection gives every lease up (the
        server frees them with the connection) and the next heartbeat connects again."""
        try:
            while True:
                try:
                    await self.rebalance()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as e:
                    log.warning("lease connection lost; leases given up until it is back error=%s", type(e).__name__)
                    await self._drop()
                await asyncio.sleep(self._heartbeat_s * random.uniform(0.8, 1.2))
        finally:
            await self._drop()

    async def rebalance(self) -> None:
        conn = await self._connection()
        async with asyncio.timeout(max(5.0, 5 * self._heartbeat_s)):
            rows = await conn.fetch(_HELD_BY_ANYONE, MEMBER_NS, LEASE_NS)
            self.members = max(1, sum(r["ns"] == MEMBER_NS for r in rows))
            taken = {r["key"] for r in rows if r["ns"] == LEASE_NS}
            share = math.ceil(self._partitions / self.members)
            held = set(self.held)
            for p in sorted(held, reverse=True)[: max(0, len(held) - share)]:
                await conn.fetchval("SELECT pg_advisory_unlock($1, $2)", LEASE_NS, p)
                held.discard(p)
            free = [p for p in range(self._partitions) if p not in taken]
            random.shuffle(free)  # processes starting together should not all try the same ones
            for p in free:
                if len(held) >= share:
                    break
                if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LEASE_NS, p):
                    held.add(p)
        self._set(frozenset(held))

    def _set(self, held: frozenset[int]) -> None:
        if held != self.held:
            log.info("partitions held=%d members=%d", len(held), self.members)
            self.held = held
            self._on_change()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and self._conn.is_closed():
            # A connection the server closed took its locks with it: nothing is held any more.
            log.warning("lease connection lost; leases given up until it is back")
            self._set(frozenset())
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, timeout=5,
                                               server_settings={"application_name": application_name()})
            await self._conn.fetchval("SELECT pg_advisory_lock($1, $2)", MEMBER_NS, self._member)
        return self._conn

    async def _drop(self) -> None:
        self._set(frozenset())
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # closing the connection is what frees its locks, at once
