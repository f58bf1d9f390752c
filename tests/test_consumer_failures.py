"""A consumer that fails on one push with a bug of its own (issue 14): the push is processed by
everything else, and that consumer's failure is recorded per consumer, counted in /metrics, listed for
admins and by `csbot pushes failed`, and replayed by `csbot pushes retry` once the bug is fixed."""

from __future__ import annotations

import json

import sqlalchemy as sa

from bot.intake import _maybe_a_race
from bot.store.db import async_url, create_engine
from bot.store.tables import Buyer, ConsumerFailure, Message, RawPush
from bot.web import keys
from tests.conftest import START, buyer_message, make_config, push_and_process
from tests.test_set_aside import csbot, metric

ADMIN = {"Authorization": "Bearer admin-token-12"}


class _Buggy:
    """A consumer that stores a buyer named after itself, failing while its bug is in."""

    name = "buggy"

    def __init__(self) -> None:
        self.bug = True

    async def handle(self, session, event) -> None:
        session.add(Buyer(platform=event.platform, shop=event.shop, nick=f"buggy-saw-{event.push_id}",
                          first_seen_at=event.at))
        await session.flush()
        if self.bug:
            raise RuntimeError("buggy consumer: index out of range")

    async def handle_batch(self, session, recorded) -> None:
        for r in recorded:
            await self.handle(session, r.event)


async def seen_by_buggy(client) -> set[str]:
    async with client.app[keys.DB]() as session:
        return {n for n in (await session.scalars(sa.select(Buyer.nick))).all() if n.startswith("buggy-saw-")}


async def test_a_consumer_bug_is_recorded_per_consumer_and_replayed_once_fixed(db_url, aiohttp_client, make_app,
                                                                                clock, capsys):
    config = make_config(db_url)
    client = await aiohttp_client(make_app(config, clock))
    buggy = _Buggy()
    processor = client.app[keys.PROCESSOR]
    processor._consumers = (*processor._consumers, buggy)
    await push_and_process(client, buyer_message(text="这款有货吗", push_id="p1", at=START),
                           buyer_message(buyer="b2", text="在吗", push_id="p2", at=START))

    async with client.app[keys.DB]() as session:
        texts = sorted((await session.scalars(sa.select(Message.text))).all())
        pushes = (await session.scalars(sa.select(RawPush))).all()
        failures = (await session.scalars(sa.select(ConsumerFailure).order_by(ConsumerFailure.push_id))).all()
    assert texts == ["在吗", "这款有货吗"]  # everything else processed both pushes
    assert all(p.processed_at is not None and p.last_error is None for p in pushes)
    assert [(f.push_id, f.consumer, f.attempts, f.replay, f.replayed_at) for f in failures] == [
        ("p1", "buggy", 1, False, None), ("p2", "buggy", 1, False, None)]
    assert "index out of range" in failures[0].error
    assert await seen_by_buggy(client) == set()  # its writes were undone with its failure
    assert await metric(client, 'csbot_consumer_failures{consumer="buggy"}') == 2
    assert await metric(client, 'csbot_consumer_failures{consumer="tickets"}') == 0

    listed = await (await client.get("/api/pushes/failed", headers=ADMIN)).json()
    assert listed["total"] == 0  # no push was set aside
    assert listed["consumer_failures"]["total"] == 2
    assert {(i["push_id"], i["consumer"]) for i in listed["consumer_failures"]["items"]} == {("p1", "buggy"), ("p2", "buggy")}
    status, out = await csbot(config, capsys, "failed", "--json")
    assert status == 0 and {i["push_id"] for i in json.loads(out)["consumer_failures"]} == {"p1", "p2"}

    # A replay while the bug is still in: tried again, recorded again, not asked again.
    assert await csbot(config, capsys, "retry", "p1") == (
        0, "0 push(es) put back to be processed\n1 consumer failure(s) to be replayed\n")
    await processor.process_all()
    async with client.app[keys.DB]() as session:
        p1 = await session.scalar(sa.select(ConsumerFailure).where(ConsumerFailure.push_id == "p1"))
    assert (p1.attempts, p1.replay, p1.replayed_at) == (2, False, None)

    buggy.bug = False  # the fix is deployed
    assert (await csbot(config, capsys, "retry", "--all", "--consumer", "buggy"))[1].endswith(
        "2 consumer failure(s) to be replayed\n")
    assert await processor.process_all() == 2
    assert await seen_by_buggy(client) == {"buggy-saw-p1", "buggy-saw-p2"}
    assert await metric(client, 'csbot_consumer_failures{consumer="buggy"}') == 0
    async with client.app[keys.DB]() as session:
        replayed = (await session.scalars(sa.select(ConsumerFailure.replayed_at))).all()
        messages = (await session.scalar(sa.select(sa.func.count()).select_from(Message)))
    assert all(at is not None for at in replayed) and len(replayed) == 2
    assert messages == 2  # a replay runs the consumer alone: the chat is not recorded twice
    assert await processor.process_all() == 0  # nothing is replayed twice
    assert (await csbot(config, capsys, "retry", "p1"))[0] == 1  # nothing left to replay


