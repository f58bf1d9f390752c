"""BuyerMessage → its suggestions, computed once and stored with the message for the console.
AgentMessage → whether the agent's answer used, edited or ignored what was suggested."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rapidfuzz import fuzz
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import AutoReplyConfig
from bot.events import AgentMessage, BuyerMessage, Event
from bot.matching.engine import EngineHolder
from bot.matching.kb import Intent, fill
from bot.matching.matcher import Match
from bot.matching.normalize import normalize
from bot.store import chat, feedback, outbox, suggestions

log = logging.getLogger(__name__)
USED, EDITED = 95, 60  # fuzz.ratio of the answer to a suggested reply: as is, or a rewrite of it


def outcome_of(answer: str, suggested_replies: dict[str, list[str]]) -> tuple[str, str | None]:
    """("used" | "edited" | "ignored", the intent whose reply the answer comes from), against every
    wording of each suggested intent (its general and per-platform replies)."""
    if not suggested_replies:
        return "none", None
    said = normalize(answer)
    intent, best = max(((i, fuzz.ratio(said, normalize(r))) for i, texts in suggested_replies.items() for r in texts),
                       key=lambda x: x[1])
    if best >= USED:
        return "used", intent
    if best >= EDITED:
        return "edited", intent
    return "ignored", None


@dataclass(frozen=True)
class AutoReply:
    """When the bot answers by itself: confident, an intent marked safe, nobody on shift, and fresh."""

    clock: Clock
    config: AutoReplyConfig
    anyone_on_shift: Callable[[datetime], bool]
    # async (session, now) -> whether an agent on shift may take the buyer (bot.store.agent_status:
    # online, console open); when given, it decides instead of anyone_on_shift
    available: Callable | None = None

    async def nobody_available(self, session: AsyncSession) -> bool:
        if self.available is None:
            return True  # wanted() has checked the shifts
        return not await self.available(session, self.clock.now())

    def wanted(self, event: BuyerMessage, match: Match | None, intent: Intent | None) -> bool:
        return (
            self.config.enabled and match is not None and intent is not None and intent.auto_reply
            and match.score >= self.config.threshold
            # Catching up after downtime must not answer buyers who asked long ago.
            and self.clock.now() - event.at <= timedelta(minutes=self.config.max_age_minutes)
            and (self.available is not None or not self.anyone_on_shift(self.clock.now()))
        )


class MatchingConsumer:
    name = "matching"

    def __init__(self, engines: EngineHolder, *, values: dict | None = None, limit: int = 3,
                 on_latency=lambda seconds: None, auto_reply: AutoReply | None = None) -> None:
        self._engines = engines
        self._values = values or {}  # the shop's placeholders, for filling and comparing replies
        self._limit = limit
        self._on_latency = on_latency
        self._auto_reply = auto_reply

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if isinstance(event, BuyerMessage):
            await self._suggest(session, event)
        elif isinstance(event, AgentMessage):
            await self._judge_answer(session, event)

    async def handle_batch(self, session: AsyncSession, recorded: list) -> None:
        """A batch's buyer messages matched and their suggestions stored in one statement; its agent
        messages that answer a buyer message judged against what that message was shown."""
        rows, auto = [], []
        stored = session.info.setdefault(suggestions.STORED, {})
        for r in recorded:
            if not isinstance(r.event, BuyerMessage):
                continue
            matches = self._match(r.event.text)
            rows += suggestions.rows(r.message_id, [(m.label, m.score, m.question) for m in matches])
            stored[r.message_id] = [m.label for m in matches]
            if self._wants_auto_reply(r.event, matches):
                auto.append((r.event, matches[0].label))
        await suggestions.insert_rows(session, rows)
        if auto and await self._auto_reply.nobody_available(session):
            for event, intent in auto:
                await self._answer_alone(session, event, intent)
        answers = [r for r in recorded if isinstance(r.event, AgentMessage) and r.previous_sender == "buyer"]
        if not answers:
            return
        shown = await suggestions.intents_for_messages(session, [r.previous_id for r in answers])
        await feedback.insert_rows(session, [
            self._feedback(r.event, conversation_id=r.conversation.id, shown=shown.get(r.previous_id, []))
            for r in answers])

    def _match(self, text: str) -> list[Match]:
        started = time.perf_counter()
        matches = self._engines.engine.matcher.suggest(text, limit=self._limit)
        self._on_latency(time.perf_counter() - started)
        return matches

    def _wants_auto_reply(self, event: BuyerMessage, matches: list[Match]) -> bool:
        top = matches[0] if matches else None
        return bool(self._auto_reply) and self._auto_reply.wanted(
            event, top, self._engines.engine.kb.by_id.get(top.label) if top else None)

    def _feedback(self, event: AgentMessage, *, conversation_id: int, shown: list[str]) -> dict:
        """How the answer `event` relates to the intents shown (best first) for the message it answers."""
        engine = self._engines.engine
        values = {**self._values, "buyer": event.buyer}
        replies = {intent: [fill(r.text, values) for r in engine.kb.by_id[intent].replies]
                   for intent in shown if intent in engine.kb.by_id}
        outcome, used = outcome_of(event.text, replies)
        return dict(conversation_id=conversation_id, agent=event.agent_account,
                    suggested_intent=shown[0] if shown else None, used_intent=used, outcome=outcome,
                    text=event.text[:500], guard_warnings="", created_at=event.at)

    async def _suggest(self, session: AsyncSession, event: BuyerMessage) -> None:
        message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
        if message is None:
            return
        matches = self._match(event.text)
        await suggestions.replace(session, message_id=message.id,
                                  ranked=[(m.label, m.score, m.question) for m in matches])
        if self._wants_auto_reply(event, matches) and await self._auto_reply.nobody_available(session):
            await self._answer_alone(session, event, matches[0].label)

    async def _answer_alone(self, session: AsyncSession, event: BuyerMessage, intent: str) -> None:
        engine = self._engines.engine
        text = engine.reply(intent, platform=event.platform, values={**self._values, "buyer": event.buyer})
        if engine.guard.blocking(text):
            log.warning("auto-reply blocked by the guard intent=%s push_id=%s", intent, event.push_id)
            return
        await outbox.enqueue(
            session, client_msg_id=f"auto:{event.platform}:{event.push_id}", platform=event.platform,
            shop=event.shop, buyer=event.buyer, agent_account=event.agent_account, text=text, kind="reply",
            sender="bot", now=self._auto_reply.clock.now(),
        )
        log.debug("auto-reply queued platform=%s push_id=%s intent=%s", event.platform, event.push_id, intent)

    async def _judge_answer(self, session: AsyncSession, event: AgentMessage) -> None:
        """An answer typed in the platform's own chat: record how it relates to the suggestions."""
        message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
        if message is None or message.conversation_id is None:
            return
        thread = await chat.messages_of(session, message.conversation_id)
        before = [m for m in thread if (m.sent_at, m.id) < (message.sent_at, message.id)]
        if not before or before[-1].sender != "buyer":
            return  # not the answer to a buyer message
        shown = [s.intent for s in await suggestions.for_message(session, before[-1].id)]
        await feedback.insert_rows(session, [self._feedback(event, conversation_id=message.conversation_id, shown=shown)])
