"""An agent ends a conversation (结束会话): POST /api/conversations/{id}/end by the agent it is routed to or a
supervisor (403 for another agent, 404 unknown, 409 ended already); the buyer is invited to rate it at once,
under satisfaction's rules (quiet hours, once a buyer and day, not during a callback); a buyer message after
the end makes it live again; the board counts the ends per agent; the figures do not change."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.clock import PLATFORM_TZ
from bot.store import chat
from bot.store.tables import Conversation, OutboxMessage, Ticket
from bot.web import keys
from tests.conftest import make_config

GAP = timedelta(minutes=30)
MEI = {"Authorization": "Bearer agent-xiaomei-token"}
QIANG = {"Authorization": "Bearer agent-aqiang-token"}
SUP = {"Authorization": "Bearer supervisor-token"}
TOKENS = [{"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
          {"token": "agent-aqiang-token", "role": "agent", "agent": "aqiang"},
          {"token": "supervisor-token", "role": "supervisor"}]


def at(hh: int, mm: int = 0, ss: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=PLATFORM_TZ)


async def make_bot(aiohttp_client, make_app, clock, tmp_path, *, csat: bool = True, db_url: str | None = None):
    config = make_config(db_url or f"sqlite:///{tmp_path / 'bot.db'}", tokens=TOKENS, csat={"enabled": csat})
    return await aiohttp_client(make_app(config, clock))


async def say(db, nick: str, sender: str, text: str, when: datetime) -> int:
    async with db() as session, session.begin():
        buyer = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=nick, seen_at=when)
        await chat.record_message(session, buyer_id=buyer, platform="wangwang", shop="demo-tb", sender=sender,
                                  agent_account="小店:小美", text=text, sent_at=when, gap=GAP)
        return await session.scalar(sa.select(Conversation.id).where(Conversation.buyer_id == buyer)
                                    .order_by(Conversation.id.desc()).limit(1))


async def invitations(db) -> list[str]:
    async with db() as session:
        return list((await session.scalars(sa.select(OutboxMessage.buyer).where(OutboxMessage.kind == "notice")
                                           .order_by(OutboxMessage.id))).all())


async def test_the_agent_ends_it_and_the_buyer_is_invited_at_once(db_url, aiohttp_client, make_app, clock, tmp_path):
    bot = await make_bot(aiohttp_client, make_app, clock, tmp_path, db_url=db_url)
    db = bot.app[keys.DB]
    await say(db, "xiaoyu", "buyer", "还没发货？", at(10))
    await say(db, "xiaoyu", "agent", "亲，今天发", at(10, 0, 40))
    conversation = await say(db, "xiaoyu", "buyer", "好的谢谢", at(10, 1))  # a thanks: the buyer still "waits"
    clock.set(at(10, 2))
    before = await (await bot.get("/api/metrics/agents", params={"from": "2026-11-24", "to": "2026-11-24"},
                                  headers=SUP)).json()

    resp = await bot.post(f"/api/conversations/{conversation}/end", headers=QIANG)  # not routed to 阿强
    assert resp.status == 403, await resp.text()
    resp = await bot.post("/api/conversations/999999/end", headers=MEI)
    assert resp.status == 404
    resp = await bot.post(f"/api/conversations/{conversation}/end", headers=MEI)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["ended_by"], body["csat_invited"]) == ("xiaomei", True)
    assert datetime.fromisoformat(body["ended_at"]) == at(10, 2)
    assert await invitations(db) == ["xiaoyu"]  # at once, not after the 30-minute gap
    resp = await bot.post(f"/api/conversations/{conversation}/end", headers=SUP)
    assert (resp.status, (await resp.json())["error"]) == (409, "already_ended")

    listed = (await (await bot.get("/api/conversations", headers=MEI)).json())["items"]
    assert [(c["id"], c["ended_by"]) for c in listed] == [(conversation, "xiaomei")]
    after = await (await bot.get("/api/metrics/agents", params={"from": "2026-11-24", "to": "2026-11-24"},
                                 headers=SUP)).json()
    assert after == before  # ending changes no figure (metrics.md's conversations follow the gap)

    # The buyer writes again (the rating, here): the conversation is live again and may be ended again,
    # without a second invitation that day.
    assert await say(db, "xiaoyu", "buyer", "5", at(10, 3)) == conversation
    detail = await (await bot.get(f"/api/conversations/{conversation}", headers=MEI)).json()
    assert detail["ended_at"] is None
    clock.set(at(10, 4))
    resp = await bot.post(f"/api/conversations/{conversation}/end", headers=SUP)  # a supervisor may too
    assert resp.status == 200
    assert ((await resp.json())["csat_invited"], await invitations(db)) == (False, ["xiaoyu"])
    await bot.app[keys.CSAT].run(now=at(10, 5))
    rated = await (await bot.get("/api/reports/agents", params={"from": "2026-11-24", "to": "2026-11-24",
                                                                  "by": "period"}, headers=SUP)).json()
    mei = next(r for r in rated["items"] if r["agent"] == "xiaomei")
    assert (mei["csat"], mei["csat_responses"]) == (1.0, 1)


async def test_no_invitation_on_an_end_in_quiet_hours_during_a_callback_or_when_unanswered(aiohttp_client, make_app,
                                                                                        clock, tmp_path):
    bot = await make_bot(aiohttp_client, make_app, clock, tmp_path)
    db = bot.app[keys.DB]
    await say(db, "night", "buyer", "在吗", at(22, 10))
    night = await say(db, "night", "agent", "在的", at(22, 11))
    clock.set(at(22, 12))
    resp = await bot.post(f"/api/conversations/{night}/end", headers=MEI)
    assert (resp.status, (await resp.json())["csat_invited"]) == (200, False)  # 22:00-08:00 is quiet

    await say(db, "callback", "buyer", "在吗", at(9, day=25))
    waiting_callback = await say(db, "callback", "agent", "在的", at(9, 1, day=25))
    async with db() as session, session.begin():
        buyer = await session.scalar(sa.select(Conversation.buyer_id).where(Conversation.id == waiting_callback))
        session.add(Ticket(buyer_id=buyer, platform="wangwang", shop="demo-tb", buyer="callback", category="quality",
                           severity="P2", rule="quality", state="callback", created_at=at(8, day=25),
                           updated_at=at(8, day=25), first_response_due_at=at(9, day=25),
                           resolution_due_at=at(20, day=25)))
    unanswered = await say(db, "unanswered", "buyer", "在吗", at(9, 2, day=25))
    clock.set(at(9, 5, day=25))
    for conversation in (waiting_callback, unanswered):
        resp = await bot.post(f"/api/conversations/{conversation}/end", headers=MEI)
        assert (resp.status, (await resp.json())["csat_invited"]) == (200, False)
    assert await bot.app[keys.CSAT].run(now=at(9, 6, day=25)) == {"rated": 0, "closed": 0, "invited": 0}
    assert await invitations(db) == []


async def test_the_board_counts_the_ends_per_agent(aiohttp_client, make_app, clock, tmp_path):
    bot = await make_bot(aiohttp_client, make_app, clock, tmp_path, csat=False)
    db = bot.app[keys.DB]
    for nick in ("a", "b"):
        await say(db, nick, "buyer", "在吗", at(9, 50))
        conversation = await say(db, nick, "agent", "在的", at(9, 51))
        resp = await bot.post(f"/api/conversations/{conversation}/end", headers=MEI)
        assert (resp.status, (await resp.json())["csat_invited"]) == (200, False)  # [csat] is off
    clock.set(at(10, 5))
    await bot.app[keys.METRICS].refresh()
    assert bot.app[keys.BOARD].shop()["ended"] == [{"agent": "xiaomei", "platform": "wangwang", "ended": 2}]
