"""The outbox: messages to send, persisted before they are sent, so a crash never loses one."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Buyer, Message, OutboxMessage

outbox = OutboxMessage.__table__
# A claimed message is not picked up by another process for this long; a crash mid-send frees it after.
LEASE = timedelta(seconds=60)


async def enqueue(
    session: AsyncSession,
    *,
    client_msg_id: str,
    platform: str,
    shop: str,
    buyer: str,
    agent_account: str,
    text: str,
    kind: str,
    sender: str,
    now: datetime,
) -> bool:
    """Queue a message once per `client_msg_id`; False when that id was already queued."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(outbox)
        .values(
            client_msg_id=client_msg_id, platform=platform, shop=shop, buyer=buyer,
            agent_account=agent_account, text=text, kind=kind, sender=sender, state="pending",
            attempts=0, created_at=now, next_attempt_at=now,
        )
        .on_conflict_do_nothing(index_elements=["client_msg_id"])
        .returning(outbox.c.id)
    )
    return result.first() is not None


def _free(now: datetime):
    return sa.or_(OutboxMessage.leased_until.is_(None), OutboxMessage.leased_until <= now)


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[OutboxMessage]:
    """Pending messages due now, leased to this process so that no other one sends them meanwhile
    (nor this one again while a slow gateway still holds the first try)."""
    rows = list(
        (
            await session.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now, _free(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    for row in rows:
        row.leased_until = now + LEASE
    return rows


async def put_back(session: AsyncSession, message_ids: list[int], *, at: datetime) -> None:
    """Claimed but not tried (their platform's gateway is failing): due again at `at`, no try counted."""
    if message_ids:
        await session.execute(
            sa.update(OutboxMessage).where(OutboxMessage.id.in_(message_ids), OutboxMessage.state == "pending")
            .values(next_attempt_at=at, leased_until=None)
        )


async def resume(session: AsyncSession, *, platform: str, now: datetime) -> int:
    """The platform's gateway answered again: its messages waiting out a backoff are due now."""
    result = await session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.platform == platform, OutboxMessage.state == "pending",
               OutboxMessage.next_attempt_at > now, _free(now))
        .values(next_attempt_at=now)
    )
    return result.rowcount or 0


async def failing_since(session: AsyncSession) -> datetime | None:
    """When the oldest still-running series of failed tries began (None: no pending message has failed)."""
    return await session.scalar(
        sa.select(sa.func.min(OutboxMessage.failed_at)).where(OutboxMessage.state == "pending")
    )


async def for_buyer(session: AsyncSession, *, platform: str, shop: str, buyer: str,
                    limit: int = 50) -> list[OutboxMessage]:
    """The buyer's latest outgoing messages with their state, newest first."""
    return list((await session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.platform == platform, OutboxMessage.shop == shop, OutboxMessage.buyer == buyer)
        .order_by(OutboxMessage.id.desc()).limit(limit)
    )).all())


async def by_key(session: AsyncSession, client_msg_id: str) -> OutboxMessage | None:
    return await session.scalar(sa.select(OutboxMessage).where(OutboxMessage.client_msg_id == client_msg_id))


async def next_due_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.state == "pending")
    )


async def get(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, message_id)


async def answered_since(session: AsyncSession, *, platform: str, shop: str, buyer: str, since: datetime) -> bool:
    """Someone answered the buyer in the platform's own chat after `since` (a message no outbox sent):
    the conversation has moved on, and a reply still waiting would come out of turn."""
    found = await session.scalar(
        sa.select(Message.id).join(Buyer, Buyer.id == Message.buyer_id)
        .where(Buyer.platform == platform, Buyer.shop == shop, Buyer.nick == buyer, Message.sender == "agent",
               Message.client_msg_id.is_(None), Message.sent_at > since)
        .limit(1)
    )
    return found is not None


async def count_by_state(session: AsyncSession) -> dict[str, int]:
    return dict((await session.execute(
        sa.select(OutboxMessage.state, sa.func.count()).group_by(OutboxMessage.state))).all())


def shown_key(key: str | None) -> str | None:
    """The key as the agent sent it: an agent's namespace prefix (`scoped_key`) taken off.

    >>> shown_key("agent:xiaomei:k1"), shown_key("remind:wangwang:T1:1"), shown_key(None)
    ('k1', 'remind:wangwang:T1:1', None)
    """
    return key.split(":", 2)[2] if key and key.startswith("agent:") else key


async def troubles(session: AsyncSession, *, since: datetime, limit: int = 50) -> list[OutboxMessage]:
    """What the board shows as send failures: pending messages that failed a try, or wait behind
    their platform's failing gateway (which is probed with one message at a time), oldest first; then
    those given up since `since`, newest first."""
    pending = OutboxMessage.state == "pending"
    failing_platforms = sa.select(OutboxMessage.platform).where(pending, OutboxMessage.failed_at.is_not(None))
    retrying = (await session.scalars(
        sa.select(OutboxMessage).where(pending, sa.or_(OutboxMessage.failed_at.is_not(None),
                                                       OutboxMessage.platform.in_(failing_platforms)))
        .order_by(OutboxMessage.created_at, OutboxMessage.id).limit(limit))).all()
    failed = (await session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.state == "failed",
                                       sa.func.coalesce(OutboxMessage.failed_at, OutboxMessage.created_at) >= since)
        .order_by(OutboxMessage.id.desc()).limit(limit))).all()
    return [*retrying, *failed][:limit]
