"""Satisfaction (服务评价): an ended conversation's buyer is invited once (through the outbox, as the bot),
not in quiet hours, not twice a day, not while a ticket waits for its callback, not with a text the
guard blocks; the next message is parsed ("5号发货了吗" is not a rating) and the rating shows as CSAT."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.clock import PLATFORM_TZ
from bot.store import chat
from bot.store.tables import CsatInvitation, OutboxMessage, Ticket
from bot.web import keys
from tests.conftest import make_config

GAP = timedelta(minutes=30)
SUP = {"Authorization": "Bearer supervisor-token"}


def at(hh: int, mm: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=PLATFORM_TZ)


async def make_bot(aiohttp_client, make_app, clock, tmp_path, **csat):
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", csat={"enabled": True, **csat})
    return await aiohttp_client(make_app(config, clock))


async def chat_with(db, nick: str, start: datetime, *, answered: bool = True, account: str = "小店:小美") -> int:
    async with db() as session, session.begin():
        buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=nick, seen_at=start)
        await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender="buyer",
                                  agent_account=account, text="在吗", sent_at=start, gap=GAP)
        if answered:
            await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender="agent",
                                      agent_account=account, text="亲，在的", sent_at=start + timedelta(seconds=30), gap=GAP)
    return buyer


async def buyer_says(db, nick: str, text: str, when: datetime) -> None:
    async with db() as session, session.begin():
        buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=nick, seen_at=when)
        await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender="buyer",
                                  agent_account="小店:小美", text=text, sent_at=when, gap=GAP)


async def notices(db) -> list[tuple[str, str, str]]:
    async with db() as session:
        rows = await session.execute(sa.select(OutboxMessage.buyer, OutboxMessage.kind, OutboxMessage.sender)
                                     .order_by(OutboxMessage.id))
        return [tuple(r) for r in rows]


async def test_an_ended_conversation_is_invited_once_and_its_rating_counts(aiohttp_client, make_app, clock, tmp_path):
    bot = await make_bot(aiohttp_client, make_app, clock, tmp_path)
    db, job = bot.app[keys.DB], bot.app[keys.CSAT]
    await chat_with(db, "happy", at(10))
    await chat_with(db, "asks", at(10, 5))
    await chat_with(db, "waiting", at(10, 10), answered=False)  # never answered: not invited
    assert (await job.run(now=at(10, 20)))["invited"] == 0  # not ended yet
    assert (await job.run(now=at(10, 41)))["invited"] == 2
    assert await notices(db) == [("happy", "notice", "bot"), ("asks", "notice", "bot")]
    assert (await job.run(now=at(10, 50)))["invited"] == 0  # once
    async with db() as session:
        text = await session.scalar(sa.select(OutboxMessage.text).limit(1))
    assert text.startswith("亲，本次服务您还满意吗")

    await buyer_says(db, "happy", "很满意", at(11))
    await buyer_says(db, "asks", "5号发货了吗", at(11, 1))
    assert await job.run(now=at(11, 2)) == {"rated": 1, "closed": 1, "invited": 0}
    async with db() as session:
        states = dict((await session.execute(sa.select(CsatInvitation.client_msg_id, CsatInvitation.rating))).all())
    assert sorted(states.values(), key=str) == [5, None]

    # Later that day the second buyer's new conversation ends too: at most one invitation a day.
    clock.set(at(12))
    assert (await job.run(now=at(12)))["invited"] == 0
    resp = await bot.get("/api/reports/agents", params={"from": "2026-11-24", "to": "2026-11-24", "by": "period"},
                         headers=SUP)
    mei = next(r for r in (await resp.json())["items"] if (r["agent"], r["platform"]) == ("xiaomei", "wangwang"))
    assert (mei["csat"], mei["csat_responses"]) == (1.0, 1)


async def test_no_invitation_in_quiet_hours_during_a_callback_or_when_the_guard_blocks(aiohttp_client, make_app, clock,
                                                                                    tmp_path):
    bot = await make_bot(aiohttp_client, make_app, clock, tmp_path)
    db, job = bot.app[keys.DB], bot.app[keys.CSAT]
    await chat_with(db, "night", at(21, 45))
    assert (await job.run(now=at(22, 20)))["invited"] == 0  # 22:20 is in the quiet hours
    buyer = await chat_with(db, "complained", at(9, 0, day=25))
    async with db() as session, session.begin():
        session.add(Ticket(buyer_id=buyer, platform="wangwang", shop="demo-tb", buyer="complained", category="quality",
                           severity="P2", rule="quality", state="callback", created_at=at(8, day=25),
                           updated_at=at(8, day=25), first_response_due_at=at(9, day=25),
                           resolution_due_at=at(20, day=25)))
    # 08:00 the next day: the night's conversation ended more than lookback_hours (6) ago, the other is in callback.
    assert (await job.run(now=at(9, 40, day=25)))["invited"] == 0
    assert await notices(db) == []

    blocked = await make_bot(aiohttp_client, make_app, clock, tmp_path / "b", text="亲，加我微信 abc123 评价返现")
    await chat_with(blocked.app[keys.DB], "b1", at(10))
    assert (await blocked.app[keys.CSAT].run(now=at(10, 40)))["invited"] == 0
    assert await notices(blocked.app[keys.DB]) == []


async def test_todays_csat_is_on_the_board(aiohttp_client, make_app, clock, tmp_path):
    bot = await make_bot(aiohttp_client, make_app, clock, tmp_path)
    db, job = bot.app[keys.DB], bot.app[keys.CSAT]
    await chat_with(db, "happy", at(10))
    await chat_with(db, "grumpy", at(10, 1), account="小店:阿强")
    await job.run(now=at(10, 40))
    await buyer_says(db, "happy", "五星", at(11))
    await buyer_says(db, "grumpy", "差评", at(11))
    await job.run(now=at(11, 5))
    clock.set(at(11, 10))
    await bot.app[keys.METRICS].refresh()
    assert bot.app[keys.BOARD].shop()["csat"] == [
        {"agent": "aqiang", "platform": "wangwang", "csat": 0.0, "csat_responses": 1},
        {"agent": "xiaomei", "platform": "wangwang", "csat": 1.0, "csat_responses": 1}]
