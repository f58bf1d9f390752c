"""The outbox sender: sends queued messages through the gateway, retrying for as long as each is
still worth sending.

A message is sent with its `client_msg_id`, so a resend after a crash or a timeout (the gateway may
have delivered it) is recognised by the gateway and delivered once; the bot records it once.

How long a message is worth trying (`[outbox]`): a reply until `reply_horizon_minutes` after it was
queued, or until someone answers the buyer in the platform's own chat; a reminder until
`reminder_horizon_minutes`, or until none of its orders is unpaid and open (checked before each try);
a notice (a ticket's callback question) until `notice_horizon_minutes`. A failed try waits a capped,
jittered, doubling backoff. While a platform's gateway fails, only one message of that platform is
tried at a time (a probe); the first success makes every message of the platform due at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.clock import Clock
from bot.config import Config, OutboxConfig
from bot.events import Event, MessageSent
from bot.gateway.base import Outgoing
from bot.gateway.client import GatewayClient, SendResult
from bot.rounds import run_rounds
from bot.store import chat, outbox, reminders
from bot.store.tables import OutboxMessage
from bot.tickets import actions as ticket_actions

log = logging.getLogger(__name__)

# What the console shows for each state.
LABELS = {"pending": "发送中", "sent": "已发送", "failed": "发送失败", "cancelled": "已取消"}


def horizon(kind: str, policy: OutboxConfig) -> timedelta:
    """How long after it was queued a message of `kind` is still worth sending.

    >>> horizon("reply", OutboxConfig())
    datetime.timedelta(seconds=1800)
    """
    minutes = {"reply": policy.reply_horizon_minutes, "reminder": policy.reminder_horizon_minutes}.get(
        kind, policy.notice_horizon_minutes)
    return timedelta(minutes=minutes)


def backoff(failures: int, policy: OutboxConfig, *, jitter: float, timed_out: bool = False) -> timedelta:
    """The wait after the `failures`-th failed try in a row: doubling from backoff_seconds, capped at
    max_backoff_seconds, jittered down by up to half (`jitter` in [0, 1)); after a timeout at least
    the timeout itself, so that a slow gateway is not sent the same message again while it works.

    >>> policy = OutboxConfig(backoff_seconds=1, max_backoff_seconds=60, timeout_seconds=5)
    >>> [backoff(n, policy, jitter=0).total_seconds() for n in (1, 2, 3, 7, 30)]
    [1.0, 2.0, 4.0, 60.0, 60.0]
    >>> backoff(1, policy, jitter=0.5).total_seconds(), backoff(1, policy, jitter=0, timed_out=True).total_seconds()
    (0.75, 5.0)
    """
    full = min(policy.max_backoff_seconds, policy.backoff_seconds * 2 ** min(failures - 1, 40))
    seconds = full * (1 - jitter / 2)
    if timed_out:
        seconds = max(seconds, policy.timeout_seconds)
    return timedelta(seconds=seconds)


@dataclass
class _Down:
    """A platform whose gateway failed: the next probe's time and how many failures in a row."""

    until: datetime
    failures: int


