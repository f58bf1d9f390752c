"""The agent's workbench: who may see a buyer (one rule, `visible`), the buyer's context, transfers
(转接), my status and heartbeat, the agents' list, quick phrases (快捷短语), delivery of replies and
its retry, the compliance check before sending, and my figures today.

Errors carry a stable `error` code and a Chinese `message`; the console maps codes to its own words.
"""

from __future__ import annotations

from datetime import datetime

import re

import sqlalchemy as sa
from aiohttp import web

from bot.clock import shop_zone
from bot.metrics.shifts import agents_on_shift
from bot.store import access, agent_status, changes, phrases, reminders
from bot.store.tables import Buyer, Conversation, Message, Order, OutboxMessage, Ticket
from bot.store.outbox import shown_key
from bot.metrics.board import iso
from bot.web import keys
from bot.web.buyer_text import json_for
from bot.web.auth import Caller, caller
from bot.web.errors import ApiError
from bot.web.kb_api import json_body
from bot.web.params import SPACES, blank, paging, path_id

GROUPS = {"售前": "presale", "售后": "aftersale", "presale": "presale", "aftersale": "aftersale"}
MAX_NOTE = 500
MAX_PHRASE = 500
PHRASE_CODE = f"/?[^{SPACES}/][^{SPACES}]{{0,19}}"  # typed after a "/" in the reply box; the document's pattern
HEARTBEAT_S = 30  # how often the console beats; offline after agent_status.OFFLINE_AFTER


