"""The JSON bodies of the API's successful answers, for bot.web.openapi (which puts each on its route's
status). Objects list the keys that are always there (`required`); more keys may come (additions stay
compatible). Times are the Timestamp schema; days YYYY-MM-DD."""

_TIME = {"$ref": "#/components/schemas/Timestamp"}
_TIME_OR_NULL = {"oneOf": [_TIME, {"type": "null"}]}
_DAY = {"type": "string", "format": "date"}
_TICKET = {"$ref": "#/components/schemas/Ticket"}
_FIGURES = {"$ref": "#/components/schemas/AgentFigures"}
S, I, N, B = ({"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"})
S_OR_NULL, I_OR_NULL, N_OR_NULL = ({"type": ["string", "null"]}, {"type": ["integer", "null"]},
                                   {"type": ["number", "null"]})
_OBJECT = {"type": "object"}
_STRINGS = {"type": "array", "items": S}


def obj(properties: dict, *, optional: dict | None = None) -> dict:
    """An object whose `properties` are always there and `optional` ones may be."""
    return {"type": "object", "properties": {**properties, **(optional or {})}, "required": list(properties)}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def page(items: dict, **more: dict) -> dict:
    """A list answer: {"items": [...], "total": N} (http-api.md), and `more`."""
    return obj({"items": array(items), "total": I, **more})


_VIOLATION = obj({"rule": S, "reason": S, "action": {"enum": ["block", "warn"]}, "span": array(I), "matched": S})
_STATUS = obj({"agent": S, "status": {"enum": ["online", "busy", "away", "offline"]}, "status_name": S,
               "chosen": S, "changed_at": _TIME_OR_NULL, "heartbeat_at": _TIME_OR_NULL})
_TRANSFER = obj({"conversation_id": I, "seq": I, "from": S, "from_name": S, "to": S, "to_name": S, "group": S,
                 "note": S, "at": _TIME})
_MESSAGE = obj({"id": I, "sender": S, "agent": S_OR_NULL, "text": S, "sent_at": _TIME, "client_msg_id": S_OR_NULL})
_CONVERSATION = obj({"id": I, "platform": S, "buyer": S, "agent": S_OR_NULL, "started_at": _TIME,
                     "last_message_at": _TIME, "waiting_since": _TIME_OR_NULL, "waiting_s": I_OR_NULL,
                     "latest": {"oneOf": [_MESSAGE, {"type": "null"}]}, "ended_at": _TIME_OR_NULL,
                     "ended_by": S_OR_NULL})
_REMINDER = obj({"slot": S, "state": {"enum": ["due", "sent", "skipped", "missed"]}, "reason": S_OR_NULL,
                 "scheduled_at": _TIME_OR_NULL, "due_at": _TIME_OR_NULL, "decided_at": _TIME_OR_NULL,
                 "client_msg_id": S_OR_NULL})
_ORDER = obj({"platform": S, "shop": S, "order_id": S, "buyer": S, "title": S_OR_NULL, "amount_fen": I_OR_NULL,
              "status": S, "created_at": _TIME_OR_NULL, "closes_at": _TIME_OR_NULL, "paid_at": _TIME_OR_NULL,
              "reminders": array(_REMINDER)})
_PHRASE = obj({"id": I, "code": S, "text": S, "scope": {"enum": ["personal", "team"]}, "owner": S_OR_NULL,
               "created_by": S, "created_at": _TIME})
_REPLY_TEXT = obj({"platform": S_OR_NULL, "text": S})
_INTENT = obj({"id": S, "title": S, "questions": _STRINGS, "keywords": _STRINGS, "replies": array(_REPLY_TEXT),
               "template": B, "auto_reply": B, "file": S})
_KB_CHANGE = obj({"id": I, "at": {"type": "string", "format": "date-time"}, "who": S, "action": S, "summary": S,
                  "target": S_OR_NULL, "confirmed": B, "undo_of": I_OR_NULL, "undone_by": I_OR_NULL,
                  "impact": {"type": ["object", "null"]}, "paths": _STRINGS})
