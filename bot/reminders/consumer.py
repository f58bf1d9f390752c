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
            order = await orders.find(session, platform=event.platform, shop=event.shop, order_id=event.order_id)
            if order is None:
                return
            if isinstance(event, OrderCreated) and order.status == "unpaid":
                await reminders.schedule(session, order=order,
                                         slots=schedule(order.created_at, order.closes_at, self._rules))
            elif order.status in ("paid", "closed"):
                # Also covers a creation that arrives after its payment: nothing is scheduled.
                stopped = await reminders.stop_for_order(session, order_pk=order.id, reason=order.status, now=event.at)
                if stopped:
                    log.info("reminders stopped platform=%s order=%s reason=%s n=%d",
                             event.platform, event.order_id, order.status, stopped)
        elif isinstance(event, BuyerMessage):
            message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
            if message is None:
                return
            if await suggestions.best_intent(session, message.id) == OPT_OUT:
                if await reminders.opt_out(session, buyer_id=message.buyer_id, at=event.at, push_id=event.push_id):
                    log.info("reminder opt-out platform=%s push_id=%s", event.platform, event.push_id)
