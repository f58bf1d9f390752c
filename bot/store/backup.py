"""`csbot db backup FILE` and `csbot db restore FILE` for SQLite, through SQLite's online backup API.

A backup is one consistent snapshot of a live database (WAL: writers go on meanwhile), copied in one
step, so a `cp` of a database and its WAL caught in between is never what is kept. Sealed values stay
sealed: a backup is read with the key it was written under. On PostgreSQL the commands wrap pg_dump
and pg_restore instead (bot.store.pg_backup).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bot.store.db import owner_only

_HEADER = b"SQLite format 3\x00"
_REQUIRED = ("alembic_version", "messages", "pushes")


class BackupError(Exception):
    """A backup or restore that cannot be done, with what to do instead."""


def sqlite_path(url: str) -> Path:
    """The file of an async SQLite URL (store.db.async_url)."""
    return Path(url.removeprefix("sqlite+aiosqlite:///"))


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (SQLite's own tables left out)."""
    names = [n for (n,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def backup(db: Path, file: Path) -> dict[str, int]:
    """Copy the live database `db` to `file` (0600) in one snapshot; returns the copy's table counts."""
    if not db.exists():
        raise BackupError(f"{db}: no such database")
    if file.exists():
        raise BackupError(f"{file} exists: a backup never overwrites a file")
    partial = file.with_name(file.name + ".partial")
    owner_only(partial)
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)  # pages=-1: the whole database in one step, one snapshot
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL beside it
        found = counts(target)
    finally:
        target.close()
        source.close()
    partial.replace(file)
    return found


def check_backup(file: Path) -> dict[str, int]:
    """The table counts of a backup file; BackupError when it is no csbot backup or is damaged."""
    try:
        data = file.open("rb")
    except FileNotFoundError:
        raise BackupError(f"{file}: no such file") from None
    with data:
        header = data.read(100)
    if not header.startswith(_HEADER):
        raise BackupError(f"{file} is not a backup: it is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    size = file.stat().st_size
    if size < page_size * pages or size % page_size:
        raise BackupError(f"{file} is truncated: {size} bytes, where its header says {page_size * pages}")
    conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise BackupError(f"{file} is damaged: {'; '.join(problems[:3])}")
        found = counts(conn)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{file} is damaged: {e}") from None
    finally:
        conn.close()
    if missing := [t for t in _REQUIRED if t not in found]:
        raise BackupError(f"{file} is not a csbot backup: it has no {', '.join(missing)} table")
    return found


def restore(file: Path, db: Path) -> dict[str, int]:
    """Copy the backup `file` into the empty database `db`, then check that the copy opens and that its
    counts are the backup's; returns them."""
    expected = check_backup(file)
    if db.exists() and db.stat().st_size:
        conn = sqlite3.connect(db)
        try:
            filled = {t: n for t, n in counts(conn).items() if n}
        finally:
            conn.close()
        if filled:
            shown = ", ".join(f"{t} {n}" for t, n in sorted(filled.items())[:5])
            raise BackupError(f"{db} is not empty ({shown} ...): restore only into an empty database "
                              f"(stop the bot and move the file aside first)")
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    owner_only(db)
    source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    target = sqlite3.connect(db)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        source.close()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        if [r[0] for r in conn.execute("PRAGMA quick_check")] != ["ok"]:
            raise BackupError(f"{db}: the restored database does not pass its check")
        found = counts(conn)
    finally:
        conn.close()
    if found != expected:
        differ = sorted(t for t in expected.keys() | found.keys() if expected.get(t) != found.get(t))
        raise BackupError(f"{db}: the restored counts differ from the backup's in {', '.join(differ)}")
    os.chmod(db, 0o600)
    return found
