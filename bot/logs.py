"""Logging setup: one line per record, key=value context in the message. Only this module configures handlers."""

from __future__ import annotations

import logging
import sys


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a line per plugin at every start
    # jieba adds its own stderr handler at import and chats about loading its dictionary:
    # import it now, so that its handler is there to be removed.
    import jieba  # noqa: F401

    jieba_log = logging.getLogger("jieba")
    jieba_log.handlers[:] = []
    jieba_log.setLevel(logging.WARNING)