def _iso(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


def actor(who: Caller) -> str:
    return who.agent or who.role


async def visible(session, who: Caller, conversation_id: int) -> tuple[Conversation, Buyer]:
    """The conversation and its buyer, if `who` may see and answer it (bot.store.access); else 404/403."""
    conversation = await session.get(Conversation, conversation_id)
    if conversation is None:
        raise ApiError(404, "not_found", "没有这个会话")
    if not who.at_least("supervisor") and not await access.may_see(
            session, conversation_id, agent=who.agent or "", accounts=who.accounts):
        raise ApiError(403, "not_routed_to_you", "这个会话没有分配给你（不是你接待、交接或转接给你的买家，也不是你负责的工单）")
    return conversation, await session.get(Buyer, conversation.buyer_id)


def _names(request: web.Request) -> dict[str, str]:
    return {a.id: a.name or a.id for a in request.app[keys.CONFIG].agents}


def _account_on(request: web.Request, agent: str, platform: str) -> str | None:
    for a in request.app[keys.CONFIG].agents:
        if a.id == agent:
            own = sorted(x.split(":", 1)[1] for x in a.accounts if x.startswith(platform + ":"))
            return own[0] if own else None
    return None


# --- the buyer's context -----------------------------------------------------------------------

def order_json(o: Order, history: list) -> dict:
    return {
        "order_id": o.order_id, "status": o.status, "title": o.title,
        "amount": None if o.amount_fen is None else round(o.amount_fen / 100, 2), "amount_fen": o.amount_fen,
        "created_at": _iso(o.created_at), "paid_at": _iso(o.paid_at), "closes_at": _iso(o.closes_at),
        "closed_at": _iso(o.closed_at),
        "reminders": [{"slot": r.slot, "state": r.state, "reason": r.reason, "due_at": _iso(r.due_at),
                       "decided_at": _iso(r.decided_at)} for r in history],
    }


def ticket_json(t: Ticket) -> dict:
    return {"id": t.id, "state": t.state, "severity": t.severity, "category": t.category, "owner": t.owner,
            "summary": t.summary, "created_at": _iso(t.created_at), "version": t.version}


async def context(request: web.Request) -> web.Response:
    """GET /api/conversations/{id}/context: the buyer's orders on this shop, tickets, earlier conversations."""
    who = caller(request)
    limit, offset = paging(request, default=10, most=100)
    async with request.app[keys.DB]() as session:
        conversation, buyer = await visible(session, who, path_id(request))
        orders = list((await session.scalars(
            sa.select(Order).where(Order.buyer_id == buyer.id)
            .order_by(Order.created_at.desc().nulls_last(), Order.id.desc()).limit(50))).all())
        history = await reminders.history(session, [o.id for o in orders])
        tickets = list((await session.scalars(
            sa.select(Ticket).where(Ticket.buyer_id == buyer.id).order_by(Ticket.created_at.desc()).limit(50))).all())
        earlier_where = (Conversation.buyer_id == buyer.id, Conversation.id != conversation.id,
                         Conversation.started_at < conversation.started_at)
        total = await session.scalar(sa.select(sa.func.count()).select_from(Conversation).where(*earlier_where))
        earlier = list((await session.scalars(
            sa.select(Conversation).where(*earlier_where).order_by(Conversation.started_at.desc())
            .limit(limit).offset(offset))).all())
        messages: dict[int, list[Message]] = {}
        if earlier:
            for m in (await session.scalars(sa.select(Message).where(
                    Message.conversation_id.in_([c.id for c in earlier])).order_by(Message.sent_at, Message.id))).all():
                messages.setdefault(m.conversation_id, []).append(m)
    return json_for(request, who, {
        "buyer": buyer.nick, "platform": conversation.platform,
        "orders": [order_json(o, history.get(o.id, [])) for o in orders],
        "tickets": [ticket_json(t) for t in tickets],
        "earlier": {"total": total or 0, "items": [
            {"id": c.id, "started_at": _iso(c.started_at), "last_message_at": _iso(c.last_message_at),
             "agent": c.agent_account,
             "messages": [{"id": m.id, "sender": m.sender, "agent": m.agent_account, "text": m.text,
                           "sent_at": _iso(m.sent_at)} for m in messages.get(c.id, [])[-100:]]}
            for c in earlier]},
    })


# --- transfer (转接) -----------------------------------------------------------------------------

async def _pick_from_group(request, session, role: str, *, platform: str, exclude: str, now) -> str:
    config = request.app[keys.CONFIG]
    pool = [a.id for a in config.agents if role in a.roles and a.id != exclude
            and _account_on(request, a.id, platform) is not None]
    present = await agent_status.present(session, pool, now=now)
    if not present:
        raise ApiError(409, "group_unavailable", "这个组现在没有在线的客服可以接")
    received = await access.transfers_received(session, present)
    return min(present, key=lambda a: (received.get(a) is not None, received.get(a) or now, a))


async def transfer(request: web.Request) -> web.Response:
    """POST /api/conversations/{id}/transfer {"to": agent id or "group:售前|售后", "note", "version"?}."""
    who = caller(request)
    body = await json_body(request)
    to, note, version = body.get("to"), body.get("note", ""), body.get("version")
    if not isinstance(to, str) or blank(to):
        raise ApiError(400, "bad_request", "请选择要转接给谁（to）")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise ApiError(400, "bad_request", f"备注最多 {MAX_NOTE} 个字")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise ApiError(400, "bad_request", "version 必须是非负整数")
    to = to.strip()
    names = _names(request)
    now = request.app[keys.CLOCK].now()
    me = actor(who)
    group = ""
    if to.startswith("group:") or to in ("售前", "售后"):
        group = GROUPS.get(to.removeprefix("group:"), "")
        if not group:
            raise ApiError(400, "unknown_group", "没有这个组（可以转给 售前 或 售后）")
    elif to not in names:
        raise ApiError(400, "unknown_agent", "没有这个客服")
    elif to == who.agent:
        raise ApiError(400, "transfer_to_self", "不能转接给自己")
    conversation_id = path_id(request)
    if version is None:
        # What the caller is taken to have seen: the conversation as it was when the request came in.
        # A transfer stored meanwhile makes this one lose the race (409), not silently follow it.
        async with request.app[keys.DB]() as session:
            version = await access.transfer_version(session, conversation_id)
    async with request.app[keys.DB]() as session, session.begin():
        conversation = await session.get(Conversation, conversation_id)
        if conversation is None:
            raise ApiError(404, "not_found", "没有这个会话")
        current = await access.transfer_version(session, conversation_id)
        if not who.at_least("supervisor") and not await access.may_see(
                session, conversation_id, agent=who.agent or "", accounts=who.accounts):
            latest = await access.held_before_latest_transfer(session, conversation, agent=me, accounts=who.accounts)
            if latest is not None:
                raise ApiError(409, "transfer_conflict", f"这个会话已经转接给了 {names.get(latest.to_agent, latest.to_agent)}")
            raise ApiError(403, "not_routed_to_you", "这个会话不归你，不能转接")
        if version != current:
            raise ApiError(409, "transfer_conflict", "这个会话刚刚被转接过，请刷新后再试")
        if group:
            to = await _pick_from_group(request, session, group, platform=conversation.platform, exclude=me, now=now)
        account = _account_on(request, to, conversation.platform)
        if account is None:
            raise ApiError(400, "no_account_on_platform", f"{names.get(to, to)} 没有这个平台的账号，不能接这个会话")
        try:
            done = await access.record_transfer(session, conversation=conversation, version=version, from_agent=me,
                                                to_agent=to, to_account=account, group=group, note=note.strip(),
                                                now=now)
        except access.TransferRace:
            raise ApiError(409, "transfer_conflict", "这个会话刚刚被转接过，请刷新后再试") from None
        buyer = await session.get(Buyer, conversation.buyer_id)
        # In the change log too, so that every other process's board and consoles show the new agent
        # within a round (this process's hear of it below, at once).
        await changes.append_transfer(session, platform=conversation.platform, shop=conversation.shop,
                                      buyer=buyer.nick, agent_account=account, conversation_id=conversation.id,
                                      seq=done.seq, now=now)
    item = transfer_json(done, names)
    request.app[keys.CONSOLE_FEED].grant(done.to_agent, conversation.platform, buyer.nick)
    request.app[keys.CONSOLE_FEED].tell(done.to_agent, "transferred", {**item, "buyer": buyer.nick})
    request.app[keys.METRICS].mark_buyer(conversation.buyer_id)
    return web.json_response({**item, "buyer": buyer.nick, "version": done.seq})


def transfer_json(t, names: dict[str, str]) -> dict:
    return {"conversation_id": t.conversation_id, "seq": t.seq, "from": t.from_agent,
            "from_name": names.get(t.from_agent, t.from_agent), "to": t.to_agent,
            "to_name": names.get(t.to_agent, t.to_agent), "group": t.group, "note": t.note, "at": _iso(t.at)}


# --- me, my status, the agents ---------------------------------------------------------------------

async def me(request: web.Request) -> web.Response:
    """GET /api/me: who the token belongs to, and (for an agent) their status."""
    who = caller(request)
    config = request.app[keys.CONFIG]
    names = {a.id: a.name for a in config.agents}
    body = {"role": who.role, "agent": who.agent, "user": who.user, "name": names.get(who.agent or "", ""),
            "accounts": sorted(who.accounts), "timezone": config.shop.timezone,
            "heartbeat_s": HEARTBEAT_S, "status": None}
    if who.agent:
        async with request.app[keys.DB]() as session:
            found = await agent_status.statuses(session, now=request.app[keys.CLOCK].now(), agents=[who.agent])
        body["status"] = found[who.agent].as_dict()
    return web.json_response(body)


def _agent_only(who: Caller) -> str:
    if not who.agent:
        raise ApiError(403, "not_an_agent", "这个 token 不属于某位客服，没有状态")
    return who.agent


async def put_status(request: web.Request) -> web.Response:
    """PUT /api/me/status {"status": "online" | "busy" | "away"}."""
    who = caller(request)
    agent = _agent_only(who)
    body = await json_body(request)
    status = body.get("status")
    if status not in agent_status.CHOSEN:
        raise ApiError(400, "bad_status", "状态只能是 在线（online）、忙碌（busy）或 挂起（away）")
    async with request.app[keys.DB]() as session, session.begin():
        found = await agent_status.set_status(session, agent=agent, status=status, now=request.app[keys.CLOCK].now())
    return web.json_response(found.as_dict())


async def heartbeat(request: web.Request) -> web.Response:
    """POST /api/me/heartbeat: the console is open (every 30 s); offline after two minutes without one."""
    who = caller(request)
    agent = _agent_only(who)
    async with request.app[keys.DB]() as session, session.begin():
        found = await agent_status.heartbeat(session, agent=agent, now=request.app[keys.CLOCK].now())
    return web.json_response(found.as_dict())


async def agents(request: web.Request) -> web.Response:
    """GET /api/agents (supervisor): every agent with status, on_shift and waiting."""
    return await _agents(request, caller(request, role="supervisor"))


async def colleagues(request: web.Request) -> web.Response:
    """GET /api/colleagues (agent): the agents' names, groups and status, to pick whom to transfer to."""
    return await _agents(request, caller(request))


async def _agents(request: web.Request, who: Caller) -> web.Response:
    config = request.app[keys.CONFIG]
    now = request.app[keys.CLOCK].now()
    on = agents_on_shift(config.shifts, now, shop_zone(config.shop.timezone))
    account_of = {acc: a.id for a in config.agents for acc in a.accounts}
    async with request.app[keys.DB]() as session:
        found = await agent_status.statuses(session, now=now, agents=[a.id for a in config.agents])
        waiting = await access.waiting_counts(session, account_of)
    items = []
    for a in config.agents:
        row = {"id": a.id, "agent": a.id, "name": a.name or a.id, "roles": list(a.roles),
               "platforms": sorted({x.split(":", 1)[0] for x in a.accounts}),
               "status": found[a.id].status, "status_name": agent_status.NAMES[found[a.id].status]}
        if who.at_least("supervisor"):
            row.update(on_shift=(a.id in on) if config.shifts else True,
                       shift=on.get(a.id), waiting=waiting.get(a.id, 0), heartbeat_at=found[a.id].heartbeat_at and
                       _iso(found[a.id].heartbeat_at), chosen=found[a.id].chosen)
        items.append(row)
    limit, offset = paging(request)
    return web.json_response({"items": items[offset:offset + limit], "total": len(items)})


async def my_figures(request: web.Request) -> web.Response:
    """GET /api/me/figures: my row(s) of the board's figures for today (the same definitions)."""
    who = caller(request)
    agent = _agent_only(who)
    board = request.app[keys.BOARD]
    rows = [r for r in board.agents() if r["agent"] == agent]
    return web.json_response({"day": board.day.isoformat() if board.day else None, "items": rows,
                              "total": len(rows), "thresholds_s": list(board.thresholds_s)})


# --- quick phrases ---------------------------------------------------------------------------------

def phrase_json(p) -> dict:
    return {"id": p.id, "code": p.code, "text": p.text, "scope": p.scope, "owner": p.owner or None,
            "created_by": p.created_by, "created_at": _iso(p.created_at)}


async def list_phrases(request: web.Request) -> web.Response:
    who = caller(request)
    limit, offset = paging(request, default=1000)
    async with request.app[keys.DB]() as session:
        rows = await phrases.visible(session, owner=actor(who))
    return web.json_response({"items": [phrase_json(p) for p in rows[offset:offset + limit]], "total": len(rows)})


async def add_phrase(request: web.Request) -> web.Response:
    who = caller(request)
    body = await json_body(request)
    code, text, scope = body.get("code"), body.get("text"), body.get("scope", "personal")
    if scope not in ("personal", "team"):
        raise ApiError(400, "bad_request", "scope 只能是 personal（个人）或 team（团队）")
    if scope == "team" and not who.at_least("supervisor"):
        raise ApiError(403, "team_phrases_supervisor_only", "团队短语只有主管可以添加")
    if not isinstance(code, str) or not re.fullmatch(PHRASE_CODE, code):
        raise ApiError(400, "bad_phrase_code", "短语代码必须是 1-20 个字符，不含空格")
    if not isinstance(text, str) or blank(text) or len(text) > MAX_PHRASE:
        raise ApiError(400, "bad_phrase_text", f"短语内容不能为空，最多 {MAX_PHRASE} 个字")
    code, text = code.removeprefix("/"), text.strip()
    violations = request.app[keys.ENGINES].engine.guard.check(text)
    blocking = [v for v in violations if v.action == "block"]
    if blocking:
        first = blocking[0]
        return web.json_response({
            "error": "blocked", "message": f"短语没有保存：{first.reason}（{first.matched}）",
            "rule": first.rule, "reason": first.reason, "span": [first.start, first.end],
            "violations": [v.as_dict() for v in violations]}, status=422)
    owner = "" if scope == "team" else actor(who)
    async with request.app[keys.DB]() as session, session.begin():
        try:
            phrase = await phrases.add(session, scope=scope, owner=owner, code=code, text=text, created_by=actor(who),
                                       now=request.app[keys.CLOCK].now())
        except phrases.CodeTaken as e:
            raise ApiError(409, "phrase_code_taken", f"代码 /{code} 已经被{'团队' if not e.phrase.owner else '个人'}短语使用") from None
    return web.json_response({**phrase_json(phrase), "warnings": [v.as_dict() for v in violations]}, status=201)


async def delete_phrase(request: web.Request) -> web.Response:
    who = caller(request)
    async with request.app[keys.DB]() as session, session.begin():
        phrase = await phrases.get(session, path_id(request))
        if phrase is None or (phrase.owner and phrase.owner != actor(who)):
            raise ApiError(404, "not_found", "没有这条短语")
        if not phrase.owner and not who.at_least("supervisor"):
            raise ApiError(403, "team_phrases_supervisor_only", "团队短语只有主管可以删除")
        await phrases.delete(session, phrase)
    return web.json_response({"deleted": True})


# --- delivery and the check before sending ----------------------------------------------------------

def delivery_json(m: OutboxMessage) -> dict:
    return {"id": m.id, "client_msg_id": shown_key(m.client_msg_id), "text": m.text, "state": m.state,
            "last_error": m.last_error, "attempts": m.attempts, "agent": m.agent_account,
            "created_at": _iso(m.created_at), "sent_at": _iso(m.sent_at)}


async def deliveries_of(session, conversation: Conversation, buyer: Buyer) -> list[dict]:
    """The replies queued for this conversation's buyer since it started, not yet sent or failed for good."""
    rows = (await session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.platform == conversation.platform, OutboxMessage.shop == conversation.shop,
        OutboxMessage.buyer == buyer.nick, OutboxMessage.kind == "reply",
        OutboxMessage.created_at >= conversation.started_at, OutboxMessage.state != "sent",
    ).order_by(OutboxMessage.created_at, OutboxMessage.id).limit(50))).all()
    return [delivery_json(m) for m in rows]


