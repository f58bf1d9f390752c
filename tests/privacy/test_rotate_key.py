"""`csbot db rotate-key` killed halfway (kill -9, a real process): nothing is unreadable, the database
still names both keys (so a start with the new key alone is refused), and a rerun completes."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from bot.store import sealed
from bot.store.db import async_url, create_engine, migrate
from tests.conftest import ROOT
from tests.privacy.test_sealed import KEY_A, KEY_B
from tests.test_durability import write_config

pytestmark = pytest.mark.slow
ROWS = 30_000
A, B = sealed.Keyring(base64.b64decode(KEY_A)), sealed.Keyring(base64.b64decode(KEY_B))
BOTH = sealed.Keyring(base64.b64decode(KEY_B), (base64.b64decode(KEY_A),))


def _rotate(config) -> subprocess.Popen:
    env = {**os.environ, sealed.KEY_ENV: KEY_B, sealed.OLD_KEYS_ENV: KEY_A}
    return subprocess.Popen([sys.executable, "-m", "bot", "db", "rotate-key", "--batch", "100", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _forms(db) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [v for (v,) in conn.execute("SELECT form FROM pushes ORDER BY id")]
    finally:
        conn.close()


def _count_under(db, kid: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM pushes WHERE substr(form, 3, 8) = ?", (kid,)).fetchone()[0]
    finally:
        conn.close()


async def _key_ids(db) -> frozenset[str]:
    engine = create_engine(async_url(f"sqlite:///{db}"))
    try:
        async with engine.connect() as conn:
            return await sealed.stored_key_ids(conn)
    finally:
        await engine.dispose()


async def test_rotate_key_killed_halfway_loses_nothing_and_a_rerun_completes(tmp_path):
    db = tmp_path / "bot.db"
    config = write_config(tmp_path, 9)
    engine = create_engine(async_url(f"sqlite:///{db}"))
    await migrate(engine)
    async with engine.begin() as conn:
        await sealed.set_key_ids(conn, frozenset({A.current_id}))
    await engine.dispose()
    originals = [f'{{"msg": "第{i}条 电话1391234{i:04d}"}}' for i in range(ROWS)]
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO pushes (platform, push_id, kind, shop, buyer, event_at, received_at, form, partition, attempts) "
            "VALUES ('wangwang', ?, 'k', 's', 'b', '2026-11-24 00:00:00', '2026-11-24 00:00:00', ?, 0, 0)",
            [(f"p{i}", A.seal(text)) for i, text in enumerate(originals)])
    conn.close()

    proc = _rotate(config)
    deadline = time.monotonic() + 60
    while _count_under(db, B.current_id) < 500:
        assert proc.poll() is None, f"rotate-key ended before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline
        await asyncio.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    forms = _forms(db)
    under_b = sum(sealed.sealed_by(f) == B.current_id for f in forms)
    assert 0 < under_b < ROWS, "the kill came after the work was done: nothing was interrupted"
    assert [BOTH.open(f) for f in forms] == originals  # nothing unreadable, nothing lost
    assert await _key_ids(db) == {A.current_id, B.current_id}
    assert sealed.missing_keys(await _key_ids(db), B) is not None  # the new key alone would be refused

    proc = _rotate(config)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "pushes.form" in out
    forms = _forms(db)
    assert all(sealed.sealed_by(f) == B.current_id for f in forms)
    assert [B.open(f) for f in forms] == originals
    assert await _key_ids(db) == {B.current_id}
