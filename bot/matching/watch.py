"""Reload the knowledge folder when its files change (the base, and the complaint rules kept with
it); what does not validate is logged and the one in service keeps serving."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import awatch

from bot.matching.kb import KnowledgeBaseError

log = logging.getLogger(__name__)


async def watch_knowledge(folder: Path, reload: Callable[[], Awaitable[object]], *, debounce_ms: int = 500) -> None:
    """`reload` raises what does not validate (KnowledgeBaseError, or ValueError for other files)."""
    async for changes in awatch(folder, debounce=debounce_ms, recursive=True):
        log.info("knowledge files changed count=%d", len(changes))
        try:
            await reload()
        except (KnowledgeBaseError, ValueError) as e:
            log.error("knowledge base not reloaded, the old one keeps serving:\n%s", e)
        except Exception:
            log.exception("knowledge base reload failed; the old one keeps serving")
