"""Who may see and answer a buyer's conversation: the one rule every route uses.

An agent may when the conversation
- was routed by the platform to one of their accounts (`conversations.agent_account`), or handed
  over to them at a shift change (`handovers.to_agent`), and nobody transferred it since; or
- was last transferred (转接) to them (the latest `transfers` row: the sender no longer may); or
- belongs to a buyer with an open (not closed) ticket they own.
Supervisors and admins may see every conversation; that is decided by the caller, not here.

The rule is one SQL condition (`visible_to`), used both to list an agent's conversations and to check
one; transfers are stored here too. Session-first; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Buyer, Conversation, Handover, Ticket, Transfer


def _latest_transfer_to() -> sa.ScalarSelect:
    return (sa.select(Transfer.to_agent).where(Transfer.conversation_id == Conversation.id)
            .order_by(Transfer.seq.desc()).limit(1).scalar_subquery())


def visible_to(agent: str, accounts: Iterable[str]) -> sa.ColumnElement[bool]:
    """The condition on `conversations` under which `agent` (with its "platform:account"s) may see a row."""
    pairs = [tuple(a.split(":", 1)) for a in accounts]
    routed = sa.or_(*(sa.and_(Conversation.platform == p, Conversation.agent_account == acc) for p, acc in pairs)) \
        if pairs else sa.false()
    handed = sa.exists(sa.select(Handover.id).where(Handover.conversation_id == Conversation.id,
                                                    Handover.to_agent == agent))
    ticket = sa.exists(sa.select(Ticket.id).where(Ticket.buyer_id == Conversation.buyer_id,
                                                  Ticket.state != "closed", Ticket.owner == agent))
    latest = _latest_transfer_to()
    return sa.or_(sa.and_(latest.is_(None), sa.or_(routed, handed)), latest == agent, ticket)


async def may_see(session: AsyncSession, conversation_id: int, *, agent: str, accounts: Iterable[str]) -> bool:
    found = await session.scalar(sa.select(Conversation.id).where(Conversation.id == conversation_id,
                                                                   visible_to(agent, accounts)))
    return found is not None


async def open_conversations(
    session: AsyncSession, *, active_since: datetime, agent: str, accounts: Iterable[str], limit: int, offset: int,
) -> tuple[list[tuple[Conversation, Buyer]], int]:
    """The conversations `agent` may see with a message since `active_since` or a buyer still waiting:
    handed over to them and still waiting first, then waiting ones (longest wait first), then the most recent."""
    where = [sa.or_(Conversation.last_message_at >= active_since, Conversation.waiting_since.is_not(None)),
             visible_to(agent, accounts)]
    handed_waiting = sa.exists(sa.select(Handover.id).where(
        Handover.conversation_id == Conversation.id, Handover.to_agent == agent,
        Handover.waiting_since == Conversation.waiting_since))
    total = await session.scalar(sa.select(sa.func.count()).select_from(Conversation).where(*where))
    rows = (await session.execute(
        sa.select(Conversation, Buyer).join(Buyer, Buyer.id == Conversation.buyer_id).where(*where)
        .order_by(sa.not_(handed_waiting), Conversation.waiting_since.is_(None), Conversation.waiting_since,
                  Conversation.last_message_at.desc())
        .limit(limit).offset(offset)
    )).all()
    return [(c, b) for c, b in rows], total or 0


@dataclass(frozen=True)
class HandedOver:
    conversation_id: int
    from_agent: str
    to_agent: str
    shift_change_at: datetime
    waiting: bool  # the buyer still waits since the handover


async def handovers_of(session: AsyncSession, conversation_ids: list[int]) -> dict[int, HandedOver]:
    """The latest handover of each conversation, if any."""
    if not conversation_ids:
        return {}
    rows = (await session.execute(
        sa.select(Handover, Conversation.waiting_since).join(Conversation, Conversation.id == Handover.conversation_id)
        .where(Handover.conversation_id.in_(conversation_ids)).order_by(Handover.shift_change_at, Handover.id)
    )).all()
    return {h.conversation_id: HandedOver(h.conversation_id, h.from_agent, h.to_agent, h.shift_change_at,
                                          waiting_since == h.waiting_since) for h, waiting_since in rows}


async def transfers_of(session: AsyncSession, conversation_ids: list[int]) -> dict[int, list[Transfer]]:
    """Each conversation's transfers, oldest first."""
    if not conversation_ids:
        return {}
    found: dict[int, list[Transfer]] = {}
    for t in (await session.scalars(sa.select(Transfer).where(Transfer.conversation_id.in_(conversation_ids))
                                    .order_by(Transfer.conversation_id, Transfer.seq))).all():
        found.setdefault(t.conversation_id, []).append(t)
    return found


