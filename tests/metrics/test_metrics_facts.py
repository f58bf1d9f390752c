"""The period figures from stored per-buyer facts (metrics.facts, store.metric_facts): equal to the
recomputation from raw events (report.period_report over store.metrics.buyer_events, the reference)
on a scripted history with late pushes, kept current by the triggers whatever path stores a
message, rebuilt from scratch to the same rows, and rebuilt when the rules change. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from bot.clock import PLATFORM_TZ
from bot.conversation import AGENT, BOT, BUYER, Line
from bot.events import AgentMessage, OrderCreated, OrderPaid
from bot.metrics.consumer import activity_of
from bot.metrics.period import PeriodFigures
from bot.metrics.report import Rules, period_report
from bot.metrics.response import EFFECTIVE, LATE, PENDING, effective_reply, effective_standing, effective_state
from bot.store import chat
from bot.store import metric_facts
from bot.store import metrics as raw
from bot.store.tables import Buyer, Conversation, Message, MetricContact, MetricDay, MetricResponse, MetricStale
from bot.web import keys
from tests.conftest import APP_KEYS, ROOT, START, buyer_message, make_config, push_and_process as push

MEI, QIANG, TEMP = "小店:小美", "小店:阿强", "小店:临时"  # the last is no configured agent's account


def s(n: float) -> timedelta:
    return timedelta(seconds=n)


# --- pure: the stored standing gives the effective-reply state at any moment ---------------------

def _effective_per_message(lines, *, zone, window, within, now):
    """metrics.md's rule message by message, the worst state of a day winning: the reference the
    standing (and effective_reply, built on it) must agree with."""
    worse = {EFFECTIVE: 0, PENDING: 1, LATE: 2}
    agent_times = [line.sent_at for line in lines if line.sender == AGENT]
    days = {}
    for line in lines:
        local = line.sent_at.astimezone(zone)
        if line.sender != BUYER or not window[0] <= local.time() < window[1]:
            continue
        answers = [a for a in agent_times if a >= line.sent_at]
        deadline = line.sent_at + within
        if answers and answers[0] <= deadline:
            state = EFFECTIVE
        elif answers or now >= deadline:
            state = LATE
        else:
            state = PENDING
        days[local.date()] = max(days.get(local.date(), EFFECTIVE), state, key=worse.get)
    return days


def test_effective_standing_gives_the_state_effective_reply_gives_at_any_moment():
    rng = random.Random(11)
    zone, window, within = PLATFORM_TZ, (time(8), time(23)), timedelta(hours=1)
    base = datetime(2026, 11, 24, 6, 0, tzinfo=PLATFORM_TZ)
    for _ in range(300):
        t = base + s(rng.uniform(0, 30 * 3600))
        lines = []
        for _ in range(rng.randint(1, 12)):
            t += s(rng.choice([5, 60, 900, 2400, 3700, 5000, 20000]) * rng.random())
            lines.append(Line(rng.choice([BUYER, BUYER, AGENT, BOT]), t, "a"))
        standing = effective_standing(lines, zone=zone, window=window, within=within)
        for now in (lines[-1].sent_at, lines[-1].sent_at + s(1800), lines[-1].sent_at + s(3600), t + s(7200)):
            expected = _effective_per_message(lines, zone=zone, window=window, within=within, now=now)
            assert {day: effective_state(late, deadline, now) for day, (late, deadline) in standing.items()} == expected
            assert effective_reply(lines, zone=zone, window=window, within=within, now=now) == expected


# --- the app: pushes → processor → facts → period ---------------------------------------------------

@pytest.fixture
async def app_client(db_url, aiohttp_client, clock, make_app):
    return await aiohttp_client(make_app(make_config(db_url), clock))




async def record(client, *, buyer, at, sender, account="", platform="wangwang"):
    """A message stored as the outbox stores what it sent: without the processor."""
    async with client.app[keys.DB]() as session, session.begin():
        buyer_id = await chat.buyer_id(session, platform=platform, shop=APP_KEYS[platform], nick=buyer, seen_at=at)
        await chat.record_message(session, buyer_id=buyer_id, platform=platform, shop=APP_KEYS[platform], sender=sender,
                                  agent_account=account, text="您好", sent_at=at, gap=timedelta(minutes=30),
                                  client_msg_id=f"out-{buyer}-{at.timestamp()}-{sender}")


def agent_message(*, buyer, at, agent=MEI, platform="wangwang"):
    m = buyer_message(platform, buyer=buyer, at=at)
    return AgentMessage(platform=platform, shop=m.shop, buyer=buyer, push_id=m.push_id + "a", at=at,
                        text="亲，在的", agent_account=agent)


async def reference(client, *, first: date, last: date, now: datetime):
    """The period's figures recomputed from the raw events, as the report did before stored facts."""
    rules = client.app[keys.BOARD].rules
    start, end = rules.day_bounds(first, last)
    async with client.app[keys.DB]() as session:
        everyone = await raw.buyer_events(session, start=start, end=end, order_margin=rules.conversion + timedelta(days=1))
    return period_report([activity_of(e) for e in everyone], start=start, end=end, now=now, rules=rules)


