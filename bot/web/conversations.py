"""The agent's conversations: the list, one conversation with its suggestions, and replies
checked by the compliance guard and sent through the outbox."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import quote

from aiohttp import web

from bot.conversation import SUPERVISOR_ACCOUNT
from bot.matching.engine import shop_values
from bot.outbox import LABELS
from bot.store import access, chat, conversation_end, outbox, suggestions
from bot.store.tables import Buyer, Conversation, Message, ReplyFeedback
from bot.metrics.board import iso
from bot.web import keys
from bot.web.buyer_text import json_for
from bot.web.auth import Caller, caller
from bot.web.errors import ApiError
from bot.web.kb_api import json_body
from bot.web.params import blank, paging, path_id
from bot.store.outbox import shown_key
from bot.web.workbench import deliveries_of, transfer_json, visible

MAX_REPLY = 2000


def _message_json(m: Message) -> dict:
    return {"id": m.id, "sender": m.sender, "agent": m.agent_account, "text": m.text,
            "sent_at": iso(m.sent_at), "client_msg_id": shown_key(m.client_msg_id)}


def _conversation_json(c: Conversation, buyer: Buyer, latest: Message | None, now) -> dict:
    return {
        "id": c.id, "platform": c.platform, "buyer": buyer.nick, "agent": c.agent_account,
        "started_at": iso(c.started_at), "last_message_at": iso(c.last_message_at),
        "waiting_since": iso(c.waiting_since) if c.waiting_since else None,
        "waiting_s": round((now - c.waiting_since).total_seconds()) if c.waiting_since else None,
        "latest": _message_json(latest) if latest else None,
        "ended_at": iso(c.ended_at) if conversation_end.ended(c) else None,
        "ended_by": c.ended_by if conversation_end.ended(c) else None,
    }


async def list_conversations(request: web.Request) -> web.Response:
    who = caller(request)
    limit, offset = paging(request)
    config, now = request.app[keys.CONFIG], request.app[keys.CLOCK].now()
    active_since = now - timedelta(minutes=config.shop.session_gap_minutes)
    async with request.app[keys.DB]() as session:
        if who.at_least("supervisor"):
            rows, total = await chat.open_conversations(session, active_since=active_since, accounts=None,
                                                        limit=limit, offset=offset)
        else:  # the one rule of who may see a buyer (bot.store.access)
            rows, total = await access.open_conversations(session, active_since=active_since, agent=who.agent or "",
                                                          accounts=who.accounts, limit=limit, offset=offset)
        ids = [c.id for c, _ in rows]
        latest = await chat.latest_messages(session, ids)
        handed = await access.handovers_of(session, ids)
        transfers = await access.transfers_of(session, ids)
    names = {a.id: a.name or a.id for a in config.agents}
    feed = request.app[keys.CONSOLE_FEED]
    items = []
    for c, b in rows:
        if who.agent and not who.owns(c.platform, c.agent_account):
            feed.grant(who.agent, c.platform, b.nick)  # handed over, transferred or ticket: live updates too
        item = _conversation_json(c, b, latest.get(c.id), now)
        h = handed.get(c.id)
        item["handover"] = None if h is None else {
            "from": h.from_agent, "from_name": names.get(h.from_agent, h.from_agent), "to": h.to_agent,
            "shift_change_at": iso(h.shift_change_at), "waiting": h.waiting}
        t = transfers.get(c.id)
        item["transfer"] = transfer_json(t[-1], names) if t else None
        items.append(item)
    return json_for(request, who, {"items": items, "total": total, "now": iso(now),
                              "thresholds_s": list(config.metrics.thresholds_s)})


_visible = visible  # the one rule (bot.web.workbench.visible → bot.store.access)


async def _values(session, buyer: Buyer, shop) -> dict:
    values = {**shop_values(shop), "buyer": buyer.nick}
    order = await chat.latest_order(session, buyer.id)
    if order is not None:
        values.update(order_id=order.order_id, item=order.title,
                      amount=f"{(order.amount_fen or 0) / 100:.2f}")
    return values


async def _current_suggestions(session, messages: list[Message]):
    last_buyer = next((m for m in reversed(messages) if m.sender == "buyer"), None)
    if last_buyer is None:
        return None, []
    return last_buyer, await suggestions.for_message(session, last_buyer.id)


async def get_conversation(request: web.Request) -> web.Response:
    who = caller(request)
    engine = request.app[keys.ENGINES].engine
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session:
        conversation, buyer = await _visible(session, who, path_id(request))
        messages = await chat.messages_of(session, conversation.id)
        last_buyer, stored = await _current_suggestions(session, messages)
        values = await _values(session, buyer, request.app[keys.CONFIG].shop)
        deliveries = await deliveries_of(session, conversation, buyer)
        transfers = (await access.transfers_of(session, [conversation.id])).get(conversation.id, [])
        outgoing = await outbox.for_buyer(session, platform=buyer.platform, shop=buyer.shop, buyer=buyer.nick)
    names = {a.id: a.name or a.id for a in request.app[keys.CONFIG].agents}
    shown = [
        {"rank": s.rank, "intent": s.intent, "title": engine.kb.by_id[s.intent].title, "score": s.score,
         "question": s.question, "reply": engine.reply(s.intent, platform=conversation.platform, values=values)}
        for s in stored if s.intent in engine.kb.by_id
    ]
    body = _conversation_json(conversation, buyer, messages[-1] if messages else None, now)
    body.update(messages=[_message_json(m) for m in messages],
                suggestions_for=last_buyer.id if last_buyer else None, suggestions=shown,
                deliveries=deliveries, transfers=[transfer_json(t, names) for t in transfers],
                version=transfers[-1].seq if transfers else 0,
                outgoing=[_outgoing_json(m) for m in reversed(outgoing)])
    return json_for(request, who, body)


def _sender_account(who: Caller, conversation: Conversation) -> str:
    """The account a reply goes out as: the caller's own. A supervisor with no account on the platform
    replies as SUPERVISOR_ACCOUNT (主管), never as the routed agent, whose figures it would change."""
    own = sorted(a.split(":", 1)[1] for a in who.accounts if a.startswith(conversation.platform + ":"))
    if who.role == "agent":
        if not own:
            raise ApiError(403, "forbidden", f"you have no {conversation.platform} account to send from")
        return conversation.agent_account if conversation.agent_account in own else own[0]
    return own[0] if own else SUPERVISOR_ACCOUNT


async def reply(request: web.Request) -> web.Response:
    who = caller(request)
    body = await json_body(request)
    text, intent = body.get("text"), body.get("intent")
    if not isinstance(text, str) or blank(text):
        raise ApiError(400, "bad_request", "text must be a non-empty string")
    if len(text) > MAX_REPLY:
        raise ApiError(400, "bad_request", f"text is longer than {MAX_REPLY} characters")
    engine = request.app[keys.ENGINES].engine
    if intent is not None and not isinstance(intent, str):
        raise ApiError(400, "bad_request", "intent must be the id of a suggestion, or null")
    if intent is not None and intent not in engine.kb.by_id:
        raise ApiError(400, "unknown_intent", f"no intent {intent[:60]!r} in the knowledge base")
    client_msg_id = body.get("client_msg_id") or uuid.uuid4().hex
    if not isinstance(client_msg_id, str) or len(client_msg_id) > 80:
        raise ApiError(400, "bad_request", "client_msg_id must be a string of at most 80 characters")
    text = text.strip()
    violations = engine.guard.check(text)
    blocking = [v for v in violations if v.action == "block"]
    if blocking:
        first = blocking[0]
        return web.json_response({
            "error": "blocked", "message": f"{first.reason}（{first.matched}）: nothing was sent",
            "rule": first.rule, "reason": first.reason, "span": [first.start, first.end],
            "violations": [v.as_dict() for v in violations],
        }, status=422)
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session, session.begin():
        conversation, buyer = await _visible(session, who, path_id(request))
        account = _sender_account(who, conversation)
        key = scoped_key(who, client_msg_id)
        queued = await outbox.enqueue(
            session, client_msg_id=key, platform=conversation.platform, shop=conversation.shop,
            buyer=buyer.nick, agent_account=account, text=text, kind="reply", sender="agent", now=now,
        )
        state = "pending" if queued else (await outbox.by_key(session, key)).state
        if queued:
            messages = await chat.messages_of(session, conversation.id)
            _, stored = await _current_suggestions(session, messages)
            values = await _values(session, buyer, request.app[keys.CONFIG].shop)
            session.add(ReplyFeedback(
                conversation_id=conversation.id, agent=who.agent or who.role,
                suggested_intent=stored[0].intent if stored else None, used_intent=intent,
                outcome=_outcome(text, intent, bool(stored), engine, conversation.platform, values),
                text=text, guard_warnings=",".join(v.rule for v in violations), created_at=now,
            ))
    request.app[keys.OUTBOX].wake()
    return web.json_response({"client_msg_id": client_msg_id, "queued": queued, "state": state,
                              "warnings": [v.as_dict() for v in violations]}, status=202)


async def end(request: web.Request) -> web.Response:
    """POST /api/conversations/{id}/end (结束会话), by an agent who may answer it or a supervisor: the
    conversation is marked ended and its buyer invited to rate it at once (satisfaction's rules apply:
    the guard, quiet hours, once a buyer and day, not during a ticket's callback). 409 if ended already."""
    who = caller(request)
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session, session.begin():
        conversation, _ = await _visible(session, who, path_id(request))
        try:
            ended_at = await conversation_end.end(session, conversation, by=who.agent or who.role, now=now)
        except conversation_end.AlreadyEnded:
            raise ApiError(409, "already_ended", "这个会话已经结束了") from None
    invited = await request.app[keys.CSAT].invite(now=now, conversation_id=conversation.id)
    return web.json_response({"id": conversation.id, "ended_at": iso(ended_at),
                              "ended_by": who.agent or who.role, "csat_invited": bool(invited)})


def scoped_key(who: Caller, key: str) -> str:
    """The outbox key of a reply whose request carried `key`: in the agents' own namespace ("agent:"),
    scoped to the caller, so it never equals another agent's key nor one of the bot's own (`remind:`,
    `ticket:`, `auto:`), whatever the request says.

    The caller is the agent, else the logged-in person (each supervisor has their own keys), else the
    role of a program's token; quoted, so that a ":" in an id cannot make two callers' keys meet.

    >>> scoped_key(Caller(role="agent", agent="xiaomei", accounts=frozenset()), "remind:wangwang:T1:1")
    'agent:xiaomei:remind:wangwang:T1:1'
    >>> scoped_key(Caller(role="supervisor", agent=None, accounts=frozenset(), user="a:b"), "k")
    'agent:a%3Ab:k'
    """
    return f"agent:{quote(who.agent or who.user or who.role, safe='')}:{key}"


def _outgoing_json(m) -> dict:
    """One outgoing message and where it stands: 发送中 (pending), 已发送 (sent), 发送失败 (failed)
    with the reason, 已取消 (cancelled)."""
    return {"client_msg_id": shown_key(m.client_msg_id),
            "kind": m.kind, "sender": m.sender, "text": m.text, "state": m.state, "label": LABELS.get(m.state, m.state),
            "error": m.last_error if m.state != "sent" else None, "attempts": m.attempts,
            "queued_at": iso(m.created_at), "sent_at": iso(m.sent_at) if m.sent_at else None}


def _outcome(text: str, intent: str | None, had_suggestions: bool, engine, platform: str, values: dict) -> str:
    if intent is not None:
        return "used" if text == engine.reply(intent, platform=platform, values=values).strip() else "edited"
    return "ignored" if had_suggestions else "none"
