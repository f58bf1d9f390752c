"""Pushes set aside (issue 14's dead-letter list): a push that cannot be parsed is set aside with its
reason, counted in /metrics and listed for admins (`csbot pushes failed`, GET /api/pushes/failed); once what was wrong is fixed,
`csbot pushes retry` puts it back and it is processed like any other."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa

from bot.cli import build_parser
from bot import pushes_commands
from bot.store.tables import Message, RawPush
from bot.web import keys
from tests.conftest import START, buyer_message, make_config, signed_form


async def csbot(config, capsys, *argv: str) -> tuple[int, str]:
    """The command as run from a shell (its own event loop, so in a thread here)."""
    status = await asyncio.to_thread(pushes_commands.run, build_parser().parse_args(["pushes", *argv]), config)
    return status, capsys.readouterr().out


async def metric(client, name: str) -> float:
    text = await (await client.get("/metrics")).text()
    return float(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


async def test_a_push_set_aside_is_listed_counted_and_replayed(db_url, aiohttp_client, make_app, clock, capsys):
    config = make_config(db_url)
    client = await aiohttp_client(make_app(config, clock))
    good = signed_form(buyer_message(text="在吗", push_id="good"))
    async with client.app[keys.DB]() as session, session.begin():
        session.add(RawPush(platform="wangwang", push_id="broken", kind="wangwang_ChatMessage", shop="demo-tb",
                            buyer="buyer1", event_at=START, received_at=START, form='{"topic": "nope"}'))
    await client.app[keys.PROCESSOR].process_all()
    assert await metric(client, "csbot_pushes_set_aside") == 1

    resp = await client.get("/api/pushes/failed", headers={"Authorization": "Bearer admin-token-12"})
    listed = await resp.json()
    assert (resp.status, listed["total"], [i["push_id"] for i in listed["items"]]) == (200, 1, ["broken"])
    assert (await client.get("/api/pushes/failed", headers={"Authorization": "Bearer supervisor-token"})).status == 403
    status, out = await csbot(config, capsys, "failed", "--json")
    [item] = json.loads(out)["items"]
    assert status == 0 and (item["push_id"], item["attempts"]) == ("broken", 1)  # at once: parsing again gives the same
    assert "missing field" in item["error"]

    assert (await csbot(config, capsys, "retry", "no-such-push")) == (
        1, "0 push(es) put back to be processed\n0 consumer failure(s) to be replayed\n")
    async with client.app[keys.DB]() as session, session.begin():  # what was wrong, fixed
        await session.execute(sa.update(RawPush).where(RawPush.push_id == "broken").values(form=json.dumps(good)))
    assert (await csbot(config, capsys, "retry", "broken"))[0] == 0
    assert await metric(client, "csbot_pushes_set_aside") == 0
    await client.app[keys.PROCESSOR].process_all()
    async with client.app[keys.DB]() as session:
        push = await session.scalar(sa.select(RawPush).where(RawPush.push_id == "broken"))
        texts = (await session.scalars(sa.select(Message.text))).all()
    assert (push.processed_at is not None, push.last_error, push.attempts) == (True, None, 1)
    assert texts == ["在吗"]
    assert (await csbot(config, capsys, "failed"))[1].endswith("0 push(es) set aside\n0 consumer failure(s)\n")


def test_retry_needs_ids_or_all():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["pushes", "retry", "x", "--all"])
