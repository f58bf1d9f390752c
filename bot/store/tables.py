"""The schema: one SQLModel class per table. Times are aware UTC; money is integer fen."""

from __future__ import annotations

from datetime import date, datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel
from sqlmodel.sql.sqltypes import AutoString

from bot.privacy import scrub_error
from bot.store.sealed import Sealed


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


class Masked(TypeDecorator):
    """Text masked (bot/privacy.py: phone numbers, ID numbers, addresses, SQL parameters) before it is stored."""

    impl = AutoString
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else scrub_error(value)


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
        sa.Index("ix_pushes_partition_pending", "partition", "event_at",
                 postgresql_where=sa.text("processed_at IS NULL"), sqlite_where=sa.text("processed_at IS NULL")),
    )
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    push_id: str
    kind: str  # topic / method
    shop: str
    buyer: str
    event_at: datetime = _at()
    received_at: datetime = _at()
    form: str = Field(sa_type=Sealed)  # the form parameters as a JSON object (encrypted: bot.store.sealed)
    partition: int = 0  # bot.partitions.partition_of its buyer: who may process it (docs/scaling.md)
    processed_at: datetime | None = _at(nullable=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Masked)  # masked: no buyer data, no SQL parameters


class ConsumerFailure(SQLModel, table=True):
    """A consumer that failed on one push with an error of its own (a bug, not the store's): the push
    was processed by everything else, and this consumer's part waits here until it is replayed
    (`csbot pushes retry --consumers`; a running bot replays it, bot.store.consumer_failures)."""

    __tablename__ = "consumer_failures"
    __table_args__ = (sa.UniqueConstraint("platform", "push_id", "consumer"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    push_id: str
    consumer: str  # the consumer's name: matching, metrics, reminders, tickets
    error: str = Field(sa_type=Masked)  # masked: no buyer data, no SQL parameters
    failed_at: datetime = _at()
    attempts: int = 1
    replay: bool = False  # asked to be replayed, not yet tried again
    replayed_at: datetime | None = _at(nullable=True)  # done: the consumer went through on a replay


class Setting(SQLModel, table=True):
    """What every process on one database must agree on (the partition count)."""

    __tablename__ = "settings"
    key: str = Field(primary_key=True)
    value: str


class Change(SQLModel, table=True):
    """The change log: one row per processed push (and per transfer), tailed by id by every process's
    live views (the board, the consoles), so they show what any process processed."""

    __tablename__ = "changes"
    id: int | None = Field(default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                           primary_key=True)
    at: datetime = _at()
    platform: str
    shop: str
    buyer: str
    kind: str  # buyer_message, agent_message, order_created, order_paid, order_closed; transfer (not a push)
    agent_account: str = ""
    push_id: str


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
    last_buyer_text: str = Field(default="", sa_type=Sealed)
    # An agent (or a supervisor) ended it (结束会话); a buyer message after `ended_at` makes it live again.
    # Conversations themselves still follow metrics.md's gap (`bot.store.conversation_end`).
    ended_at: datetime | None = _at(nullable=True, index=True)
    ended_by: str | None = None


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
    text: str = Field(sa_type=Sealed)
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
    __table_args__ = (sa.Index("ix_outbox_due", "state", "next_attempt_at"),
                      sa.Index("ix_outbox_platform_state", "platform", "state"))
    id: int | None = Field(default=None, primary_key=True)
    client_msg_id: str = Field(unique=True)
    platform: str
    shop: str
    buyer: str
    agent_account: str = ""
    text: str = Field(sa_type=Sealed)
    kind: str  # reply, reminder, notice
    sender: str = "agent"  # agent (counts as a response) or bot (never stops a wait)
    state: str = "pending"  # pending (发送中), sent (已发送), failed (发送失败), cancelled (a reminder no longer due)
    attempts: int = 0
    created_at: datetime = _at()
    next_attempt_at: datetime = _at()
    sent_at: datetime | None = _at(nullable=True)
    gateway_msg_id: str | None = None
    last_error: str | None = Field(default=None, sa_type=Masked)  # the last try's error while pending; why it failed or was cancelled after
    leased_until: datetime | None = _at(nullable=True)  # claimed by a sender until then (a crash frees it)
    expires_at: datetime | None = _at(nullable=True)  # not worth sending after this (outbox horizon per kind)
    failed_at: datetime | None = _at(nullable=True)  # the first failed try of the current failing run


class Suggestion(SQLModel, table=True):
    """The replies suggested for one buyer message, computed once when it came in."""

    __tablename__ = "suggestions"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id", index=True)
    rank: int  # 1 = best
    intent: str
    score: float  # 0..1
    question: str = ""


class Handover(SQLModel, table=True):
    """A waiting buyer handed from a leaving agent to an incoming one at a shift change (交接).

    Open while the conversation still waits since `waiting_since`; no foreign key, because a
    conversation merged into another by a late push is deleted.
    """

    __tablename__ = "handovers"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "shift_change_at"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(index=True)
    buyer_id: int
    platform: str
    from_agent: str
    to_agent: str = Field(index=True)
    shift_change_at: datetime = _at(index=True)
    waiting_since: datetime = _at()
    last_buyer_text: str = Field(default="", sa_type=Sealed)


class ReplyFeedback(SQLModel, table=True):
    """How an agent's reply relates to what was suggested: used as is, edited, or ignored.
    The list a knowledge-base editor works from (`csbot kb stats`)."""

    __tablename__ = "reply_feedback"
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversations.id", index=True)
    agent: str = ""  # agent id, or the role for supervisors
    suggested_intent: str | None = Field(default=None, index=True)  # the top suggestion shown, if any
    used_intent: str | None = None  # the suggestion the agent started from, if any
    outcome: str  # used, edited, ignored, none (nothing was suggested)
    text: str = Field(sa_type=Sealed)
    guard_warnings: str = ""  # comma-separated ids of the compliance rules that warned (the reply was sent)
    created_at: datetime = _at()


class Reminder(SQLModel, table=True):
    """One payment reminder (催付) slot of one order: due, then sent, skipped (with a reason) or missed.

    The unique (order, slot) is what makes a reminder happen at most once, whatever the schedulers do.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        sa.UniqueConstraint("order_pk", "slot"),
        sa.Index("ix_reminders_due", "state", "due_at"),  # the scan: state = 'due' AND due_at <= now
        sa.Index("ix_reminders_buyer_decided", "buyer_id", "decided_at"),  # the daily cap per buyer
    )
    id: int | None = Field(default=None, primary_key=True)
    order_pk: int = Field(foreign_key="orders.id", index=True)
    buyer_id: int = Field(foreign_key="buyers.id")
    platform: str
    shop: str
    order_id: str  # the platform's order id (tid / orderId)
    slot: str  # "1", "2" ... the offsets after creation in order; "close" before the auto-close
    scheduled_at: datetime = _at()  # when it first fell due; due_at moves past quiet hours
    due_at: datetime = _at()
    state: str = "due"  # due, sent, skipped, missed
    reason: str | None = None  # why skipped: paid, closed, opted_out, live_conversation, quiet_hours ...
    decided_at: datetime | None = _at(nullable=True)
    client_msg_id: str | None = Field(default=None, index=True)  # the outbox message that carried it


class ReminderOptOut(SQLModel, table=True):
    """A buyer who asked not to be reminded again (`reminder.opt_out`)."""

    __tablename__ = "reminder_optouts"
    buyer_id: int = Field(foreign_key="buyers.id", primary_key=True)
    at: datetime = _at()
    push_id: str | None = None


class Ticket(SQLModel, table=True):
    """A complaint ticket (投诉工单): one open per buyer and category; `version` guards every update."""

    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index("ux_tickets_open_buyer_category", "buyer_id", "category", unique=True,
                 sqlite_where=sa.text("state != 'closed'"), postgresql_where=sa.text("state != 'closed'")),
        sa.Index("ix_tickets_state_severity", "state", "severity"),
        sa.Index("ix_tickets_buyer_state", "buyer_id", "state"),
    )
    id: int | None = Field(default=None, primary_key=True)
    version: int = 1
    buyer_id: int = Field(foreign_key="buyers.id")
    platform: str
    shop: str
    buyer: str  # buyer_nick / customerPin
    conversation_id: int | None = None  # no foreign key: conversations are merged and deleted
    agent_account: str = ""  # the agent the buyer's conversation was routed to
    order_id: str | None = None  # the buyer's latest order when the ticket was opened
    category: str
    severity: str  # P1, P2, P3
    rule: str  # the detection rule that fired (the worst one), or "manual"
    reason: str = ""
    summary: str = Field(default="", sa_type=Sealed)  # the first complaint's text
    complaints: int = 1  # complaint messages attached
    state: str = Field(default="new", index=True)
    owner: str | None = Field(default=None, index=True)  # agent id
    resolution: str | None = None  # refund, exchange, compensation, explanation
    resolution_note: str | None = Field(default=None, sa_type=Sealed)
    rating: int | None = None  # the buyer's callback answer, 1-5
    created_by: str = "bot"
    created_at: datetime = _at()
    updated_at: datetime = _at()
    assigned_at: datetime | None = _at(nullable=True)
    first_response_at: datetime | None = _at(nullable=True)
    resolved_at: datetime | None = _at(nullable=True)
    callback_at: datetime | None = _at(nullable=True)
    closed_at: datetime | None = _at(nullable=True)
    first_response_due_at: datetime = _at()
    resolution_due_at: datetime = _at()
    escalated_at: datetime | None = _at(nullable=True)
    escalations: str = ""  # SLAs announced as breached: "first_response", "resolution", comma-separated


class TicketHistory(SQLModel, table=True):
    """Every change of a ticket, append-only (triggers refuse UPDATE and DELETE): who, when, from, to, note."""

    __tablename__ = "ticket_history"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True)
    at: datetime = _at()
    actor: str  # agent id, "supervisor", "admin", "bot" or "buyer"
    kind: str  # created, transition, attached, severity, escalated, rating
    from_state: str | None = None
    to_state: str
    note: str = Field(default="", sa_type=Masked)  # append-only, so masked rather than encrypted


class MetricResponse(SQLModel, table=True):
    """A response as the period report counts it (metrics.facts.ResponseFact), rebuilt with its buyer's facts."""

    __tablename__ = "metric_responses"
    __table_args__ = (
        sa.Index("ix_metric_responses_day", "day", "agent", "platform", "response_us", "first"),  # a period's sums
        sa.Index("ix_metric_responses_agent", "agent", "platform", "response_us", "day"),  # a period's percentiles
        sa.Index("ix_metric_responses_buyer", "buyer_id", "answered_at"),  # who last responded before an order
    )
    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="buyers.id")
    agent: str  # agent id, or the account when it is no configured agent's
    platform: str
    day: date  # shop-local day of the answer
    answered_at: datetime = _at()
    response_us: int = Field(sa_type=sa.BigInteger)
    first: bool  # the conversation's first response
    conversation_started_at: datetime = _at()
    conversation_last_at: datetime = _at()


class MetricContact(SQLModel, table=True):
    """A buyer reached an agent on a shop-local day (metrics.facts.ContactFact)."""

    __tablename__ = "metric_contacts"
    __table_args__ = (sa.Index("ix_metric_contacts_day", "day", "buyer_id", "agent", "platform", "replied", "first_at"),)
    buyer_id: int = Field(foreign_key="buyers.id", primary_key=True)
    agent: str = Field(primary_key=True)
    platform: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    first_at: datetime = _at()
    replied: bool


class MetricDay(SQLModel, table=True):
    """A shop-local day on which a buyer wrote, with its effective-reply standing (metrics.facts.DayFact)."""

    __tablename__ = "metric_days"
    __table_args__ = (sa.Index("ix_metric_days_day", "day", "platform", "buyer_id", "in_window", "late", "open_deadline"),)
    buyer_id: int = Field(foreign_key="buyers.id", primary_key=True)
    day: date = Field(primary_key=True)
    platform: str
    in_window: bool
    late: bool
    open_deadline: datetime | None = _at(nullable=True)


class MetricStale(SQLModel, table=True):
    """A buyer whose messages changed since their facts were built. Triggers on `messages` write
    these rows, in the transaction that changed the messages, whatever code path did it."""

    __tablename__ = "metric_stale"
    buyer_id: int = Field(primary_key=True)  # no foreign key: written by a trigger, deleted when rebuilt
    changes: int = 1


class MetricBasis(SQLModel, table=True):
    """The rules the stored facts were built under (metrics.facts.rules_basis); one row."""

    __tablename__ = "metric_basis"
    id: int = Field(default=1, primary_key=True)
    rules: str


class KbChange(SQLModel, table=True):
    """One change of the knowledge files made from /kb or the learning queue: who, when, what (each
    file's text before and after, so it can be undone), and the held-out figures before and after."""

    __tablename__ = "kb_changes"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _at(index=True)
    who: str  # the agent id, or the role of a supervisor's or admin's token
    action: str  # edit_intent, add_intent, retire, move_question, edit_topic, add_topic, learn, save_reply, undo
    summary: str
    target: str = ""  # the intent or subject the change is about
    files: str  # JSON: [{"path", "before", "after"}] (before null: the file was new)
    impact: str = ""  # JSON: the held-out figures before and after (impact.compare)
    confirmed: bool = False  # applied despite a drop beyond the margin
    undo_of: int | None = None  # the change this one undid
    undone_by: int | None = None


class Transfer(SQLModel, table=True):
    """A conversation handed by one agent to another during a shift (转接). Append-only; the one with
    the highest `seq` names who holds the conversation now. The unique (conversation, seq) is what
    makes one of two racing transfers fail."""

    __tablename__ = "transfers"
    __table_args__ = (sa.UniqueConstraint("conversation_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(index=True)  # no foreign key: conversations are merged and deleted
    seq: int  # 1, 2, ... per conversation
    buyer_id: int
    platform: str
    from_agent: str  # agent id, or "supervisor"
    from_account: str = ""  # the conversation's account before the transfer (whom the platform had routed it to)
    to_agent: str = Field(index=True)
    group: str = ""  # the group (role) asked for, when the transfer went to a group
    note: str = Field(default="", sa_type=Masked)
    at: datetime = _at()


class AgentStatus(SQLModel, table=True):
    """An agent's chosen status (online, busy, away) and their console's last heartbeat. What it means
    at a given moment (offline after two minutes without a heartbeat) is `bot.store.agent_status`."""

    __tablename__ = "agent_status"
    agent_id: str = Field(primary_key=True)
    status: str = "online"  # online (在线), busy (忙碌), away (挂起)
    changed_at: datetime = _at()
    heartbeat_at: datetime | None = _at(nullable=True)


class AgentPresence(SQLModel, table=True):
    """A stretch of time an agent's console was open (heartbeats no more than two minutes apart) with
    the agent online or busy: the history the scorecard's "online in a shift" reads."""

    __tablename__ = "agent_presence"
    __table_args__ = (sa.Index("ix_agent_presence_agent_until", "agent_id", "until"),)
    id: int | None = Field(default=None, primary_key=True)
    agent_id: str
    since: datetime = _at()
    until: datetime = _at()


class Phrase(SQLModel, table=True):
    """A quick phrase (快捷短语): an agent's own (`owner` = agent id) or the team's (`owner` = "")."""

    __tablename__ = "phrases"
    __table_args__ = (sa.UniqueConstraint("owner", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str  # personal, team
    owner: str = ""
    code: str
    text: str
    created_by: str = ""
    created_at: datetime = _at()


class ScorecardDeduction(SQLModel, table=True):
    """A manual deduction on an agent's monthly 10-point card (10分制), entered by a supervisor with a reason."""

    __tablename__ = "scorecard_deductions"
    __table_args__ = (sa.Index("ix_scorecard_deductions_month_agent", "month", "agent"),)
    id: int | None = Field(default=None, primary_key=True)
    agent: str  # agent id
    month: str  # YYYY-MM, shop time
    points: float  # positive: what is taken off
    reason: str
    created_by: str  # "supervisor", "admin"
    created_at: datetime = _at()


class DailyReport(SQLModel, table=True):
    """The daily report (日报) for one day on one channel (wecom, dingtalk, email): its unique key is
    what sends it once however many processes run; state pending → sending → sent, or failed."""

    __tablename__ = "daily_reports"
    __table_args__ = (sa.UniqueConstraint("day", "channel", name="uq_daily_reports_day_channel"),
                      sa.Index("ix_daily_reports_state", "state", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    day: date
    channel: str
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = _at()
    claimed_at: datetime | None = _at(nullable=True)
    sent_at: datetime | None = _at(nullable=True)
    last_error: str = Field(default="", sa_type=Masked)


class CsatInvitation(SQLModel, table=True):
    """A satisfaction invitation (服务评价) sent when a conversation ended; at most one per conversation
    and one per buyer and shop day. state: open (waiting for the buyer's next message), rated, or
    closed (the buyer's next message was not a rating, or nothing came within a day)."""

    __tablename__ = "csat_invitations"
    __table_args__ = (sa.UniqueConstraint("conversation_id", name="uq_csat_invitations_conversation"),
                      sa.UniqueConstraint("buyer_id", "day", name="uq_csat_invitations_buyer_day"),
                      sa.Index("ix_csat_invitations_state", "state", "invited_at"),
                      sa.Index("ix_csat_invitations_answered", "answered_at"))
    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="buyers.id")
    conversation_id: int
    platform: str
    agent: str  # the account that last answered the conversation (an agent's, or 主管)
    day: date  # shop day of the invitation
    invited_at: datetime = _at()
    client_msg_id: str
    state: str = "open"
    rating: int | None = None
    answered_at: datetime | None = _at(nullable=True)


class StaffUser(SQLModel, table=True):
    """A person who logs in to the pages (bot/staff/). `accounts` ("platform:account", comma-separated)
    and `groups` (presale, aftersale, ...) make them an agent of the roster; [[agents]] of the file win
    over these for the ids the file declares."""

    __tablename__ = "staff_users"
    username: str = Field(primary_key=True)
    name: str = ""
    password_hash: str = ""  # Argon2id; empty: cannot log in until an admin sets a password
    role: str = "agent"  # agent, supervisor, admin
    disabled: bool = False
    accounts: str = ""
    groups: str = ""
    created_at: datetime = _at()
    changed_at: datetime = _at()


class StaffShift(SQLModel, table=True):
    """A shift (班次) added on /admin; [[shifts]] of the file with the same name win."""

    __tablename__ = "staff_shifts"
    name: str = Field(primary_key=True)
    start: str
    end: str
    agents: str = ""  # comma-separated user names


class StaffSession(SQLModel, table=True):
    """A login: the cookie's value is never stored, only its SHA-256."""

    __tablename__ = "staff_sessions"
    digest: str = Field(primary_key=True)
    username: str = Field(index=True)
    created_at: datetime = _at()
    expires_at: datetime = _at()
    ended_at: datetime | None = _at(nullable=True)


class ApiToken(SQLModel, table=True):
    """A bearer token for a program, made on /admin and shown once: only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(unique=True)
    label: str = ""
    role: str
    agent: str | None = None
    created_by: str = ""
    created_at: datetime = _at()
    expires_at: datetime = _at()
    revoked_at: datetime | None = _at(nullable=True)


class LoginFailure(SQLModel, table=True):
    """A failed login, counted per user name and per client address for the lockout."""

    __tablename__ = "login_failures"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True)
    address: str = Field(index=True)
    at: datetime = _at(index=True)