class OutboxSender:
    def __init__(
        self, db: async_sessionmaker, client: GatewayClient, *, config: Config, clock: Clock,
        batch: int = 50, idle_poll_s: float = 1.0,
        on_sent: Callable[[list[Event]], None] = lambda events: None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._db = db
        self._client = client
        self._config = config
        self._clock = clock
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._on_sent = on_sent  # after the commit: who else should know (the board, the consoles)
        self._jitter = jitter
        self._down: dict[str, _Down] = {}
        # (kind, outcome): sent (once per message), retry (a failed try), timeout (of those, no answer
        # in time), failed (given up), cancelled (no longer worth sending). For /metrics.
        self.counts: Counter[tuple[str, str]] = Counter()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_rounds(self.send_due, wake=self._wake, idle_s=self._idle_poll_s, what="outbox round")

    async def send_due(self) -> int:
        """One round: claim what is due, send it, record each outcome. Returns how many were tried."""
        now = self._clock.now()
        async with self._db() as session, session.begin():
            claimed = await outbox.claim_due(session, now=now, limit=self._batch)
            to_send, held = [], 0
            for message in claimed:
                if await self._given_up(session, message, now):
                    continue
                down = self._down.get(message.platform)
                if down is None:
                    to_send.append(message)
                elif down.until > now:  # its gateway is failing: due again at the next probe
                    await outbox.put_back(session, [message.id], at=down.until)
                    held += 1
                elif any(m.platform == message.platform for m in to_send):  # another is this round's probe
                    await outbox.put_back(session, [message.id], at=now + backoff(
                        down.failures + 1, self._config.outbox, jitter=0))
                    held += 1
                else:
                    to_send.append(message)  # the probe
        if not to_send:
            return len(claimed) - held
        results = await asyncio.gather(*(self._send(m) for m in to_send))
        sent: list[Event] = []
        resumed = False
        async with self._db() as session, session.begin():
            for message, result in zip(to_send, results):
                if event := await self._record(session, message.id, result):
                    sent.append(event)
            for platform in {m.platform for m, r in zip(to_send, results) if r.ok}:
                if self._down.pop(platform, None) is not None:
                    resumed = bool(await outbox.resume(session, platform=platform, now=self._clock.now())) or resumed
                    log.info("gateway answers again platform=%s; its waiting messages are due now", platform)
        self._note_failing(to_send, results)
        if sent:
            self._on_sent(sent)
        if resumed:
            self.wake()
        return len(to_send)

    def _note_failing(self, tried: list[OutboxMessage], results: list[SendResult]) -> None:
        """A platform none of whose tries this round went through, and one failed as may pass: its
        gateway is failing; the next probe waits a backoff that grows with each such round."""
        now, policy = self._clock.now(), self._config.outbox
        ok = {m.platform for m, r in zip(tried, results) if r.ok}
        failing: dict[str, bool] = {}
        for message, result in zip(tried, results):
            if result.retryable and message.platform not in ok:
                failing[message.platform] = failing.get(message.platform, False) or result.timed_out
        for platform, timed_out in failing.items():
            down = self._down.get(platform)
            failures = (down.failures if down else 0) + 1
            self._down[platform] = _Down(
                until=now + backoff(failures, policy, jitter=self._jitter(), timed_out=timed_out), failures=failures)

    async def _given_up(self, session, message: OutboxMessage, now: datetime) -> bool:
        """Checked before each try: is the message still worth sending? If not, it is closed here."""
        state, why = None, None
        if now >= message.created_at + horizon(message.kind, self._config.outbox):
            state, why = "failed", f"not sent within {horizon(message.kind, self._config.outbox)}"
        elif message.kind == "reminder" and not await reminders.still_wanted(
                session, client_msg_id=message.client_msg_id, now=now):
            state, why = "cancelled", "reminder stopped: its orders were paid or closed before it could be sent"
        elif message.kind == "reply" and await outbox.answered_since(
                session, platform=message.platform, shop=message.shop, buyer=message.buyer, since=message.created_at):
            state, why = "failed", "not sent: the buyer was answered in the platform's chat meanwhile"
        if state is None:
            return False
        if message.last_error and state == "failed":
            why += f"; last error: {message.last_error}"
        message.state, message.last_error, message.leased_until = state, why[:500], None
        if message.kind == "reminder":
            await reminders.not_sent(session, client_msg_id=message.client_msg_id,
                                     reason="paid_or_closed" if state == "cancelled" else "send_failed")
        self.counts[(message.kind, state)] += 1
        log.warning("outbox gave up platform=%s client_msg_id=%s state=%s why=%s",
                    message.platform, message.client_msg_id, state, why)
        return True

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
        message.leased_until = None
        if result.ok:
            if message.state == "sent":
                return None  # recorded already (another process's try of the same key): counted once
            if message.state in ("cancelled", "failed"):
                # Given up (a reminder whose order was paid) while it was already on its way: the
                # buyer got it, so the records say so.
                log.warning("sent although %s meanwhile platform=%s client_msg_id=%s",
                            message.state, message.platform, message.client_msg_id)
                await reminders.sent_after_all(session, client_msg_id=message.client_msg_id)
            message.state, message.sent_at, message.gateway_msg_id = "sent", now, result.msg_id
            message.last_error, message.failed_at = None, None
            self.counts[(message.kind, "sent")] += 1
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
            if message.sender == "agent":  # an agent's reply answers the buyer's open tickets
                await ticket_actions.first_response(session, buyer_id=buyer_id, at=now, agent=message.agent_account)
            log.debug("sent platform=%s client_msg_id=%s kind=%s", message.platform, message.client_msg_id, message.kind)
            return MessageSent(platform=message.platform, shop=message.shop, buyer=message.buyer,
                               push_id=message.client_msg_id, at=now, text=message.text,
                               agent_account=message.agent_account, sender=message.sender, kind=message.kind)
        if message.state != "pending":
            return None
        message.last_error = result.error[:500]
        message.failed_at = message.failed_at or now
        policy = self._config.outbox
        timed_out = result.timed_out
        self.counts[(message.kind, "retry")] += 1
        if timed_out:
            self.counts[(message.kind, "timeout")] += 1
        capped = policy.max_attempts is not None and message.attempts >= policy.max_attempts
        if result.retryable and not capped:
            message.next_attempt_at = now + backoff(message.attempts, policy, jitter=self._jitter(), timed_out=timed_out)
            log.warning("send failed, will retry platform=%s client_msg_id=%s attempt=%d error=%s",
                        message.platform, message.client_msg_id, message.attempts, result.error)
            return None
        message.state = "failed"
        self.counts[(message.kind, "failed")] += 1
        if message.kind == "reminder":
            await reminders.not_sent(session, client_msg_id=message.client_msg_id, reason="send_failed")
        log.error("send failed for good platform=%s client_msg_id=%s error=%s",
                  message.platform, message.client_msg_id, result.error)
        return None
