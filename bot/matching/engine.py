"""The matching engine as the bot serves it: a knowledge base, its tokenizer and matcher, built
together off the event loop and swapped in whole, so a reload never serves half a base."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config import ShopConfig
from bot.guard import Guard, GuardError, load_rules
from bot.matching.kb import KnowledgeBase, KnowledgeBaseError, Problem, fill, load_valid
from bot.matching.lint import against_rules, refusals
from bot.matching.matcher import Match, Matcher, Weights
from bot.matching.tokenizer import Tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Suggestion:
    intent: str
    title: str
    score: float
    question: str
    reply: str  # placeholders filled


@dataclass(frozen=True)
class Engine:
    """The knowledge in service: the base, its matcher, and the compliance rules kept beside it."""

    kb: KnowledgeBase
    matcher: Matcher
    guard: Guard

    def suggest(self, text: str, *, limit: int = 3, platform: str | None = None,
                values: Mapping[str, object] | None = None) -> list[Suggestion]:
        return [self.suggestion(m, platform=platform, values=values) for m in self.matcher.suggest(text, limit=limit)]

    def suggestion(self, match: Match, *, platform: str | None = None,
                   values: Mapping[str, object] | None = None) -> Suggestion:
        intent = self.kb.by_id[match.label]
        return Suggestion(intent=intent.id, title=intent.title, score=match.score, question=match.question,
                          reply=fill(intent.reply(platform).text, values or {}))

    def reply(self, intent_id: str, *, platform: str | None = None, values: Mapping[str, object] | None = None) -> str:
        return fill(self.kb.by_id[intent_id].reply(platform).text, values or {})


def shop_values(shop: ShopConfig) -> dict[str, object]:
    """The placeholders the shop's configuration fills."""
    return {
        "shop_name": shop.name, "ship_hours": shop.ship_hours, "return_days": shop.return_days,
        "service_hours": shop.service_hours, "price_protect_days": shop.price_protect_days,
        "courier": shop.courier,
    }


def build_engine(folder: str | Path, *, weights: Weights = Weights(), strict: bool = False) -> Engine:
    """Load, validate and index `folder` (blocking: about half a second for jieba). Raises
    KnowledgeBaseError when the base has errors, a reply that a blocking compliance rule refuses
    among them; `strict`: also on anything else `kb lint` refuses (conflicts, warning rules), as a
    reload of the base in service does."""
    kb = load_valid(folder)
    try:
        guard = load_rules(folder)
    except GuardError as e:
        raise KnowledgeBaseError([Problem(str(Path(folder) / "rules"), 1, str(e))]) from None
    refused = refusals(kb, guard) if strict else [p for p in against_rules(kb, guard) if p.severity == "error"]
    if refused:
        raise KnowledgeBaseError(refused)
    tokenizer = Tokenizer(userdict=kb.userdict, synonyms=kb.synonyms)
    labelled = [(intent.id, q) for intent in (*kb.matchable, *kb.off_topic) for q in intent.questions]
    keywords = {intent.id: intent.keywords for intent in kb.matchable if intent.keywords}
    matcher = Matcher.build(tokenizer, labelled, weights=weights, keywords=keywords,
                            off_topic=frozenset(topic.id for topic in kb.off_topic))
    return Engine(kb=kb, matcher=matcher, guard=guard)


class EngineHolder:
    """The engine in service. `reload` builds a new one in a thread and swaps it in; a base that
    does not validate raises, and the old one keeps serving."""

    def __init__(self, folder: Path, engine: Engine) -> None:
        self.folder = folder
        self.engine = engine
        self._lock = asyncio.Lock()
        self._served: str | None = None  # fingerprint of the files the engine in service was built from

    @classmethod
    async def start(cls, folder: Path) -> EngineHolder:
        return cls(folder, await asyncio.to_thread(build_engine, folder))

    async def reload(self) -> Engine:
        """Refuses (KnowledgeBaseError) whatever `kb lint` refuses, and keeps the old engine."""
        async with self._lock:
            files = await asyncio.to_thread(fingerprint, self.folder)
            if files == self._served:  # e.g. the watcher after a /kb save that reloaded already
                return self.engine
            engine = await asyncio.to_thread(build_engine, self.folder, strict=True)
            self.engine, self._served = engine, files
            gc.freeze()  # the new base is long-lived too: keep it out of the collector's full passes
            log.info("knowledge base reloaded intents=%d", len(engine.kb.intents))
            return engine


def fingerprint(folder: Path) -> str:
    """A digest of every file under `folder` (names and bytes; hidden files left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
