"""`csbot db backup` and `csbot db restore`: a live bot backed up while pushes are being posted, restored
into an empty database with the counts checked; a non-empty target, a truncated file and a file that
is no backup are refused with a clear message."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import subprocess
import sys

import pytest

from bot.store import sealed
from bot.store.backup import counts
from tests.conftest import ROOT
from tests.privacy.test_sealed import KEY_A
from bot.clock import SystemClock
from bot.events import BuyerMessage
from bot.gateway import PLATFORMS
from tests.conftest import APP_KEYS, SECRETS
from tests.test_durability import deliver, free_port, start_bot, stored, write_config

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


async def test_a_live_bot_under_traffic_is_backed_up_and_restored(tmp_path, data_key):
    live, port = tmp_path / "live", free_port()
    live.mkdir()
    config = write_config(live, port)
    proc = await start_bot(config, port)
    backup = tmp_path / "snapshot.db"
    try:
        stop = asyncio.Event()
        posting = asyncio.create_task(traffic(port, stop))
        while len(stored(live / "bot.db")[0]) < 50:  # the backup is taken while pushes are arriving
            await asyncio.sleep(0.02)
        done = await asyncio.to_thread(csbot, "db", "backup", str(backup), "--config", str(config))
        await asyncio.sleep(0.3)
        stop.set()
        answered = await posting
    finally:
        proc.terminate()
        proc.wait(timeout=20)
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


def test_on_postgresql_backup_points_to_pg_dump(tmp_path, monkeypatch):
    monkeypatch.setenv("CSBOT_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    config = write_config(tmp_path, free_port())
    for command in ("backup", "restore"):
        done = csbot("db", command, str(tmp_path / "x.dump"), "--config", str(config))
        assert done.returncode == 1 and "pg_dump --format=custom" in done.stderr, done.stderr