async def test_a_push_that_cannot_be_parsed_is_set_aside_at_once(db_url, aiohttp_client, make_app, clock):
    client = await aiohttp_client(make_app(make_config(db_url), clock))
    async with client.app[keys.DB]() as session, session.begin():
        session.add(RawPush(platform="wangwang", push_id="broken", kind="wangwang_ChatMessage", shop="demo-tb",
                            buyer="b", event_at=START, received_at=START, form='{"topic": "nope"}'))
    assert await client.app[keys.PROCESSOR].process_batch() == 1
    async with client.app[keys.DB]() as session:
        broken = await session.scalar(sa.select(RawPush))
    assert (broken.processed_at is not None, broken.attempts) == (True, 1)


async def test_only_a_unique_key_conflict_is_taken_for_a_race(db_url):
    engine = create_engine(async_url(db_url))
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE race_probe (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        await conn.exec_driver_sql("INSERT INTO race_probe VALUES (1, 1)")
    errors = []
    for statement in ("INSERT INTO race_probe VALUES (1, 2)", "INSERT INTO race_probe VALUES (2, NULL)"):
        try:
            async with engine.begin() as conn:
                await conn.exec_driver_sql(statement)
        except sa.exc.IntegrityError as e:
            errors.append(e)
    await engine.dispose()
    assert [_maybe_a_race(e) for e in errors] == [True, False]
    assert not _maybe_a_race(ValueError("bad"))


async def test_retry_requests_that_make_no_sense_are_refused(db_url, aiohttp_client, make_app, clock):
    client = await aiohttp_client(make_app(make_config(db_url), clock))
    for body, field in [({}, "push_ids"), ({"push_ids": [], "all": True}, "push_ids"), ({"all": False}, "all"),
                        ({"push_ids": "p1"}, "push_ids"), ({"push_ids": ["x" * 129]}, "push_ids"),
                        ({"all": True, "consumer": "nope"}, "consumer"), ({"all": True, "extra": 1}, "extra")]:
        resp = await client.post("/api/pushes/retry", json=body, headers=ADMIN)
        assert (resp.status, field in (await resp.json())["message"]) == (400, True), body
    resp = await client.post("/api/pushes/retry", json={"all": True},
                             headers={"Authorization": "Bearer supervisor-token"})
    assert resp.status == 403
    resp = await client.post("/api/pushes/retry", json={"all": True}, headers=ADMIN)
    assert (resp.status, await resp.json()) == (200, {"pushes": 0, "consumer_failures": 0})


async def failures_of(client) -> set[tuple[str, str]]:
    async with client.app[keys.DB]() as session:
        rows = await session.execute(sa.select(ConsumerFailure.push_id, ConsumerFailure.consumer)
                                     .where(ConsumerFailure.replayed_at.is_(None)))
        return set(rows.all())

