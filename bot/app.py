"""The composition root: `create_app` builds every part and wires it, one cleanup_ctx per resource."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bot.clock import Clock, SystemClock, shop_zone
from bot.config import Config, config_dir, resolve_path
from bot.gateway.client import GatewayClient
from bot.intake import Backlog, Processor, PushWriter
from bot.leases import BATCH_NS, AdvisoryLeases
from bot.live import ChangeTail
from bot.matching.consumer import AutoReply, MatchingConsumer
from bot.matching.engine import Engine, EngineHolder, shop_values
from bot.matching.watch import watch_knowledge
from bot.metrics.board import Board
from bot.metrics.consumer import MetricsConsumer
from bot.metrics.period import PeriodFigures
from bot.metrics.report import Rules
from bot.metrics.shifts import agents_on_shift
from bot.store import agent_status
from bot.outbox import OutboxSender
from bot.reminders.consumer import ReminderConsumer
from bot.reminders.job import ReminderJob
from bot.reminders.policy import Rules as ReminderRules
from bot.store import agents as agents_store
from bot.store import settings
from bot.store import sealed
from bot.store.db import StatementCount, async_url, create_engine, is_sqlite, migrate, sessionmaker
from bot.tickets import detect as ticket_detect
from bot.tickets import job as ticket_job
from bot.tickets.actions import Assignment
from bot.tickets.consumer import TicketConsumer
from bot.web import keys
from bot.partitions import partition_of
from bot.web.prometheus import Instruments, timed
from bot.web.push_summary import PushSummary
from bot.web.auth import GuessLimit, callers, identify
from bot.web.console_feed import ConsoleFeed
from bot.web.client_address import ClientAddress
from bot.web.errors import body_deadline, json_errors
from bot.web.params import one_value_each
from bot.web.kb_edit import KbEditor
from bot.web.roster import Roster
from bot.web.routes import setup_routes
from bot.web.sse import SessionStreams
from bot.web.security import security_headers

log = logging.getLogger(__name__)


def create_app(
    config: Config, *, clock: Clock | None = None, background: bool = True, engine: Engine | None = None,
) -> web.Application:
    """The bot as an aiohttp application.

    `background=False` leaves the processor and outbox loops unstarted, so that a test can drive
    them step by step (`app[keys.PROCESSOR].process_all()`). `engine` is a matching engine built
    before (tests share one instead of loading jieba for every app).
    """
    app = web.Application(client_max_size=config.server.max_body_bytes,
                          middlewares=[timed, json_errors, body_deadline(config.server.body_timeout_seconds), identify,
                                       one_value_each])
    app[keys.CONFIG] = config
    app.on_response_prepare.append(security_headers)
    app[keys.CLOCK] = clock or SystemClock()
    app[keys.READY] = {"store": False, "knowledge": False}
    app[keys.PUSH_COUNTS] = Counter()
    app[keys.PUSH_SUMMARY] = PushSummary(app[keys.CLOCK])
    app.on_shutdown.append(_flush_push_summary)
    app[keys.CALLERS] = callers(config)
    app[keys.TOKEN_GUESSES] = GuessLimit(config.server.token_failures_per_minute)
    app[keys.CLIENT_ADDRESS] = ClientAddress(config.server.trusted_proxies)
    app[keys.INSTRUMENTS] = Instruments(response_bounds_s=config.metrics.thresholds_s)
    app[keys.SESSION_STREAMS] = SessionStreams()
    app[keys.BOARD] = Board(Rules.from_config(config), thresholds_s=config.metrics.thresholds_s,
                            agent_names={a.id: a.name or a.id for a in config.agents})
    app.on_shutdown.append(_end_board_streams)
    app[keys.CONSOLE_FEED] = ConsoleFeed()
    app.on_shutdown.append(_end_console_streams)
    app[keys.TICKET_RULES] = ticket_detect.RulesHolder(_ticket_rules(config))
    app[keys.RELOAD_KNOWLEDGE] = functools.partial(_reload_knowledge, app)
    app[keys.KB_EDITOR] = KbEditor.from_config(config)
    app[keys.TICKET_ASSIGNMENT] = Assignment.from_config(config)
    app[keys.TICKET_ANNOUNCERS] = [functools.partial(_escalations_to_board, app)]
    app[keys.ROSTER] = Roster(app, config)
    app.cleanup_ctx.append(functools.partial(_knowledge, engine=engine))
    app.cleanup_ctx.append(functools.partial(_database, background=background))
    app.cleanup_ctx.append(_gateway_client)
    app.cleanup_ctx.append(functools.partial(_reminders, background=background))
    app.cleanup_ctx.append(_push_writer)
    app.cleanup_ctx.append(functools.partial(_daily_report, background=background))
    app.cleanup_ctx.append(functools.partial(_csat, background=background))
    app.cleanup_ctx.append(functools.partial(_retention, background=background))
    if background:
        app.cleanup_ctx.append(_background_tasks)
        app.cleanup_ctx.append(_ticket_sla)
    setup_routes(app)
    return app


async def _database(app: web.Application, *, background: bool = True) -> AsyncIterator[None]:
    config, clock = app[keys.CONFIG], app[keys.CLOCK]
    url = async_url(config.database.url, base=config_dir(config))
    engine = create_engine(url, sqlite_synchronous=config.database.sqlite_synchronous)
    # Before anything is changed: a database whose buyer text this process's key cannot read is refused.
    async with engine.connect() as conn:
        await sealed.check_keys(conn, sealed.current())
    await migrate(engine)
    db = sessionmaker(engine)
    async with db() as session, session.begin():
        if not is_sqlite(engine):
            # Processes starting together: one at a time stores the agents and the partition count,
            # the others then find them (and compare the count).
            await session.execute(sa.text("SELECT pg_advisory_xact_lock(7312002)"))
        await agents_store.sync_from_config(session, config)
        await app[keys.ROSTER].start(session)  # the first admin, and the agents and shifts added on /admin
        await settings.ensure_partitions(session, partitions=config.processing.partitions)
        await sealed.register_current(await session.connection(), sealed.current())
    app[keys.ENGINE], app[keys.DB] = engine, db
    # Intake's, the processor's and the board's many small statements: on SQLite, on the event loop's thread
    # (store.inline_sqlite); reads that can be long keep `engine`.
    writing = create_engine(url, sqlite_synchronous=config.database.sqlite_synchronous, inline=True) \
        if is_sqlite(engine) and config.database.sqlite_inline else engine
    app[keys.METRICS] = MetricsConsumer(db, board=app[keys.BOARD], clock=clock, config=config,
                                        small_reads=sessionmaker(writing))
    # SQLite has one writer at a time: intake and processing take turns through one first-come gate.
    # PostgreSQL locks rows, so there each has its own.
    gate = asyncio.Lock() if is_sqlite(engine) else None
    app[keys.PERIOD] = PeriodFigures(db, rules=app[keys.BOARD].rules, gate=gate)
    processing = config.processing
    backlog = Backlog(engine, clock=clock, max_pending=processing.max_backlog)
    writer = PushWriter(writing, clock=clock, gate=gate, partitions=processing.partitions, backlog=backlog)
    if is_sqlite(engine) or not background:
        # One process (SQLite), or a test driving the processor itself: every partition.
        leases, lock_ns = None, None
    else:
        leases = AdvisoryLeases(url.replace("postgresql+asyncpg://", "postgresql://", 1),
                                partitions=processing.partitions, heartbeat_s=processing.lease_heartbeat_seconds)
        lock_ns = BATCH_NS
    processor = Processor(sessionmaker(writing), clock=clock, gap=timedelta(minutes=config.shop.session_gap_minutes),
                          consumers=_consumers(app), on_processed=functools.partial(_tell_live_views, app),
                          gate=gate, intake_busy=lambda: writer.busy, batch=processing.batch,
                          leases=leases, partition_lock_ns=lock_ns)
    if leases is not None:
        leases.on_change = processor.wake
    writer.on_commit = processor.wake
    app[keys.PROCESSOR], app[keys.WRITER], app[keys.BACKLOG], app[keys.LEASES] = processor, writer, backlog, leases
    instruments = app[keys.INSTRUMENTS]
    processor.on_delay = instruments.processing_delay.observe
    # A response is observed by the process holding its buyer's partition: once across processes.
    app[keys.METRICS].on_response = instruments.observe_response
    app[keys.METRICS].holds = lambda platform, shop, nick: leases is None or partition_of(
        platform, shop, nick, partitions=processing.partitions) in leases.held
    app[keys.STATEMENTS] = StatementCount(writing)
    app[keys.CHANGE_TAIL] = tail = ChangeTail(sessionmaker(writing), clock=clock,
                                              tell=functools.partial(_tell_live_views_of_others, app))
    app[keys.METRICS].change_position = lambda: tail.position
    app[keys.METRICS].lag_s = backlog.lag_s
    app[keys.READY]["store"] = True
    yield
    app[keys.READY]["store"] = False
    await engine.dispose()
    await writing.dispose()


async def _flush_push_summary(app: web.Application) -> None:
    app[keys.PUSH_SUMMARY].flush()


async def _end_console_streams(app: web.Application) -> None:
    app[keys.CONSOLE_FEED].disconnect_all()


def _tell_live_views(app: web.Application, events: list) -> None:
    """After a commit of processed pushes or sent messages: the board and the consoles refresh."""
    app[keys.METRICS].on_processed(events)
    app[keys.CONSOLE_FEED].publish(events)
    app[keys.CHANGE_TAIL].processed_here(events)


def _tell_live_views_of_others(app: web.Application, touched: list[tuple[str, str, str, str]]) -> None:
    """Pushes another process processed (the change log): the same refresh."""
    app[keys.METRICS].mark_dirty({(platform, shop, buyer) for platform, shop, buyer, _ in touched})
    app[keys.CONSOLE_FEED].publish_touched([(platform, buyer, account) for platform, _, buyer, account in touched])


def _auto_reply(app: web.Application) -> AutoReply:
    config = app[keys.CONFIG]
    zone = shop_zone(config.shop.timezone)
    anyone_on_shift = lambda at: not config.shifts or bool(agents_on_shift(config.shifts, at, zone))  # noqa: E731

    async def available(session, at) -> bool:
        """Someone on shift who is online in the console (busy, away or offline agents do not count)."""
        if not config.shifts:
            return True
        return bool(await agent_status.present(session, list(agents_on_shift(config.shifts, at, zone)), now=at))

    return AutoReply(clock=app[keys.CLOCK], config=config.auto_reply,
                     # Without [[shifts]] the agents count as always on shift (as for ticket assignment).
                     anyone_on_shift=anyone_on_shift, available=available)


def _consumers(app: web.Application) -> tuple:
    """What acts on each processed event, in this order; each failure is isolated."""
    return (
        MatchingConsumer(app[keys.ENGINES], values=shop_values(app[keys.CONFIG].shop),
                         on_latency=app[keys.INSTRUMENTS].suggestion.observe, auto_reply=_auto_reply(app)),
        app[keys.METRICS],
        ReminderConsumer(rules=_reminder_rules(app[keys.CONFIG])),
        TicketConsumer(rules=app[keys.TICKET_RULES], config=app[keys.CONFIG].tickets,
                       assignment=app[keys.TICKET_ASSIGNMENT]),
    )


def _ticket_rules(config: Config) -> ticket_detect.Rules:
    """The complaint rules from the knowledge folder; without the file no complaint is detected (logged)."""
    path = resolve_path(config, config.knowledge.path) / config.tickets.rules_file
    if not path.exists():
        log.warning("no complaint rules file=%s; complaints are not detected", path)
        return ticket_detect.Rules()
    return ticket_detect.load_rules(path)


async def _escalations_to_board(app: web.Application, escalations: list) -> None:
    """Supervisors hear of a ticket past its SLA on the board's stream, and its count is refreshed."""
    app[keys.BOARD].announce("escalation", {"tickets": [e.as_json() for e in escalations]})
    app[keys.METRICS].on_processed([])


