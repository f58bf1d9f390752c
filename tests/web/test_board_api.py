"""GET /api/metrics/agents and the board's stream: roles, bad periods, and bounded memory for slow viewers."""

from __future__ import annotations

import asyncio

import pytest

from bot.metrics.board import CLOSE, RESNAPSHOT, Board
from bot.metrics.report import Rules
from bot.web import keys

SUPERVISOR = {"Authorization": "Bearer supervisor-token"}


@pytest.mark.parametrize("query, status, fragment", [
    ({"from": "2026-11-25", "to": "2026-11-24"}, 400, "after"),
    ({"from": "yesterday", "to": "2026-11-24"}, 400, "from must be a date"),
    ({"from": "2026-11-01", "to": "2026-02-30"}, 400, "to must be a date"),
    ({"from": "2026-11-1", "to": "2026-11-24"}, 400, "from must be a date"),
    ({"from": "2026-11-24", "to": ""}, 400, "to must be a date"),
    ({"from": "2025-11-23", "to": "2026-11-24"}, 400, "367 days, more than a year"),
    ({"from": "2026-11-24", "limit": "0"}, 400, "limit"),
])
async def test_a_bad_period_is_400_with_a_message(client, query, status, fragment):
    """Not a date, from after to, or too long: 400 with what is wrong (issues 4 and 17)."""
    resp = await client.get("/api/metrics/agents", params=query, headers=SUPERVISOR)
    body = await resp.json()
    assert resp.status == status, body
    assert body["error"] in ("bad_period", "bad_paging") and fragment in body["message"]


async def test_a_year_is_allowed_and_an_empty_period_has_no_rows(client):
    resp = await client.get("/api/metrics/agents", params={"from": "2025-11-25", "to": "2026-11-24"}, headers=SUPERVISOR)
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["items"], body["total"], body["from"], body["to"]) == ([], 0, "2025-11-25", "2026-11-24")


@pytest.mark.parametrize("path", ["/api/metrics/agents", "/api/board/stream"])
async def test_the_supervisor_role_is_needed(client, path):
    assert (await client.get(path)).status == 401
    assert (await client.get(path, headers={"Authorization": "Bearer nope-nope-nope"})).status == 401
    resp = await client.get(path, headers={"Authorization": "Bearer agent-xiaomei-token"})
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"


async def test_the_stream_takes_the_token_as_a_query_parameter_but_other_endpoints_do_not(client):
    assert (await client.get("/api/board/stream", params={"token": "agent-xiaomei-token"})).status == 403
    assert (await client.get("/api/board/stream", params={"token": "wrong-token-x"})).status == 401
    assert (await client.get("/api/metrics/agents", params={"token": "supervisor-token"})).status == 401
    await client.app[keys.METRICS].refresh()
    resp = await client.get("/api/board/stream", params={"token": "supervisor-token"})
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    first = await resp.content.readuntil(b"\n\n")
    assert first.startswith(b"retry: ")
    snapshot = await resp.content.readuntil(b"\n\n")
    assert snapshot.startswith(b"id: 0\nevent: snapshot\ndata: {")
    client.app[keys.BOARD].disconnect_all()
    assert await asyncio.wait_for(resp.content.read(), 5) == b""  # the stream ends; the browser reconnects


def test_a_subscriber_that_never_reads_holds_at_most_its_queue():
    board = Board(Rules(), queue_size=8)
    slow, quick = board.subscribe(), board.subscribe()
    for i in range(1000):
        board.update_buyer(i, board._figures.get(i) or _figures(), [_waiting(i)])
        board.flush()
        if not quick.queue.empty():
            quick.queue.get_nowait()
    assert slow.queue.qsize() <= 8 and slow.resnapshots > 0
    # what it missed was replaced by one resnapshot, after which changes keep coming
    items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert RESNAPSHOT in items and items.index(RESNAPSHOT) == 0
    assert quick.resnapshots == 0
    board.disconnect_all()
    assert quick.queue.get_nowait() is CLOSE


