"""Metrics from stored events end to end: pushes → processor → live board, and the period report
over the same events (GET /api/metrics/agents); they must agree. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bot.events import AgentMessage, OrderCreated, OrderPaid
from bot.store import chat
from bot.web import keys
from tests.conftest import START, buyer_message, make_config, push_and_process
from tests.scrape import value

MEI, QIANG = "小店:小美", "小店:阿强"
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}


def s(n: float) -> timedelta:
    return timedelta(seconds=n)


def agent_message(*, buyer, at, agent=MEI, text="亲，在的", push_id=None):
    m = buyer_message(buyer=buyer, at=at)
    return AgentMessage(platform="wangwang", shop=m.shop, buyer=buyer, push_id=push_id or m.push_id + "a",
                        at=at, text=text, agent_account=agent)


@pytest.fixture
async def app_client(db_url, aiohttp_client, clock, make_app):
    return await aiohttp_client(make_app(make_config(db_url), clock))


async def push(client, *events):
    await push_and_process(client, *events)
    await client.app[keys.METRICS].refresh()


async def bot_reply(client, *, buyer, at, text="您好，客服马上就来"):
    """An auto-reply as the outbox records it after sending: sender bot, never a response."""
    async with client.app[keys.DB]() as session, session.begin():
        buyer_id = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=buyer, seen_at=at)
        await chat.record_message(session, buyer_id=buyer_id, platform="wangwang", shop="demo-tb", sender="bot",
                                  agent_account="", text=text, sent_at=at, gap=timedelta(minutes=30),
                                  client_msg_id=f"auto-{buyer}-{at.timestamp()}")


async def period(client, first="2026-11-24", last="2026-11-24"):
    resp = await client.get("/api/metrics/agents", params={"from": first, "to": last}, headers=SUPERVISOR)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def by_agent(rows):
    return {(r["agent"], r["platform"]): {k: v for k, v in r.items() if k != "name"} for r in rows}


async def test_live_figures_follow_the_events_and_agree_with_the_period_report(app_client):
    client = app_client
    board = client.app[keys.BOARD]
    await push(
        client,
        # b1: a burst, then 小美 answers 45 s after the first message
        buyer_message(buyer="b1", at=START, agent=MEI),
        buyer_message(buyer="b1", at=START + s(20), agent=MEI),
        # b2: routed to 小美, answered by 阿强 after 60 s
        buyer_message(buyer="b2", at=START + s(60), agent=MEI),
        agent_message(buyer="b2", at=START + s(120), agent=QIANG),
        # b3: the answer's push arrives before the question's (out of order); 30 s
        agent_message(buyer="b3", at=START + s(330)),
        buyer_message(buyer="b3", at=START + s(300)),
        # b4: still waiting
        buyer_message(buyer="b4", at=START + s(360), agent=MEI, text="发什么快递"),
    )
    # b1 gets an auto-reply from the bot (recorded like the outbox does): b1 keeps waiting
    await bot_reply(client, buyer="b1", at=START + s(30))
    await client.app[keys.METRICS].refresh()
    assert [w["buyer"] for w in board.waiting()] == ["b1", "b4"]
    await push(client, agent_message(buyer="b1", at=START + s(45)))

    live = by_agent(board.agents())
    mei, qiang = live[("xiaomei", "wangwang")], live[("aqiang", "wangwang")]
    assert mei["responses"] == 2 and mei["avg_response_s"] == 37.5 and mei["p50_response_s"] == 37.5
    assert mei["within_30s_rate"] == 0.5  # 30 s counts, 45 s does not
    assert (mei["consulting_buyers"], mei["replied_buyers"], mei["reply_rate"]) == (4, 2, 0.5)
    assert (qiang["responses"], qiang["avg_response_s"], qiang["consulting_buyers"]) == (1, 60.0, 1)
    [waiting] = board.waiting()
    assert (waiting["buyer"], waiting["agent"], waiting["last_buyer_text"]) == ("b4", "xiaomei", "发什么快递")

    report = await period(client)
    assert by_agent(report["items"]) == live
    assert report["total"] == 2

    # b4 is answered after 100 s, and b1's order (created and paid within 24 h) converts for 小美
    await push(
        client,
        agent_message(buyer="b4", at=START + s(460)),
        OrderCreated(platform="wangwang", shop="demo-tb", buyer="b1", push_id="o1c", at=START + s(600),
                     order_id="7001", title="T恤", amount_fen=12900, created_at=START + s(600), closes_at=None),
        OrderPaid(platform="wangwang", shop="demo-tb", buyer="b1", push_id="o1p", at=START + s(700),
                  order_id="7001", paid_at=START + s(700), amount_fen=12900),
    )
    assert board.waiting() == []
    mei = by_agent(board.agents())[("xiaomei", "wangwang")]
    assert (mei["responses"], mei["avg_response_s"], mei["replied_buyers"]) == (3, 58.3, 3)
    assert (mei["converted_buyers"], mei["conversion_rate"], mei["sales"], mei["avg_order_value"]) == (1, 0.25, 129.0, 129.0)
    assert by_agent((await period(client))["items"]) == by_agent(board.agents())


async def test_a_new_subscriber_gets_a_snapshot_and_then_changes(app_client):
    """Over the real stream (GET /api/board/stream): first a snapshot of what is already on the board
    (b8, waiting since START), then only the changes (b9 arrives, then is answered)."""
    client = app_client
    await push(client, buyer_message(buyer="b8", at=START, agent=MEI))
    resp = await client.get("/api/board/stream", params={"token": "supervisor-token"})
    assert resp.status == 200

    async def next_event() -> tuple[str, dict]:
        while True:  # the stream opens with "retry: ..." alone
            raw = (await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)).decode()
            fields = dict(line.split(": ", 1) for line in raw.strip().splitlines())
            if "event" in fields:
                return fields["event"], json.loads(fields["data"])

    kind, snapshot = await next_event()
    assert kind == "snapshot"
    assert [(w["buyer"], w["agent"]) for w in snapshot["waiting"]] == [("b8", "xiaomei")]
    assert {a["agent"] for a in snapshot["agents"]} >= {"xiaomei"}
    await push(client, buyer_message(buyer="b9", at=START + s(1), agent=MEI))
    kind, update = await next_event()
    assert kind == "update" and '"buyer": "b9"' in json.dumps(update, ensure_ascii=False)
    assert '"b8"' not in json.dumps(update, ensure_ascii=False)  # a change, not the board again
    await push(client, agent_message(buyer="b9", at=START + s(13)))
    kind, update = await next_event()
    assert kind == "update" and update["waiting_remove"] and '"avg_response_s": 12.0' in json.dumps(update)
    resp.close()


async def test_metrics_series_for_prometheus(app_client):
    client = app_client
    await client.app[keys.METRICS].refresh()  # the board loads its day at start, before traffic
    await push(client, buyer_message(buyer="b1", at=START, agent=MEI), buyer_message(buyer="b2", at=START + s(5), agent=MEI),
               agent_message(buyer="b2", at=START + s(25)))
    client.app[keys.CLOCK].advance(seconds=90)
    text = await (await client.get("/metrics")).text()
    assert value(text, "csbot_waiting_buyers", platform="wangwang") == 1
    assert value(text, "csbot_longest_wait_seconds", platform="wangwang") == 90
    # The response (20 s) is one observation of the histogram: in the 30 s bucket, not in the 10 s one.
    mei = {"agent": "xiaomei", "platform": "wangwang"}
    assert value(text, "csbot_agent_response_seconds_count", **mei) == 1
    assert value(text, "csbot_agent_response_seconds_sum", **mei) == 20
    assert value(text, "csbot_agent_response_seconds_bucket", **mei, le="10.0") == 0
    assert value(text, "csbot_agent_response_seconds_bucket", **mei, le="30.0") == 1
    assert value(text, "csbot_agent_reply_ratio", **mei, window="day") == 0.5
    assert value(text, "csbot_board_viewers") == 0
    # A second look at the same buyers observes nothing twice.
    await client.app[keys.METRICS].refresh()
    again = await (await client.get("/metrics")).text()
    assert value(again, "csbot_agent_response_seconds_count", **mei) == 1


async def test_a_reply_sent_through_the_outbox_is_a_response(app_client):
    """The outbox stores what it sent without the processor: the board finds it by polling new messages."""
    client = app_client
    await push(client, buyer_message(buyer="b1", at=START, agent=MEI))
    async with client.app[keys.DB]() as session, session.begin():
        buyer_id = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick="b1", seen_at=START)
        await chat.record_message(session, buyer_id=buyer_id, platform="wangwang", shop="demo-tb", sender="agent",
                                  agent_account=MEI, text="亲，在的", sent_at=START + s(33), gap=timedelta(minutes=30),
                                  client_msg_id="console-1")
    await client.app[keys.METRICS].refresh()
    board = client.app[keys.BOARD]
    assert board.waiting() == []
    assert by_agent(board.agents())[("xiaomei", "wangwang")]["avg_response_s"] == 33.0


async def test_the_board_starts_a_new_day_at_midnight_and_the_answer_counts_on_its_day(app_client):
    client = app_client
    clock, board = client.app[keys.CLOCK], client.app[keys.BOARD]
    late = START.replace(hour=23, minute=59, second=30)
    clock.set(late)
    await push(client, buyer_message(buyer="night", at=late, agent=MEI))
    assert board.day.isoformat() == "2026-11-24" and len(board.waiting()) == 1
    clock.advance(seconds=45)
    await push(client, agent_message(buyer="night", at=late + s(45)))
    assert board.day.isoformat() == "2026-11-25"
    assert board.waiting() == []
    live = by_agent(board.agents())
    assert live[("xiaomei", "wangwang")]["responses"] == 1 and live[("xiaomei", "wangwang")]["avg_response_s"] == 45.0
    assert by_agent((await period(client, "2026-11-25", "2026-11-25"))["items"]) == live
    yesterday = by_agent((await period(client, "2026-11-24", "2026-11-24"))["items"])
    assert yesterday[("xiaomei", "wangwang")]["responses"] == 0  # routed to her that day, answered the next


async def test_an_unanswered_message_turns_the_effective_reply_day_late_after_an_hour(app_client):
    client = app_client
    clock, board = client.app[keys.CLOCK], client.app[keys.BOARD]
    await push(client, buyer_message(buyer="b1", at=START, agent=MEI), buyer_message(buyer="b2", at=START, agent=MEI),
               agent_message(buyer="b2", at=START + s(30)))
    [today] = board.shop()["effective"]
    assert (today["effective"], today["pending"], today["late"], today["rate"]) == (1, 1, 0, 1.0)
    clock.advance(minutes=61)
    await client.app[keys.METRICS].refresh()
    [today] = board.shop()["effective"]
    assert (today["effective"], today["pending"], today["late"], today["rate"]) == (1, 0, 1, 0.5)
    assert by_agent(board.agents())[("xiaomei", "wangwang")]["effective_reply_rate"] == 0.5


SHIFTS = [{"name": "早班", "start": "08:00", "end": "17:00", "agents": ["xiaomei"]},
          {"name": "晚班", "start": "17:00", "end": "24:00", "agents": ["aqiang"]}]


@pytest.fixture
async def shift_client(db_url, aiohttp_client, clock, make_app):
    tokens = [{"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
              {"token": "agent-aqiang-token", "role": "agent", "agent": "aqiang"},
              {"token": "supervisor-token", "role": "supervisor"}]
    return await aiohttp_client(make_app(make_config(db_url, shifts=SHIFTS, tokens=tokens), clock))


async def test_a_shift_change_passed_while_the_bot_was_down_is_handed_over_at_start(
    db_url, aiohttp_client, clock, make_app,
):
    tokens = [{"token": "supervisor-token", "role": "supervisor"}]
    config = make_config(db_url, shifts=SHIFTS, tokens=tokens)
    before = START.replace(hour=16, minute=58)
    clock.set(before)
    first = await aiohttp_client(make_app(config, clock))
    await push(first, buyer_message(buyer="b1", at=before, agent=MEI, text="退货地址是哪里"))
    assert first.app[keys.BOARD].handovers() == []
    await first.close()  # down across the 17:00 change
    clock.advance(minutes=20)
    second = await aiohttp_client(make_app(config, clock))
    await second.app[keys.METRICS].refresh()
    [handover] = second.app[keys.BOARD].handovers()
    assert (handover["buyer"], handover["from_agent"], handover["to_agent"]) == ("b1", "xiaomei", "aqiang")
    await second.app[keys.METRICS].refresh()  # and only once
    assert len(second.app[keys.BOARD].handovers()) == 1


async def test_at_the_shift_change_waiting_buyers_are_handed_over(shift_client):
    client = shift_client
    clock, board = client.app[keys.CLOCK], client.app[keys.BOARD]
    before = START.replace(hour=16, minute=58)
    clock.set(before)
    await push(client, buyer_message(buyer="b1", at=before, agent=MEI, text="退货地址是哪里"),
               buyer_message(buyer="b2", at=before, agent=QIANG, text="到了吗"),
               buyer_message(buyer="b3", at=before - s(60), agent=MEI), agent_message(buyer="b3", at=before))
    assert {r.id: r.shift for r in board._roster} == {"xiaomei": "早班", "aqiang": None}
    assert board.handovers() == []
    clock.advance(minutes=2, seconds=30)
    await client.app[keys.METRICS].refresh()
    assert {r.id: r.shift for r in board._roster} == {"xiaomei": None, "aqiang": "晚班"}
    [handover] = board.handovers()
    assert (handover["buyer"], handover["from_agent"], handover["to_agent"], handover["last_buyer_text"]) == (
        "b1", "xiaomei", "aqiang", "退货地址是哪里")
    # listed for the incoming agent, not for the one who left
    mine = await (await client.get("/api/handovers", headers={"Authorization": "Bearer agent-aqiang-token"})).json()
    assert [h["buyer"] for h in mine["items"]] == ["b1"]
    theirs = await (await client.get("/api/handovers", headers={"Authorization": "Bearer agent-xiaomei-token"})).json()
    assert theirs == {"items": [], "total": 0}
    # a second look at the same shift change hands nothing over twice
    await client.app[keys.METRICS].refresh()
    assert len(board.handovers()) == 1
    # answered: no longer a handover
    await push(client, agent_message(buyer="b1", at=clock.now(), agent=QIANG))
    assert board.handovers() == []
    after = await (await client.get("/api/handovers", headers=SUPERVISOR)).json()
    assert after["total"] == 0


async def test_a_handover_that_fails_once_is_done_at_the_next_round(shift_client, monkeypatch):
    """The shift change's transaction fails (a lost connection, say): the round fails, and the next
    round hands the buyers over; the change is not forgotten."""
    from bot.metrics import consumer

    client = shift_client
    clock, board = client.app[keys.CLOCK], client.app[keys.BOARD]
    before = START.replace(hour=16, minute=58)
    clock.set(before)
    await push(client, buyer_message(buyer="b1", at=before, agent=MEI, text="退货地址是哪里"))
    real, failures = consumer.hand_over, []

    async def fails_once(session, **kwargs):
        if not failures:
            failures.append(kwargs["at"])
            raise ConnectionResetError("connection lost (simulated)")
        return await real(session, **kwargs)

    monkeypatch.setattr(consumer, "hand_over", fails_once)
    clock.advance(minutes=2, seconds=30)
    with pytest.raises(ConnectionResetError):
        await client.app[keys.METRICS].refresh()
    assert board.handovers() == [] and len(failures) == 1
    clock.advance(seconds=1)
    await client.app[keys.METRICS].refresh()
    [handover] = board.handovers()
    assert (handover["buyer"], handover["from_agent"], handover["to_agent"]) == ("b1", "xiaomei", "aqiang")
