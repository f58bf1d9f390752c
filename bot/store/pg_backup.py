"""`csbot db backup FILE` and `csbot db restore FILE` on PostgreSQL: pg_dump and pg_restore, with the
checks the SQLite commands make.

The backup is pg_dump's custom format (`-Fc`), a file the operator can also hand to pg_restore by hand.
Its counts are taken in the very snapshot pg_dump dumps (pg_export_snapshot, then pg_dump --snapshot),
and the finished file is read back (its COPY rows counted) before the command says it is done. A
restore first reads the whole file the same way, so a truncated file or one that is no csbot backup is
refused before the target database is touched; then it refuses a database that already has tables,
restores in one transaction, and checks the restored counts against the rows the file holds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bot.store.backup import _REQUIRED, BackupError

_TABLES = """SELECT table_schema, table_name FROM information_schema.tables
              WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
              ORDER BY 1, 2"""


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """The database URL as pg_dump takes it, and the environment to run it with: the password goes in
    PGPASSWORD, not on a command line that `ps` shows to every user."""
    parsed = make_url(url).set(drivername="postgresql")
    env = {**os.environ}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _name(schema: str, table: str) -> str:
    return table if schema == "public" else f"{schema}.{table}"


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    found = {}
    for schema, table in await conn.fetch(_TABLES):
        found[_name(schema, table)] = await conn.fetchval(f'SELECT count(*) FROM "{schema}"."{table}"')
    return found


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed: on Debian `apt install postgresql-client`")
    return path


async def _run(*args: str, env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode:
        raise BackupError(f"{Path(args[0]).name} failed: {err.decode(errors='replace').strip()}")


async def dump_counts(file: Path) -> dict[str, int]:
    """The rows per table held in a pg_dump custom-format file, read through to its end; BackupError when
    the file is no pg_dump archive, is cut short or damaged, or is not a csbot database's."""
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    with file.open("rb") as f:
        if f.read(5) != b"PGDMP":
            raise BackupError(f"{file} is not a backup: it is not a pg_dump custom-format file (pg_dump -Fc)")
    proc = await asyncio.create_subprocess_exec(
        _tool("pg_restore"), "--data-only", "--file=-", str(file),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    found: dict[str, int] = {}
    table = None
    async for line in proc.stdout:  # COPY's text format: one line per row, newlines in values escaped
        if table is not None:
            if line == b"\\.\n":
                table = None
            else:
                found[table] += 1
        elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
            qualified = line.split(b" ", 2)[1].decode()
            schema, _, name = qualified.replace('"', "").partition(".")
            table = _name(schema, name)
            found[table] = 0
    err = (await proc.stderr.read()).decode(errors="replace").strip()
    if await proc.wait() or table is not None:
        why = err.splitlines()[-1] if err else "its data stops in the middle of a table"
        raise BackupError(f"{file} is truncated or damaged: {why.removeprefix('pg_restore: error: ')}")
    if missing := [t for t in _REQUIRED if t not in found]:
        raise BackupError(f"{file} is not a csbot backup: it has no {', '.join(missing)} table")
    return found


async def backup(url: str, file: Path) -> dict[str, int]:
    """pg_dump the live database to `file` (0600) in one snapshot; returns the snapshot's table counts,
    checked against the rows the written file holds."""
    if file.exists():
        raise BackupError(f"{file} exists: a backup never overwrites a file")
    dsn, env = libpq(url)
    partial = file.with_name(file.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    conn = await asyncpg.connect(dsn, password=env.get("PGPASSWORD"))
    try:
        # The counts and the dump see the same snapshot: the transaction that exported it stays open
        # until pg_dump has finished.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counted = await _counts(conn)
            await _run(_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={partial}",
                       f"--dbname={dsn}", env=env)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await conn.close()
    written = await dump_counts(partial)
    if written != counted:
        raise BackupError(f"{partial}: the file does not hold what was counted in the database; kept for a look")
    partial.replace(file)
    return counted


async def restore(file: Path, url: str) -> dict[str, int]:
    """pg_restore the backup `file` into the empty database at `url`, in one transaction, then check that
    the restored counts are the backup's; returns them."""
    expected = await dump_counts(file)
    dsn, env = libpq(url)
    conn = await asyncpg.connect(dsn, password=env.get("PGPASSWORD"))
    try:
        present = await _counts(conn)
    finally:
        await conn.close()
    if present:
        shown = ", ".join(f"{t} {n}" for t, n in sorted(present.items())[:5])
        raise BackupError(f"{make_url(url).database} is not empty (tables: {shown} ...): restore only into an "
                          f"empty database (createdb a new one, or drop this one with the bot stopped)")
    await _run(_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
               f"--dbname={dsn}", str(file), env=env)
    conn = await asyncpg.connect(dsn, password=env.get("PGPASSWORD"))
    try:
        found = await _counts(conn)
    finally:
        await conn.close()
    if found != expected:
        differ = sorted(t for t in expected.keys() | found.keys() if expected.get(t) != found.get(t))
        raise BackupError(f"the restored counts differ from the backup's in {', '.join(differ)}")
    return found
