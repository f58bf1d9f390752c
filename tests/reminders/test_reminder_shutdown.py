"""Stopping the bot while the APScheduler reminder scan is under way: the scan finishes (its
transaction commits) before the database goes, and nothing is logged as an error. (The scheduler's
shutdown cancels the jobs it runs; it used to be called first, so the scan was cancelled mid-way.)"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.web import keys
from tests.conftest import make_config


async def test_stopping_lets_a_reminder_scan_under_way_finish(make_app, clock, sqlite_url, monkeypatch, caplog):
    app = make_app(make_config(sqlite_url, reminders={"scan_seconds": 1}), clock, background=True)
    runner = web.AppRunner(app)
    await runner.setup()  # starts the scheduler, whose first scan comes a second later
    job = app[keys.REMINDERS]
    real, started, finished = job.run, asyncio.Event(), []

    async def slow_scan(*, now):
        started.set()
        await asyncio.sleep(0.3)  # the scan is under way when the stop comes
        finished.append(await real(now=now))

    monkeypatch.setattr(job, "run", slow_scan)
    try:
        await asyncio.wait_for(started.wait(), 10)
    finally:
        with caplog.at_level(logging.WARNING):
            await runner.cleanup()
    assert len(finished) == 1, "the scan under way was cut short by the stop"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
