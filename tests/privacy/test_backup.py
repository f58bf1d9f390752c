"""`csbot db backup` and `csbot db restore`, on SQLite and on PostgreSQL (pg_dump and pg_restore): a live bot
backed up while pushes are being posted, restored into an empty database with the counts checked; a
non-empty target, a truncated file and a file that is no backup are refused with a clear message."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import sqlite3
import subprocess
import sys

import asyncpg
import pytest

from bot.store import pg_backup, sealed
from bot.store.backup import counts
from tests.conftest import ROOT
from tests.privacy.test_sealed import KEY_A
from bot.clock import SystemClock
from bot.events import BuyerMessage
from bot.gateway import PLATFORMS
from tests.conftest import APP_KEYS, PG_DSN, SECRETS, pg_database
from tests.test_durability import deliver, free_port, start_bot, stored, write_config
from tests.test_multiprocess import write_pg_config

pytestmark = pytest.mark.slow


def csbot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def table_counts(db) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return counts(conn)
    finally:
        conn.close()


async def traffic(port: int, stop: asyncio.Event) -> int:
    """Signed buyer messages posted in rounds of 40 until `stop`; returns how many were answered 200."""
    answered, n = 0, 0
    while not stop.is_set():
        now, batch = SystemClock().now(), []
        for _ in range(40):
            platform = "wangwang" if n % 2 else "dongdong"
            event = BuyerMessage(platform=platform, shop=APP_KEYS[platform], buyer=f"buyer{n % 37}", push_id=f"t{n}",
                                 at=now, text=f"第{n}条：有货吗", agent_account="")
            batch.append((platform, event.push_id, PLATFORMS[platform].push_form(
                event, app_key=APP_KEYS[platform], secret=SECRETS[platform], now=now)))
            n += 1
        answered += len(await deliver(port, batch))
    return answered


@pytest.fixture
def data_key(monkeypatch):
    monkeypatch.setenv(sealed.KEY_ENV, KEY_A)  # the bot and the commands are processes of their own


async def backup_under_traffic(config, port: int, backup, pushes) -> tuple[subprocess.CompletedProcess, int]:
    """A real bot takes signed pushes; once `pushes()` counts 50 stored, `csbot db backup` runs while they
    keep arriving. The command's result, and how many pushes were answered 200 in all."""
    proc = await start_bot(config, port)
    try:
        stop = asyncio.Event()
        posting = asyncio.create_task(traffic(port, stop))
        while await pushes() < 50:  # the backup is taken while pushes are arriving
            await asyncio.sleep(0.02)
        done = await asyncio.to_thread(csbot, "db", "backup", str(backup), "--config", str(config))
        await asyncio.sleep(0.3)
        stop.set()
        return done, await posting
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_a_live_bot_under_traffic_is_backed_up_and_restored(tmp_path, data_key):
    live, port = tmp_path / "live", free_port()
    live.mkdir()
    config = write_config(live, port)
    backup = tmp_path / "snapshot.db"

    async def pushes() -> int:
        return len(stored(live / "bot.db")[0])

    done, answered = await backup_under_traffic(config, port, backup, pushes)
    assert done.returncode == 0, done.stderr
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    covered = table_counts(backup)
    assert 50 <= covered["pushes"] < answered, "the backup was not taken under traffic"
    assert f"pushes" in done.stdout and str(covered["pushes"]) in done.stdout

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    target = write_config(restored_dir, free_port())
    done = csbot("db", "restore", str(backup), "--config", str(target))
    assert done.returncode == 0, done.stderr
    assert "counts match" in done.stdout and f"pushes" in done.stdout
    assert table_counts(restored_dir / "bot.db") == covered
    # the restored buyer text opens with the key it was written under
    conn = sqlite3.connect(restored_dir / "bot.db")
    forms_stored = [f for (f,) in conn.execute("SELECT form FROM pushes")]
    conn.close()
    keyring = sealed.Keyring(base64.b64decode(KEY_A))
    assert all(sealed.sealed_by(f) == keyring.current_id for f in forms_stored)
    assert all("有货吗" in keyring.open(f) for f in forms_stored)

    # restoring again: the database is no longer empty
    again = csbot("db", "restore", str(backup), "--config", str(target))
    assert again.returncode == 1 and "not empty" in again.stderr
    assert table_counts(restored_dir / "bot.db") == covered


