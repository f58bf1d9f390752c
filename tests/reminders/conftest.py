"""Fixtures for the payment-reminder tests: the bot (processor and outbox driven by the test) with
the simulated gateway on port 0, order pushes through the real webhooks, and readers of the outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp
import pytest
import sqlalchemy as sa

from bot.events import AgentMessage, BuyerMessage, OrderClosed, OrderCreated, OrderPaid
from bot.sim.gateway import create_gateway_app
from bot.store.tables import Order, OutboxMessage, Reminder
from bot.web import keys
from tests.conftest import APP_KEYS, SECRETS, START, make_config, post_push, signed_form

_ids = iter(range(1, 10**9))
# Reminder rules easy to reason about in tests; each test overrides what it is about.
RULES = {"offsets_minutes": [15], "before_close_minutes": 0, "max_per_order": 5, "max_per_buyer_per_day": 5,
         "quiet_hours": ["22:00", "08:00"], "scan_seconds": 1}


def shop(hour: int, minute: int = 0, *, day: int = 24) -> datetime:
    """A time on the shop's clock (Asia/Shanghai, like START)."""
    return START.replace(day=day, hour=hour, minute=minute)


@pytest.fixture
async def gateway(aiohttp_server, clock):
    return await aiohttp_server(create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS}, clock=clock))


@pytest.fixture
def make_bot(aiohttp_client, make_app, clock, gateway, sqlite_url):
    async def make(db_url: str | None = None, **rules):
        config = make_config(db_url or sqlite_url, gateway_url=str(gateway.make_url("")).rstrip("/"),
                             reminders={**RULES, **rules})
        return await aiohttp_client(make_app(config, clock))

    return make


class Shop:
    """Drives one bot: pushes through the signed webhooks, processing, scans, and what came of them."""

    def __init__(self, client, clock, gateway=None) -> None:
        self.client, self.clock, self.gateway = client, clock, gateway

    @property
    def app(self):
        return self.client.app

    async def push(self, event) -> None:
        status, body = await post_push(self.client, event.platform, signed_form(event, now=self.clock.now()))
        assert status == 200, body
        await self.app[keys.PROCESSOR].process_all()

    async def create(self, order_id: str, *, at: datetime, buyer: str = "buyer1", platform: str = "wangwang",
                     closes_in: timedelta | None = timedelta(hours=24), amount_fen: int = 9900,
                     title: str = "羊毛围巾") -> None:
        await self.push(OrderCreated(
            platform=platform, shop=APP_KEYS[platform], buyer=buyer, push_id=f"c{next(_ids)}", at=at,
            order_id=order_id, title=title, amount_fen=amount_fen, created_at=at,
            closes_at=at + closes_in if closes_in else None))

    async def pay(self, order_id: str, *, at: datetime, buyer: str = "buyer1", platform: str = "wangwang",
                  amount_fen: int | None = 9900) -> None:
        await self.push(OrderPaid(platform=platform, shop=APP_KEYS[platform], buyer=buyer, push_id=f"y{next(_ids)}",
                                  at=at, order_id=order_id, paid_at=at,
                                  amount_fen=amount_fen if platform == "wangwang" else None))

    async def close(self, order_id: str, *, at: datetime, buyer: str = "buyer1", platform: str = "wangwang") -> None:
        await self.push(OrderClosed(platform=platform, shop=APP_KEYS[platform], buyer=buyer, push_id=f"x{next(_ids)}",
                                    at=at, order_id=order_id, reason="超时未付款"))

    async def say(self, text: str, *, at: datetime, buyer: str = "buyer1", platform: str = "wangwang",
                  agent: str = "") -> None:
        cls, extra = (AgentMessage, {"agent_account": agent}) if agent else (BuyerMessage, {"agent_account": ""})
        await self.push(cls(platform=platform, shop=APP_KEYS[platform], buyer=buyer, push_id=f"m{next(_ids)}",
                            at=at, text=text, **extra))

    async def scan(self, at: datetime):
        self.clock.set(at)
        return await self.app[keys.REMINDERS].run(now=at)

    async def reminders(self, order_id: str | None = None) -> list[Reminder]:
        async with self.app[keys.DB]() as session:
            query = sa.select(Reminder).order_by(Reminder.id)
            if order_id:
                query = query.where(Reminder.order_id == order_id)
            return list((await session.scalars(query)).all())

    async def states(self, order_id: str) -> dict[str, tuple[str, str | None]]:
        return {r.slot: (r.state, r.reason) for r in await self.reminders(order_id)}

    async def outbox(self) -> list[OutboxMessage]:
        async with self.app[keys.DB]() as session:
            return list((await session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.kind == "reminder").order_by(OutboxMessage.id))).all())

    async def order(self, order_id: str) -> Order:
        async with self.app[keys.DB]() as session:
            return await session.scalar(sa.select(Order).where(Order.order_id == order_id))

    async def sent(self) -> list[dict]:
        async with aiohttp.ClientSession() as s, s.get(self.gateway.make_url("/sent")) as resp:
            return (await resp.json())["items"]


@pytest.fixture
def make_shop(make_bot, clock, gateway):
    async def make(db_url: str | None = None, **rules) -> Shop:
        return Shop(await make_bot(db_url, **rules), clock, gateway)

    return make
