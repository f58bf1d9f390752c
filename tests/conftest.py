"""Shared fixtures: a fresh SQLite file (or PostgreSQL database) per test, a fake clock, the
production app on a real socket, the simulated gateway on port 0, and signed pushes."""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.app import create_app
from bot.clock import PLATFORM_TZ, FakeClock
from bot.config import Config, config_from_dict
from bot.events import BuyerMessage, Event
from bot.gateway import PLATFORMS
from bot.matching.engine import build_engine
from bot.web import keys

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"wangwang": "tb-secret-for-tests", "dongdong": "jd-secret-for-tests"}
APP_KEYS = {"wangwang": "demo-tb", "dongdong": "demo-jd"}
START = datetime(2026, 11, 24, 10, 0, 0, tzinfo=PLATFORM_TZ)
PG_DSN = os.environ.get("CSBOT_TEST_PG_DSN")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def make_config(db_url: str, *, gateway_url: str = "http://127.0.0.1:9", **sections) -> Config:
    raw = {
        "database": {"url": db_url},
        "knowledge": {"path": str(ROOT / "knowledge")},
        "platforms": [
            {"name": name, "app_key": APP_KEYS[name], "app_secret": SECRETS[name], "gateway_url": gateway_url}
            for name in ("wangwang", "dongdong")
        ],
        "agents": [
            {"id": "xiaomei", "name": "小美", "accounts": ["wangwang:小店:小美", "dongdong:jd_xiaomei"], "roles": ["presale"]},
            {"id": "aqiang", "name": "阿强", "accounts": ["wangwang:小店:阿强", "dongdong:jd_aqiang"], "roles": ["aftersale"]},
        ],
        "tokens": [
            {"token": "agent-xiaomei-token", "role": "agent", "agent": "xiaomei"},
            {"token": "supervisor-token", "role": "supervisor"},
            {"token": "admin-token-12", "role": "admin"},
        ],
        "outbox": {"backoff_seconds": 0.01, "timeout_seconds": 2.0},
        **sections,
    }
    return config_from_dict(raw, source="<tests>")


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or (with CSBOT_TEST_PG_DSN) a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'csbot.db'}"
        return
    async with pg_database() as url:
        yield url


@contextlib.asynccontextmanager
async def pg_database():
    """A new PostgreSQL database made from CSBOT_TEST_PG_DSN, dropped afterwards (skips without it)."""
    if not PG_DSN:
        pytest.skip("PostgreSQL tests need CSBOT_TEST_PG_DSN (e.g. postgresql://root@127.0.0.1:5432/test); .ci/run sets it")
    import asyncpg

    name = f"csbot_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield PG_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        admin = await asyncpg.connect(PG_DSN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'csbot.db'}"


@pytest.fixture
def config(sqlite_url) -> Config:
    return make_config(sqlite_url)


@pytest.fixture(scope="session")
def engine():
    """The default knowledge base's engine, built once: loading jieba for every app is slow."""
    return build_engine(ROOT / "knowledge")


@pytest.fixture
def make_app(engine):
    """create_app with the shared engine; `background=False` by default, so tests drive the loops."""

    def make(config: Config, clock, *, background: bool = False):
        return create_app(config, clock=clock, background=background, engine=engine)

    return make


@pytest.fixture
async def gateway(aiohttp_server, clock):
    """The simulated gateway (bot.sim.gateway) on port 0, knowing both test shops' secrets."""
    from bot.sim.gateway import create_gateway_app

    return await aiohttp_server(create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS}, clock=clock))


def gateway_url(gateway) -> str:
    return str(gateway.make_url("")).rstrip("/")


async def sent_by_gateway(gateway) -> list[dict]:
    """GET /sent of the simulated gateway: what the bot sent, oldest first."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(gateway.make_url("/sent")) as resp:
        return (await resp.json())["items"]


@pytest.fixture
async def client(aiohttp_client, config, clock, make_app):
    """The production app on a real socket; the processor and outbox are driven by the test."""
    return await aiohttp_client(make_app(config, clock))


_seq = iter(range(1, 10**9))


def buyer_message(platform: str = "wangwang", *, buyer: str = "buyer1", text: str = "在吗",
                  at: datetime = START, agent: str = "", push_id: str | None = None) -> BuyerMessage:
    return BuyerMessage(platform=platform, shop=APP_KEYS[platform], buyer=buyer,
                        push_id=push_id or f"p{next(_seq)}", at=at, text=text, agent_account=agent)


def signed_form(event: Event, *, now: datetime = START, secret: str | None = None, **extra) -> dict[str, str]:
    """The form the gateway would push for `event`, correctly signed unless told otherwise."""
    adapter = PLATFORMS[event.platform]
    return adapter.push_form(event, app_key=APP_KEYS[event.platform], secret=secret or SECRETS[event.platform],
                             now=now, **extra)


def resign(platform: str, form: dict[str, str], secret: str | None = None) -> dict[str, str]:
    """Sign a hand-edited form again, so that a test can reach the checks after the signature."""
    return PLATFORMS[platform].sign(form, secret or SECRETS[platform])


async def post_push(client, platform: str, form: dict[str, str]):
    resp = await client.post(f"/webhooks/{platform}", data=form)
    return resp.status, await resp.json()


async def push_and_process(client, *events) -> None:
    """Each event as its platform's signed push, at the app clock's time, then all of them processed."""
    now = client.app[keys.CLOCK].now()
    for event in events:
        status, body = await post_push(client, event.platform, signed_form(event, now=now))
        assert status == 200, body
    await client.app[keys.PROCESSOR].process_all()


async def eventually(probe, accept, *, within_s: float = 10.0):
    """Poll `probe()` until `accept(value)`; for work done by a background task. Returns the last value."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await probe()
        if accept(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
