"""The console feed: each agent hears only about their own buyers; a stalled viewer stays bounded;
the stream needs a token."""

from bot.events import AgentMessage, BuyerMessage, OrderPaid
from bot.metrics.board import RESNAPSHOT
from bot.web.auth import Caller
from bot.web.console_feed import ConsoleFeed
from tests.conftest import START

MEI = Caller(role="agent", agent="xiaomei", accounts=frozenset({"wangwang:小店:小美"}))
BOSS = Caller(role="supervisor", agent=None, accounts=frozenset())


def message(buyer: str, agent: str, cls=BuyerMessage):
    return cls(platform="wangwang", shop="demo-tb", buyer=buyer, push_id=buyer, at=START, text="在吗", agent_account=agent)


def drain(viewer) -> list:
    out = []
    while not viewer.queue.empty():
        out.append(viewer.queue.get_nowait())
    return out


def test_each_viewer_hears_only_about_their_own_buyers():
    feed = ConsoleFeed()
    mei, boss = feed.subscribe(MEI), feed.subscribe(BOSS)
    feed.publish([message("b1", "小店:小美"), message("b2", "小店:阿强", AgentMessage),
                  OrderPaid(platform="wangwang", shop="demo-tb", buyer="b3", push_id="o", at=START, order_id="1",
                            paid_at=START, amount_fen=1)])
    assert drain(mei) == ['event: changed\ndata: {"buyers":["b1"]}\n\n']
    assert drain(boss) == ['event: changed\ndata: {"buyers":["b1","b2"]}\n\n']
    feed.publish([message("b2", "小店:阿强")])
    assert drain(mei) == []


def test_a_viewer_that_never_reads_holds_a_bounded_queue():
    feed = ConsoleFeed(queue_size=8)
    viewer = feed.subscribe(BOSS)
    for i in range(1000):
        feed.publish([message(f"b{i}", "小店:小美")])
    assert viewer.queue.qsize() <= 8
    assert RESNAPSHOT in drain(viewer)


async def test_the_stream_needs_a_token(client):
    assert (await client.get("/api/console/stream")).status == 401
