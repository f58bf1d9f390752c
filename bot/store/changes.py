"""The change log: what was processed, one row per push, appended in the processing transaction and
tailed by id by every process's live views (bot.live), so a browser connected to any process sees
what any process processed. A table read by id, not NOTIFY: NOTIFY serialises every notifying commit
of the cluster behind one lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import AgentMessage, BuyerMessage, Event, OrderClosed, OrderCreated, OrderPaid
from bot.store.tables import Change

_t = Change.__table__
_KIND = {BuyerMessage: "buyer_message", AgentMessage: "agent_message", OrderCreated: "order_created",
         OrderPaid: "order_paid", OrderClosed: "order_closed"}
_INSERT = sa.insert(_t)
_AFTER = sa.select(_t).where(_t.c.id > sa.bindparam("after")).order_by(_t.c.id).limit(sa.bindparam("limit"))


async def append(session: AsyncSession, events: Sequence[Event], *, now: datetime) -> None:
    """One statement for a batch's processed events."""
    if events:
        await session.execute(_INSERT, [
            {"at": now, "platform": e.platform, "shop": e.shop, "buyer": e.buyer, "kind": _KIND.get(type(e), "other"),
             "agent_account": getattr(e, "agent_account", ""), "push_id": e.push_id} for e in events
        ])


async def append_transfer(session: AsyncSession, *, platform: str, shop: str, buyer: str, agent_account: str,
                          conversation_id: int, seq: int, now: datetime) -> None:
    """A transfer (转接): not a push, but it changes whose the buyer is, which every process's views show."""
    await session.execute(_INSERT, [{"at": now, "platform": platform, "shop": shop, "buyer": buyer, "kind": "transfer",
                                     "agent_account": agent_account, "push_id": f"transfer:{conversation_id}:{seq}"}])


async def after(session: AsyncSession, *, after_id: int, limit: int = 5000) -> list:
    return list((await session.execute(_AFTER, {"after": after_id, "limit": limit})).all())


async def buyers_between(session: AsyncSession, *, after_id: int, until_id: int) -> set[tuple[str, str, str]] | None:
    """(platform, shop, buyer) of the changes after `after_id` up to `until_id`; None when the log no
    longer goes back that far (pruned), so what changed cannot be told."""
    oldest = await session.scalar(sa.select(sa.func.min(_t.c.id)))
    if oldest is not None and oldest > after_id + 1:
        return None
    rows = await session.execute(sa.select(_t.c.platform, _t.c.shop, _t.c.buyer).distinct()
                                 .where(_t.c.id > after_id, _t.c.id <= until_id))
    return {tuple(r) for r in rows}


async def last_id(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.max(_t.c.id))) or 0


async def prune(session: AsyncSession, *, before: datetime) -> int:
    result = await session.execute(sa.delete(_t).where(_t.c.at < before))
    return result.rowcount or 0


KEEP = timedelta(hours=1)  # what a reconnecting stream can still catch up from
