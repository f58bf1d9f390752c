"""GET/POST /api/tickets, GET /api/tickets/{id}, POST /api/tickets/{id}/transition: the complaint queue.

Agents see the tickets they own and those of buyers routed to them, and move only those not owned by
someone else; supervisors and admins see and move everything.
"""

from __future__ import annotations

import re

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot.store import access
from bot.store import tickets as store
from bot.store.tables import Ticket, TicketHistory
from bot.tickets import actions, workflow
from bot.tickets.detect import SEVERITIES, Complaint
from bot.metrics.board import iso
from bot.web import keys
from bot.web.buyer_text import json_for
from bot.web.auth import Caller, caller
from bot.web.errors import ApiError
from bot.web.kb_api import json_body
from bot.web.params import blank, is_row_id, paging

CATEGORY = re.compile(r"[a-z_]*[a-z][a-z_]*")  # the document's pattern: service, quality, refund, ...



def _at(value) -> str | None:
    return None if value is None else iso(value)


def public(ticket: Ticket, *, now) -> dict:
    return {
        "id": ticket.id, "version": ticket.version, "state": ticket.state, "severity": ticket.severity,
        "category": ticket.category, "rule": ticket.rule, "reason": ticket.reason, "summary": ticket.summary,
        "complaints": ticket.complaints, "owner": ticket.owner, "platform": ticket.platform,
        "shop": ticket.shop, "buyer": ticket.buyer, "buyer_id": ticket.buyer_id,
        "conversation_id": ticket.conversation_id, "agent_account": ticket.agent_account,
        "order_id": ticket.order_id, "resolution": ticket.resolution, "resolution_note": ticket.resolution_note,
        "rating": ticket.rating, "created_by": ticket.created_by,
        "created_at": _at(ticket.created_at), "updated_at": _at(ticket.updated_at),
        "assigned_at": _at(ticket.assigned_at), "first_response_at": _at(ticket.first_response_at),
        "resolved_at": _at(ticket.resolved_at), "callback_at": _at(ticket.callback_at),
        "closed_at": _at(ticket.closed_at),
        "first_response_due_at": _at(ticket.first_response_due_at),
        "resolution_due_at": _at(ticket.resolution_due_at),
        "overdue": list(workflow.breaches(
            state=ticket.state, first_response_at=ticket.first_response_at,
            first_response_due_at=ticket.first_response_due_at, resolution_due_at=ticket.resolution_due_at,
            now=now)),
        "escalated_at": _at(ticket.escalated_at),
        "allowed": list(workflow.allowed(ticket.state, closed_at=ticket.closed_at, now=now)),
    }


def _history(h: TicketHistory) -> dict:
    return {"at": _at(h.at), "actor": h.actor, "kind": h.kind, "from": h.from_state, "to": h.to_state, "note": h.note}


def _visibility(who: Caller) -> store.Visibility | None:
    return None if who.at_least("supervisor") else store.Visibility(agent=who.agent or "", accounts=who.accounts)


def actor(who: Caller) -> str:
    return who.agent if who.role == "agent" and who.agent else who.role


async def list_tickets(request: web.Request) -> web.Response:
    who = caller(request, role="agent")
    q = request.query
    state, severity = q.get("state"), q.get("severity")
    if state is not None and state not in workflow.STATES:
        raise ApiError(400, "bad_request", f"unknown state {state!r}; states are {', '.join(workflow.STATES)}")
    if severity is not None and severity not in SEVERITIES:
        raise ApiError(400, "bad_request", "severity must be P1, P2 or P3")
    overdue = q.get("overdue")
    if overdue not in (None, "true", "false"):
        raise ApiError(400, "bad_request", "overdue must be true or false")
    limit, offset = paging(request)
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session:
        rows, total = await store.search(
            session, state=state, severity=severity, owner=q.get("owner"),
            overdue_at=now if overdue == "true" else None, visible_to=_visibility(who), limit=limit, offset=offset,
        )
    return json_for(request, who, {"items": [public(t, now=now) for t in rows], "total": total})