_KB_WRITE = {"description": "applied: `{applied: true, change, impact, versions, reloaded}`; with dry_run: "
                            "`{applied: false, impact, summary}`; learn/accept adds `gone`, or is "
                            "`{applied: false, gone, message}` when every message is gone",
             **obj({"applied": B}, optional={"change": _KB_CHANGE, "impact": _OBJECT, "summary": S,
                                             "versions": {"type": "object", "additionalProperties": S},
                                             "reloaded": B, "gone": array(I), "message": S})}
_AGENT_ROW = obj({"id": S, "name": S, "roles": _STRINGS, "platforms": _STRINGS, "status": S, "status_name": S},
                 optional={"agent": S, "on_shift": B, "shift": S_OR_NULL, "waiting": I, "heartbeat_at": _TIME_OR_NULL,
                           "chosen": S})

# (method, path, status) → the JSON body of that answer.
ANSWERS = {
    ("get", "/healthz", "200"): obj({"status": {"const": "ok"}}, optional={"checks": array(obj(
        {"name": S, "ok": B, "detail": S}))}),
    ("get", "/api/openapi.json", "200"): obj({"openapi": S, "info": _OBJECT, "paths": _OBJECT}),
    ("get", "/api/orders", "200"): page(_ORDER),
    ("get", "/api/handovers", "200"): page(obj({
        "conversation_id": I, "buyer_id": I, "buyer": S, "platform": S, "from_agent": S, "to_agent": S,
        "shift_change_at": _TIME, "waiting_since": _TIME_OR_NULL})),
    ("post", "/api/tickets", "201"): {"allOf": [_TICKET, obj({"created": {"const": True}})]},
    ("post", "/api/tickets", "200"): {"allOf": [_TICKET, obj({"created": {"const": False}})]},
    ("get", "/api/tickets/{id}", "200"): {"allOf": [_TICKET, obj({"history": array(obj({
        "at": _TIME, "actor": S, "kind": S, "from": S_OR_NULL, "to": S_OR_NULL, "note": S_OR_NULL}))})]},
    ("post", "/api/tickets/{id}/transition", "200"): _TICKET,
    ("get", "/api/reminders/report", "200"): obj({
        "from": _DAY, "to": _DAY, "timezone": S, "items": array(obj({"day": _DAY, "platform": S})), "total": I,
        "totals": obj({"reminded_orders": I, "recovered_orders": I, "recovered_sales_fen": I,
                       "recovery_rate": N_OR_NULL, "skipped": {"type": "object", "additionalProperties": I}})}),
    ("get", "/api/kb/base", "200"): obj({
        "intents": array(_INTENT), "topics": array(obj({"id": S, "title": S, "questions": _STRINGS, "file": S})),
        "versions": {"type": "object", "additionalProperties": S}, "margin": N, "problems": _STRINGS, "role": S}),
    ("get", "/api/kb/impact", "200"): obj({"margin": N}),
    ("get", "/api/kb/intents", "200"): page(_INTENT),
    ("get", "/api/kb/changes", "200"): page(_KB_CHANGE),
    ("get", "/api/kb/stats", "200"): page(obj({
        "intent": S, "title": S, "shown": I, "used": I, "edited": I, "ignored": I, "rewritten_share": N,
        "examples": {"type": "array"}})),
    ("get", "/api/kb/learn", "200"): page(obj({"size": I, "examples": _STRINGS, "closest_intents": array(_OBJECT),
                                              "agent_replies": array(obj({"text": S, "count": I}))}),
                                          **{"from": _DAY, "to": _DAY}),
    ("post", "/api/kb/reload", "200"): obj({"reloaded": {"const": True}, "intents": I}),
    ("get", "/api/conversations", "200"): page(
        {"allOf": [_CONVERSATION, obj({"handover": {"type": ["object", "null"]},
                                       "transfer": {"oneOf": [_TRANSFER, {"type": "null"}]}})]},
        now=_TIME, thresholds_s=array(N)),
    ("get", "/api/conversations/{id}", "200"): {"allOf": [_CONVERSATION, obj({
        "messages": array(_MESSAGE), "suggestions_for": I_OR_NULL,
        "suggestions": array(obj({"rank": I, "intent": S, "title": S, "score": N, "question": S, "reply": S})),
        "deliveries": array(_OBJECT), "transfers": array(_TRANSFER), "version": I, "outgoing": array(_OBJECT)})]},
    ("post", "/api/conversations/{id}/reply", "202"): obj({
        "client_msg_id": S, "queued": B, "state": S, "warnings": array(_VIOLATION)}),
    ("get", "/api/conversations/{id}/context", "200"): obj({
        "orders": array(_OBJECT), "tickets": array(_OBJECT), "earlier": page(_OBJECT)}),
    ("post", "/api/conversations/{id}/transfer", "200"): {"allOf": [_TRANSFER, obj({"buyer": S, "version": I})]},
    ("post", "/api/conversations/{id}/end", "200"): obj({"id": I, "ended_at": _TIME, "ended_by": S,
                                                        "csat_invited": B}),
    ("get", "/api/me", "200"): obj({"role": {"enum": ["agent", "supervisor", "admin"]}, "agent": S_OR_NULL,
                                    "user": S_OR_NULL, "name": S, "accounts": _STRINGS, "timezone": S,
                                    "heartbeat_s": N, "status": {"oneOf": [_STATUS, {"type": "null"}]}}),
    ("put", "/api/me/status", "200"): _STATUS,
    ("post", "/api/me/heartbeat", "200"): _STATUS,
    ("get", "/api/me/figures", "200"): obj({"day": {"oneOf": [_DAY, {"type": "null"}]}, "items": array(_FIGURES),
                                            "total": I, "thresholds_s": array(N)}),
    ("get", "/api/agents", "200"): page(_AGENT_ROW),
    ("get", "/api/colleagues", "200"): page(_AGENT_ROW),
    ("get", "/api/phrases", "200"): page(_PHRASE),
    ("post", "/api/phrases", "201"): {"allOf": [_PHRASE, obj({"warnings": array(_VIOLATION)})]},
    ("delete", "/api/phrases/{id}", "200"): obj({"deleted": {"const": True}}),
    ("post", "/api/outbox/{id}/retry", "200"): obj({"id": I, "state": {"const": "pending"}}),
    ("post", "/api/guard/check", "200"): obj({"blocking": array(_VIOLATION), "warnings": array(_VIOLATION)}),
    ("get", "/api/board/outbox", "200"): obj({"failing_seconds": I, "retrying": I, "failed": I, "items": array(obj({
        "id": I, "kind": S, "platform": S, "buyer": S, "state": S, "state_name": S, "attempts": I,
        "error": S_OR_NULL, "created_at": {"type": "string", "format": "date-time"}}))}),
    ("get", "/api/pushes/failed", "200"): page(obj({"platform": S, "push_id": S, "kind": S_OR_NULL, "attempts": I,
                                                   "set_aside_at": {"type": "string", "format": "date-time"},
                                                   "error": S_OR_NULL})),
    ("get", "/api/reports/daily", "200"): page(obj({"day": _DAY, "channel": S, "state": S, "attempts": I})),
    ("get", "/api/scorecard", "200"): obj({"month": S, "timezone": S, "items": array(obj({
        "agent": S, "name": S, "month": S, "score": N, "status": S, "flagged": B, "deductions": array(obj(
            {"rule": S, "points": N, "evidence": array(_OBJECT)})), "sales": N, "commission": N}))}),
    ("post", "/api/scorecard/deductions", "201"): obj({"id": I, "agent": S, "month": S, "points": N, "reason": S,
                                                      "created_by": S, "created_at": _TIME}),
}
for _path in ("/api/kb/intents/{id}", "/api/kb/topics/{id}"):
    ANSWERS[("put", _path, "200")] = _KB_WRITE
for _path in ("/api/kb/intents", "/api/kb/topics", "/api/kb/intents/{id}/retire", "/api/kb/intents/{id}/reply",
              "/api/kb/questions/move", "/api/kb/changes/{id}/undo", "/api/kb/learn/accept"):
    ANSWERS[("post", _path, "200")] = _KB_WRITE
