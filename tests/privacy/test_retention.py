"""[database] retention_days: chat text and raw forms older than N days are blanked by the job, on an
injected clock; what is younger stays, and the figures and tickets keep their numbers."""

from __future__ import annotations


import sqlalchemy as sa

from bot.events import AgentMessage
from bot.store.tables import Conversation, Message, RawPush, Ticket
from bot.web import keys
from tests.conftest import START, buyer_message, make_config, push_and_process

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}


def agent_reply(buyer: str, at) -> AgentMessage:
    return AgentMessage(platform="wangwang", shop="demo-tb", buyer=buyer, push_id=f"a-{buyer}-{at.timestamp()}",
                        at=at, text="亲，电话13912345678已登记", agent_account="小店:小美")


async def _raw(client, column) -> list[str]:
    async with client.app[keys.ENGINE].connect() as conn:
        return [v for (v,) in (await conn.execute(sa.select(sa.type_coerce(column, sa.String)))).all()]


async def _figures(client) -> dict:
    day = START.date().isoformat()
    resp = await client.get(f"/api/reports/agents?from={day}&to={day}&by=period", headers=SUPERVISOR)
    assert resp.status == 200
    return {k: v for k, v in (await resp.json()).items() if k != "today"}


async def test_text_older_than_the_retention_is_blanked_and_the_figures_stay(aiohttp_client, clock, make_app, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url, database={"url": sqlite_url, "retention_days": 30}), clock))
    await push_and_process(client, buyer_message(buyer="old", text="我要投诉，退款，电话13812345678", agent="小店:小美"))
    clock.advance(seconds=40)
    await push_and_process(client, agent_reply("old", clock.now()))
    await client.app[keys.METRICS].refresh()
    before = await _figures(client)
    assert before["items"], before
    async with client.app[keys.DB]() as session:
        tickets_before = await session.scalar(sa.select(sa.func.count()).select_from(Ticket))

    clock.advance(days=30)
    await push_and_process(client, buyer_message(buyer="young", text="在吗", at=clock.now()))
    clock.advance(days=1)
    done = await client.app[keys.RETENTION](now=clock.now())

    assert done["messages.text"] == 2 and done["pushes.form"] == 2 and done["conversations.last_buyer_text"] == 1
    async with client.app[keys.DB]() as session:
        texts = dict((await session.execute(sa.select(Message.push_id, Message.text))).all())
        assert sorted(texts.values()) == ["", "", "在吗"]
        assert await session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == tickets_before
    assert sorted(await _raw(client, RawPush.__table__.c.form))[:2] == ["", ""]
    await client.app[keys.METRICS].refresh()
    assert await _figures(client) == before
    assert await client.app[keys.RETENTION](now=clock.now()) == dict.fromkeys(done, 0)  # nothing twice


async def test_no_retention_keeps_everything(aiohttp_client, clock, make_app, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url), clock))
    await push_and_process(client, buyer_message(text="在吗"))
    clock.advance(days=3650)
    assert await client.app[keys.RETENTION](now=clock.now()) == {}
    assert await _raw(client, Conversation.__table__.c.last_buyer_text) != [""]