async def retry_delivery(request: web.Request) -> web.Response:
    """POST /api/outbox/{id}/retry: send again a reply that failed for good (its buyer must be visible)."""
    who = caller(request)
    async with request.app[keys.DB]() as session, session.begin():
        message = await session.get(OutboxMessage, path_id(request))
        if message is None or message.kind != "reply":
            raise ApiError(404, "not_found", "没有这条回复")
        buyer_ids = sa.select(Buyer.id).where(Buyer.platform == message.platform, Buyer.shop == message.shop,
                                              Buyer.nick == message.buyer).scalar_subquery()
        conversation_id = await session.scalar(sa.select(Conversation.id).where(Conversation.buyer_id == buyer_ids)
                                               .order_by(Conversation.started_at.desc()).limit(1))
        if conversation_id is None:
            raise ApiError(404, "not_found", "没有这条回复")
        await visible(session, who, conversation_id)
        if message.state != "failed":
            raise ApiError(409, "not_failed", "这条回复没有发送失败，不需要重试")
        now = request.app[keys.CLOCK].now()
        # A retry is a new send: its horizon (bot.outbox) starts again now.
        message.state, message.attempts, message.next_attempt_at = "pending", 0, now
        message.created_at, message.failed_at, message.leased_until = now, None, None
    request.app[keys.OUTBOX].wake()
    return web.json_response({"id": message.id, "state": "pending"})


async def check_text(request: web.Request) -> web.Response:
    """POST /api/guard/check {"text"}: the compliance rules a text would break, before it is sent."""
    caller(request)
    body = await json_body(request)
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "bad_request", "text 必须是字符串")
    violations = request.app[keys.ENGINES].engine.guard.check(text.strip())
    return web.json_response({"blocking": [v.as_dict() for v in violations if v.action == "block"],
                              "warnings": [v.as_dict() for v in violations if v.action != "block"]})
