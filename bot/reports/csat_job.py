"""The satisfaction job (服务评价): every scan, the buyers' answers to open invitations are read and
parsed, and buyers whose conversation has ended (the gap, or an agent ended it) are invited to rate
it, through the outbox; an agent's end invites at once (`invite(conversation_id=...)`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import quiet_until
from bot.config import Config
from bot.metrics.report import Rules
from bot.reports.csat import parse_rating
from bot.store import csat as store
from bot.store import outbox

log = logging.getLogger(__name__)


class CsatJob:
    def __init__(self, db: async_sessionmaker, *, config: Config, rules: Rules, blocking: Callable[[str], bool],
                 on_enqueued: Callable[[], None] = lambda: None) -> None:
        self._db = db
        self._settings = config.csat
        self._gap = timedelta(minutes=config.shop.session_gap_minutes)
        self._rules = rules
        self._blocking = blocking  # the compliance guard: True when a text must not be sent
        self._on_enqueued = on_enqueued

    def text(self, platform: str) -> str:
        return self._settings.texts.get(platform, self._settings.text)

    async def run(self, *, now: datetime) -> dict[str, int]:
        """One scan: how many invitations were rated, closed without a rating, and sent."""
        counts = {"rated": 0, "closed": 0, "invited": 0}
        if not self._settings.enabled:
            return counts
        window = timedelta(hours=self._settings.answer_hours)
        async with self._db() as session, session.begin():
            for a in await store.open_answers(session):
                invited_at = await store.invited_at(session, a.invitation_id)
                if a.text is None:
                    if now - invited_at > window:
                        await store.answer(session, a.invitation_id, rating=None, at=None)
                        counts["closed"] += 1
                    continue
                rating = parse_rating(a.text) if a.at - invited_at <= window else None
                await store.answer(session, a.invitation_id, rating=rating, at=a.at)
                counts["rated" if rating is not None else "closed"] += 1
        counts["invited"] = await self.invite(now=now)
        return counts

    async def invite(self, *, now: datetime, conversation_id: int | None = None) -> int:
        """Invite the buyers whose conversation ended (by the gap, or an agent ended it): all of them,
        or with `conversation_id` that one (an agent just ended it). Returns how many were invited."""
        if not self._settings.enabled or quiet_until(now, self._rules.zone, self._settings.quiet_hours) is not None:
            return 0
        day = now.astimezone(self._rules.zone).date()
        invited = 0
        async with self._db() as session, session.begin():
            lookback = timedelta(hours=self._settings.lookback_hours)
            ended = await store.ended(session, after=now - self._gap - lookback, before=now - self._gap,
                                      agent_ended_since=now - lookback, conversation_id=conversation_id)
            for e in ended:
                text = self.text(e.platform)
                if self._blocking(text):
                    log.error("satisfaction invitation blocked by the compliance guard platform=%s", e.platform)
                    continue
                client_msg_id = f"csat:{e.platform}:{e.conversation_id}"
                if await store.invite(session, ended=e, agent=e.agent_account, day=day, now=now,
                                      client_msg_id=client_msg_id):
                    await outbox.enqueue(session, client_msg_id=client_msg_id, platform=e.platform, shop=e.shop,
                                         buyer=e.buyer, agent_account=e.agent_account, text=text, kind="notice",
                                         sender="bot", now=now)
                    invited += 1
        if invited:
            self._on_enqueued()
        return invited