@pytest.fixture
def backup_file(tmp_path) -> tuple:
    """A real backup of a small database, and a configuration whose database is empty."""
    source = tmp_path / "src"
    source.mkdir()
    config = write_config(source, free_port())
    assert csbot("db", "upgrade", "--config", str(config)).returncode == 0
    file = tmp_path / "good.backup"
    done = csbot("db", "backup", str(file), "--config", str(config))
    assert done.returncode == 0, done.stderr
    target = tmp_path / "dst"
    target.mkdir()
    return file, write_config(target, free_port()), target / "bot.db"


def test_a_truncated_backup_is_refused(backup_file, tmp_path):
    good, config, db = backup_file
    cut = tmp_path / "cut.backup"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    done = csbot("db", "restore", str(cut), "--config", str(config))
    assert done.returncode == 1 and "truncated" in done.stderr, done.stderr
    assert not db.exists() or db.stat().st_size == 0


@pytest.mark.parametrize("content, says", [
    (b"id,text\n1,hello\n", "not an SQLite database"),
    (None, "not a csbot backup"),
])
def test_a_file_that_is_no_backup_is_refused(backup_file, tmp_path, content, says):
    _, config, db = backup_file
    other = tmp_path / "other.file"
    if content is None:  # an SQLite database, but not one of csbot's
        conn = sqlite3.connect(other)
        conn.execute("CREATE TABLE notes (x)")
        conn.commit()
        conn.close()
    else:
        other.write_bytes(content)
    done = csbot("db", "restore", str(other), "--config", str(config))
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert not db.exists() or db.stat().st_size == 0


def test_the_database_files_are_created_owner_only(backup_file):
    good, config, db = backup_file
    assert csbot("db", "restore", str(good), "--config", str(config)).returncode == 0
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    conn = sqlite3.connect(db)  # WAL mode: SQLite gives the -wal and -shm files the database's mode
    conn.execute("CREATE TABLE t (x)")
    for suffix in ("-wal", "-shm"):
        assert oct(os.stat(f"{db}{suffix}").st_mode & 0o777) == "0o600"
    conn.close()


# PostgreSQL: the same commands wrap pg_dump and pg_restore.

async def pg_counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return await pg_backup._counts(conn)
    finally:
        await conn.close()


def printed_counts(stdout: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"(?m)^  (\w+) +(\d+)$", stdout)}


async def post(port: int, event: BuyerMessage) -> str:
    form = PLATFORMS[event.platform].push_form(event, app_key=APP_KEYS[event.platform],
                                               secret=SECRETS[event.platform], now=SystemClock().now())
    answered = await deliver(port, [(event.platform, event.push_id, form)])
    return answered.get(event.push_id, "no answer")


async def test_on_postgresql_a_live_bot_under_traffic_is_backed_up_and_restored(tmp_path, data_key):
    async with pg_database() as live_url, pg_database() as restored_url:
        port = free_port()
        config = write_pg_config(tmp_path, port, live_url, name="live")
        backup = tmp_path / "snapshot.dump"

        async def pushes() -> int:
            return (await pg_counts(live_url))["pushes"]

        done, answered = await backup_under_traffic(config, port, backup, pushes)
        assert done.returncode == 0, done.stderr
        assert oct(backup.stat().st_mode & 0o777) == "0o600"
        covered = printed_counts(done.stdout)
        assert 50 <= covered["pushes"] < answered, "the backup was not taken under traffic"
        assert covered == await pg_backup.dump_counts(backup)

        port = free_port()
        target = write_pg_config(tmp_path, port, restored_url, name="restored")
        done = csbot("db", "restore", str(backup), "--config", str(target))
        assert done.returncode == 0, done.stderr
        assert "counts match" in done.stdout
        assert await pg_counts(restored_url) == covered
        conn = await asyncpg.connect(restored_url)
        kept = await conn.fetch("SELECT platform, push_id, form FROM pushes ORDER BY id")
        await conn.close()
        keyring = sealed.Keyring(base64.b64decode(KEY_A))
        assert all("有货吗" in keyring.open(row["form"]) for row in kept)

        # the restored database serves: it knows the pushes it holds, and takes new ones
        proc = await start_bot(target, port)
        try:
            platform, push_id = kept[0]["platform"], kept[0]["push_id"]
            known = BuyerMessage(platform=platform, shop=APP_KEYS[platform], buyer="buyer0", push_id=push_id,
                                 at=SystemClock().now(), text="有货吗", agent_account="")
            assert await post(port, known) == "duplicate"
            assert await post(port, dataclasses.replace(known, push_id="after-restore")) == "ok"
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        after = await pg_counts(restored_url)
        assert after["pushes"] == covered["pushes"] + 1

        # restoring again: the database is no longer empty, and stays as it is
        again = csbot("db", "restore", str(backup), "--config", str(target))
        assert again.returncode == 1 and "not empty" in again.stderr, again.stderr
        assert await pg_counts(restored_url) == after


