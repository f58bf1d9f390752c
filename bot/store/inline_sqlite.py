"""SQLite for SQLAlchemy's asyncio engine without aiosqlite's thread hop per call.

aiosqlite sends every call (execute, fetch, close...) to its own thread and back: ~0.45 ms per
statement here, against ~0.01 ms for SQLite's own work on a small indexed query. The processor runs
some twenty statements per push, so the hops were most of its time. This driver runs statements on
the event loop's thread, where they take microseconds; what may wait goes to a worker thread:
BEGIN IMMEDIATE when another connection holds the write lock, and every commit.

Only for work made of many small statements (the processor): a long query here would stall the
event loop, so reports and pages keep the aiosqlite engine.
Used through `create_async_engine("sqlite+aiosqlite://...", async_creator=...)` (see store.db).
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any


class _Cursor:
    """The part of aiosqlite's cursor that SQLAlchemy's adapter uses."""

    __slots__ = ("_cursor", "_owner")

    def __init__(self, cursor: sqlite3.Cursor, owner: Connection) -> None:
        self._cursor = cursor
        self._owner = owner

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        if sql.startswith("BEGIN"):
            await self._owner.begin(self._cursor, sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _SetNow:
    """Stands in for aiosqlite's request queue, which SQLAlchemy uses to set isolation_level."""

    def put_nowait(self, item: tuple[asyncio.Future, Any]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as e:  # handed back to the caller through the future, as aiosqlite does
            future.set_exception(e)


class Connection:
    """The part of aiosqlite's Connection that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, conn: sqlite3.Connection, *, lock_timeout_s: float) -> None:
        self._conn = conn
        self._connection = conn  # the dialect checks it to know the connection is open
        self._tx = _SetNow()
        self._lock_timeout_ms = int(lock_timeout_s * 1000)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor(), self)

    async def begin(self, cursor: sqlite3.Cursor, sql: str) -> None:
        # BEGIN IMMEDIATE takes the write lock, which another connection of this very event loop
        # may hold: try without waiting, and wait (SQLite's busy timeout) only in a worker thread.
        # Inside the transaction, nothing waits on a lock.
        self._conn.execute("PRAGMA busy_timeout=0")
        try:
            cursor.execute(sql)
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
        await asyncio.to_thread(self._begin_waiting, cursor, sql)

    def _begin_waiting(self, cursor: sqlite3.Cursor, sql: str) -> None:
        self._conn.execute(f"PRAGMA busy_timeout={self._lock_timeout_ms}")
        cursor.execute(sql)

    async def commit(self) -> None:
        # Off the event loop, whatever the synchronous mode: with FULL it waits for fsync, and with
        # NORMAL, where it is quick, committing on the loop meant that nothing else ran meanwhile, so
        # group commits were one or two pushes each (scripts/bench ingest --sqlite-synchronous NORMAL:
        # 1,691 pushes/s on the loop, 3,502-3,678 in a thread). The caller awaits it, so nothing else
        # uses the connection meanwhile.
        await asyncio.to_thread(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def creator(path: str, *, lock_timeout_s: float):
    """An `async_creator` for create_async_engine: connections to the SQLite file at `path`."""

    async def connect() -> Connection:
        # check_same_thread=False: what runs in a worker thread is awaited, never concurrent.
        conn = sqlite3.connect(path, timeout=lock_timeout_s, isolation_level=None, check_same_thread=False)
        return Connection(conn, lock_timeout_s=lock_timeout_s)

    return connect
