"""Logging setup: one line per record, key=value context in the message. Only this module configures handlers."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys

from bot.privacy import MaskingFilter


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


def setup(level: str = "INFO") -> None:
    global _listener
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
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
