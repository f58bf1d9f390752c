"""Typed keys of the shared objects that `create_app` puts on the application."""

from __future__ import annotations

from collections import Counter

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.live import ChangeTail
from bot.intake import Backlog, Processor, PushWriter
from bot.metrics.board import Board
from bot.metrics.consumer import MetricsConsumer
from bot.metrics.period import PeriodFigures
from bot.matching.engine import EngineHolder
from bot.web.console_feed import ConsoleFeed
from bot.web.prometheus import INSTRUMENTS_KEY
from bot.web.push_summary import PushSummary
from bot.outbox import OutboxSender
from bot.reminders.job import ReminderJob
from bot.reports.csat_job import CsatJob
from bot.reports.daily_job import DailyReportJob
from bot.tickets.actions import Assignment
from bot.tickets.detect import RulesHolder

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker)
WRITER = web.AppKey("writer", PushWriter)
PROCESSOR = web.AppKey("processor", Processor)
BACKLOG = web.AppKey("backlog", Backlog)  # unprocessed pushes and their age, for 503s, /healthz and /metrics
LEASES = web.AppKey("leases", object)  # bot.leases: the partitions this process processes
CHANGE_TAIL = web.AppKey("change_tail", ChangeTail)
STATEMENTS = web.AppKey("statements", object)  # store.db.StatementCount of intake's and processing's engine
OUTBOX = web.AppKey("outbox", OutboxSender)
ENGINES = web.AppKey("engines", EngineHolder)  # the knowledge base and matcher in service
INSTRUMENTS = INSTRUMENTS_KEY  # /metrics: the histograms, process_* and build series
CONSOLE_FEED = web.AppKey("console_feed", ConsoleFeed)  # live changes for the agents' consoles
CALLERS = web.AppKey("callers", dict)  # the file tokens' SHA-256 -> (auth.Caller, when it expires)
TOKEN_GUESSES = web.AppKey("token_guesses", object)  # auth.GuessLimit: wrong tokens per client address
CLIENT_ADDRESS = web.AppKey("client_address", object)  # client_address.ClientAddress: who that client is
READY = web.AppKey("ready", dict)  # part name -> bool; /healthz is ok when all are
PUSH_SUMMARY = web.AppKey("push_summary", PushSummary)  # the webhook's INFO line, once a minute
PUSH_COUNTS = web.AppKey("push_counts", Counter)  # (platform, outcome) -> n, for /metrics
BOARD = web.AppKey("board", Board)  # the supervisor's live board and its SSE subscribers
METRICS = web.AppKey("metrics", MetricsConsumer)  # feeds the board; tests call refresh()
PERIOD = web.AppKey("period", PeriodFigures)  # per-buyer facts kept current; a period's figures from them
REMINDERS = web.AppKey("reminders", ReminderJob)  # the payment-reminder scan; tests call run(now=...)
REMINDER_COUNTS = web.AppKey("reminder_counts", Counter)  # (platform, outcome) -> n, for /metrics
TICKET_RULES = web.AppKey("ticket_rules", RulesHolder)  # complaint detection rules (knowledge/complaints.toml)
RELOAD_KNOWLEDGE = web.AppKey("reload_knowledge", object)  # async () -> Engine: the base and the complaint rules
TICKET_ASSIGNMENT = web.AppKey("ticket_assignment", Assignment)  # who gets new tickets
TICKET_ANNOUNCERS = web.AppKey("ticket_announcers", list)  # async callables given each SLA escalation batch
KB_EDITOR = web.AppKey("kb_editor", object)  # bot.web.kb_edit.KbEditor: /kb changes, one at a time, with their figures
DAILY_REPORT = web.AppKey("daily_report", DailyReportJob)  # the daily report to the team; tests call run(now=...)
SESSION_STREAMS = web.AppKey("session_streams", object)  # bot.web.sse.SessionStreams: open streams per login
ROSTER = web.AppKey("roster", object)  # bot.web.roster.Roster: applies /admin's agents and shifts without a restart
CSAT = web.AppKey("csat", CsatJob)  # satisfaction invitations and ratings; tests call run(now=...)
RETENTION = web.AppKey("retention", object)  # async (now=) -> blanked per column: [database] retention_days
