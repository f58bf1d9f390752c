"""Auto-reply: off by default; when on, only safe intents above the threshold, only when nobody is
on shift, only for fresh messages; sent through the outbox as the bot, which never stops a wait."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.store.tables import Conversation, OutboxMessage
from bot.web import keys
from tests.conftest import START, buyer_message, gateway_url, make_config, post_push, sent_by_gateway, signed_form

LATE_SHIFT = [{"name": "晚班", "start": "13:00", "end": "22:00", "agents": ["xiaomei"]}]  # START is 10:00
DAY_SHIFT = [{"name": "早班", "start": "08:00", "end": "17:00", "agents": ["xiaomei"]}]


async def bot_with(tmp_path, aiohttp_client, make_app, clock, *, url="http://127.0.0.1:9", **sections):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", gateway_url=url, **sections)
    return await aiohttp_client(make_app(config, clock))


async def queued_after(client, text: str, *, at=START) -> list[OutboxMessage]:
    event = buyer_message("wangwang", buyer="b1", text=text, at=at)
    assert (await post_push(client, "wangwang", signed_form(event, now=client.app[keys.CLOCK].now())))[0] == 200
    await client.app[keys.PROCESSOR].process_all()
    async with client.app[keys.DB]() as session:
        return list((await session.scalars(sa.select(OutboxMessage))).all())


async def test_off_by_default(tmp_path, aiohttp_client, make_app, clock):
    client = await bot_with(tmp_path, aiohttp_client, make_app, clock, shifts=LATE_SHIFT)
    assert await queued_after(client, "在吗") == []


async def test_a_greeting_outside_shifts_is_answered_by_the_bot_and_the_buyer_still_waits(
        tmp_path, aiohttp_client, make_app, clock, gateway):
    client = await bot_with(tmp_path, aiohttp_client, make_app, clock, url=gateway_url(gateway), shifts=LATE_SHIFT,
                            auto_reply={"enabled": True})
    [message] = await queued_after(client, "在吗")
    assert (message.sender, message.kind, message.buyer) == ("bot", "reply", "b1")
    assert message.client_msg_id.startswith("auto:wangwang:") and "{" not in message.text
    clock.advance(seconds=2)
    assert await client.app[keys.OUTBOX].send_due() == 1
    assert [m["text"] for m in await sent_by_gateway(gateway)] == [message.text]
    async with client.app[keys.DB]() as session:
        conversation = await session.scalar(sa.select(Conversation))
    assert conversation.waiting_since == START  # the bot's own message does not stop the wait


@pytest.mark.parametrize(("text", "sections", "why"), [
    ("在吗", {"shifts": DAY_SHIFT}, "an agent is on shift"),
    ("这款还有货吗", {"shifts": LATE_SHIFT}, "presale.stock is not marked safe for the bot"),
    ("今天天气真不错啊", {"shifts": LATE_SHIFT}, "nothing confident"),
    ("在吗", {"shifts": LATE_SHIFT, "auto_reply": {"enabled": True, "threshold": 1.0}}, "below the threshold"),
])
async def test_no_auto_reply_when(tmp_path, aiohttp_client, make_app, clock, text, sections, why):
    sections = {"auto_reply": {"enabled": True}, **sections}
    client = await bot_with(tmp_path, aiohttp_client, make_app, clock, **sections)
    assert await queued_after(client, text) == [], why


async def test_no_auto_reply_to_an_old_message_caught_up_after_downtime(tmp_path, aiohttp_client, make_app, clock):
    client = await bot_with(tmp_path, aiohttp_client, make_app, clock, shifts=LATE_SHIFT, auto_reply={"enabled": True})
    clock.advance(minutes=6)
    assert await queued_after(client, "在吗", at=START) == []


async def test_without_shifts_the_agents_count_as_on_shift(tmp_path, aiohttp_client, make_app, clock):
    client = await bot_with(tmp_path, aiohttp_client, make_app, clock, auto_reply={"enabled": True})
    assert await queued_after(client, "在吗") == []


async def test_an_auto_reply_the_guard_blocks_is_not_queued(tmp_path, aiohttp_client, make_app, clock, caplog):
    """The greeting's reply carries {buyer}: a buyer whose nick is a WeChat invitation would have the
    bot itself send it. The guard blocks it; nothing is queued and the operator is told."""
    client = await bot_with(tmp_path, aiohttp_client, make_app, clock, shifts=LATE_SHIFT, auto_reply={"enabled": True})
    event = buyer_message("wangwang", buyer="加我微信abc123", text="在吗", at=START)
    assert (await post_push(client, "wangwang", signed_form(event, now=clock.now())))[0] == 200
    await client.app[keys.PROCESSOR].process_all()
    async with client.app[keys.DB]() as session:
        assert (await session.scalars(sa.select(OutboxMessage))).all() == []
    assert any("auto-reply blocked by the guard" in r.getMessage() for r in caplog.records)
    # The same greeting from an ordinary nick is answered: the block was the guard's, not the rules'.
    assert [m.buyer for m in await queued_after(client, "在吗")] == ["b1"]
