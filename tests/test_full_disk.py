"""A full disk (issue 14), for real: the database on a small file system filled to the last block,
SQLite's file or a throwaway PostgreSQL cluster's data directory (tests/small_disk.py). /healthz is
503 and says the disk is full; a push is answered 503 (the gateway retries), never 400 and never a
200 that is not stored; once there is room again, every push answered 200 is processed exactly once
and the health is ok. Skipped, with the reason, where this machine cannot mount a file system.
The slow version is `scripts/faults full-disk`."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from bot.store.tables import Message, RawPush
from bot.web import keys
from tests.conftest import START, buyer_message, make_config, minutes, post_push, signed_form
from tests.small_disk import fill, small_filesystem, throwaway_postgres


@pytest.fixture
def folder():
    # Not pytest's tmp_path: its parents are closed to the postgres user that runs the cluster.
    path = Path(tempfile.mkdtemp(prefix="csbot-full-disk-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def health(client) -> tuple[int, dict]:
    resp = await client.get("/healthz")
    return resp.status, await resp.json()


async def survives_a_full_disk(client, mount: Path, *, disk_reason: str) -> None:
    processor = client.app[keys.PROCESSOR]
    events = [buyer_message(buyer=f"b{i % 7}", text=f"第{i}条：有货吗", at=START + minutes(i), push_id=f"p{i}")
              for i in range(60)]
    accepted = set()
    for event in events[:10]:
        assert (await post_push(client, "wangwang", signed_form(event)))[0] == 200
        accepted.add(event.push_id)
    await processor.process_all()

    filler = fill(mount)
    status, body = await health(client)
    assert status == 503, body
    assert any(disk_reason in r for r in body["reasons"]), body["reasons"]
    refused = []
    for event in events[10:]:
        status, answer = await post_push(client, "wangwang", signed_form(event))
        assert status in (200, 503), answer  # never 400: the disk is not the push's fault
        (accepted.add if status == 200 else refused.append)(event.push_id if status == 200 else event)
    assert refused, "a full disk refused no push: the test filled nothing"
    try:
        await processor.process_all()
    except Exception:
        pass  # processing may fail on the full disk too: its pushes stay pending

    filler.unlink()
    for event in refused:  # the gateway's retries
        assert (await post_push(client, "wangwang", signed_form(event)))[0] == 200
        accepted.add(event.push_id)
    await processor.process_all()
    async with client.app[keys.DB]() as session:
        done = (await session.execute(sa.select(RawPush.push_id).where(
            RawPush.processed_at.is_not(None), RawPush.last_error.is_(None)))).scalars().all()
        stored = (await session.scalars(sa.select(Message.push_id))).all()
    assert set(done) == accepted == {e.push_id for e in events}
    assert sorted(stored) == sorted(accepted)  # each once
    assert (await health(client))[0] == 200


async def test_sqlite_on_a_full_disk(folder, aiohttp_client, make_app, clock):
    with small_filesystem(folder, 24) as mount:
        if mount is None:
            pytest.skip("this machine allows neither a tmpfs nor a loop mount")
        client = await aiohttp_client(make_app(make_config(f"sqlite:///{mount / 'csbot.db'}",
                                                           health={"min_free_disk_mb": 1}), clock))
        await survives_a_full_disk(client, mount, disk_reason="disk: the database's disk is full")
        await client.close()


async def test_postgres_on_a_full_disk(folder, aiohttp_client, make_app, clock):
    with throwaway_postgres(folder) as (admin_url, mount, why):
        if admin_url is None:
            pytest.skip(why)
        name = f"csbot_full_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        client = await aiohttp_client(make_app(make_config(admin_url.rsplit("/", 1)[0] + "/" + name), clock))
        await survives_a_full_disk(client, mount, disk_reason="No space left on device")
        await client.close()