async def assert_period_equals_reference(client, *, first: date, last: date, now: datetime) -> dict:
    expected = await reference(client, first=first, last=last, now=now)
    got = await client.app[keys.PERIOD].totals(first=first, last=last, now=now)
    assert got.agents() == expected.agents(), (first, last, now)
    assert got.effective_days() == expected.effective_days(), (first, last, now)
    assert (got.consulting, got.responses) == (expected.consulting, expected.responses)
    return {(r["agent"], r["platform"]): r for r in got.agents()}


async def stored_facts(client) -> dict[str, list[tuple]]:
    async with client.app[keys.DB]() as session:
        found = {}
        for table, order in ((MetricResponse, (MetricResponse.buyer_id, MetricResponse.answered_at, MetricResponse.agent)),
                             (MetricContact, (MetricContact.buyer_id, MetricContact.agent, MetricContact.day)),
                             (MetricDay, (MetricDay.buyer_id, MetricDay.day))):
            columns = [c for c in table.__table__.columns if c.name != "id"]
            found[table.__tablename__] = [tuple(row) for row in await session.execute(sa.select(*columns).order_by(*order))]
        return found


async def stale_buyers(client) -> set[str]:
    async with client.app[keys.DB]() as session:
        return set((await session.scalars(
            sa.select(Buyer.nick).join(MetricStale, MetricStale.buyer_id == Buyer.id))).all())


async def test_a_late_push_marks_the_buyer_stale_and_their_facts_are_rebuilt(app_client):
    client = app_client
    period = client.app[keys.PERIOD]
    today = START.date()
    await push(client, buyer_message(buyer="b1", at=START, agent=MEI), agent_message(buyer="b1", at=START + s(60)),
               buyer_message(buyer="b2", at=START, agent=QIANG))
    assert await stale_buyers(client) == {"b1", "b2"}  # marked by the triggers as the messages were stored
    assert await period.catch_up() == 2
    assert await stale_buyers(client) == set()
    [response] = (await stored_facts(client))["metric_responses"]
    assert response[1:3] == ("xiaomei", "wangwang") and response[5] == 60_000_000  # agent, platform, µs
    mei = (await assert_period_equals_reference(client, first=today, last=today, now=START + s(60)))[("xiaomei", "wangwang")]
    assert (mei["responses"], mei["avg_response_s"], mei["consulting_buyers"]) == (1, 60.0, 1)

    # b1's first message of that wait arrives late: the wait started 30 s earlier
    await push(client, buyer_message(buyer="b1", at=START - s(30), agent=MEI))
    assert await stale_buyers(client) == {"b1"}
    assert await period.catch_up() == 1
    [response] = (await stored_facts(client))["metric_responses"]
    assert response[5] == 90_000_000
    mei = (await assert_period_equals_reference(client, first=today, last=today, now=START + s(60)))[("xiaomei", "wangwang")]
    assert (mei["responses"], mei["avg_response_s"]) == (1, 90.0)

    # an answer the outbox stored (no processor): b2 got a response; the report rebuilds b2 by itself
    await record(client, buyer="b2", at=START + s(20), sender="agent", account=QIANG)
    assert await stale_buyers(client) == {"b2"}
    qiang = (await assert_period_equals_reference(client, first=today, last=today, now=START + s(60)))[("aqiang", "wangwang")]
    assert (qiang["responses"], qiang["avg_response_s"], qiang["replied_buyers"]) == (1, 20.0, 1)
    assert await stale_buyers(client) == set()


