"""The complaint queue end to end: buyer messages → tickets (deduped, severity raised), the API's
transitions (legal, illegal 409, concurrent 409), roles and visibility, SLA escalation under a fake
clock, the callback through the chat, the append-only history. SQLite and PostgreSQL where it matters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.events import AgentMessage, OrderCreated
from bot.store import tickets as store
from bot.store.tables import OutboxMessage, Ticket, TicketHistory
from bot.tickets import actions, job
from bot.tickets.detect import Complaint
from bot.web import keys
from tests.conftest import (
    APP_KEYS, START, buyer_message, eventually, make_config, minutes, post_push, push_and_process as push, signed_form,
)
from tests.scrape import value

AGENT = {"Authorization": "Bearer agent-xiaomei-token"}
SUP = {"Authorization": "Bearer supervisor-token"}
XIAOMEI = "小店:小美"
AQIANG = "小店:阿强"




def say(text, *, buyer="buyer1", at=START, agent=XIAOMEI):
    return buyer_message(text=text, buyer=buyer, at=at, agent=agent)


async def tickets(client) -> list[Ticket]:
    async with client.app[keys.DB]() as session:
        return list((await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all())


async def history(client, ticket_id) -> list[TicketHistory]:
    async with client.app[keys.DB]() as session:
        return await store.history(session, ticket_id)


async def move(client, ticket_id, to, headers=SUP, **body):
    resp = await client.post(f"/api/tickets/{ticket_id}/transition", json={"to": to, **body}, headers=headers)
    return resp.status, await resp.json()


@pytest.fixture
async def db_client(db_url, aiohttp_client, clock, make_app):
    return await aiohttp_client(make_app(make_config(db_url), clock))


async def test_a_complaint_opens_a_ticket_linked_to_buyer_conversation_and_latest_order(client):
    order = OrderCreated(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="buyer1", push_id="o1",
                         at=START - minutes(60), order_id="9001", title="杯子", amount_fen=3900,
                         created_at=START - minutes(60), closes_at=None)
    await push(client, order, say("在吗"), say("这个报警器怎么安装", at=START + minutes(1)),
               say("客服态度太差了，我要投诉", at=START + minutes(2)))
    [t] = await tickets(client)
    assert (t.severity, t.category, t.rule, t.state, t.owner) == ("P3", "service", "service", "assigned", "aqiang")
    assert (t.buyer, t.order_id, t.agent_account, t.complaints) == ("buyer1", "9001", XIAOMEI, 1)
    assert t.conversation_id is not None and t.summary == "客服态度太差了，我要投诉"
    assert t.first_response_due_at == START + minutes(2) + timedelta(minutes=1440)
    assert [(h.kind, h.from_state, h.to_state, h.actor) for h in await history(client, t.id)] == [
        ("created", None, "new", "bot"), ("transition", "new", "assigned", "bot")]


async def test_a_polite_return_question_is_not_a_ticket(client):
    await push(client, say("你好，请问怎么退货呀"), say("好的谢谢", at=START + minutes(1)))
    assert await tickets(client) == []


async def test_further_complaints_join_the_open_ticket_and_a_worse_one_raises_its_severity(client):
    await push(client, say("我要投诉"), say("客服态度太差了", at=START + minutes(1)))
    [t] = await tickets(client)
    assert (t.complaints, t.severity) == (2, "P3")
    await push(client, say("再不处理就给差评", at=START + minutes(2)))
    [t] = await tickets(client)
    assert (t.complaints, t.severity, t.rule) == (3, "P2", "bad_review")
    assert t.first_response_due_at == START + timedelta(minutes=240)  # P2's SLA from the opening
    assert (await history(client, t.id))[-1].note.startswith("severity P3 → P2")
    # A milder one does not lower it; another category opens a second ticket; another buyer their own.
    await push(client, say("我要投诉", at=START + minutes(3)), say("凭什么不给我退款", at=START + minutes(4)),
               say("我要投诉", buyer="buyer2", at=START + minutes(5)))
    rows = await tickets(client)
    assert [(r.buyer, r.category, r.severity, r.complaints) for r in rows] == [
        ("buyer1", "service", "P2", 4), ("buyer1", "refund", "P2", 1), ("buyer2", "service", "P3", 1)]


async def test_a_ticket_opened_by_another_process_meanwhile_is_joined_not_duplicated(db_client, monkeypatch):
    """Between our look for an open ticket and our insert, another process opened one: the database's
    one-open-ticket-per-buyer-and-category key refuses our insert, and the complaint joins theirs."""
    client = db_client
    await push(client, say("我要投诉"))
    [theirs] = await tickets(client)
    real = actions._open_ticket
    looks = []

    async def stale_first_look(session, **kw):  # our first look came before their insert
        looks.append(kw)
        return None if len(looks) == 1 else await real(session, **kw)

    monkeypatch.setattr(actions, "_open_ticket", stale_first_look)
    async with client.app[keys.DB]() as session, session.begin():
        opened = await actions.open_or_attach(
            session, complaint=Complaint("P3", theirs.category, "service", "服务态度"), buyer_id=theirs.buyer_id,
            platform="wangwang", shop=theirs.shop, buyer="buyer1", conversation=None, text="客服态度太差了",
            now=START + minutes(1), config=client.app[keys.CONFIG].tickets,
            assignment=client.app[keys.TICKET_ASSIGNMENT])
    assert len(looks) == 2  # the insert was tried, refused, and the ticket looked up again
    assert (opened.created, opened.ticket.id) == (False, theirs.id)
    [t] = await tickets(client)
    assert (t.id, t.complaints) == (theirs.id, 2)


async def test_the_full_workflow_with_the_callback_through_the_chat(client, clock):
    await push(client, say("我要投诉"))
    [t] = await tickets(client)
    status, body = await move(client, t.id, "investigating", note="查看聊天记录")
    assert (status, body["state"], body["version"]) == (200, "investigating", t.version + 1)
    assert body["first_response_at"] is None  # a move in the queue is no answer to the buyer (issue 14)
    status, body = await move(client, t.id, "resolved", note="", resolution="refund")
    assert (status, body["error"]) == (400, "incomplete_transition") and "note is required" in body["message"]
    status, body = await move(client, t.id, "resolved", note="已退款 20 元", resolution="magic")
    assert status == 400 and "resolution must be one of" in body["message"]
    status, body = await move(client, t.id, "resolved", note="已退款 20 元")
    assert status == 400 and "resolution must be one of" in body["message"]
    status, body = await move(client, t.id, "resolved", note="已退款 20 元", resolution="refund")
    assert (status, body["state"], body["resolution"]) == (200, "callback", "refund")
    async with client.app[keys.DB]() as session:
        [sent] = (await session.scalars(sa.select(OutboxMessage))).all()
    assert (sent.client_msg_id, sent.kind, sent.sender, sent.buyer) == (f"ticket:{t.id}:callback", "notice", "bot", "buyer1")
    assert "满意" in sent.text
    # Garbage and a rating of 7 are not answers; "5分" is.
    await push(client, say("你好", at=START + minutes(10)), say("7", at=START + minutes(10.5)))
    assert [(t.state, t.rating) for t in await tickets(client)] == [("callback", None)]
    await push(client, say("5分", at=START + minutes(11)))
    [t] = await tickets(client)
    assert (t.state, t.rating) == ("closed", 5)
    assert [h.to_state for h in await history(client, t.id) if h.kind == "transition"] == [
        "assigned", "investigating", "resolved", "callback", "closed"]
    # Reopened within 30 days; not after.
    clock.set(t.closed_at + timedelta(days=29))
    status, body = await move(client, t.id, "reopened", note="买家又来了")
    assert (status, body["state"]) == (200, "reopened")
    status, body = await move(client, t.id, "investigating")
    status, body = await move(client, t.id, "resolved", note="换货", resolution="exchange")
    await push(client, say("不满意", at=clock.now()))
    [t] = await tickets(client)
    assert (t.state, t.rating) == ("reopened", 1)
    async with client.app[keys.DB]() as session:
        ids = (await session.scalars(sa.select(OutboxMessage.client_msg_id).order_by(OutboxMessage.id))).all()
    assert ids == [f"ticket:{t.id}:callback", f"ticket:{t.id}:callback:2"]


async def test_a_closed_ticket_older_than_30_days_cannot_move(client, clock):
    await push(client, say("我要投诉"))
    [t] = await tickets(client)
    await move(client, t.id, "investigating")
    await move(client, t.id, "resolved", note="解释清楚了", resolution="explanation")
    await move(client, t.id, "closed", note="买家电话确认")
    clock.advance(days=31)
    status, body = await move(client, t.id, "reopened", note="again")
    assert (status, body["error"], body["allowed"]) == (409, "illegal_transition", [])
    assert "more than 30 days" in body["message"]


async def test_an_illegal_transition_is_409_with_the_allowed_ones(client):
    await push(client, say("我要投诉"))
    [t] = await tickets(client)
    status, body = await move(client, t.id, "closed", note="x")
    assert (status, body["error"], body["state"]) == (409, "illegal_transition", "assigned")
    assert sorted(body["allowed"]) == ["assigned", "investigating"]
    status, body = await move(client, t.id, "done")
    assert status == 400 and "unknown state 'done'" in body["message"]


async def test_two_changes_with_the_same_version_one_wins_the_other_is_409(db_client):
    await push(db_client, say("我要投诉"))
    [t] = await tickets(db_client)
    results = await asyncio.gather(
        move(db_client, t.id, "investigating", version=t.version),
        move(db_client, t.id, "assigned", owner="xiaomei", version=t.version),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409]
    loser = next(body for status, body in results if status == 409)
    assert loser["error"] == "conflict"
    [after] = await tickets(db_client)
    assert after.version == t.version + 1
    assert len([h for h in await history(db_client, t.id) if h.kind == "transition"]) == 2  # auto-assign + the winner


async def test_overlapping_transactions_never_lose_an_update(db_client):
    """Two transactions read the same version; the second UPDATE (blocked on PostgreSQL until the first
    commits) matches no row and is refused."""
    await push(db_client, say("我要投诉"))
    [t] = await tickets(db_client)
    db, now = db_client.app[keys.DB], START
    if db_client.app[keys.ENGINE].dialect.name == "sqlite":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE); the HTTP test covers it")
    async with db() as s1, db() as s2:
        await s1.begin()
        await s2.begin()
        a, b = await store.get(s1, t.id), await store.get(s2, t.id)
        await store.update(s1, a, version=a.version, now=now, actor="x", kind="transition", changes={"state": "investigating"})
        second = asyncio.create_task(store.update(s2, b, version=b.version, now=now, actor="y", kind="transition",
                                                  changes={"owner": "xiaomei"}))
        await asyncio.sleep(0.2)
        assert not second.done()  # waiting for s1's row lock
        await s1.commit()
        with pytest.raises(store.StaleTicket):
            await second
        await s2.rollback()
    [after] = await tickets(db_client)
    assert (after.state, after.owner, after.version) == ("investigating", "aqiang", t.version + 1)


async def test_the_history_is_append_only(db_client):
    await push(db_client, say("我要投诉"))
    async with db_client.app[keys.DB]() as session:
        for stmt in (sa.update(TicketHistory).values(note="rewritten"), sa.delete(TicketHistory)):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                async with session.begin():
                    await session.execute(stmt)
    assert len(await history(db_client, 1)) == 2


async def test_roles_and_visibility(client):
    # buyer1 routed to xiaomei, owned by aqiang (auto); buyer2 routed to aqiang.
    await push(client, say("我要投诉"), say("我要投诉", buyer="buyer2", agent=AQIANG))
    mine, other = await tickets(client)
    assert (await client.get("/api/tickets")).status == 401
    assert (await client.get("/api/tickets", headers={"Authorization": "Bearer nope-nope-nope"})).status == 401
    body = await (await client.get("/api/tickets", headers=AGENT)).json()
    assert [i["id"] for i in body["items"]] == [mine.id] and body["total"] == 1
    body = await (await client.get("/api/tickets", headers=SUP)).json()
    assert body["total"] == 2
    assert (await client.get(f"/api/tickets/{other.id}", headers=AGENT)).status == 403
    assert (await client.get(f"/api/tickets/{mine.id}", headers=AGENT)).status == 200
    assert (await client.get("/api/tickets/999", headers=SUP)).status == 404
    # xiaomei sees buyer1's ticket but it is aqiang's: she can't move it; a supervisor can.
    status, body = await move(client, mine.id, "investigating", headers=AGENT)
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await move(client, other.id, "investigating", headers=AGENT)
    assert status == 403
    status, body = await move(client, mine.id, "assigned", owner="xiaomei")
    assert (status, body["owner"]) == (200, "xiaomei")
    assert "reassigned aqiang → xiaomei" in (await history(client, mine.id))[-1].note
    status, body = await move(client, mine.id, "investigating", headers=AGENT)
    assert (status, body["state"]) == (200, "investigating")
    assert (await history(client, mine.id))[-1].actor == "xiaomei"
    status, body = await move(client, mine.id, "assigned", headers=AGENT, owner="aqiang")
    assert status == 403  # only a supervisor hands a ticket to someone else


async def test_filters_and_paging(client, clock):
    await push(client, say("我要投诉"), say("我要打12315", buyer="buyer2", at=START + minutes(1)),
               say("凭什么不给我退款", buyer="buyer3", at=START + minutes(2)))

    async def ids(query):
        resp = await client.get(f"/api/tickets?{query}", headers=SUP)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        return [i["id"] for i in body["items"]], body["total"]

    assert await ids("severity=P1") == ([2], 1)
    assert await ids("state=assigned&owner=aqiang") == ([2, 3, 1], 3)  # most severe first
    assert await ids("owner=xiaomei") == ([], 0)
    assert await ids("limit=1&offset=1") == ([3], 3)
    assert await ids("overdue=true") == ([], 0)
    clock.set(START + minutes(62))  # past P1's first response (60 min), not the others'
    assert await ids("overdue=true") == ([2], 1)
    for bad in ("state=done", "severity=P9", "limit=1001", "limit=0", "offset=-1", "overdue=yes"):
        resp = await client.get(f"/api/tickets?{bad}", headers=SUP)
        assert resp.status == 400, bad
        assert (await resp.json())["error"] == "bad_request"


async def test_an_agent_opens_a_ticket_from_their_conversation(client):
    await push(client, say("你们这个东西怎么回事"), say("在吗", buyer="buyer2", agent=AQIANG))
    rows = await client.get("/api/conversations", headers=SUP)
    convs = {c["buyer"]: c["id"] for c in (await rows.json())["items"]}
    body = {"conversation_id": convs["buyer1"], "severity": "P2", "category": "quality", "note": "杯子有裂纹"}
    resp = await client.post("/api/tickets", json=body, headers=AGENT)
    created = await resp.json()
    assert (resp.status, created["created"], created["rule"], created["severity"]) == (201, True, "manual", "P2")
    resp = await client.post("/api/tickets", json={**body, "severity": "P1"}, headers=AGENT)
    again = await resp.json()
    assert (resp.status, again["id"], again["created"], again["severity"], again["complaints"]) == (200, created["id"], False, "P1", 2)
    resp = await client.post("/api/tickets", json={**body, "conversation_id": convs["buyer2"]}, headers=AGENT)
    assert resp.status == 403
    resp = await client.post("/api/tickets", json={**body, "note": ""}, headers=AGENT)
    assert resp.status == 400


async def test_sla_breach_is_flagged_once_and_announced(db_client, clock, aiohttp_server):
    client = db_client
    received = []

    async def hook(request):
        received.append(await request.json())
        return web.json_response({"ok": True})

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    server = await aiohttp_server(hook_app)
    await push(client, say("我要打12315"), say("我要投诉", buyer="buyer2"))
    p1, p3 = await tickets(client)
    db = client.app[keys.DB]
    import aiohttp

    async with aiohttp.ClientSession() as http:
        announce = job.webhook(http, str(server.make_url("/hook")))
        assert await job.run(db, now=START + minutes(60), announce=announce) == []
        found = await job.run(db, now=START + minutes(61), announce=announce)
        assert [(e.ticket_id, e.breached) for e in found] == [(p1.id, ("first_response",))]
        assert await job.run(db, now=START + minutes(90), announce=announce) == []  # once
        # P3's first response is answered by an agent message before its deadline: never breached.
        await push(client, AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="buyer2",
                                        push_id="a1", at=START + minutes(100), text="亲，抱歉", agent_account=AQIANG))
        found = await job.run(db, now=START + timedelta(days=1, minutes=1), announce=announce)
        assert [(e.ticket_id, e.breached) for e in found] == [(p1.id, ("resolution",))]
    assert [[e["ticket_id"] for e in r["escalations"]] for r in received] == [[p1.id], [p1.id]]
    assert received[0]["escalations"][0]["breached"] == ["first_response"]
    [p1, p3] = await tickets(client)
    assert (p1.escalations, p1.escalated_at) == ("first_response,resolution", START + timedelta(days=1, minutes=1))
    assert p3.first_response_at == START + minutes(100) and p3.escalations == ""
    assert [h.note for h in await history(client, p1.id) if h.kind == "escalated"] == [
        "past SLA: first_response", "past SLA: resolution"]


async def test_suggest_reports_the_complaint(client):
    resp = await client.post("/api/suggest", json={"text": "再不处理我就打12315"}, headers=AGENT)
    body = await resp.json()
    assert body["complaint"]["severity"] == "P1" and "12315" in body["complaint"]["reason"]
    resp = await client.post("/api/suggest", json={"text": "请问怎么退货"}, headers=AGENT)
    assert (await resp.json())["complaint"] is None


async def test_prometheus_counts_tickets_by_state(client):
    await push(client, say("我要投诉"))
    text = await (await client.get("/metrics")).text()
    assert value(text, "csbot_tickets", state="assigned", severity="P3") == 1
    assert value(text, "csbot_tickets_overdue") == 0


async def test_assignment_follows_shifts_and_p1_goes_to_a_supervisor(aiohttp_client, sqlite_url, clock, make_app):
    agents = [
        {"id": "xiaomei", "accounts": ["wangwang:小店:小美"], "roles": ["presale"]},
        {"id": "aqiang", "accounts": ["wangwang:小店:阿强"], "roles": ["aftersale"]},
        {"id": "lili", "accounts": ["wangwang:小店:丽丽"], "roles": ["aftersale"]},
        {"id": "laowang", "accounts": ["wangwang:小店:老王"], "roles": ["supervisor"]},
    ]
    shifts = [{"name": "day", "start": "09:00", "end": "18:00", "agents": ["aqiang", "lili", "laowang"]}]
    client = await aiohttp_client(make_app(make_config(sqlite_url, agents=agents, shifts=shifts), clock))
    # START is 10:00 shop time: round-robin between aqiang and lili; P1 to laowang.
    await push(client, say("我要投诉", buyer="b1"), say("我要投诉", buyer="b2", at=START + minutes(1)),
               say("我要投诉", buyer="b3", at=START + minutes(2)), say("我要打12315", buyer="b4", at=START + minutes(3)))
    assert [(t.buyer, t.owner) for t in await tickets(client)] == [
        ("b1", "aqiang"), ("b2", "lili"), ("b3", "aqiang"), ("b4", "laowang")]
    # At 20:00 nobody is on shift: the ticket waits, new, until the scan at 09:00 the next morning.
    evening = START + timedelta(hours=10)
    clock.set(evening)
    await push(client, say("我要投诉", buyer="b5", at=evening))
    late = (await tickets(client))[-1]
    assert (late.state, late.owner) == ("new", None)
    assignment = client.app[keys.TICKET_ASSIGNMENT]
    await job.run(client.app[keys.DB], now=evening + timedelta(hours=12, minutes=59), assignment=assignment)
    assert (await tickets(client))[-1].owner is None  # 08:59
    await job.run(client.app[keys.DB], now=evening + timedelta(hours=13), assignment=assignment)
    late = (await tickets(client))[-1]
    assert (late.state, late.owner) == ("assigned", "lili")


async def test_a_complaint_instead_of_a_rating_reopens_the_ticket(client):
    await push(client, say("凭什么不给我退款"))
    [t] = await tickets(client)
    await move(client, t.id, "investigating")
    await move(client, t.id, "resolved", note="已退款", resolution="refund")
    await push(client, say("你们客服态度太差了", at=START + minutes(30)))  # service, not refund: still this one
    [t] = await tickets(client)
    assert (t.state, t.complaints, t.rating) == ("reopened", 2, None)
    assert (await history(client, t.id))[-1].note == "the buyer complained again"


async def test_the_running_bot_escalates_and_calls_the_webhook(aiohttp_client, aiohttp_server, sqlite_url, clock, make_app):
    received = []

    async def hook(request):
        received.append(await request.json())
        return web.json_response({})

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    server = await aiohttp_server(hook_app)
    config = make_config(sqlite_url, tickets={"scan_seconds": 1, "escalation_webhook_url": str(server.make_url("/hook"))})
    client = await aiohttp_client(make_app(config, clock, background=True))
    clock.set(START + minutes(61))  # a P1 at START is past its first response (60 min)
    status, _ = await post_push(client, "wangwang", signed_form(say("我要打12315"), now=clock.now()))
    assert status == 200
    got = await eventually(lambda: asyncio.sleep(0, received), lambda r: len(r) >= 1)
    assert got[0]["escalations"][0]["breached"] == ["first_response"]


async def test_reopening_while_the_buyer_has_another_open_ticket_of_that_category_is_409(db_client):
    client = db_client
    await push(client, say("我要投诉"))
    [first] = await tickets(client)
    await move(client, first.id, "investigating")
    await move(client, first.id, "resolved", note="道歉并解释", resolution="explanation")
    await push(client, say("满意", at=START + minutes(5)))
    await push(client, say("我要投诉", at=START + minutes(60)))
    first, second = await tickets(client)
    assert (first.state, second.state) == ("closed", "assigned")
    status, body = await move(client, first.id, "reopened", note="买家又来了")
    assert (status, body["error"]) == (409, "duplicate")
    assert (await tickets(client))[0].state == "closed"
