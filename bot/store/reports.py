"""What the supervisor's reports read besides the metric facts: satisfaction ratings, complaints
attributed to agents, agents' first responses in a shift, and manual scorecard deductions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Message, MetricResponse, ScorecardDeduction, Ticket, TicketHistory, UtcDateTime

_RATING_NOTE = re.compile(r"rating ([1-5])\b")


@dataclass(frozen=True)
class Rating:
    ticket_id: int
    owner: str | None  # agent id
    agent_account: str
    platform: str
    rating: int
    at: datetime


async def ratings(session: AsyncSession, *, start: datetime, end: datetime) -> list[Rating]:
    """The buyers' ratings (1-5) given in [start, end): today the answers to complaint-ticket callbacks
    (回访), each recorded in the ticket's history (tickets.actions.record_rating)."""
    rows = await session.execute(
        sa.select(Ticket.id, Ticket.owner, Ticket.agent_account, Ticket.platform, TicketHistory.note, TicketHistory.at)
        .join(TicketHistory, TicketHistory.ticket_id == Ticket.id)
        .where(TicketHistory.kind == "rating", TicketHistory.at >= start, TicketHistory.at < end)
        .order_by(TicketHistory.at, TicketHistory.id)
    )
    found = []
    for ticket_id, owner, account, platform, note, at in rows:
        if m := _RATING_NOTE.match(note or ""):
            found.append(Rating(ticket_id, owner, account, platform, int(m.group(1)), at))
    return found


@dataclass(frozen=True)
class ServiceComplaint:
    ticket_id: int
    owner: str | None
    agent_account: str
    platform: str
    summary: str
    reason: str
    created_at: datetime


async def service_complaints(session: AsyncSession, *, start: datetime, end: datetime,
                             category: str = "service") -> list[ServiceComplaint]:
    """Tickets about the service itself (slow answers, attitude) opened in [start, end)."""
    rows = await session.execute(
        sa.select(Ticket.id, Ticket.owner, Ticket.agent_account, Ticket.platform, Ticket.summary, Ticket.reason,
                  Ticket.created_at)
        .where(Ticket.category == category, Ticket.created_at >= start, Ticket.created_at < end)
        .order_by(Ticket.created_at, Ticket.id)
    )
    return [ServiceComplaint(*row) for row in rows]


async def first_response_between(session: AsyncSession, *, agent: str, start: datetime, end: datetime,
                                 days: tuple[date, date]) -> datetime | None:
    """The agent's first response (any platform) answered in [start, end); `days` bounds the shop-local
    days to look at (the facts' index)."""
    r = MetricResponse
    return await session.scalar(
        sa.select(sa.func.min(r.answered_at, type_=UtcDateTime))
        .where(r.agent == agent, r.day.between(*days), r.answered_at >= start, r.answered_at < end)
    )


async def first_message_at(session: AsyncSession) -> datetime | None:
    """When the shop's first stored message was sent: before it, the bot was not watching."""
    return await session.scalar(sa.select(sa.func.min(Message.sent_at, type_=UtcDateTime)))


async def add_deduction(session: AsyncSession, *, agent: str, month: str, points: float, reason: str,
                        created_by: str, now: datetime) -> ScorecardDeduction:
    row = ScorecardDeduction(agent=agent, month=month, points=points, reason=reason, created_by=created_by,
                             created_at=now)
    session.add(row)
    await session.flush()
    return row


async def deductions(session: AsyncSession, *, months: list[str]) -> list[ScorecardDeduction]:
    return list((await session.scalars(
        sa.select(ScorecardDeduction).where(ScorecardDeduction.month.in_(months))
        .order_by(ScorecardDeduction.created_at, ScorecardDeduction.id)
    )).all())
