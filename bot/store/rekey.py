"""`csbot db rotate-key`: every sealed value re-encrypted with the current key, in batches.

Each batch is its own transaction, so a run killed at any point leaves every value sealed with
either the old key or the new one, and the settings row still naming both: a rerun (with both keys
configured) finishes the work; only after the last batch does the row name the new key alone. Plain
values (stored before any key was set) are sealed too.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from bot.store import sealed, tables  # noqa: F401  (tables: the metadata's tables are defined there)

BATCH = 500


def sealed_columns() -> list[tuple[sa.Table, sa.Column]]:
    """(table, column) for every column typed Sealed."""
    return [(t, c) for t in SQLModel.metadata.sorted_tables for c in t.c if isinstance(c.type, sealed.Sealed)]


async def rotate(engine: AsyncEngine, keyring: sealed.Keyring, *, batch: int = BATCH,
                 progress: Callable[[str, int], None] = lambda _column, _n: None) -> dict[str, int]:
    """Re-seal what the current key did not seal; returns the values re-sealed per "table.column"."""
    if keyring.current_id is None:
        raise sealed.DataKeyError(f"{sealed.KEY_ENV} is not set: there is no key to rotate to")
    async with engine.begin() as conn:
        stored = await sealed.stored_key_ids(conn)
        if (why := sealed.missing_keys(stored, keyring)) is not None:
            raise sealed.DataKeyError(why)
        await sealed.set_key_ids(conn, stored | {keyring.current_id})
    done: dict[str, int] = {}
    for table, column in sealed_columns():
        name = f"{table.name}.{column.name}"
        done[name] = await _rotate_column(engine, keyring, table, column, batch=batch)
        progress(name, done[name])
    async with engine.begin() as conn:
        await sealed.set_key_ids(conn, frozenset({keyring.current_id}))
    return done


async def _rotate_column(engine: AsyncEngine, keyring: sealed.Keyring, table: sa.Table, column: sa.Column,
                         *, batch: int) -> int:
    (pk,) = table.primary_key.columns
    raw = sa.type_coerce(column, sa.String)  # the stored text, not decrypted
    # Only if the value is still the one read: a bot running meanwhile may have written a new one
    # (sealed with the current key already), which must not be overwritten with the old.
    update = (sa.update(table).where(pk == sa.bindparam("k"), raw == sa.bindparam("old"))
              .values({column.name: sa.type_coerce(sa.bindparam("v"), sa.String)}))
    last, changed = None, 0
    while True:
        async with engine.begin() as conn:
            query = sa.select(pk, raw).order_by(pk).limit(batch)
            rows = (await conn.execute(query if last is None else query.where(pk > last))).all()
            if not rows:
                return changed
            last = rows[-1][0]
            todo = [{"k": key, "old": value, "v": keyring.seal(keyring.open(value))} for key, value in rows
                    if value and sealed.sealed_by(value) != keyring.current_id]
            if todo:
                await conn.execute(update, todo)
            changed += len(todo)
