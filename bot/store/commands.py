"""`csbot db upgrade|backup|restore|rotate-key`: database maintenance from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.config import Config, config_dir


def add_parser(sub, config_arg) -> None:
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    config_arg(db_sub.add_parser("upgrade", help="apply the schema migrations (serve also does this at start)"))
    backup = db_sub.add_parser("backup", help="copy the live database to FILE, one consistent snapshot "
                                              "(SQLite's backup API; on PostgreSQL pg_dump --format=custom)")
    config_arg(backup)
    backup.add_argument("file", type=Path)
    restore = db_sub.add_parser("restore", help="copy a backup into the empty database of the configuration, and check it")
    config_arg(restore)
    restore.add_argument("file", type=Path)
    rotate = db_sub.add_parser("rotate-key", help=f"re-encrypt stored buyer text with $CSBOT_DATA_KEY "
                                                  f"(the old key in $CSBOT_DATA_KEY_OLD), in batches; rerun after an interruption")
    config_arg(rotate)
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")


def run(args: argparse.Namespace, config: Config) -> int:
    from bot.store.backup import BackupError
    from bot.store.sealed import DataKeyError

    try:
        return asyncio.run(_COMMANDS[args.db_command](args, config))
    except (BackupError, DataKeyError) as e:
        print(f"csbot db {args.db_command}: {e}", file=sys.stderr)
        return 1


def _url(config: Config) -> str:
    from bot.store.db import async_url

    return async_url(config.database.url, base=config_dir(config))


async def _upgrade(_args, config: Config) -> int:
    from bot.store.db import create_engine, migrate

    engine = create_engine(_url(config))
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    print("schema up to date")
    return 0


def _print_counts(counts: dict[str, int]) -> None:
    for table, n in counts.items():
        print(f"  {table:<24} {n}")


async def _backup(args, config: Config) -> int:
    from bot.store import backup

    url = _url(config)
    if url.startswith("postgresql"):
        from bot.store import pg_backup

        counts = await pg_backup.backup(url, args.file)
    else:
        counts = await asyncio.to_thread(backup.backup, backup.sqlite_path(url), args.file)
    print(f"backed up to {args.file}:")
    _print_counts(counts)
    return 0


async def _restore(args, config: Config) -> int:
    from bot.store import backup, sealed

    url = _url(config)
    if url.startswith("postgresql"):
        from bot.store import pg_backup
        from sqlalchemy.engine import make_url

        db = make_url(url).database
        counts = await pg_backup.restore(args.file, url)
    else:
        db = backup.sqlite_path(url)
        counts = await asyncio.to_thread(backup.restore, args.file, db)
    print(f"restored {args.file} into {db}; it opens and its counts match the backup's:")
    _print_counts(counts)
    from bot.store.db import create_engine

    engine = create_engine(_url(config))
    try:
        async with engine.connect() as conn:
            why = sealed.missing_keys(await sealed.stored_key_ids(conn), sealed.current())
    finally:
        await engine.dispose()
    if why:
        print(f"note: {why}", file=sys.stderr)
    return 0


async def _rotate_key(args, config: Config) -> int:
    from bot.store import rekey, sealed
    from bot.store.db import create_engine, migrate

    engine = create_engine(_url(config))
    try:
        async with engine.connect() as conn:
            await sealed.check_keys(conn, sealed.current())
        await migrate(engine)
        await rekey.rotate(engine, sealed.current(), batch=args.batch,
                           progress=lambda column, n: print(f"  {column:<32} {n} re-encrypted", flush=True))
    finally:
        await engine.dispose()
    print(f"every stored value is encrypted with key id {sealed.current().current_id}; "
          f"{sealed.OLD_KEYS_ENV} may go")
    return 0


_COMMANDS = {"upgrade": _upgrade, "backup": _backup, "restore": _restore, "rotate-key": _rotate_key}