async def test_facts_built_under_other_rules_are_rebuilt(app_client):
    client = app_client
    today = START.date()
    await push(client, buyer_message(buyer="b1", at=START, agent=TEMP), agent_message(buyer="b1", at=START + s(40), agent=TEMP))
    rows = await client.app[keys.PERIOD].totals(first=today, last=today, now=START + s(60))
    assert [r["agent"] for r in rows.agents()] == [TEMP]  # no configured agent has that account
    # the account is now 小美's: facts built under the old accounts are rebuilt before summing
    rules = client.app[keys.BOARD].rules
    other = Rules(**{**rules.__dict__, "accounts": {**rules.accounts, ("wangwang", TEMP): "xiaomei"}})
    rows = await PeriodFigures(client.app[keys.DB], rules=other).totals(first=today, last=today, now=START + s(60))
    assert [(r["agent"], r["responses"]) for r in rows.agents()] == [("xiaomei", 1)]
    assert [(r[1], r[5]) for r in (await stored_facts(client))["metric_responses"]] == [("xiaomei", 40_000_000)]


def scripted_history(seed: int) -> list[tuple[str, object]]:
    """Three days of a small shop's traffic: ("push", event) or ("outbox", (buyer, at, sender, account)),
    in event-time order. Bursts, answers within seconds to hours, bot replies, messages near midnight
    and the window's edges, buyers routed to nobody, unconfigured accounts, orders created and paid."""
    rng = random.Random(seed)
    day0 = datetime(2026, 11, 22, 0, 0, tzinfo=PLATFORM_TZ)
    items: list[tuple[datetime, str, object]] = []
    orders = 0
    for n in range(28):
        platform = "dongdong" if n % 7 == 6 else "wangwang"
        accounts = ["jd_xiaomei", "jd_aqiang"] if platform == "dongdong" else [MEI, QIANG, TEMP]
        buyer = f"h{n}"
        t = day0 + timedelta(days=rng.randint(0, 2), hours=rng.choice([rng.uniform(0, 24), 7.9, 22.9, 23.95]))
        first_at = t
        for _ in range(rng.randint(1, 3)):  # sessions
            for _ in range(rng.randint(1, 3)):  # exchanges
                routed = rng.choice(accounts + [""])
                for _ in range(rng.randint(1, 3)):
                    items.append((t, "push", buyer_message(platform, buyer=buyer, at=t, agent=routed)))
                    t += s(rng.uniform(1, 40))
                if rng.random() < 0.25:
                    items.append((t, "outbox", (buyer, t, "bot", "", platform)))  # an auto-reply: no response
                    t += s(rng.uniform(1, 10))
                answer = rng.random()
                if answer < 0.85:
                    t += s(rng.choice([rng.uniform(2, 30), rng.uniform(30, 200), rng.uniform(200, 5000)]))
                    account = rng.choice(accounts)
                    if answer < 0.15:
                        items.append((t, "outbox", (buyer, t, "agent", account, platform)))  # a console reply
                    else:
                        items.append((t, "push", agent_message(buyer=buyer, at=t, agent=account, platform=platform)))
                t += s(rng.uniform(5, 600))
            t += timedelta(minutes=rng.choice([31, 90, 600]))
        if platform == "wangwang" and rng.random() < 0.5:
            orders += 1
            created = first_at + timedelta(hours=rng.choice([0.2, 3, 20, 30]))
            shop = APP_KEYS[platform]
            items.append((created, "push", OrderCreated(platform=platform, shop=shop, buyer=buyer, push_id=f"oc{seed}-{orders}",
                                                        at=created, order_id=f"{seed}{orders:04d}", title="T恤",
                                                        amount_fen=rng.choice([990, 12900]), created_at=created, closes_at=None)))
            if rng.random() < 0.8:
                paid = created + timedelta(minutes=rng.uniform(1, 100))
                items.append((paid, "push", OrderPaid(platform=platform, shop=shop, buyer=buyer, push_id=f"op{seed}-{orders}",
                                                      at=paid, order_id=f"{seed}{orders:04d}", paid_at=paid,
                                                      amount_fen=None if rng.random() < 0.3 else 12900)))
    items.sort(key=lambda item: item[0])
    return [(kind, payload) for _, kind, payload in items]


