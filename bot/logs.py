"""Logging setup: one line per record, key=value context in the message. Only this module configures handlers."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    # Records are formatted and written by a thread of their own: a line per push must not cost
    # the event loop a write to stderr each time.
    records: queue.SimpleQueue = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()
    atexit.register(listener.stop)
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