async def _ticket_sla(app: web.Application) -> AsyncIterator[None]:
    """The SLA escalation scan every scan_seconds; escalations go to the webhook (if any) and listeners."""
    config, clock = app[keys.CONFIG].tickets, app[keys.CLOCK]
    announcers = app[keys.TICKET_ANNOUNCERS]

    async def announce(escalations: list) -> None:
        for announcer in list(announcers):
            try:
                await announcer(escalations)
            except Exception:
                log.exception("ticket escalation announcer failed")

    async def scan(session: aiohttp.ClientSession | None) -> None:
        if session is not None and config.escalation_webhook_url:
            announcers.append(ticket_job.webhook(session, config.escalation_webhook_url))
        while True:
            try:
                await ticket_job.run(app[keys.DB], now=clock.now(), announce=announce,
                                     assignment=app[keys.TICKET_ASSIGNMENT])
            except Exception:
                log.exception("ticket SLA scan failed; the next one retries")
            await asyncio.sleep(config.scan_seconds)

    async with aiohttp.ClientSession() as session, _running(scan(session), name="ticket-sla"):
        yield


def _reminder_rules(config: Config) -> ReminderRules:
    return ReminderRules.from_config(config.reminders, zone=config.shop.timezone)


async def _knowledge(app: web.Application, *, engine: Engine | None) -> AsyncIterator[None]:
    folder = resolve_path(app[keys.CONFIG], app[keys.CONFIG].knowledge.path)
    holder = EngineHolder(folder, engine) if engine else await EngineHolder.start(folder)
    app[keys.ENGINES] = holder
    # jieba's dictionary and the index are some 140,000 long-lived objects: left to the garbage
    # collector, each full collection paused the event loop for 100-300 ms under load.
    gc.freeze()
    app[keys.READY]["knowledge"] = True
    async with _running(watch_knowledge(folder, app[keys.RELOAD_KNOWLEDGE]), name="knowledge-watcher"):
        yield