@pytest.fixture
async def pg_backup_file(tmp_path) -> tuple:
    """A real pg_dump backup of a migrated database, and a configuration whose database is empty."""
    async with pg_database() as source, pg_database() as target:
        config = write_pg_config(tmp_path, free_port(), source, name="src")
        assert csbot("db", "upgrade", "--config", str(config)).returncode == 0
        file = tmp_path / "good.dump"
        done = csbot("db", "backup", str(file), "--config", str(config))
        assert done.returncode == 0, done.stderr
        yield file, write_pg_config(tmp_path, free_port(), target, name="dst"), target


async def test_on_postgresql_a_truncated_backup_is_refused(pg_backup_file, tmp_path):
    good, config, target = pg_backup_file
    size = good.stat().st_size
    for keep in (size // 2, size - 200):
        cut = tmp_path / f"cut{keep}.dump"
        cut.write_bytes(good.read_bytes()[:keep])
        done = csbot("db", "restore", str(cut), "--config", str(config))
        assert done.returncode == 1 and "truncated" in done.stderr, done.stderr
        assert await pg_counts(target) == {}


@pytest.mark.parametrize("content, says", [
    (b"id,text\n1,hello\n", "not a pg_dump custom-format file"),
    (None, "not a csbot backup"),
])
async def test_on_postgresql_a_file_that_is_no_backup_is_refused(pg_backup_file, tmp_path, content, says):
    _, config, target = pg_backup_file
    other = tmp_path / "other.dump"
    if content is None:  # a pg_dump archive, but not of a csbot database
        dsn = PG_DSN.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["pg_dump", "--format=custom", f"--file={other}", dsn], check=True)
    else:
        other.write_bytes(content)
    done = csbot("db", "restore", str(other), "--config", str(config))
    assert done.returncode == 1 and says in done.stderr, done.stderr
    assert await pg_counts(target) == {}


async def test_on_postgresql_a_backup_never_overwrites_a_file(pg_backup_file):
    good, config, _ = pg_backup_file
    before = good.read_bytes()
    done = csbot("db", "backup", str(good), "--config", str(config))
    assert done.returncode == 1 and "exists" in done.stderr
    assert good.read_bytes() == before


async def test_a_database_the_bot_creates_is_owner_only_with_its_wal(tmp_path, aiohttp_client, make_app, clock):
    """The normal start (not a restore): the file, its -wal and -shm are 0600 under a umask of 022."""
    from tests.conftest import buyer_message, make_config, push_and_process

    db = tmp_path / "fresh" / "bot.db"
    old = os.umask(0o022)
    try:
        client = await aiohttp_client(make_app(make_config(f"sqlite:///{db}"), clock))
        await push_and_process(client, buyer_message(text="在吗"))
        modes = {suffix: oct(os.stat(f"{db}{suffix}").st_mode & 0o777) for suffix in ("", "-wal", "-shm")}
    finally:
        os.umask(old)
    assert modes == {"": "0o600", "-wal": "0o600", "-shm": "0o600"}