async def _visible_ticket(session, request: web.Request, who: Caller) -> Ticket:
    raw = request.match_info["id"]
    ticket = await store.get(session, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
    if ticket is None:
        raise ApiError(404, "not_found", f"no ticket {raw}")
    if (v := _visibility(who)) is not None and not store.visible(ticket, v):
        raise ApiError(403, "forbidden", "this ticket is neither yours nor of a buyer routed to you")
    return ticket


async def get_ticket(request: web.Request) -> web.Response:
    who = caller(request, role="agent")
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session:
        ticket = await _visible_ticket(session, request, who)
        history = await store.history(session, ticket.id)
    return json_for(request, who, {**public(ticket, now=now), "history": [_history(h) for h in history]})


async def transition(request: web.Request) -> web.Response:
    who = caller(request, role="agent")
    body = await json_body(request)
    to, note = body.get("to"), body.get("note", "")
    version, resolution, owner = body.get("version"), body.get("resolution"), body.get("owner")
    if to not in workflow.STATES:
        raise ApiError(400, "bad_request", f"unknown state {str(to)[:40]!r}; states are {', '.join(workflow.STATES)}")
    if not isinstance(note, str) or len(note) > 2000:
        raise ApiError(400, "bad_request", "note must be a string of at most 2000 characters")
    if version is not None and not is_row_id(version):
        raise ApiError(400, "bad_request", "version must be an integer")
    if resolution is not None and resolution not in workflow.RESOLUTIONS:
        raise ApiError(400, "bad_request", f"resolution must be one of {', '.join(workflow.RESOLUTIONS)}")
    config = request.app[keys.CONFIG]
    if owner is not None and not isinstance(owner, str):
        raise ApiError(400, "bad_request", "owner must be an agent id")
    if owner is not None and owner not in {a.id for a in config.agents}:
        raise ApiError(400, "unknown_agent", f"owner {owner[:40]!r} is not an agent")
    if to == "assigned" and owner is None and who.role == "agent":
        owner = who.agent  # an agent takes the ticket
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session, session.begin():
        ticket = await _visible_ticket(session, request, who)
        if who.role == "agent":
            if ticket.owner and ticket.owner != who.agent:
                raise ApiError(403, "forbidden", f"the ticket belongs to {ticket.owner}; ask a supervisor")
            if to == "assigned" and owner != who.agent:
                raise ApiError(403, "forbidden", "only a supervisor assigns a ticket to someone else")
        try:
            ticket = await actions.transition(
                session, ticket, to=to, actor=actor(who), now=now, config=config.tickets, note=note,
                version=version, resolution=resolution, owner=owner,
            )
        except workflow.InvalidTransition as e:  # well formed, but a note or a resolution is missing for this move
            raise ApiError(400, "incomplete_transition", str(e)) from None
        except workflow.IllegalTransition as e:
            return web.json_response({"error": "illegal_transition", "message": str(e), "state": e.state,
                                      "allowed": list(e.allowed)}, status=409)
        except store.StaleTicket:
            raise ApiError(409, "conflict", "someone else changed this ticket; reload it and try again") from None
        except IntegrityError:
            raise ApiError(409, "duplicate", "the buyer has another open ticket of this category; "
                                             "add to that one instead") from None
    return web.json_response(public(ticket, now=now))


async def create_ticket(request: web.Request) -> web.Response:
    """An agent opens a ticket from a conversation; an open one of that buyer and category gets it instead."""
    who = caller(request, role="agent")
    body = await json_body(request)
    conversation_id, severity = body.get("conversation_id"), body.get("severity", "P3")
    category, note = body.get("category", "service"), body.get("note", "")
    if not is_row_id(conversation_id):
        raise ApiError(400, "bad_request", "conversation_id must be an integer")
    if severity not in SEVERITIES:
        raise ApiError(400, "bad_request", "severity must be P1, P2 or P3")
    if not isinstance(category, str) or not CATEGORY.fullmatch(category):
        raise ApiError(400, "bad_request", "category must be lower-case letters, e.g. service, quality, refund")
    if not isinstance(note, str) or blank(note) or len(note) > 2000:
        raise ApiError(400, "bad_request", "note is required: what the buyer complains about")
    app = request.app
    now = app[keys.CLOCK].now()
    async with app[keys.DB]() as session, session.begin():
        conversation = await store.conversation(session, conversation_id)
        if conversation is None:
            raise ApiError(404, "not_found", f"no conversation {conversation_id}")
        if who.role == "agent" and not await access.may_see(session, conversation.id, agent=who.agent or "",
                                                            accounts=who.accounts):  # the one rule
            raise ApiError(403, "not_routed_to_you", "this conversation is not routed to you")
        buyer = await store.buyer(session, conversation.buyer_id)
        opened = await actions.open_or_attach(
            session, complaint=Complaint(severity=severity, category=category, rule="manual", reason=note[:200]),
            buyer_id=conversation.buyer_id, platform=conversation.platform, shop=conversation.shop,
            buyer=buyer.nick, conversation=conversation, text=note, now=now, config=app[keys.CONFIG].tickets,
            assignment=app[keys.TICKET_ASSIGNMENT], actor=actor(who),
        )
    return web.json_response({**public(opened.ticket, now=now), "created": opened.created},
                             status=201 if opened.created else 200)
