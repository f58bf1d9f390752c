"""Orders, assembled from created / paid / closed pushes that may arrive in any order."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import OrderClosed, OrderCreated, OrderPaid
from bot.store.tables import Order


def status_of(order: Order) -> str:
    """closed beats paid beats unpaid; an order whose creation has not arrived yet is unknown."""
    if order.closed_at is not None:
        return "closed"
    if order.paid_at is not None:
        return "paid"
    if order.created_at is not None:
        return "unpaid"
    return "unknown"


_ORDER = sa.select(Order).where(  # every order event asks: built once
    Order.platform == sa.bindparam("platform"), Order.shop == sa.bindparam("shop"), Order.order_id == sa.bindparam("order_id"))


async def find(session: AsyncSession, *, platform: str, shop: str, order_id: str) -> Order | None:
    return await session.scalar(_ORDER, {"platform": platform, "shop": shop, "order_id": order_id})


async def _get_or_new(session: AsyncSession, event: OrderCreated | OrderPaid | OrderClosed, buyer_id: int) -> Order:
    order = await find(session, platform=event.platform, shop=event.shop, order_id=event.order_id)
    if order is None:
        order = Order(platform=event.platform, shop=event.shop, order_id=event.order_id, buyer_id=buyer_id)
        session.add(order)
    return order


async def apply(session: AsyncSession, event: OrderCreated | OrderPaid | OrderClosed, *, buyer_id: int) -> Order:
    """Fold one order event into the order row. A payment or close that came before the creation
    is kept, and the creation fills in the rest when it comes."""
    order = await _get_or_new(session, event, buyer_id)
    if isinstance(event, OrderCreated):
        order.title = event.title
        order.amount_fen = event.amount_fen
        order.created_at = event.created_at
        order.closes_at = event.closes_at
    elif isinstance(event, OrderPaid):
        order.paid_at = event.paid_at
        order.paid_amount_fen = event.amount_fen
    elif isinstance(event, OrderClosed):
        order.closed_at = event.at
        order.close_reason = event.reason
    order.status = status_of(order)
    await session.flush()
    return order
