"""The composition root: `create_app` builds every part and wires it, one cleanup_ctx per resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
from aiohttp import web

from bot.clock import Clock, SystemClock
from bot.config import Config, config_dir
from bot.gateway.client import GatewayClient
from bot.intake import Processor, PushWriter
from bot.outbox import OutboxSender
from bot.store import agents as agents_store
from bot.store.db import async_url, create_engine, migrate, sessionmaker
from bot.web import keys
from bot.web.errors import json_errors
from bot.web.routes import setup_routes

log = logging.getLogger(__name__)


def create_app(config: Config, *, clock: Clock | None = None, background: bool = True) -> web.Application:
    """The bot as an aiohttp application.

    `background=False` leaves the processor and outbox loops unstarted, so that a test can drive
    them step by step (`app[keys.PROCESSOR].process_all()`).
    """
    app = web.Application(client_max_size=config.server.max_body_bytes, middlewares=[json_errors])
    app[keys.CONFIG] = config
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.READY] = {"store": False}
    app[keys.PUSH_COUNTS] = Counter()
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
    processor = Processor(db, clock=clock, gap=timedelta(minutes=config.shop.session_gap_minutes))
    app[keys.PROCESSOR] = processor
    app[keys.WRITER] = PushWriter(engine, clock=clock, on_commit=processor.wake)
    app[keys.READY]["store"] = True
    yield
    app[keys.READY]["store"] = False
    await engine.dispose()


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
