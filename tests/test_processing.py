"""From stored pushes to conversations and orders: event-time order, out-of-order arrivals,
the 30-minute gap, and catching up after a restart. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from bot.app import create_app
from bot.events import AgentMessage, BuyerMessage, OrderClosed, OrderCreated, OrderPaid
from bot.store import suggestions
from bot.store.tables import Buyer, Conversation, Message, Order, RawPush, Suggestion
from bot.web import keys
from tests.conftest import (
    START, buyer_message, eventually, make_config, minutes, post_push, push_and_process as push_all, signed_form,
)
from tests.scrape import value


@pytest.fixture
async def store_client(db_url, aiohttp_client, clock, make_app):
    # db_url first: the database outlives the app, which is closed before it is dropped.
    return await aiohttp_client(make_app(make_config(db_url), clock))


def agent_message(platform="wangwang", *, buyer="buyer1", text="亲，在的", at=START, agent="小店:小美", push_id=None):
    m = buyer_message(platform, buyer=buyer, at=at)
    return AgentMessage(platform=platform, shop=m.shop, buyer=buyer, push_id=push_id or m.push_id + "a",
                        at=at, text=text, agent_account=agent)




async def conversations(client) -> list[Conversation]:
    async with client.app[keys.DB]() as session:
        return list((await session.scalars(sa.select(Conversation).order_by(Conversation.started_at))).all())


async def messages_by_conversation(client) -> list[list[str]]:
    async with client.app[keys.DB]() as session:
        rows = (await session.scalars(sa.select(Message).order_by(Message.sent_at))).all()
    grouped: dict[int, list[str]] = {}
    for m in rows:
        grouped.setdefault(m.conversation_id, []).append(m.text)
    return [grouped[k] for k in sorted(grouped)]


async def test_a_burst_then_an_answer_is_one_conversation_no_longer_waiting(store_client):
    await push_all(
        store_client,
        buyer_message(text="在吗", at=START),
        buyer_message(text="这款有货吗", at=START + minutes(0.5)),
        agent_message(text="亲，有货的", at=START + minutes(1)),
    )
    [conv] = await conversations(store_client)
    assert (conv.started_at, conv.last_message_at) == (START, START + minutes(1))
    assert conv.waiting_since is None
    assert conv.agent_account == "小店:小美"


async def test_sqlite_statements_on_the_drivers_thread_give_the_same_conversations(tmp_path, aiohttp_client, clock,
                                                                                   make_app):
    # `database.sqlite_inline = false` exists so the bench can show what the in-loop driver buys:
    # it must process the same way.
    url = f"sqlite:///{tmp_path / 'threaded.db'}"
    client = await aiohttp_client(make_app(make_config(url, database={"url": url, "sqlite_inline": False}), clock))
    await push_all(
        client,
        buyer_message(text="在吗", at=START),
        agent_message(text="亲，有货的", at=START + minutes(1)),
        buyer_message(text="这款有货吗", at=START + minutes(40)),
    )
    assert await messages_by_conversation(client) == [["在吗", "亲，有货的"], ["这款有货吗"]]
    assert [c.waiting_since for c in await conversations(client)] == [None, START + minutes(40)]


async def test_a_buyer_waits_from_the_first_unanswered_message(store_client):
    await push_all(
        store_client,
        buyer_message(text="在吗", at=START),
        agent_message(at=START + minutes(1)),
        buyer_message(text="还有一个问题", at=START + minutes(2)),
        buyer_message(text="能便宜吗", at=START + minutes(3)),
    )
    [conv] = await conversations(store_client)
    assert conv.waiting_since == START + minutes(2)
    assert conv.last_buyer_text == "能便宜吗"


async def test_a_buyer_message_after_the_gap_starts_a_new_conversation(store_client):
    await push_all(
        store_client,
        buyer_message(text="a", at=START),
        agent_message(text="b", at=START + minutes(1)),
        buyer_message(text="c", at=START + minutes(31.5)),
    )
    assert await messages_by_conversation(store_client) == [["a", "b"], ["c"]]


async def test_a_late_push_fills_the_gap_and_merges_two_conversations(store_client):
    await push_all(
        store_client,
        buyer_message(text="a", at=START),
        buyer_message(text="c", at=START + minutes(40)),
    )
    assert await messages_by_conversation(store_client) == [["a"], ["c"]]
    # Arrives last, happened in between: now no gap is longer than 30 minutes.
    await push_all(store_client, agent_message(text="b", at=START + minutes(20)))
    assert await messages_by_conversation(store_client) == [["a", "b", "c"]]
    [conv] = await conversations(store_client)
    assert conv.waiting_since == START + minutes(40)


async def test_out_of_order_pushes_give_the_same_result_as_in_order(store_client):
    await push_all(
        store_client,
        agent_message(text="answer", at=START + minutes(2)),
        buyer_message(text="question", at=START + minutes(1)),
    )
    assert await messages_by_conversation(store_client) == [["question", "answer"]]
    [conv] = await conversations(store_client)
    assert conv.waiting_since is None and conv.started_at == START + minutes(1)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_conversations_kept_in_place_equal_a_regrouping_of_every_message(store_client, seed):
    """The processor updates the usual in-order message's conversation in place and regroups only
    around late ones; whatever the arrival order, the stored conversations must be exactly what
    the pure rules (bot.conversation) make of all the messages."""
    import random

    from bot.conversation import BUYER, Line, current_agent, split, waiting_since

    rng = random.Random(seed)
    events, at = [], START
    for n in range(120):
        at += minutes(rng.choice([0, 0.2, 1, 3, 12, 29.9, 30, 31, 45]))
        buyer = rng.choice(["b1", "b2", "b3"])
        kind = rng.random()
        if kind < 0.55:
            events.append(buyer_message(buyer=buyer, text=f"q{n}", at=at, agent=rng.choice(["", "小店:小美", "小店:阿强"])))
        else:
            events.append(agent_message(buyer=buyer, text=f"a{n}", at=at, agent=rng.choice(["小店:小美", "小店:阿强"]),
                                        push_id=f"r{seed}-{n}"))
    arrival = list(events)
    for i in range(0, len(arrival) - 3, 7):  # some pushes arrive late, behind a few later ones
        j = i + rng.randint(1, 3)
        arrival[i], arrival[j] = arrival[j], arrival[i]
    for k in range(0, len(arrival), 2):  # processed as they come, a couple at a time
        await push_all(store_client, *arrival[k:k + 2])

    async with store_client.app[keys.DB]() as session:
        stored = (await session.execute(
            sa.select(Conversation, Buyer.nick).join(Buyer, Buyer.id == Conversation.buyer_id)
        )).all()
        messages = (await session.scalars(sa.select(Message).order_by(Message.sent_at, Message.id))).all()
    got = sorted((nick, c.started_at, c.last_message_at, c.waiting_since, c.agent_account, c.last_buyer_text)
                 for c, nick in stored)
    nick_of = {e.push_id: e.buyer for e in events}
    expected = []
    for buyer in ("b1", "b2", "b3"):
        own = [m for m in messages if nick_of[m.push_id] == buyer]
        lines = [Line(m.sender, m.sent_at, m.agent_account) for m in own]
        for group in split(lines, gap=minutes(30)):
            group_lines = [lines[i] for i in group]
            texts = [own[i].text for i in group if own[i].sender == BUYER]
            expected.append((buyer, group_lines[0].sent_at, group_lines[-1].sent_at, waiting_since(group_lines),
                             current_agent(group_lines), texts[-1] if texts else ""))
    assert got == sorted(expected)
    # and every message points at the conversation it belongs to
    assert all(m.conversation_id is not None for m in messages)


async def test_a_merge_keeps_what_pointed_at_the_merged_conversation(store_client):
    """Agents' replies are judged per conversation (reply_feedback): when a late message joins two
    conversations, those rows follow, and the merged conversation can go."""
    from bot.store.tables import ReplyFeedback

    await push_all(store_client, buyer_message(text="有货吗", at=START), buyer_message(text="在吗", at=START + minutes(0.7)))
    await push_all(store_client, buyer_message(text="发什么快递", at=START + minutes(50)),
                   agent_message(text="亲，默认中通哦", at=START + minutes(51), push_id="late-1"))
    assert await messages_by_conversation(store_client) == [["有货吗", "在吗"], ["发什么快递", "亲，默认中通哦"]]
    await push_all(store_client, agent_message(text="亲，有货的", at=START + minutes(46), push_id="late-2"))
    assert await messages_by_conversation(store_client) == [["有货吗", "在吗", "亲，有货的", "发什么快递", "亲，默认中通哦"]]
    async with store_client.app[keys.DB]() as session:
        pending = await session.scalar(sa.select(sa.func.count()).where(RawPush.last_error.is_not(None)))
        [conversation] = (await session.scalars(sa.select(Conversation))).all()
        feedback = (await session.scalars(sa.select(ReplyFeedback))).all()
    assert pending == 0
    assert feedback and {f.conversation_id for f in feedback} == {conversation.id}


async def test_pushes_stored_before_a_restart_are_processed_on_start(db_url, aiohttp_client, clock, make_app):
    config = make_config(db_url)
    first = await aiohttp_client(make_app(config, clock))
    for event in (buyer_message("dongdong", buyer="jd_a", text="在吗", at=START),
                  buyer_message("dongdong", buyer="jd_a", text="有货吗", at=START + minutes(1))):
        assert (await post_push(first, "dongdong", signed_form(event)))[0] == 200
    await first.close()  # stops the app: nothing was processed

    # The second start's own background processor finds the stored pushes and catches up.
    second = await aiohttp_client(make_app(config, clock, background=True))

    async def texts() -> list[str]:
        async with second.app[keys.DB]() as session:
            return list((await session.scalars(sa.select(Message.text).order_by(Message.sent_at))).all())

    assert await eventually(texts, lambda t: t == ["在吗", "有货吗"]) == ["在吗", "有货吗"]
    async with second.app[keys.DB]() as session:
        assert await session.scalar(sa.select(sa.func.count()).where(RawPush.processed_at.is_(None))) == 0


def _order(platform="wangwang", **kw):
    base = dict(platform=platform, shop="demo-tb" if platform == "wangwang" else "demo-jd", buyer="b1", at=START)
    return base | kw


async def test_an_order_is_created_then_paid(store_client):
    await push_all(
        store_client,
        OrderCreated(**_order(push_id="c1"), order_id="9001", title="纯棉T恤", amount_fen=9900,
                     created_at=START, closes_at=START + minutes(30)),
        OrderPaid(**_order(push_id="p1", at=START + minutes(5)), order_id="9001", paid_at=START + minutes(5),
                  amount_fen=9900),
    )
    async with store_client.app[keys.DB]() as session:
        order = await session.scalar(sa.select(Order))
    assert (order.status, order.amount_fen, order.paid_at) == ("paid", 9900, START + minutes(5))


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_a_payment_before_its_creation_is_kept_and_applied(store_client, platform):
    await push_all(
        store_client,
        OrderPaid(**_order(platform, push_id="p2", at=START + minutes(5)), order_id="9002",
                  paid_at=START + minutes(5), amount_fen=5000 if platform == "wangwang" else None),
    )
    async with store_client.app[keys.DB]() as session:
        early = await session.scalar(sa.select(Order))
    assert (early.status, early.created_at) == ("paid", None)
    await push_all(
        store_client,
        OrderCreated(**_order(platform, push_id="c2"), order_id="9002", title="帽子", amount_fen=5000,
                     created_at=START, closes_at=START + minutes(30)),
    )
    async with store_client.app[keys.DB]() as session:
        order = await session.scalar(sa.select(Order))
    assert (order.status, order.title, order.created_at, order.paid_at) == ("paid", "帽子", START, START + minutes(5))


async def test_a_close_is_recorded(store_client):
    await push_all(
        store_client,
        OrderCreated(**_order("dongdong", push_id="c3"), order_id="9003", title="鞋", amount_fen=19900,
                     created_at=START, closes_at=START + minutes(60 * 24)),
        OrderClosed(**_order("dongdong", push_id="x3"), order_id="9003", reason="超时未支付"),
    )
    async with store_client.app[keys.DB]() as session:
        order = await session.scalar(sa.select(Order))
    assert (order.status, order.close_reason) == ("closed", "超时未支付")


async def test_a_push_that_cannot_be_processed_is_set_aside_with_its_error(store_client):
    async with store_client.app[keys.DB]() as session, session.begin():
        session.add(RawPush(platform="wangwang", push_id="broken", kind="wangwang_ChatMessage", shop="demo-tb",
                            buyer="b", event_at=START, received_at=START, form='{"topic": "nope"}'))
    good = buyer_message(text="在吗", at=START + minutes(1))
    assert (await post_push(store_client, "wangwang", signed_form(good)))[0] == 200
    await store_client.app[keys.PROCESSOR].process_all()
    async with store_client.app[keys.DB]() as session:
        broken = await session.scalar(sa.select(RawPush).where(RawPush.push_id == "broken"))
        texts = (await session.scalars(sa.select(Message.text))).all()
    assert broken.processed_at is not None and broken.attempts == 1  # set aside at once
    assert "missing field" in broken.last_error
    assert texts == ["在吗"]


class _WritesThen:
    """A consumer that stores a buyer named `nick`, then fails if told to."""

    def __init__(self, nick: str, *, fails: bool = False) -> None:
        self.name, self._nick, self._fails, self.calls = nick, nick, fails, 0

    async def handle(self, session, event) -> None:
        self.calls += 1
        session.add(Buyer(platform=event.platform, shop=event.shop, nick=self._nick, first_seen_at=event.at))
        await session.flush()
        if self._fails:
            raise RuntimeError("consumer bug")


async def test_a_failing_consumer_undoes_only_its_own_writes(store_client, caplog):
    processor = store_client.app[keys.PROCESSOR]
    before, failing, after = _WritesThen("before"), _WritesThen("ghost", fails=True), _WritesThen("after")
    processor._consumers = (*processor._consumers, before, failing, after)
    message = buyer_message(text="这款有货吗", at=START)
    await push_all(store_client, message)
    async with store_client.app[keys.DB]() as session:
        nicks = set((await session.scalars(sa.select(Buyer.nick))).all())
        texts = (await session.scalars(sa.select(Message.text))).all()
        push = await session.scalar(sa.select(RawPush))
        shown = (await session.scalars(sa.select(Suggestion.intent))).all()
    assert nicks == {message.buyer, "before", "after"}  # the ghost's write is undone, nobody else's
    assert texts == ["这款有货吗"] and shown  # the message and the matcher's suggestions stay
    assert push.processed_at is not None and push.last_error is None and push.attempts == 1
    assert failing.calls == 2  # once with the others, once again on its own after the failure
    assert "consumer failed consumer=ghost" in caplog.text


class _FailsHoldingTheMessage:
    """A consumer whose failure keeps the push's message alive (in its traceback) during the redo."""

    name = "holds"

    async def handle(self, session, event) -> None:
        if isinstance(event, BuyerMessage):
            message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
            raise RuntimeError(f"consumer bug at message {message.id}")


