"""Orders, assembled from created / paid / closed pushes that may arrive in any order."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from collections.abc import Sequence

from bot.events import OrderClosed, OrderCreated, OrderPaid
from bot.store.tables import Order

OrderEvent = OrderCreated | OrderPaid | OrderClosed


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
    fold(order, event)
    await session.flush()
    return order


FOLDED = "orders.folded"  # session.info: (platform, push_id) -> (the order, its status right after the push)


async def apply_batch(session: AsyncSession, events: Sequence[tuple[OrderEvent, int]]) -> None:
    """(event, buyer id) pairs, in event order, folded into their orders: one SELECT for the batch's
    orders, one flush. Each push's order and status right after it are left for `for_event`."""
    if not events:
        return
    keys = sorted({(e.platform, e.shop, e.order_id) for e, _ in events})
    found: dict[tuple[str, str, str], Order] = {}
    for start in range(0, len(keys), 300):
        part = keys[start:start + 300]
        rows = await session.scalars(sa.select(Order).where(
            sa.tuple_(Order.platform, Order.shop, Order.order_id).in_(part)))
        found.update(((o.platform, o.shop, o.order_id), o) for o in rows)
    folded = session.info.setdefault(FOLDED, {})
    for event, buyer_id in events:
        key = (event.platform, event.shop, event.order_id)
        if (order := found.get(key)) is None:
            order = found[key] = Order(platform=event.platform, shop=event.shop, order_id=event.order_id, buyer_id=buyer_id)
            session.add(order)
        fold(order, event)
        folded[(event.platform, event.push_id)] = (order, order.status)
    await session.flush()


async def for_event(session: AsyncSession, event: OrderEvent) -> tuple[Order | None, str]:
    """The event's order and its status right after the event."""
    if (known := session.info.get(FOLDED, {}).get((event.platform, event.push_id))) is not None:
        return known
    order = await find(session, platform=event.platform, shop=event.shop, order_id=event.order_id)
    return order, order.status if order is not None else "unknown"


def fold(order: Order, event: OrderEvent) -> None:
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