async def test_a_viewer_that_stops_reading_is_dropped_and_memory_stays_bounded(client, monkeypatch):
    """A real socket that is never read: the queue stays bounded, and the write timeout ends the stream."""
    from bot.web import sse as sse_stream

    monkeypatch.setattr(sse_stream, "WRITE_TIMEOUT_S", 0.3)
    board = client.app[keys.BOARD]
    board.queue_size = 4
    await client.app[keys.METRICS].refresh()
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"GET /api/board/stream?token=supervisor-token HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()

    async def subscribed():
        while board.subscribers == 0:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(subscribed(), 5)
    [sub] = list(board._subscribers)
    big = "x" * 2000
    for i in range(3000):  # ~6 MB of changes, far more than the socket buffers hold
        board.update_buyer(i, _figures(), [{**_waiting(i), "last_buyer_text": big}])
        board.flush()
        assert sub.queue.qsize() <= 4
        if i % 50 == 0:
            await asyncio.sleep(0)

    async def dropped():
        while board.subscribers:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(dropped(), 10)
    writer.close()


def _figures():
    from bot.metrics.report import EMPTY
    return EMPTY


def _waiting(i: int) -> dict:
    return {"conversation_id": i, "buyer_id": i, "buyer": f"b{i}", "platform": "wangwang", "agent": "",
            "waiting_since": "2026-11-24T02:00:00.000Z", "last_buyer_text": "在吗"}


async def _event(resp) -> tuple[int | None, str, dict]:
    import json

    raw = (await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 5)).decode()
    fields = dict(line.split(": ", 1) for line in raw.strip().split("\n"))
    return (int(fields["id"]) if "id" in fields else None), fields["event"], json.loads(fields["data"])


async def test_a_viewer_that_reconnects_with_last_event_id_gets_each_change_since_once(client):
    from bot.events import AgentMessage
    from tests.conftest import START, buyer_message, minutes, push_and_process

    board, feed, tail = client.app[keys.BOARD], client.app[keys.METRICS], client.app[keys.CHANGE_TAIL]
    await tail.poll()
    await push_and_process(client, buyer_message(buyer="r1", text="在吗"), buyer_message(buyer="r2", text="有货吗"))
    await tail.poll()
    await feed.refresh()
    resp = await client.get("/api/board/stream", params={"token": "supervisor-token"})
    await resp.content.readuntil(b"\n\n")  # retry:
    seen_at, kind, snapshot = await _event(resp)
    assert kind == "snapshot" and seen_at == board.position > 0
    assert {w["buyer"] for w in snapshot["waiting"]} == {"r1", "r2"}
    r1 = next(w["conversation_id"] for w in snapshot["waiting"] if w["buyer"] == "r1")
    board.disconnect_all()

    # While the viewer is away: r1 is answered, r3 writes; r2 does not change.
    answer = AgentMessage(platform="wangwang", shop="demo-tb", buyer="r1", push_id="r1-answer",
                          at=START + minutes(1), text="亲，在的", agent_account="小店:小美")
    await push_and_process(client, answer, buyer_message(buyer="r3", text="包邮吗", at=START + minutes(1)))
    await tail.poll()
    await feed.refresh()
    resp = await client.get("/api/board/stream", params={"token": "supervisor-token"},
                            headers={"Last-Event-ID": str(seen_at)})
    await resp.content.readuntil(b"\n\n")
    resumed_at, kind, update = await _event(resp)
    assert kind == "update" and update["resumed"] and resumed_at == board.position > seen_at
    assert [w["buyer"] for w in update["waiting_upsert"]] == ["r3"]  # r2 did not change: not sent again
    assert update["waiting_remove"] == [r1]
    assert update["shop"]["waiting"] == 2
    board.disconnect_all()

    # Where the log no longer reaches (or a position it never gave), a snapshot.
    resp = await client.get("/api/board/stream", params={"token": "supervisor-token", "last_event_id": "0"})
    await resp.content.readuntil(b"\n\n")
    assert (await _event(resp))[1] == "snapshot"
    board.disconnect_all()


async def test_the_board_says_how_old_its_data_is_when_processing_lags(client, clock):
    from tests.conftest import buyer_message, post_push, signed_form

    assert (await post_push(client, "wangwang", signed_form(buyer_message(buyer="lag2"))))[0] == 200
    clock.advance(seconds=12)
    await client.app[keys.BACKLOG].read()
    await client.app[keys.METRICS].refresh()
    resp = await client.get("/api/board/stream", params={"token": "supervisor-token"})
    await resp.content.readuntil(b"\n\n")
    _, kind, snapshot = await _event(resp)
    assert kind == "snapshot" and snapshot["lag_s"] == 12.0 and snapshot["lag_s"] > snapshot["stale_after_s"]
    client.app[keys.BOARD].disconnect_all()
