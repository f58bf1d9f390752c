"""Reload the knowledge base when its files change; a base that does not validate is logged and
the one in service keeps serving."""

from __future__ import annotations

import logging

from watchfiles import awatch

from bot.matching.engine import EngineHolder
from bot.matching.kb import KnowledgeBaseError

log = logging.getLogger(__name__)


async def watch_knowledge(holder: EngineHolder, *, debounce_ms: int = 500) -> None:
    async for changes in awatch(holder.folder, debounce=debounce_ms, recursive=True):
        log.info("knowledge files changed count=%d", len(changes))
        try:
            await holder.reload()
        except KnowledgeBaseError as e:
            log.error("knowledge base not reloaded, the old one keeps serving:\n%s", e)
        except Exception:
            log.exception("knowledge base reload failed; the old one keeps serving")
