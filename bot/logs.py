"""Logging setup: one line per record, key=value context in the message, or one JSON object per line
(`--log-format json`). Times are ISO 8601 in the shop's time zone with its offset (UTC, with `Z`, until
the configuration is read). Only this module configures handlers."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import re
import sys
from datetime import datetime, timezone, tzinfo

from bot.privacy import MaskingFilter

FORMATS = ("text", "json")


def timestamp(created: float, zone: tzinfo | None) -> str:
    """A record's time: ISO 8601 with milliseconds and the offset; UTC is written `Z`.

    >>> from zoneinfo import ZoneInfo
    >>> timestamp(1780000000.5, ZoneInfo("Asia/Shanghai")), timestamp(1780000000.5, None)
    ('2026-05-29T04:26:40.500+08:00', '2026-05-28T20:26:40.500Z')
    """
    at = datetime.fromtimestamp(created, zone or timezone.utc).isoformat(timespec="milliseconds")
    return at.replace("+00:00", "Z") if zone is None else at


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(message: str) -> str:
    """Control characters and line breaks escaped, so that a value from a request (a push id, a path,
    a key) cannot forge a log line of its own.

    >>> one_line("push_id=a\\nforged line=1\\x1b[31m")
    'push_id=a\\\\nforged line=1\\\\x1b[31m'
    """
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], message)


class _Text(logging.Formatter):
    def __init__(self, zone: tzinfo | None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return timestamp(record.created, self._zone)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)  # the traceback, added after, keeps its lines
        return super().formatMessage(record)


class _Json(logging.Formatter):
    """One object per line: time, level, logger, message (and the traceback, when there is one)."""

    def __init__(self, zone: tzinfo | None) -> None:
        super().__init__()
        self._zone = zone

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": timestamp(record.created, self._zone), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Writes to sys.stderr as it is when a record is written: a caller that swaps it (the tests'
    output capture) must not leave the writer thread holding a closed stream."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_listener: logging.handlers.QueueListener | None = None


def _stop() -> None:
    if _listener is not None:
        _listener.stop()  # writes out what is still queued


def setup(level: str = "INFO", *, format: str = "text", zone: tzinfo | None = None) -> None:
    global _listener
    handler = _Stderr()
    handler.setFormatter(_Json(zone) if format == "json" else _Text(zone))
    handler.addFilter(MaskingFilter())  # buyers' phone numbers, ID numbers and addresses masked (bot/privacy.py)
    # Records are formatted and written by a thread of their own: a line per push must not cost
    # the event loop a write to stderr each time.
    records: queue.SimpleQueue = queue.SimpleQueue()
    if _listener is None:
        atexit.register(_stop)
    else:  # set up again (commands run in one process): still one writer thread
        _listener.stop()
    # What the format never shows is not collected for each record (the logging docs' "Optimization"):
    # with a line per push, the caller's frame, thread and process cost the event loop a few µs each.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    _listener = logging.handlers.QueueListener(records, handler)
    _listener.start()
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin at every start
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # two lines per scan, every few seconds
    # jieba adds its own stderr handler at import and chats about loading its dictionary:
    # import it now, so that its handler is there to be removed.
    import jieba  # noqa: F401

    jieba_log = logging.getLogger("jieba")
    jieba_log.handlers[:] = []
    jieba_log.setLevel(logging.WARNING)
