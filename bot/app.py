"""The composition root: `create_app` builds every part and wires it, one cleanup_ctx per resource."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
from aiohttp import web

from bot.clock import Clock, SystemClock
from bot.config import Config, config_dir, resolve_path
from bot.gateway.client import GatewayClient
from bot.intake import Processor, PushWriter
from bot.matching.consumer import MatchingConsumer
from bot.matching.engine import Engine, EngineHolder
from bot.matching.watch import watch_knowledge
from bot.outbox import OutboxSender
from bot.store import agents as agents_store
from bot.store.db import async_url, create_engine, migrate, sessionmaker
from bot.web import keys
from bot.web.prometheus import Histogram
from bot.web.auth import callers
from bot.web.errors import json_errors
from bot.web.routes import setup_routes

log = logging.getLogger(__name__)


def create_app(
    config: Config, *, clock: Clock | None = None, background: bool = True, engine: Engine | None = None,
) -> web.Application:
    """The bot as an aiohttp application.

    `background=False` leaves the processor and outbox loops unstarted, so that a test can drive
    them step by step (`app[keys.PROCESSOR].process_all()`). `engine` is a matching engine built
    before (tests share one instead of loading jieba for every app).
    """
    app = web.Application(client_max_size=config.server.max_body_bytes, middlewares=[json_errors])
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.READY] = {"store": False, "knowledge": False}
    app[keys.PUSH_COUNTS] = Counter()
    app[keys.CALLERS] = callers(config)
    app[keys.SUGGEST_LATENCY] = Histogram()
    app.cleanup_ctx.append(functools.partial(_knowledge, engine=engine))
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_gateway_client)
    app.cleanup_ctx.append(_push_writer)
    if background:
        app.cleanup_ctx.append(_background_tasks)
    setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    config, clock = app[keys.CONFIG], app[keys.CLOCK]
    engine = create_engine(
        async_url(config.database.url, base=config_dir(config)),
        sqlite_synchronous=config.database.sqlite_synchronous,
    )
    await migrate(engine)
    db = sessionmaker(engine)
    async with db() as session, session.begin():
        await agents_store.sync_from_config(session, config)
    app[keys.ENGINE], app[keys.DB] = engine, db
    processor = Processor(db, clock=clock, gap=timedelta(minutes=config.shop.session_gap_minutes),
                          consumers=_consumers(app))
    app[keys.PROCESSOR] = processor
    app[keys.WRITER] = PushWriter(engine, clock=clock, on_commit=processor.wake)
    app[keys.READY]["store"] = True
    yield
    app[keys.READY]["store"] = False
    await engine.dispose()


def _consumers(app: web.Application) -> tuple:
    """What acts on each processed event, in this order; each failure is isolated."""
    return (
        MatchingConsumer(app[keys.ENGINES], on_latency=app[keys.SUGGEST_LATENCY].observe),
    )


async def _knowledge(app: web.Application, *, engine: Engine | None) -> AsyncIterator[None]:
    folder = resolve_path(app[keys.CONFIG], app[keys.CONFIG].knowledge.path)
    holder = EngineHolder(folder, engine) if engine else await EngineHolder.start(folder)
    app[keys.ENGINES] = holder
    app[keys.READY]["knowledge"] = True
    async with _running(watch_knowledge(holder), name="knowledge-watcher"):
        yield


async def _gateway_client(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    async with aiohttp.ClientSession() as session:
        client = GatewayClient(session, clock=app[keys.CLOCK], timeout_s=config.outbox.timeout_seconds)
        app[keys.OUTBOX] = OutboxSender(app[keys.DB], client, config=config, clock=app[keys.CLOCK])
        yield


async def _push_writer(app: web.Application) -> AsyncIterator[None]:
    writer = app[keys.WRITER]
    async with _running(writer.run(), name="push-writer"):
        yield
    writer.fail_waiting()


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    async with _running(app[keys.PROCESSOR].run(), name="processor"), _running(app[keys.OUTBOX].run(), name="outbox"):
        yield


@contextlib.asynccontextmanager
async def _running(coro, *, name: str) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
