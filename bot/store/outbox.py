"""The outbox: messages to send, persisted before they are sent, so a crash never loses one."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import OutboxMessage

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


async def claim_due(session: AsyncSession, *, now: datetime, limit: int) -> list[OutboxMessage]:
    """Pending messages due now, leased to this process so that no other one sends them meanwhile."""
    rows = list(
        (
            await session.scalars(
                sa.select(OutboxMessage)
                .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    for row in rows:
        row.next_attempt_at = now + LEASE
    return rows


async def next_due_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(
        sa.select(sa.func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.state == "pending")
    )


async def get(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, message_id)
