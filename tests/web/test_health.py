"""/healthz tells the truth (issue 14): 503 with the reason when the store refuses writes, when the
disk is full, when processing is behind, when sends have failed for too long; `?detail=1` lists each
check."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa

from bot.sim.gateway import STATE
from bot.store import outbox as outbox_store
from bot.web import keys
from tests.conftest import APP_KEYS, PG_DSN, buyer_message, gateway_url, make_config, post_push, signed_form


async def health(client, detail: bool = False) -> tuple[int, dict]:
    resp = await client.get("/healthz" + ("?detail=1" if detail else ""))
    return resp.status, await resp.json()


async def test_ok_lists_every_check_with_detail(client):
    assert await health(client) == (200, {"status": "ok"})
    status, body = await health(client, detail=True)
    assert status == 200
    assert [c["name"] for c in body["checks"]] == ["store_writes", "push_commits", "processing_writes", "disk", "processing", "sends"]
    assert all(c["ok"] for c in body["checks"])


async def test_processing_behind(aiohttp_client, make_app, clock, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url, processing={"max_backlog": 3,
                                                                              "behind_seconds": 60}), clock))
    for _ in range(3):
        assert (await post_push(client, "wangwang", signed_form(buyer_message(), now=clock.now())))[0] == 200
    assert (await health(client))[0] == 200
    clock.advance(seconds=61)
    status, body = await health(client)
    assert status == 503 and body["reasons"] == ["processing: the oldest waiting push has waited 61 s (more than 60 s)"]
    assert (body["status"], body["pending"]) == ("behind", 3)
    await client.app[keys.PROCESSOR].process_all()
    assert (await health(client))[0] == 200


async def test_sends_failing_for_too_long(aiohttp_client, make_app, clock, sqlite_url, gateway):
    client = await aiohttp_client(make_app(make_config(sqlite_url, gateway_url=gateway_url(gateway),
                                                       health={"max_send_failing_seconds": 120}), clock))
    gateway.app[STATE].down = True
    async with client.app[keys.DB]() as session, session.begin():
        await outbox_store.enqueue(session, client_msg_id="r1", platform="wangwang", shop=APP_KEYS["wangwang"],
                                   buyer="b", agent_account="小店:小美", text="好的", kind="reply", sender="agent",
                                   now=clock.now())
    await client.app[keys.OUTBOX].send_due()
    clock.advance(seconds=100)
    assert (await health(client))[0] == 200
    clock.advance(seconds=30)
    status, body = await health(client)
    assert (status, body["reasons"]) == (503, ["sends: sends to the gateway have failed for 130 s"])
    gateway.app[STATE].down = False
    clock.advance(seconds=60)
    await client.app[keys.OUTBOX].send_due()
    assert (await health(client))[0] == 200


async def test_a_full_disk(aiohttp_client, make_app, clock, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url, health={"min_free_disk_mb": 10**9}), clock))
    status, body = await health(client)
    assert status == 503 and body["reasons"][0].startswith("disk: the database's disk is full:")


async def test_a_store_that_refuses_writes(aiohttp_client, make_app, clock, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url), clock))
    async with client.app[keys.ENGINE].begin() as conn:
        await conn.execute(sa.text("CREATE TRIGGER no_writes BEFORE INSERT ON pushes "
                                   "BEGIN SELECT RAISE(ABORT, 'writes refused'); END"))
    status, body = await health(client)
    assert status == 503 and body["reasons"][0].startswith("store_writes: the store refuses writes")
    # A trigger's ABORT is a constraint to SQLite: that push is refused on a rule, 400, alone. What makes
    # SQLite refuse writes for real (a full disk, a lock) is 503: tests/test_full_disk.py, test_store_unavailable.py.
    assert (await post_push(client, "wangwang", signed_form(buyer_message(), now=clock.now())))[0] == 400


@pytest.mark.skipif(not PG_DSN, reason="needs CSBOT_TEST_PG_DSN")
async def test_postgres_with_the_insert_privilege_revoked(aiohttp_client, make_app, clock, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    role = "csbot_h_" + db_url.rsplit("_", 1)[-1]
    admin = await asyncpg.connect(db_url)
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        # Migrate as the owner, then run as a role that may read but not write pushes.
        owner = await aiohttp_client(make_app(make_config(db_url), clock))
        await owner.close()
        await admin.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"; '
                            f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"; '
                            f'REVOKE INSERT ON pushes FROM "{role}"')
        limited = db_url.replace("://root@", f"://{role}@")
        client = await aiohttp_client(make_app(make_config(limited), clock))
        status, body = await health(client)
        assert status == 503 and body["reasons"][0].startswith("store_writes: the store refuses writes")
        status, answer = await post_push(client, "wangwang", signed_form(buyer_message(), now=clock.now()))
        assert (status, answer["code"]) == (503, 50)  # a privilege error may pass: the gateway retries
        status, body = await health(client)
        assert any(r.startswith("push_commits: commits of pushes fail since") for r in body["reasons"])
        await admin.execute(f'GRANT INSERT ON pushes TO "{role}"')
        assert (await post_push(client, "wangwang", signed_form(buyer_message(), now=clock.now())))[0] == 200
        assert (await health(client))[0] == 200
        await client.close()
    finally:
        await admin.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"; '
                            f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{role}"')
        await admin.close()