async def test_the_redo_after_a_failing_consumer_stores_the_message_again(store_client):
    processor = store_client.app[keys.PROCESSOR]
    processor._consumers = (*processor._consumers, _FailsHoldingTheMessage())
    await push_all(store_client, buyer_message(text="这款有货吗", at=START), buyer_message(text="在吗", at=START + minutes(1)))
    async with store_client.app[keys.DB]() as session:
        texts = (await session.scalars(sa.select(Message.text).order_by(Message.id))).all()
        errors = (await session.scalars(sa.select(RawPush.last_error))).all()
        shown = (await session.scalars(sa.select(Suggestion.intent))).all()
    assert texts == ["这款有货吗", "在吗"] and shown
    assert errors == [None, None]


async def test_a_backlog_over_its_bound_answers_503_and_nothing_accepted_is_lost(db_url, aiohttp_client, clock, make_app):
    client = await aiohttp_client(make_app(make_config(db_url, processing={"max_backlog": 3}), clock))
    backlog = client.app[keys.BACKLOG]
    accepted = []
    for n in range(3):
        event = buyer_message(buyer=f"bp{n}", text="在吗", at=START)
        status, _ = await post_push(client, "wangwang", signed_form(event))
        assert status == 200
        accepted.append(event.push_id)
    await backlog.read()
    assert backlog.pending == 3 and not backlog.over
    event = buyer_message(buyer="bp3", at=START)
    assert (await post_push(client, "wangwang", signed_form(event)))[0] == 200  # at the bound, not over
    accepted.append(event.push_id)
    await backlog.read()
    refused = buyer_message(buyer="bp4", at=START)
    status, body = await post_push(client, "wangwang", signed_form(refused))
    assert (status, body["code"]) == (503, 50)
    health = await client.get("/healthz")
    assert health.status == 200  # over the bound is not behind: the oldest push is seconds old

    await client.app[keys.PROCESSOR].process_all()
    async with client.app[keys.DB]() as session:
        stored = set((await session.scalars(sa.select(Message.push_id))).all())
    assert stored == set(accepted)
    await backlog.read()
    assert backlog.pending == 0
    status, _ = await post_push(client, "wangwang", signed_form(refused))  # the gateway's retry
    assert status == 200


async def test_healthz_says_behind_with_the_lag_when_processing_lags(db_url, aiohttp_client, clock, make_app):
    client = await aiohttp_client(make_app(make_config(db_url, processing={"behind_seconds": 30}), clock))
    assert (await post_push(client, "wangwang", signed_form(buyer_message(buyer="lag1"))))[0] == 200
    clock.advance(seconds=45)
    await client.app[keys.BACKLOG].read()
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "behind" and body["lag_seconds"] == 45.0 and body["pending"] == 1
    metrics = await (await client.get("/metrics")).text()
    assert value(metrics, "csbot_processing_lag_seconds") == 45
    await client.app[keys.PROCESSOR].process_all()
    await client.app[keys.BACKLOG].read()
    assert (await client.get("/healthz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert value(metrics, "csbot_pushes_processed_total") == 1
    # ...and the push's wait from arrival to processing (45 s) is one observation of the delay histogram.
    assert value(metrics, "csbot_push_processing_delay_seconds_count") == 1
    assert value(metrics, "csbot_push_processing_delay_seconds_sum") == 45
