"""Buyer text encrypted at rest: sealed in the database (SQLite and PostgreSQL), read back in full
where it is shown; a start with a missing or wrong key refused before anything changes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa

from bot.store import sealed
from bot.store.db import async_url, create_engine
from bot.store.tables import Conversation, Message, RawPush
from bot.web import keys
from tests.conftest import ROOT, buyer_message, make_config, push_and_process

KEY_A = base64.b64encode(hashlib.sha256(b"key a").digest()).decode()
KEY_B = base64.b64encode(hashlib.sha256(b"key b").digest()).decode()
PHONE, ADDRESS = "13912345678", "杭州市西湖区文三路478号华星时代广场A座1201室"
TEXT = f"我的电话{PHONE}，地址{ADDRESS}"


@pytest.fixture
def key_a():
    sealed.use(sealed.Keyring(base64.b64decode(KEY_A)))
    yield
    sealed.use(sealed.Keyring())


def test_a_value_round_trips_names_its_key_and_fails_with_another():
    a = sealed.Keyring(base64.b64decode(KEY_A))
    stored = a.seal(TEXT)
    assert stored.startswith(sealed.MARK) and PHONE not in stored and sealed.sealed_by(stored) == a.current_id
    assert a.open(stored) == TEXT
    with pytest.raises(sealed.Unreadable):
        sealed.Keyring(base64.b64decode(KEY_B)).open(stored)
    tampered = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
    with pytest.raises(sealed.Unreadable):
        a.open(tampered)


def test_without_a_key_text_stays_plain_and_a_forged_mark_is_no_sealed_value():
    plain = sealed.Keyring()
    assert plain.seal("在吗") == "在吗"
    forged = sealed.MARK + "1deadbeef:AAAA"
    assert plain.open(plain.seal(forged)) == forged


@pytest.mark.parametrize("bad, why", [("not base64!", "not base64"), (base64.b64encode(b"short").decode(), "32 bytes")])
def test_a_badly_written_key_is_refused_with_how_to_make_one(bad, why):
    with pytest.raises(sealed.DataKeyError, match=why):
        sealed.Keyring.from_environ({sealed.KEY_ENV: bad})


async def test_message_text_form_and_conversation_are_sealed_at_rest_and_read_in_full(
        key_a, db_url, aiohttp_client, clock, make_app):
    client = await aiohttp_client(make_app(make_config(db_url), clock))
    await push_and_process(client, buyer_message(text=TEXT, agent="小店:小美"))
    engine = client.app[keys.ENGINE]
    async with engine.connect() as conn:
        raw = [v for (v,) in (await conn.execute(sa.union_all(
            sa.select(sa.type_coerce(Message.__table__.c.text, sa.String)),
            sa.select(sa.type_coerce(RawPush.__table__.c.form, sa.String)),
            sa.select(sa.type_coerce(Conversation.__table__.c.last_buyer_text, sa.String)),
        ))).all()]
    assert len(raw) == 3
    assert all(sealed.sealed_by(v) == sealed.current().current_id and PHONE not in v for v in raw)
    listed = await (await client.get("/api/conversations", headers={"Authorization": "Bearer agent-xiaomei-token"})).json()
    assert listed["items"][0]["latest"]["text"] == TEXT


def _dump(path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _serve(config, env_key: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (sealed.KEY_ENV, sealed.OLD_KEYS_ENV)}
    if env_key:
        env[sealed.KEY_ENV] = env_key
    return subprocess.run([sys.executable, "-m", "bot", "serve", "--config", str(config)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_a_start_without_the_key_or_with_another_is_refused_and_changes_nothing(key_a, tmp_path, clock, make_app, aiohttp_client):
    from tests.test_durability import free_port, write_config

    config_file = write_config(tmp_path, free_port())
    db = tmp_path / "bot.db"
    client = await aiohttp_client(make_app(make_config(f"sqlite:///{db}"), clock))
    await push_and_process(client, buyer_message(text=TEXT))
    await client.close()  # the last connection gone: SQLite folds the WAL into the file
    before, before_bytes = _dump(db), db.read_bytes()
    for key, says in ((None, "CSBOT_DATA_KEY is not set"), (KEY_B, "a wrong key")):
        done = _serve(config_file, key)
        assert done.returncode == 2, done.stderr
        assert "cannot start" in done.stderr and says in done.stderr, done.stderr
        assert sealed.Keyring(base64.b64decode(KEY_A)).current_id in done.stderr
        assert _dump(db) == before and db.read_bytes() == before_bytes
    stored = json.loads(json.dumps(_dump(db)))
    assert any("data_key_ids" in line for line in stored)


async def test_a_start_with_another_key_is_refused_on_postgresql_too(key_a, aiohttp_client, clock, make_app):
    from tests.conftest import pg_database

    async with pg_database() as url:
        client = await aiohttp_client(make_app(make_config(url), clock))
        await push_and_process(client, buyer_message(text=TEXT))
        await client.close()
        sealed.use(sealed.Keyring(base64.b64decode(KEY_B)))
        with pytest.raises(sealed.DataKeyError, match="wrong key"):
            await aiohttp_client(make_app(make_config(url), clock))


async def test_a_failed_statement_never_quotes_its_parameters(db_url):
    engine = create_engine(async_url(db_url))
    try:
        from bot.store.db import migrate

        await migrate(engine)
        row = dict(platform="wangwang", push_id="dup", kind="k", shop="s", buyer="b", partition=0, attempts=0,
                   event_at=sa.func.now(), received_at=sa.func.now(), form=TEXT)
        async with engine.begin() as conn:
            await conn.execute(sa.insert(RawPush.__table__).values(**row))
        with pytest.raises(sa.exc.IntegrityError) as caught:
            async with engine.begin() as conn:
                await conn.execute(sa.insert(RawPush.__table__).values(**{**row, "form": f"again {PHONE}"}))
        assert PHONE not in str(caught.value) and "parameters hidden" in str(caught.value)
    finally:
        await engine.dispose()
