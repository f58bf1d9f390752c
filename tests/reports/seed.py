"""A scripted month of a small shop, written straight into the store: what the report tests check."""

from __future__ import annotations

from datetime import timedelta

from bot.events import OrderCreated, OrderPaid
from bot.store import chat, orders
from tests.conftest import START

GAP = timedelta(minutes=30)
# (day offset, buyer, platform, routed account, response seconds or None, paid order fen or None)
TRAFFIC = [
    (0, "b1", "wangwang", "小店:小美", 20, 12_000),
    (0, "b2", "wangwang", "小店:小美", 50, None),
    (0, "b3", "wangwang", "小店:阿强", 120, None),
    (0, "j1", "dongdong", "jd_xiaomei", 10, 30_000),
    (1, "b4", "wangwang", "小店:阿强", 35, 5_000),
    (1, "b5", "wangwang", "小店:小美", None, None),  # never answered
    (2, "b6", "wangwang", "小店:小美", 80, None),
    (2, "j2", "dongdong", "jd_aqiang", 25, None),
]


async def seed(db, traffic=TRAFFIC) -> None:
    """Each buyer writes at 10:00 (+ a minute per row) on START's day + offset; the routed agent answers
    after the given seconds; a paid order is created a minute after the answer."""
    async with db() as session, session.begin():
        for i, (day, nick, platform, account, seconds, fen) in enumerate(traffic):
            at = START + timedelta(days=day, minutes=i)
            shop = "demo-tb" if platform == "wangwang" else "demo-jd"
            buyer = await chat.buyer_id(session, platform=platform, shop=shop, nick=nick, seen_at=at)
            await chat.record_message(session, buyer_id=buyer, platform=platform, shop=shop, sender="buyer",
                                      agent_account=account, text="在吗", sent_at=at, gap=GAP)
            if seconds is None:
                continue
            answered = at + timedelta(seconds=seconds)
            await chat.record_message(session, buyer_id=buyer, platform=platform, shop=shop, sender="agent",
                                      agent_account=account, text="亲，在的", sent_at=answered, gap=GAP)
            if fen is not None:
                created = answered + timedelta(minutes=1)
                common = dict(platform=platform, shop=shop, buyer=nick, push_id=f"o{i}", at=created)
                await orders.apply(session, OrderCreated(**common, order_id=f"O{i}", title="t", amount_fen=fen,
                                                         created_at=created, closes_at=None), buyer_id=buyer)
                paid = dict(common, push_id=f"p{i}", at=created + timedelta(minutes=2))
                await orders.apply(session, OrderPaid(**paid, order_id=f"O{i}", paid_at=created + timedelta(minutes=2),
                                                      amount_fen=fen), buyer_id=buyer)