class TransferRace(Exception):
    """Another transfer of the conversation came first."""


async def transfer_version(session: AsyncSession, conversation_id: int) -> int:
    """How many times the conversation has been transferred: the version a transfer is based on."""
    return await session.scalar(sa.select(sa.func.coalesce(sa.func.max(Transfer.seq), 0))
                                .where(Transfer.conversation_id == conversation_id)) or 0


async def record_transfer(
    session: AsyncSession, *, conversation: Conversation, version: int, from_agent: str, to_agent: str,
    to_account: str, group: str, note: str, now: datetime,
) -> Transfer:
    """Transfer `conversation` (seen at `version`) to `to_agent`, whose account on the platform becomes the
    conversation's, so that the board and the reply's sender follow. Raises TransferRace when a transfer
    based on the same version was stored first."""
    transfer = Transfer(conversation_id=conversation.id, seq=version + 1, buyer_id=conversation.buyer_id,
                        platform=conversation.platform, from_agent=from_agent,
                        from_account=conversation.agent_account, to_agent=to_agent, group=group,
                        note=note, at=now)
    try:
        async with session.begin_nested():
            session.add(transfer)
            await session.flush()
    except IntegrityError:
        raise TransferRace() from None
    conversation.agent_account = to_account
    await session.flush()
    return transfer


async def held_before_latest_transfer(session: AsyncSession, conversation: Conversation, *, agent: str,
                                      accounts: Iterable[str]) -> Transfer | None:
    """The latest transfer, if `agent` could see the conversation just before it (so that a transfer of
    theirs that lost a race is told apart from one of a conversation they never held)."""
    transfers = (await transfers_of(session, [conversation.id])).get(conversation.id, [])
    if not transfers:
        return None
    latest = transfers[-1]
    if latest.from_agent == agent:
        held = True
    elif len(transfers) > 1:
        held = transfers[-2].to_agent == agent
    else:
        held = f"{conversation.platform}:{latest.from_account}" in set(accounts) or await session.scalar(
            sa.select(Handover.id).where(Handover.conversation_id == conversation.id, Handover.to_agent == agent)
            .limit(1)) is not None
    return latest if held else None


async def transfers_received(session: AsyncSession, agents: Iterable[str]) -> dict[str, datetime]:
    """Each agent's latest received transfer: a group transfer goes to whoever got one least recently."""
    rows = await session.execute(sa.select(Transfer.to_agent, sa.func.max(Transfer.at))
                                 .where(Transfer.to_agent.in_(list(agents))).group_by(Transfer.to_agent))
    return {agent: at for agent, at in rows}


async def waiting_counts(session: AsyncSession, config_accounts: dict[str, str]) -> dict[str, int]:
    """Agent id → buyers waiting on them now, by the conversation's account (`config_accounts`:
    "platform:account" → agent id)."""
    rows = await session.execute(
        sa.select(Conversation.platform, Conversation.agent_account, sa.func.count())
        .where(Conversation.waiting_since.is_not(None)).group_by(Conversation.platform, Conversation.agent_account))
    counts: dict[str, int] = {}
    for platform, account, n in rows:
        agent = config_accounts.get(f"{platform}:{account}")
        if agent:
            counts[agent] = counts.get(agent, 0) + n
    return counts
