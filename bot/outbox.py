"""The outbox sender: sends queued messages through the gateway, retrying what may succeed later.

A message is sent with its `client_msg_id`, so a resend after a crash (sent, but not yet marked
sent) is recognised by the gateway and delivered once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.events import Event, MessageSent
from bot.gateway.base import Outgoing
from bot.gateway.client import GatewayClient, SendResult
from bot.rounds import run_rounds
from bot.store import chat, outbox, reminders
from bot.store.tables import OutboxMessage

log = logging.getLogger(__name__)


class OutboxSender:
    def __init__(
        self, db: async_sessionmaker, client: GatewayClient, *, config: Config, clock: Clock,
        batch: int = 50, idle_poll_s: float = 1.0,
        on_sent: Callable[[list[Event]], None] = lambda events: None,
    ) -> None:
        self._db = db
        self._client = client
        self._config = config
        self._clock = clock
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._on_sent = on_sent  # after the commit: who else should know (the board, the consoles)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_rounds(self.send_due, wake=self._wake, idle_s=self._idle_poll_s, what="outbox round")

    async def send_due(self) -> int:
        """One round: claim what is due, send it, record each outcome. Returns how many were tried."""
        async with self._db() as session, session.begin():
            claimed = await outbox.claim_due(session, now=self._clock.now(), limit=self._batch)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._send(m) for m in claimed))
        sent: list[Event] = []
        async with self._db() as session, session.begin():
            for message, result in zip(claimed, results):
                if event := await self._record(session, message.id, result):
                    sent.append(event)
        if sent:
            self._on_sent(sent)
        return len(claimed)

    async def _send(self, message: OutboxMessage) -> SendResult:
        platform = self._config.platform(message.platform)
        if platform is None:
            return SendResult(ok=False, retryable=False, error=f"platform {message.platform} not configured")
        return await self._client.send(platform, Outgoing(
            buyer=message.buyer, agent_account=message.agent_account, text=message.text,
            kind=message.kind, client_msg_id=message.client_msg_id,
        ))

    async def _record(self, session, message_id: int, result: SendResult) -> MessageSent | None:
        message = await outbox.get(session, message_id)
        now = self._clock.now()
        message.attempts += 1
        if result.ok:
            if message.state == "cancelled":
                # Cancelled (a reminder whose order was paid) while it was already on its way: the
                # buyer got it, so the records say so.
                log.warning("sent although cancelled meanwhile platform=%s client_msg_id=%s",
                            message.platform, message.client_msg_id)
                await reminders.sent_after_all(session, client_msg_id=message.client_msg_id)
            message.state, message.sent_at, message.gateway_msg_id = "sent", now, result.msg_id
            message.last_error = None
            buyer_id = await chat.buyer_id(
                session, platform=message.platform, shop=message.shop, nick=message.buyer, seen_at=now
            )
            # The gateway does not push our own sends back: the bot records them itself.
            await chat.record_message(
                session, buyer_id=buyer_id, platform=message.platform, shop=message.shop,
                sender=message.sender, agent_account=message.agent_account, text=message.text,
                sent_at=now, gap=timedelta(minutes=self._config.shop.session_gap_minutes),
                client_msg_id=message.client_msg_id,
            )
            log.info("sent platform=%s client_msg_id=%s kind=%s", message.platform, message.client_msg_id, message.kind)
            return MessageSent(platform=message.platform, shop=message.shop, buyer=message.buyer,
                               push_id=message.client_msg_id, at=now, text=message.text,
                               agent_account=message.agent_account, sender=message.sender, kind=message.kind)
        message.last_error = result.error
        policy = self._config.outbox
        if result.retryable and message.attempts < policy.max_attempts:
            delay = policy.backoff_seconds * 2 ** (message.attempts - 1)
            message.next_attempt_at = now + timedelta(seconds=delay)
            log.warning("send failed, will retry platform=%s client_msg_id=%s attempt=%d error=%s",
                        message.platform, message.client_msg_id, message.attempts, result.error)
        else:
            message.state = "failed"
            log.error("send failed for good platform=%s client_msg_id=%s error=%s",
                      message.platform, message.client_msg_id, result.error)
        return None