async def _reload_knowledge(app: web.Application) -> Engine:
    """The knowledge folder again, all or nothing: the matching engine and the complaint rules. What
    does not validate raises (KnowledgeBaseError, RulesError) and the old ones keep serving."""
    rules = _ticket_rules(app[keys.CONFIG])
    engine = await app[keys.ENGINES].reload()
    app[keys.TICKET_RULES].rules = rules
    return engine


async def _gateway_client(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    async with aiohttp.ClientSession() as session:
        client = GatewayClient(session, clock=app[keys.CLOCK], timeout_s=config.outbox.timeout_seconds)
        app[keys.OUTBOX] = OutboxSender(app[keys.DB], client, config=config, clock=app[keys.CLOCK],
                                        on_sent=functools.partial(_tell_live_views, app))
        yield


async def _reminders(app: web.Application, *, background: bool) -> AsyncIterator[None]:
    """The payment-reminder scan; with `background`, an APScheduler job runs it every scan_seconds.

    APScheduler only triggers: every process runs its own scheduler, and the claim in the database is
    what keeps two of them from sending one reminder twice.
    """
    config, clock = app[keys.CONFIG], app[keys.CLOCK]
    app[keys.REMINDER_COUNTS] = Counter()

    def render(intent_id: str, platform: str, values) -> str | None:
        engine = app[keys.ENGINES].engine
        text = engine.reply(intent_id, platform=platform, values={**shop_values(config.shop), **values})
        if engine.guard.blocking(text):
            log.error("reminder text blocked by the compliance guard intent=%s platform=%s", intent_id, platform)
            return None
        return text

    def count(platform: str, outcome: str, n: int) -> None:
        app[keys.REMINDER_COUNTS][(platform, outcome)] += n

    job = ReminderJob(app[keys.DB], rules=_reminder_rules(config), render=render, on_outcome=count,
                      on_enqueued=app[keys.OUTBOX].wake)
    app[keys.REMINDERS] = job
    if not (background and config.reminders.enabled):
        yield
        return
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scanning: set[asyncio.Task] = set()

    async def scan() -> None:
        scanning.add(task := asyncio.current_task())
        try:
            await job.run(now=clock.now())
        except Exception:
            log.exception("reminder scan failed; the next one retries")
        finally:
            scanning.discard(task)

    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(scan, "interval", seconds=config.reminders.scan_seconds, id="reminders",
                      coalesce=True, max_instances=1)
    scheduler.start()
    try:
        yield
    finally:
        # No new scans; a scan under way finishes its transaction before the database goes (a kill -9
        # instead rolls it back, and the next scan claims the same reminders again). Only then the
        # shutdown: it cancels the jobs still running.
        scheduler.pause()
        if scanning:
            await asyncio.wait(scanning, timeout=10)
        scheduler.shutdown(wait=False)


async def _daily_report(app: web.Application, *, background: bool) -> AsyncIterator[None]:
    """The daily report to the team (bot/reports/daily_job.py); with `background` and enabled, a scan every
    scan_seconds. The unique row per day and channel, not this loop, keeps it to one send a day."""
    from bot.reports.daily_job import DailyReportJob

    config, clock = app[keys.CONFIG], app[keys.CLOCK]
    async with aiohttp.ClientSession() as http:
        job = DailyReportJob(app[keys.DB], app[keys.PERIOD], config=config, rules=app[keys.BOARD].rules,
                             http=lambda: http)
        app[keys.DAILY_REPORT] = job

        async def scan() -> None:
            while True:
                try:
                    await job.run(now=clock.now())
                except Exception:
                    log.exception("daily report scan failed; the next one retries")
                await asyncio.sleep(config.daily_report.scan_seconds)

        if background and config.daily_report.enabled:
            async with _running(scan(), name="daily-report"):
                yield
        else:
            yield


async def _retention(app: web.Application, *, background: bool) -> AsyncIterator[None]:
    """Chat text and raw forms older than [database] retention_days blanked (bot/store/retention.py),
    hourly with `background`; tests call app[keys.RETENTION](now=...)."""
    from bot.store import retention

    config, clock, engine = app[keys.CONFIG], app[keys.CLOCK], app[keys.ENGINE]
    days = config.database.retention_days

    async def run(*, now) -> dict[str, int]:
        if not days:
            return {}
        done = await retention.blank_older_than(engine, now=now, days=days)
        if any(done.values()):
            log.info("retention blanked text older than %d days: %s", days,
                     " ".join(f"{k}={n}" for k, n in done.items() if n))
        return done

    app[keys.RETENTION] = run

    async def scan() -> None:
        while True:
            try:
                await run(now=clock.now())
            except Exception:
                log.exception("retention run failed; the next one retries")
            await asyncio.sleep(3600)

    if background and days:
        async with _running(scan(), name="retention"):
            yield
    else:
        yield


async def _csat(app: web.Application, *, background: bool) -> AsyncIterator[None]:
    """Satisfaction invitations and ratings (bot/reports/csat_job.py); with `background` and enabled, a scan
    every scan_seconds. The unique invitation per conversation and per buyer and day keeps it to one."""
    from bot.reports.csat_job import CsatJob

    config, clock = app[keys.CONFIG], app[keys.CLOCK]
    job = CsatJob(app[keys.DB], config=config, rules=app[keys.BOARD].rules,
                  blocking=lambda text: bool(app[keys.ENGINES].engine.guard.blocking(text)),
                  on_enqueued=app[keys.OUTBOX].wake)
    app[keys.CSAT] = job

    async def scan() -> None:
        while True:
            try:
                await job.run(now=clock.now())
            except Exception:
                log.exception("satisfaction scan failed; the next one retries")
            await asyncio.sleep(config.csat.scan_seconds)

    if background and config.csat.enabled:
        async with _running(scan(), name="csat"):
            yield
    else:
        yield


async def _push_writer(app: web.Application) -> AsyncIterator[None]:
    writer = app[keys.WRITER]
    async with _running(writer.run(), name="push-writer"):
        yield
    writer.fail_waiting()


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    leases = app[keys.LEASES]
    async with contextlib.AsyncExitStack() as stack:
        if leases is not None:
            await stack.enter_async_context(_running(leases.run(), name="leases"))
        for name, coro in (("processor", app[keys.PROCESSOR].run()), ("outbox", app[keys.OUTBOX].run()),
                           ("board-feed", app[keys.METRICS].run()), ("metric-facts", app[keys.PERIOD].run()),
                           ("backlog", app[keys.BACKLOG].run()), ("change-log", app[keys.CHANGE_TAIL].run()),
                           ("staff-roster", app[keys.ROSTER].run())):
            await stack.enter_async_context(_running(coro, name=name))
        yield


async def _end_board_streams(app: web.Application) -> None:
    """Open board streams would hold shutdown up; end them (browsers reconnect to the next start)."""
    app[keys.BOARD].disconnect_all()


@contextlib.asynccontextmanager
async def _running(coro, *, name: str) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
