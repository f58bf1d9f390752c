"""The bot's own facts, normalized from either platform's pushes (frozen dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    platform: str  # "wangwang" or "dongdong"
    shop: str  # the shop's app_key
    buyer: str  # buyer_nick / customerPin
    push_id: str
    at: datetime  # event time on the platform, aware UTC


@dataclass(frozen=True)
class BuyerMessage(Event):
    text: str
    agent_account: str  # the agent the buyer is routed to; "" when not yet assigned


@dataclass(frozen=True)
class AgentMessage(Event):
    text: str
    agent_account: str


@dataclass(frozen=True)
class OrderCreated(Event):
    order_id: str
    title: str
    amount_fen: int
    created_at: datetime
    closes_at: datetime | None  # when the unpaid order auto-closes


@dataclass(frozen=True)
class OrderPaid(Event):
    order_id: str
    paid_at: datetime
    amount_fen: int | None  # Dongdong's pay push carries no amount


@dataclass(frozen=True)
class OrderClosed(Event):
    order_id: str
    reason: str


CHAT_EVENTS = (BuyerMessage, AgentMessage)
ORDER_EVENTS = (OrderCreated, OrderPaid, OrderClosed)


@dataclass(frozen=True)
class MessageSent(Event):
    """The bot sent a message to a buyer through the gateway (an agent's reply, an auto-reply, a reminder)."""

    text: str
    agent_account: str
    sender: str  # agent (counts as a response) or bot (never stops a wait)
    kind: str  # reply, reminder, notice
