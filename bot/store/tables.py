"""The schema: one SQLModel class per table. Times are aware UTC; money is integer fen."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator):
    """Stores aware datetimes as naive UTC and gives them back aware, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _at(*, nullable: bool = False, index: bool = False):
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, index=index)


class Shop(SQLModel, table=True):
    __tablename__ = "shops"
    __table_args__ = (sa.UniqueConstraint("platform", "app_key"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    app_key: str
    name: str = ""


class Agent(SQLModel, table=True):
    __tablename__ = "agents"
    id: str = Field(primary_key=True)
    name: str = ""
    roles: str = ""  # comma-separated, from the configuration


class AgentAccount(SQLModel, table=True):
    """An agent's account on one platform (子账号 / waiterPin), as the platform names it."""

    __tablename__ = "agent_accounts"
    platform: str = Field(primary_key=True)
    account: str = Field(primary_key=True)
    agent_id: str = Field(foreign_key="agents.id", index=True)


class Buyer(SQLModel, table=True):
    __tablename__ = "buyers"
    __table_args__ = (sa.UniqueConstraint("platform", "shop", "nick"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    shop: str  # app_key
    nick: str  # buyer_nick / customerPin
    first_seen_at: datetime = _at()


class RawPush(SQLModel, table=True):
    """Every accepted push exactly as it came, and whether it has been processed."""

    __tablename__ = "pushes"
    __table_args__ = (
        sa.UniqueConstraint("platform", "push_id"),
        sa.Index("ix_pushes_pending", "processed_at", "event_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    push_id: str
    kind: str  # topic / method
    shop: str
    buyer: str
    event_at: datetime = _at()
    received_at: datetime = _at()
    form: str  # the form parameters as a JSON object
    processed_at: datetime | None = _at(nullable=True)
    attempts: int = 0
    last_error: str | None = None


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (sa.Index("ix_conversations_buyer_started", "buyer_id", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="buyers.id")
    platform: str
    shop: str
    started_at: datetime = _at()
    last_message_at: datetime = _at(index=True)
    agent_account: str = ""  # the agent the buyer is routed to, or who last answered
    waiting_since: datetime | None = _at(nullable=True, index=True)
    last_buyer_text: str = ""


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_buyer_sent", "buyer_id", "sent_at"),
        sa.Index("ix_messages_platform_push", "platform", "push_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", index=True)
    buyer_id: int = Field(foreign_key="buyers.id")
    platform: str
    sender: str  # buyer, agent, or bot (auto-replies and reminders: they never stop a wait)
    agent_account: str = ""
    text: str
    sent_at: datetime = _at()
    push_id: str | None = None
    client_msg_id: str | None = None


class Order(SQLModel, table=True):
    """An order, assembled from its pushes in whatever order they came."""

    __tablename__ = "orders"
    __table_args__ = (sa.UniqueConstraint("platform", "shop", "order_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    shop: str
    order_id: str
    buyer_id: int = Field(foreign_key="buyers.id", index=True)
    title: str = ""
    amount_fen: int | None = None
    created_at: datetime | None = _at(nullable=True, index=True)
    closes_at: datetime | None = _at(nullable=True)
    paid_at: datetime | None = _at(nullable=True)
    paid_amount_fen: int | None = None
    closed_at: datetime | None = _at(nullable=True)
    close_reason: str | None = None
    status: str = Field(default="unknown", index=True)  # unknown (no create yet), unpaid, paid, closed


class OutboxMessage(SQLModel, table=True):
    """A message waiting to be sent, or sent; `client_msg_id` makes each send happen once."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    client_msg_id: str = Field(unique=True)
    platform: str
    shop: str
    buyer: str
    agent_account: str = ""
    text: str
    kind: str  # reply, reminder, notice
    sender: str = "agent"  # agent (counts as a response) or bot (never stops a wait)
    state: str = "pending"  # pending, sent, failed
    attempts: int = 0
    created_at: datetime = _at()
    next_attempt_at: datetime = _at()
    sent_at: datetime | None = _at(nullable=True)
    gateway_msg_id: str | None = None
    last_error: str | None = None


class Suggestion(SQLModel, table=True):
    """The replies suggested for one buyer message, computed once when it came in."""

    __tablename__ = "suggestions"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    rank: int  # 1 = best
    intent: str
    score: float  # 0..1
    question: str = ""
