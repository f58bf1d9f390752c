"""Order events → reminder schedule rows; a buyer's `reminder.opt_out` message → no more reminders."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import BuyerMessage, Event, OrderClosed, OrderCreated, OrderPaid
from bot.reminders.policy import Rules, schedule
from bot.store import orders, reminders, suggestions

log = logging.getLogger(__name__)

OPT_OUT = "reminder.opt_out"


class ReminderConsumer:
    """Runs after the matching consumer, whose stored top suggestion tells an opt-out message."""

    name = "reminders"

    def __init__(self, *, rules: Rules) -> None:
        self._rules = rules

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if isinstance(event, (OrderCreated, OrderPaid, OrderClosed)):
            # the status right after this push: a batch may hold later pushes of the same order
            order, status = await orders.for_event(session, event)
            if order is None:
                return
            if isinstance(event, OrderCreated) and status == "unpaid":
                await reminders.schedule(session, order=order,
                                         slots=schedule(order.created_at, order.closes_at, self._rules))
            elif status in ("paid", "closed"):
                # Also covers a creation that arrives after its payment: nothing is scheduled.
                stopped = await reminders.stop_for_order(session, order_pk=order.id, reason=status, now=event.at)
                if stopped:
                    log.debug("reminders stopped platform=%s order=%s reason=%s n=%d",
                             event.platform, event.order_id, status, stopped)
        elif isinstance(event, BuyerMessage):
            message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
            if message is not None:
                await self._opt_out(session, event, message_id=message.id, buyer_id=message.buyer_id)

    async def handle_batch(self, session: AsyncSession, recorded: list) -> None:
        for r in recorded:
            if isinstance(r.event, BuyerMessage):
                await self._opt_out(session, r.event, message_id=r.message_id, buyer_id=r.buyer_id)

    async def _opt_out(self, session: AsyncSession, event: BuyerMessage, *, message_id: int, buyer_id: int) -> None:
        if await suggestions.best_intent(session, message_id) == OPT_OUT:
            if await reminders.opt_out(session, buyer_id=buyer_id, at=event.at, push_id=event.push_id):
                log.info("reminder opt-out platform=%s push_id=%s", event.platform, event.push_id)
