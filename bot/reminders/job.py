"""The reminder scan, thin: claim due reminders (store) → policy → outbox, in one transaction per round.

APScheduler only calls `ReminderJob.run(now=clock.now())` every `scan_seconds`; whether a reminder is
sent, and that it is sent once, is decided by the claim and the outbox key in the database.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import shop_day
from bot.reminders.policy import BuyerState, Candidate, Decision, Rules, due
from bot.store import reminders
from bot.store.reminders import Claimed, OpenOrder

log = logging.getLogger(__name__)

ONE = "reminder.unpaid"
MANY = "reminder.unpaid_many"
# render(intent_id, platform, values) -> the text, or None when the compliance guard blocks it
Render = Callable[[str, str, Mapping[str, object]], "str | None"]


@dataclass(frozen=True)
class Planned:
    """A reminder message the scan sends (or, in a preview, would send)."""

    platform: str
    shop: str
    buyer: str
    client_msg_id: str
    text: str
    orders: tuple[str, ...]  # the platform's order ids it covers
    at: datetime


@dataclass
class ScanResult:
    outcomes: Counter = field(default_factory=Counter)  # (platform, outcome) -> n
    messages: list[Planned] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(n for (_, o), n in self.outcomes.items() if o == outcome)


def yuan(fen: int | None) -> str:
    return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"


class ReminderJob:
    def __init__(
        self, db: async_sessionmaker, *, rules: Rules, render: Render, batch: int = 500,
        on_outcome: Callable[[str, str, int], None] = lambda platform, outcome, n: None,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._rules = rules
        self._render = render
        self._batch = batch
        self._on_outcome = on_outcome
        self._on_enqueued = on_enqueued

    async def run(self, *, now: datetime) -> ScanResult:
        """One scan: every reminder due at `now`, in transactions of up to `batch` reminders."""
        result = ScanResult()
        while True:
            async with self._db() as session, session.begin():
                claimed = await self._round(session, now=now, result=result, send=True)
            if claimed < self._batch:
                break
        for (platform, outcome), n in result.outcomes.items():
            self._on_outcome(platform, outcome, n)
        if result.messages:
            log.info("reminders queued n=%d", len(result.messages))
            self._on_enqueued()
        return result

    async def preview(self, *, now: datetime) -> ScanResult:
        """What a scan at `now` would do, computed on the current data and then rolled back."""
        result = ScanResult()
        async with self._db() as session:
            await session.begin()
            try:
                await self._round(session, now=now, result=result, send=False)
            finally:
                await session.rollback()
        return result

    async def _round(self, session: AsyncSession, *, now: datetime, result: ScanResult, send: bool) -> int:
        claimed = await reminders.claim_due(session, now=now, limit=self._batch)
        by_buyer: dict[int, list[Claimed]] = defaultdict(list)
        for row in claimed:
            by_buyer[row.buyer_id].append(row)
        sent_counts = await reminders.sent_counts(session, (r.order_pk for r in claimed))
        day_start, day_end = shop_day(now, self._rules.zone)
        facts = await reminders.buyer_facts(session, buyer_ids=list(by_buyer), now=now, day_start=day_start,
                                            day_end=day_end, live_since=now - self._rules.live_window)
        outcome = reminders.RoundOutcome()
        for buyer_id, rows in by_buyer.items():
            first, known = rows[0], facts[buyer_id]
            buyer = BuyerState(key=f"{first.platform}:{first.buyer}", opted_out=known.opted_out,
                               last_agent_at=known.last_agent_at, sent_today=known.sent_today)
            to_send: list[Claimed] = []
            for r in rows:
                later = any(o.order_pk == r.order_pk and (o.due_at, o.id) > (r.due_at, r.id) for o in rows)
                decision = due(
                    Candidate(status=r.status, due_at=r.due_at, closes_at=r.closes_at,
                              sent_for_order=sent_counts.get(r.order_pk, 0), superseded=later),
                    buyer, now=now, rules=self._rules,
                )
                if decision.action == "send":
                    to_send.append(r)
                else:
                    self._record(outcome, r, decision, now=now, result=result)
            if to_send:
                self._send(outcome, to_send, known.open_orders, now=now, result=result)
        if not send:
            outcome.queued.clear()
        await reminders.record_round(session, outcome)
        return len(claimed)

    def _record(self, outcome: reminders.RoundOutcome, row: Claimed, decision: Decision, *, now: datetime,
                result: ScanResult) -> None:
        if decision.action == "wait":
            outcome.defer(row.id, until=decision.until)
        else:
            state = "missed" if decision.action == "missed" else "skipped"
            outcome.decide(row.id, state=state, reason=decision.reason, now=now)
            log.debug("reminder %s platform=%s order=%s slot=%s reason=%s", state, row.platform, row.order_id,
                     row.slot, decision.reason)
        result.outcomes[(row.platform, decision.outcome)] += 1

    def _send(self, outcome: reminders.RoundOutcome, rows: list[Claimed], open_orders: list[OpenOrder], *,
              now: datetime, result: ScanResult) -> None:
        """One message for the buyer, covering all their open unpaid orders."""
        lead = min(rows, key=lambda r: (r.due_at, r.id))
        orders = open_orders or [
            OpenOrder(lead.order_pk, lead.order_id, lead.title, lead.amount_fen, None, lead.closes_at)]
        text = self._render(*self._template(lead.platform, orders))
        if text is None:
            for r in rows:
                self._record(outcome, r, Decision("skip", "blocked"), now=now, result=result)
            return
        key = reminders.client_msg_id(platform=lead.platform, order_id=lead.order_id, slot=lead.slot)
        outcome.queue(client_msg_id=key, platform=lead.platform, shop=lead.shop, buyer=lead.buyer, text=text, now=now)
        for r in rows:
            outcome.decide(r.id, state="sent", reason=None, now=now, client_msg_id=key)
        result.outcomes[(lead.platform, "sent")] += len(rows)
        result.messages.append(Planned(platform=lead.platform, shop=lead.shop, buyer=lead.buyer,
                                       client_msg_id=key, text=text, at=now,
                                       orders=tuple(o.order_id for o in orders)))
        log.debug("reminder queued platform=%s order=%s slot=%s orders=%d client_msg_id=%s",
                 lead.platform, lead.order_id, lead.slot, len(orders), key)

    def _template(self, platform: str, orders: list[OpenOrder]) -> tuple[str, str, dict[str, object]]:
        closes = [o.closes_at for o in orders if o.closes_at is not None]
        close_time = min(closes).astimezone(self._rules.zone).strftime("%m月%d日 %H:%M") if closes else None
        if len(orders) == 1:
            o = orders[0]
            return ONE, platform, {"item": o.title, "amount": yuan(o.amount_fen), "close_time": close_time}
        total = sum(o.amount_fen or 0 for o in orders)
        return MANY, platform, {"count": len(orders), "amount": yuan(total), "close_time": close_time,
                                "item": orders[0].title}