@pytest.mark.parametrize("seed", [3, 8])
async def test_period_from_stored_facts_equals_recomputation_from_raw_events(app_client, seed):
    """The history arrives in waves, a fifth of it late (in a later wave), the clock moving on; after
    each wave the stored facts are brought up to date and every period equals the reference, at the
    clock's now and later (undecided effective-reply days decide). Then the facts rebuilt from scratch
    are the same rows, and the live board's today equals today's period."""
    client = app_client
    clock, period = client.app[keys.CLOCK], client.app[keys.PERIOD]
    rng = random.Random(seed)
    history = scripted_history(seed)
    days = [date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    waves: list[list] = [[] for _ in range(4)]
    for i, item in enumerate(history):
        wave = i * 4 // len(history)
        waves[min(3, wave + 1) if rng.random() < 0.2 else wave].append(item)
    clock.set(datetime(2026, 11, 22, 12, tzinfo=PLATFORM_TZ))
    for n, wave in enumerate(waves):
        clock.set(max(clock.now(), *(payload.at if kind == "push" else payload[1] for kind, payload in wave)))
        for kind, payload in wave:
            if kind == "push":
                await push(client, payload)
            else:
                buyer, at, sender, account, platform = payload
                await record(client, buyer=buyer, at=at, sender=sender, account=account, platform=platform)
        await period.catch_up()
        now = clock.now()
        for first, last in [(d, d) for d in days] + [(days[0], days[-1]), (days[1], days[2])]:
            for at in (now, now + timedelta(minutes=40)) + ((now + timedelta(days=2),) if n == 3 else ()):
                await assert_period_equals_reference(client, first=first, last=last, now=at)

    figures = await assert_period_equals_reference(client, first=days[0], last=days[-1], now=clock.now())
    assert sum(r["responses"] for r in figures.values()) > 40 and any(r["sales_fen"] for r in figures.values())

    kept = await stored_facts(client)
    async with client.app[keys.DB]() as session, session.begin():
        await metric_facts.mark_all_stale(session)
        await session.execute(sa.delete(MetricResponse))  # a rebuild starts from nothing
    assert await period.catch_up() == len({row[0] for row in kept["metric_days"]})
    assert await stored_facts(client) == kept

    await client.app[keys.METRICS].refresh()
    board = client.app[keys.BOARD]
    today = clock.now().astimezone(PLATFORM_TZ).date()
    todays = await client.app[keys.PERIOD].totals(first=today, last=today, now=client.app[keys.BOARD].now)
    assert todays.agents() == [{k: v for k, v in row.items() if k != "name"} for row in board.agents()]
    assert todays.agents()  # someone worked today
    assert todays.effective_days() == board.shop()["effective"]


async def test_the_upgrade_marks_the_history_already_stored_and_the_facts_are_built_from_it(db_url):
    """A database with messages from before the facts existed: the migration marks every buyer stale."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    def upgrade(connection, revision):
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(ROOT / "bot" / "store" / "migrations"))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    engine = create_engine(async_url(db_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade, "0003")
        db = sessionmaker(engine)
        async with db() as session, session.begin():
            # Written with 0003's columns only (later revisions add columns the ORM classes now name).
            conversations, messages = Conversation.__table__, Message.__table__
            for nick, seconds in (("old1", 20), ("old2", 50)):
                buyer_id = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick=nick, seen_at=START)
                conversation_id = (await session.execute(sa.insert(conversations).values(
                    buyer_id=buyer_id, platform="wangwang", shop="demo-tb", started_at=START,
                    last_message_at=START + s(seconds), agent_account=MEI, waiting_since=None, last_buyer_text="x",
                ).returning(conversations.c.id))).scalar_one()
                for sender, at in (("buyer", START), ("agent", START + s(seconds))):
                    await session.execute(sa.insert(messages).values(
                        conversation_id=conversation_id, buyer_id=buyer_id, platform="wangwang", sender=sender,
                        agent_account=MEI, text="x", sent_at=at))
        await migrate(engine)
        async with db() as session:
            assert await metric_facts.stale_count(session) == 2
        rules = Rules.from_config(make_config(db_url))
        totals = await PeriodFigures(db, rules=rules).totals(first=START.date(), last=START.date(), now=START + s(60))
        [row] = totals.agents()
        assert (row["agent"], row["responses"], row["avg_response_s"], row["consulting_buyers"]) == ("xiaomei", 2, 35.0, 2)
        async with db() as session:
            assert await metric_facts.stale_count(session) == 0
    finally:
        await engine.dispose()


async def test_effective_reply_days_from_facts_decide_as_time_passes(app_client):
    """One buyer answered within the hour, one answered late and writing again (late, whatever
    follows), one waiting (pending until the hour is over, then late)."""
    client = app_client
    today = START.date()
    await push(client, buyer_message(buyer="ok", at=START, agent=MEI), agent_message(buyer="ok", at=START + s(600)),
               buyer_message(buyer="slow", at=START, agent=MEI), agent_message(buyer="slow", at=START + s(3700)),
               buyer_message(buyer="slow", at=START + s(4000), agent=MEI),
               buyer_message(buyer="open", at=START + s(3000), agent=MEI))
    for now, counts in ((START + s(4100), (1, 1, 1)), (START + s(3000 + 3600), (1, 2, 0))):
        await assert_period_equals_reference(client, first=today, last=today, now=now)
        [day] = (await client.app[keys.PERIOD].totals(first=today, last=today, now=now)).effective_days()
        assert (day["effective"], day["late"], day["pending"]) == counts


async def test_a_period_read_holds_no_write_lock_on_sqlite(sqlite_url):
    """A report's read runs in a plain BEGIN (store.db.reading): pushes keep being stored meanwhile."""
    import asyncio

    from bot.store.db import async_url, create_engine, migrate, reading, sessionmaker

    engine = create_engine(async_url(sqlite_url))
    try:
        await migrate(engine)
        db = sessionmaker(engine)
        async with db() as report:
            await reading(report)
            assert await metric_facts.stale_count(report) == 0  # the read transaction has begun

            async def store_a_message() -> None:
                async with db() as session, session.begin():
                    buyer_id = await chat.buyer_id(session, platform="wangwang", shop="demo-tb", nick="w", seen_at=START)
                    await chat.record_message(session, buyer_id=buyer_id, platform="wangwang", shop="demo-tb",
                                              sender="buyer", agent_account="", text="x", sent_at=START,
                                              gap=timedelta(minutes=30))

            await asyncio.wait_for(store_a_message(), 5)
            assert await metric_facts.stale_count(report) == 0  # its snapshot
        async with db() as session:
            assert await metric_facts.stale_count(session) == 1
    finally:
        await engine.dispose()
