"""The database: the async engine for SQLite (WAL) or PostgreSQL, and migrations at start."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.store import inline_sqlite

log = logging.getLogger(__name__)


def async_url(url: str, *, base: Path | None = None) -> str:
    """The configured URL with its async driver; a relative SQLite path is taken from `base`."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_absolute() and base is not None:
            path = base / path
        return f"sqlite+aiosqlite:///{path}"
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    raise ValueError(f"unsupported database url {url!r}")


def application_name() -> str:
    """How this process's PostgreSQL connections name themselves (pg_stat_activity.application_name):
    an operator, or a test, can tell the processes' connections apart."""
    return f"csbot/{os.getpid()}"


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, sqlite_synchronous: str = "FULL", inline: bool = False) -> AsyncEngine:
    """An engine for an async URL (see `async_url`). SQLite files get WAL and write-first transactions.

    `inline`: SQLite statements run on the event loop's thread (store.inline_sqlite), for work made
    of many small statements; PostgreSQL ignores it.
    """
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite+aiosqlite:///")
        owner_only(Path(path))
        # hide_parameters: a failed statement's error (logged, or stored in pushes.last_error) never
        # quotes its parameters, which are buyers' messages and signed forms.
        if inline:
            engine = create_async_engine(url, async_creator=inline_sqlite.creator(path, lock_timeout_s=30),
                                         hide_parameters=True)
        else:
            engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            # Let SQLAlchemy, not the driver, open transactions, so that they can be BEGIN IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            # Take the write lock at the start: a deferred transaction that reads and then writes
            # fails with "database is locked" instead of waiting for the other writer. A session
            # that only reads says so (`reading` below): in WAL mode it then sees one
            # snapshot without taking the lock, so a long report never holds up the writers.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True,
                               connect_args={"server_settings": {"application_name": application_name()}})


def owner_only(path: Path) -> None:
    """The SQLite file created readable by its owner alone (0600), and an existing one made so: SQLite
    gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Only a file that is not there is opened here: closing a descriptor of an open database would drop
    # the POSIX locks of this process's connections to it (SQLite's "how to corrupt" page, 2.2).
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))  # an empty file is an empty database
    except FileExistsError:
        pass
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            pass


class StatementCount:
    """How many statements an engine ran (/metrics: csbot_store_statements_total; scripts/bench process)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.n = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.n += 1


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


READ_ONLY = "csbot_read_only"


async def reading(session: AsyncSession) -> None:
    """Make `session`'s transaction (not yet begun) one that only reads: on SQLite a plain BEGIN,
    which takes no write lock (so it must not write: that could fail with "database is locked")."""
    await session.connection(execution_options={READ_ONLY: True})


def _upgrade(connection: Connection) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = connection
    # "heads": parts of the schema developed side by side may be separate branches off one revision.
    command.upgrade(cfg, "heads")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration; safe to run from several processes at once."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two processes starting together must not both create the tables.
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7312001)")
        await conn.run_sync(_upgrade)
    log.info("schema up to date dialect=%s", engine.dialect.name)
