"""BuyerMessage → open or attach a complaint ticket (deduped), or the buyer's callback answer;
AgentMessage → the first response of the buyer's open tickets."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import TicketConfig
from bot.events import AgentMessage, BuyerMessage, Event
from bot.store import chat, suggestions
from bot.store import tickets as store
from bot.tickets import actions, detect, workflow

log = logging.getLogger(__name__)


class TicketConsumer:
    name = "tickets"

    def __init__(self, *, rules: detect.RulesHolder, config: TicketConfig, assignment: actions.Assignment) -> None:
        self._rules = rules
        self._config = config
        self._assignment = assignment

    async def handle(self, session: AsyncSession, event: Event) -> None:
        if isinstance(event, AgentMessage):
            buyer_id = await chat.buyer_id(session, platform=event.platform, shop=event.shop, nick=event.buyer,
                                           seen_at=event.at)
            await actions.first_response(session, buyer_id=buyer_id, at=event.at, agent=event.agent_account)
            return
        if not isinstance(event, BuyerMessage):
            return
        message = await suggestions.message_for_push(session, platform=event.platform, push_id=event.push_id)
        if message is None:
            return
        conversation = await store.conversation(session, message.conversation_id)
        await self._buyer_message(session, event, message_id=message.id, buyer_id=message.buyer_id,
                                  conversation=conversation)

    async def handle_batch(self, session: AsyncSession, recorded: list) -> None:
        answered = [r for r in recorded if isinstance(r.event, AgentMessage)]
        if answered:
            pending = await store.buyers_with_first_response_pending(session, {r.buyer_id for r in answered})
            for r in answered:
                if r.buyer_id in pending:
                    await actions.first_response(session, buyer_id=r.buyer_id, at=r.event.at, agent=r.event.agent_account)
        for r in recorded:
            if isinstance(r.event, BuyerMessage):
                await self._buyer_message(session, r.event, message_id=r.message_id, buyer_id=r.buyer_id,
                                          conversation=r.conversation)

    async def _buyer_message(self, session: AsyncSession, event: BuyerMessage, *, message_id: int, buyer_id: int,
                             conversation) -> None:
        """`conversation`: the message's conversation (its id, agent_account and waiting_since) as it
        was right after the message."""
        waiting_ticket = None
        if buyer_id in await store.buyers_awaiting_callback(session):
            waiting_ticket = await store.awaiting_callback(session, buyer_id=buyer_id)
        if waiting_ticket is not None and waiting_ticket.callback_at <= event.at:
            rating = workflow.parse_rating(event.text)
            if rating is not None:
                await actions.record_rating(session, waiting_ticket, rating=rating, text=event.text, now=event.at,
                                            config=self._config)
                return
        waiting = None
        if conversation is not None and conversation.waiting_since is not None:
            waiting = event.at - conversation.waiting_since
        angry_before = 0
        # Earlier anger counts only when this message is angry too (detect's repeated-anger rule).
        rules = self._rules.rules
        if conversation is not None and detect.is_angry(event.text, rules):
            earlier = await store.earlier_buyer_texts(session, conversation_id=conversation.id, before_id=message_id)
            angry_before = sum(detect.is_angry(t, rules) for t in earlier)
        # The matching consumer ran first and stored its suggestions for this message; the best one counts.
        best = await suggestions.best_intent(session, message_id)
        intents = [best] if best else []
        complaint = detect.detect(event.text, rules, intents=intents, waiting=waiting,
                                  angry_before=angry_before)
        if complaint is None:
            return
        if waiting_ticket is not None and waiting_ticket.callback_at <= event.at:
            # Asked to rate the handling, the buyer complains again: that ticket is not done.
            ticket = await actions.attach(session, waiting_ticket, complaint=complaint, conversation=conversation,
                                          now=event.at, config=self._config)
            log.info("complaint reopened ticket=%s rule=%s push_id=%s", ticket.id, complaint.rule, event.push_id)
            return
        opened = await actions.open_or_attach(
            session, complaint=complaint, buyer_id=buyer_id, platform=event.platform, shop=event.shop,
            buyer=event.buyer, conversation=conversation, text=event.text, now=event.at, config=self._config,
            assignment=self._assignment,
        )
        log.info("complaint %s ticket=%s severity=%s rule=%s push_id=%s",
                 "opened" if opened.created else "attached", opened.ticket.id, opened.ticket.severity,
                 complaint.rule, event.push_id)
