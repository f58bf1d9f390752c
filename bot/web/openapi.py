"""The OpenAPI description of the bot's HTTP interface, served at /api/openapi.json."""

import re

from bot.matching.kb import INTENT_ID
from bot.web.answers_openapi import ANSWERS
from bot.web.params import NOT_BLANK
from bot.web.sse_openapi import BOARD as _SSE_BOARD, CONSOLE as _SSE_CONSOLE

_PERIOD_400 = ("`bad_period`: from or to not a date, from after to, more than 366 days, or a day before 1970-01-01 "
               "or after 9998-12-31")
_PUSH_ANSWER = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
    "required": ["code", "msg"],
}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def _push_path(summary: str) -> dict:
    return {
        "post": {
            "summary": summary,
            "security": [],
            "parameters": [{"name": "platform", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "wangwang or dongdong; any other: 404"}],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}},
            },
            "responses": {
                status: {"description": why, "content": {"application/json": {"schema": _PUSH_ANSWER}}}
                for status, why in [
                    ("200", "stored (msg ok) or seen before (msg duplicate)"),
                    ("400", "malformed: missing field, bad JSON, unknown topic or method, bad time"),
                    ("401", "bad or missing signature, unknown app_key, timestamp out of window"),
                    ("404", "no such platform is configured"),
                    ("408", "the body did not arrive within server.body_timeout_seconds"),
                    ("413", "body over server.max_body_bytes"),
                    ("503", "overloaded or store unavailable; retry"),
                ]
            },
        }
    }


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "csbot", "version": "0.1.0", "description": "Customer-service assistant bot"},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": _ERROR, "PushAnswer": _PUSH_ANSWER},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/healthz": {
            "get": {
                "summary": "Health: ok when the store takes writes, the disk has room, processing is not behind "
                           "and sends are not failing for long ([health]); `?detail=1` lists each check",
                "security": [],
                "parameters": [{"name": "detail", "in": "query", "schema": {"enum": ["1", "true"]}}],
                "responses": {"200": {"description": "`{\"status\": \"ok\"}` (with `checks` on ?detail=1)"},
                              "400": {"description": "detail is neither 1 nor true, or a parameter is repeated"},
                              "503": {"description": "`{\"status\": \"starting\", \"waiting_for\"}` or "
                                                     "`{\"status\": \"unhealthy\", \"reasons\": [...]}`"}},
            }
        },
        "/metrics": {
            "get": {"summary": "Prometheus text format", "security": [], "responses": {"200": {"description": "metrics"}}}
        },
        "/webhooks/{platform}": _push_path("Push intake: wangwang (TOP-style signed form) or dongdong (JOS-style)"),
    },
}

OPENAPI["paths"]["/api/orders"] = {
    "get": {
        "summary": "Orders with their payment-reminder (催付) history (supervisor)",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"enum": ["unpaid", "paid", "closed", "unknown", "all"], "default": "all"}},
            {"name": "platform", "in": "query", "schema": {"enum": ["wangwang", "dongdong"]}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}},
        ],
        "responses": {
            "200": {"description": "`{\"items\": [order with \"reminders\": [{slot, state, reason, scheduled_at, due_at, decided_at, client_msg_id}]], \"total\": N}`; "
                                   "state is due, sent, skipped or missed"},
            "400": {"description": "bad status, platform, limit or offset", "content": {"application/json": {"schema": _ERROR}}},
            "401": {"description": "no or unknown token"},
            "403": {"description": "not a supervisor"},
        },
    }
}

_PERIOD_PARAMS = [
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "first day YYYY-MM-DD, shop time (default: `to`, else today)"},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "last day, inclusive (default: `from`); at most a year after `from`"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}},
]
_AGENT_FIGURES = {
    "type": "object",
    "description": "metrics.md's figures for one agent on one platform; rates are 0..1 and null when nothing to divide by; "
                   "times in seconds; sales in yuan (and sales_fen in fen)",
    "properties": {k: {"type": t} for k, t in [
        ("agent", "string"), ("name", "string"), ("platform", "string"), ("consulting_buyers", "integer"),
        ("replied_buyers", "integer"), ("reply_rate", ["number", "null"]), ("responses", "integer"),
        ("avg_response_s", ["number", "null"]), ("p50_response_s", ["number", "null"]), ("p90_response_s", ["number", "null"]),
        ("first_response_avg_s", ["number", "null"]), ("within_30s_rate", ["number", "null"]),
        ("effective_reply_rate", ["number", "null"]), ("effective_reply_pending", "integer"),
        ("converted_buyers", "integer"), ("conversion_rate", ["number", "null"]),
        ("sales", "number"), ("sales_fen", "integer"), ("avg_order_value", ["number", "null"]),
    ]},
}
OPENAPI["components"]["schemas"]["AgentFigures"] = _AGENT_FIGURES
OPENAPI["paths"]["/api/metrics/agents"] = {
    "get": {
        "summary": "Per-agent response metrics for a period of days (supervisor)",
        "parameters": _PERIOD_PARAMS,
        "responses": {
            "200": {"description": "`{\"from\", \"to\", \"timezone\", \"items\": [AgentFigures], \"total\": N, "
                                   "\"shop\": {\"consulting_buyers\", \"responses\", \"effective_reply\": [{platform, day, buyers, "
                                   "effective, late, pending, rate, flagged}]}}`",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/AgentFigures"}},
                        "total": {"type": "integer"}}}}}},
            "400": {"description": _PERIOD_400 + "; `bad_paging`",
                    "content": {"application/json": {"schema": _ERROR}}},
            "401": {"description": "no or unknown token"},
            "403": {"description": "not a supervisor"},
        },
    }
}
OPENAPI["paths"]["/api/handovers"] = {
    "get": {
        "summary": "Buyers handed over at a shift change (交接) and still waiting; an agent sees those handed to them",
        "parameters": _PERIOD_PARAMS[2:],
        "responses": {
            "200": {"description": "`{\"items\": [{conversation_id, buyer_id, buyer, platform, from_agent, to_agent, "
                                   "shift_change_at, waiting_since, last_buyer_text}], \"total\": N}`, longest wait first"},
            "401": {"description": "no or unknown token"},
        },
    }
}
OPENAPI["paths"]["/api/board/stream"] = {
    "get": {
        "summary": "The live board as Server-Sent Events (supervisor)",
        "description": "Authorization: Bearer, or `?token=` on this endpoint only (EventSource cannot send headers). "
                       "Events: `snapshot` (everything, on connect and after a viewer fell behind), `update` (what changed: "
                       "agents, agents_removed, waiting_upsert, waiting_remove, handovers, roster, shop), `ping` every 15 s. "
                       "A viewer whose socket takes no data for 10 s is dropped; `retry: 1000` makes browsers reconnect.",
        "parameters": [{"name": "token", "in": "query", "schema": {"type": "string"}}],
        "responses": {
            "200": {"description": "text/event-stream", "content": _SSE_BOARD},
            "401": {"description": "no or unknown token"},
            "403": {"description": "not a supervisor"},
        },
    }
}
OPENAPI["paths"]["/board"] = {
    "get": {"summary": "The supervisor's live board page (open as /board#token=...)", "security": [],
            "responses": {"200": {"description": "text/html"}}}
}

# The complaint queue (投诉工单): bot/web/tickets.py.
_TICKET_STATES = ["new", "assigned", "investigating", "resolved", "callback", "closed", "reopened"]
_TICKET = {
    "type": "object",
    "description": "A complaint ticket. `version` guards updates; `allowed` lists the states it may go to now; "
                   "`overdue` lists the SLAs it is past (first_response, resolution). Times are ISO 8601 UTC.",
    "properties": {
        **{k: {"type": "integer"} for k in ("id", "version", "buyer_id", "complaints")},
        **{k: {"type": "string"} for k in ("platform", "shop", "buyer", "agent_account", "category", "rule", "reason",
                                            "summary", "created_by", "created_at", "updated_at",
                                            "first_response_due_at", "resolution_due_at")},
        "state": {"enum": _TICKET_STATES}, "severity": {"enum": ["P1", "P2", "P3"]},
        "owner": {"type": ["string", "null"]}, "conversation_id": {"type": ["integer", "null"]},
        "order_id": {"type": ["string", "null"]},
        "resolution": {"enum": ["refund", "exchange", "compensation", "explanation", None]},
        "resolution_note": {"type": ["string", "null"]}, "rating": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
        **{k: {"type": ["string", "null"]} for k in ("assigned_at", "first_response_at", "resolved_at", "callback_at",
                                                      "closed_at", "escalated_at")},
        "overdue": {"type": "array", "items": {"enum": ["first_response", "resolution"]}},
        "allowed": {"type": "array", "items": {"enum": _TICKET_STATES}},
    },
}
OPENAPI["components"]["schemas"]["Ticket"] = _TICKET
_ERR = {"application/json": {"schema": _ERROR}}
_ROW_ID = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}
OPENAPI["paths"]["/api/tickets"] = {
    "get": {
        "summary": "The complaint queue: supervisors see every ticket, agents those they own or whose buyer is routed to them",
        "parameters": [
            {"name": "state", "in": "query", "schema": {"enum": _TICKET_STATES}},
            {"name": "severity", "in": "query", "schema": {"enum": ["P1", "P2", "P3"]}},
            {"name": "owner", "in": "query", "schema": {"type": "string"}, "description": "agent id; empty: unassigned"},
            {"name": "overdue", "in": "query", "schema": {"enum": ["true", "false"]},
             "description": "true: only open tickets past their first-response or resolution SLA (the board's list)"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}},
        ],
        "responses": {
            "200": {"description": "`{\"items\": [Ticket], \"total\": N}`, most severe then oldest first",
                    "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
                        "total": {"type": "integer"}}}}}},
            "400": {"description": "unknown state or severity, bad limit/offset/overdue", "content": _ERR},
            "401": {"description": "no or unknown token"},
        },
    },
    "post": {
        "summary": "Open a ticket from a conversation (an agent: only their own); an open ticket of that buyer and "
                   "category gets the complaint instead (200, created false), raising its severity if worse",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["conversation_id", "note"],
            "properties": {"conversation_id": _ROW_ID, "note": {"type": "string", "pattern": NOT_BLANK, "maxLength": 2000},
                           "severity": {"enum": ["P1", "P2", "P3"], "default": "P3"},
                           "category": {"type": "string", "pattern": "^[a-z_]*[a-z][a-z_]*$", "default": "service"}}}}}},
        "responses": {
            "201": {"description": "Ticket with `created: true`"}, "200": {"description": "Ticket with `created: false`"},
            "400": {"description": "bad body", "content": _ERR}, "401": {"description": "no or unknown token"},
            "403": {"description": "not the caller's conversation", "content": _ERR},
            "404": {"description": "no such conversation", "content": _ERR},
        },
    },
}
OPENAPI["paths"]["/api/tickets/{id}"] = {
    "get": {
        "summary": "A ticket with its append-only history `[{at, actor, kind, from, to, note}]`",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "Ticket + history"}, "401": {"description": "no or unknown token"},
                      "403": {"description": "an agent's view of a ticket neither theirs nor routed to them", "content": _ERR},
                      "404": {"description": "no such ticket", "content": _ERR}},
    }
}
OPENAPI["paths"]["/api/tickets/{id}/transition"] = {
    "post": {
        "summary": "Move a ticket: new→assigned→investigating→resolved→callback→closed; reopened from resolved, "
                   "callback, or closed within 30 days. Resolving sends the buyer the callback question (回访) and "
                   "moves the ticket to callback; the buyer's answer (1-5, 满意/不满意) closes or reopens it.",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["to"],
            "properties": {
                "to": {"enum": _TICKET_STATES},
                "note": {"type": "string", "maxLength": 2000,
                         "description": "required to resolve, reopen, or close a new ticket (else 400)"},
                "version": {**_ROW_ID, "description": "the version the change is based on; 409 if it moved on"},
                "resolution": {"enum": ["refund", "exchange", "compensation", "explanation"],
                               "description": "required to resolve (else 400)"},
                "owner": {"type": "string", "description": "agent id, to assign (a supervisor; an agent only themself)"},
            }}}}},
        "responses": {
            "200": {"description": "the Ticket after the change"},
            "400": {"description": "unknown state or resolution, a field not as described; `incomplete_transition`: no "
                                   "note or resolution where this move needs one, no owner to assign to; "
                                   "`unknown_agent`: an owner that names no agent", "content": _ERR},
            "401": {"description": "no or unknown token"},
            "403": {"description": "an agent moving someone else's ticket, or assigning it to someone else", "content": _ERR},
            "404": {"description": "no such ticket", "content": _ERR},
            "409": {"description": "`illegal_transition` with `state` and `allowed`, or `conflict` (changed by someone "
                                   "else since `version`)", "content": _ERR},
        },
    }
}
OPENAPI["paths"]["/api/reminders/report"] = {
    "get": {
        "summary": "Payment reminders per shop day and platform: reminded and recovered orders, recovered sales, recovery rate, skips by reason (supervisor)",
        "parameters": [
            {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
            {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
        ],
        "responses": {
            "200": {"description": "`{\"from\", \"to\", \"timezone\", \"items\": [{day, platform, reminded_orders, recovered_orders, "
                                   "recovered_sales_fen, recovery_rate, skipped: {reason: n}}], \"total\", \"totals\"}`"},
            "400": {"description": _PERIOD_400, "content": {"application/json": {"schema": _ERROR}}},
            "401": {"description": "no or unknown token"},
            "403": {"description": "not a supervisor"},
        },
    }
}


def _kb_edit_paths() -> dict:
    """/kb's API (bot/web/kb_edit.py): every write answers 200 `{applied, change, impact, versions}`, or
    422 `invalid` with `problems: [{field, message, severity, file, line}]`, 409 `conflict` (a file changed
    since `versions`, with `current` and the last `change`) or `confirm_needed` (with `impact`), 503
    `cannot_write` (nothing was written). `dry_run: true` answers the impact without writing."""
    err = {"application/json": {"schema": _ERROR}}
    common = {"versions": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "file → version, from GET /api/kb/base"},
              "confirm": {"type": "boolean"}, "dry_run": {"type": "boolean"}}
    reply = {"type": "object", "properties": {"platform": {"enum": ["wangwang", "dongdong", "", None],
                                                           "description": "empty or null: every platform"},
                                              "text": {"type": "string"}}}
    table = {"type": "object", "properties": {**common, "title": {"type": "string"},
                                              "questions": {"type": "array", "items": {"type": "string"}},
                                              "replies": {"type": "array", "items": reply}}}
    writes = {"200": {"description": "applied (or, with dry_run, the impact only)"},
              "403": {"description": "an agent's token (supervisor or admin needed)", "content": err},
              "409": {"description": "`conflict` or `confirm_needed`", "content": err},
              "422": {"description": "`invalid`: the rule and the field", "content": err},
              "503": {"description": "`cannot_write`: nothing was written", "content": err}}

    def write(summary: str, body: dict, role: str = "supervisor", *, versions: bool = True) -> dict:
        """`versions`: the change edits files the caller loaded, so it must say which versions (else 400)."""
        if versions:
            body = {**body, "required": [*body.get("required", []), "versions"]}
        return {"post": {"summary": f"{summary} ({role})", "responses": writes,
                         "requestBody": {"required": True, "content": {"application/json": {"schema": body}}}}}

    date_params = [{"name": n, "in": "query", "schema": {"type": "string", "format": "date"}} for n in ("from", "to")]
    return {
        "/api/kb/base": {"get": {"summary": "Every intent and off-topic subject as the files hold them, and each "
                                            "file's `versions` (supervisor)", "responses": {"200": {"description": "ok"}}}},
        "/api/kb/impact": {"get": {"summary": "Held-out figures of the base in service: per set top1, top3, "
                                              "oos_rejected (supervisor)", "responses": {"200": {"description": "ok"}}}},
        "/api/kb/intents/{id}": {"put": {**write("Edit an intent's title, questions and replies", table)["post"]}},
        "/api/kb/topics/{id}": {"put": {**write("Edit an off-topic subject's title and questions", table)["post"]}},
        "/api/kb/intents": write("Add an intent (`id` group.name: intents/<group>.toml)",
                                 {**table, "required": ["id"], "properties": {**table["properties"], "id": {
                                     "type": "string", "pattern": INTENT_ID.pattern}}}),
        "/api/kb/topics": write("Add an off-topic subject", {**table, "properties": {**table["properties"],
                                                                                     "id": {"type": "string", "pattern": INTENT_ID.pattern}}}),
        "/api/kb/intents/{id}/retire": write("Retire an intent (it leaves its file; undo brings it back)",
                                             {"type": "object", "properties": common}),
        "/api/kb/intents/{id}/reply": write("An agent's wording (from kb stats) as the intent's reply for a platform",
                                            {"type": "object", "properties": {**common, "text": {"type": "string"},
                                                                              "platform": reply["properties"]["platform"]}}),
        "/api/kb/questions/move": write("Move a sample question to another intent or subject", {
            "type": "object", "required": ["question"], "properties": {**common, "question": {"type": "string", "minLength": 1}, "from": {"type": "string"},
                                             "to": {"type": "string"}}}),
        "/api/kb/changes": {"get": {"summary": "The history of changes, newest first, each with who, when, what and "
                                               "the figures before and after (supervisor)",
                                    "responses": {"200": {"description": "`{items, total}`"}}}},
        "/api/kb/changes/{id}/undo": write("Undo a change: its files back as they were (itself a change); 409 when "
                                           "a file changed after it", {"type": "object", "properties": common}, versions=False),
        "/api/kb/stats": {"get": {"summary": "Per intent: shown, used, edited, ignored, and what agents wrote instead "
                                             "(supervisor)", "responses": {"200": {"description": "`{items, total}`"}}}},
        "/api/kb/learn": {"get": {
            "summary": "Groups of buyer messages that got no confident suggestion: `size`, `examples`, "
                       "`closest_intents`, `agent_replies` (also `key`, `messages`) (admin); days in shop time, "
                       "both left out: the last 7 days",
            "parameters": date_params, "responses": {
                "200": {"description": "`{from, to, items, total}`"},
                "400": {"description": _PERIOD_400, "content": err}, "403": {"description": "not an admin"}}}},
        "/api/kb/learn/accept": write(
            "Learn a group: `action` intent (its messages become questions of `intent`), new_intent (`id`, "
            "`title`, `reply`, more `questions`), off_topic (`intent`: a subject; `new_topic: true` makes it). "
            "Messages since deleted are listed in `gone`; all gone answers `applied: false`",
            {"type": "object", "required": ["message_ids", "action"], "properties": {
                **common, "message_ids": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}},
                "action": {"enum": ["intent", "new_intent", "off_topic"]}, "intent": {"type": ["string", "null"]},
                "id": {"type": ["string", "null"]}, "title": {"type": ["string", "null"]}, "reply": {"type": ["string", "null"]},
                "questions": {"type": ["array", "null"], "items": {"type": "string"}},
                "new_topic": {"type": "boolean"}}},
            role="admin", versions=False),
    }


OPENAPI["paths"].update(_kb_edit_paths())


from bot.web.workbench_openapi import PATHS as _WORKBENCH  # noqa: E402

OPENAPI["paths"].update(_WORKBENCH)

from bot.web.send_failures import OPENAPI_PATHS as _SEND_FAILURES  # noqa: E402

OPENAPI["paths"].update(_SEND_FAILURES)

from bot.web.pushes_failed import OPENAPI_PATHS as _PUSHES_FAILED  # noqa: E402

OPENAPI["paths"].update(_PUSHES_FAILED)

from bot.web.accounts_openapi import PATHS as _ACCOUNTS, SESSION as _SESSION  # noqa: E402

OPENAPI["paths"].update(_ACCOUNTS)
OPENAPI["components"]["securitySchemes"]["session"] = _SESSION
OPENAPI["security"].append({"session": []})


_MONTH = {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}
_SUPERVISOR_ERRORS = {
    "401": {"description": "no or unknown token"},
    "403": {"description": "not a supervisor"},
}
OPENAPI["paths"]["/api/reports/agents"] = {
    "get": {
        "summary": "The reports page's figures (supervisor): per day (by=day) or for the whole period (by=period), per "
                   "agent and platform the fields of /api/metrics/agents plus csat and csat_responses; the shop per platform",
        "parameters": [
            {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
            {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
            {"name": "by", "in": "query", "schema": {"type": "string", "enum": ["day", "period"], "default": "day"}},
            {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "csv", "xlsx"], "default": "json"}},
        ],
        "responses": {
            "200": {"description": "`{\"from\", \"to\", \"today\", \"timezone\", \"by\", \"items\": [row with day], \"period\": [row], "
                                   "\"totals\": [shop row per platform], \"daily_totals\": [shop row per platform and day], "
                                   "\"effective_reply\": [...]}`; with format=csv or xlsx, the items and the shop's rows as a file",
                    "content": {
                        "application/json": {"schema": {"type": "object", "required": [
                            "from", "to", "today", "timezone", "by", "items", "period", "totals", "daily_totals",
                            "effective_reply"], "properties": {
                            **{k: {"type": "string", "format": "date"} for k in ("from", "to", "today")},
                            "timezone": {"type": "string"}, "by": {"enum": ["day", "period"]},
                            **{k: {"type": "array", "items": {"$ref": "#/components/schemas/AgentFigures"}}
                               for k in ("items", "period")},
                            **{k: {"type": "array", "items": {"type": "object"}} for k in (
                                "totals", "daily_totals", "effective_reply")}}}},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                            "schema": {"type": "string", "contentEncoding": "binary"}}}},
            "400": {"description": _PERIOD_400 + "; bad by or format",
                    "content": {"application/json": {"schema": _ERROR}}},
            **_SUPERVISOR_ERRORS,
        },
    }
}
OPENAPI["paths"]["/api/reports/daily"] = {
    "get": {
        "summary": "The daily report's deliveries of the last 30 days (supervisor): day, channel, state, attempts, last_error",
        "responses": {"200": {"description": "`{\"items\": [...], \"total\": N}`"}, **_SUPERVISOR_ERRORS},
    }
}
OPENAPI["paths"]["/api/scorecard"] = {
    "get": {
        "summary": "The monthly 10-point scorecard (10分制) per agent (supervisor): score, status, flagged, deductions "
                   "with rule, points and evidence (ticket, shift, entry, each with a url), sales and commission",
        "parameters": [{"name": "month", "in": "query", "required": True, "schema": _MONTH}],
        "responses": {
            "200": {"description": "`{\"month\", \"timezone\", \"items\": [{agent, name, month, score, status, flagged, previous, "
                                   "deductions, sales, commission}]}`"},
            "400": {"description": "`bad_month`: not YYYY-MM, a month in the future, or before 1970-01",
                    "content": {"application/json": {"schema": _ERROR}}},
            **_SUPERVISOR_ERRORS,
        },
    }
}
OPENAPI["paths"]["/api/scorecard/deductions"] = {
    "post": {
        "summary": "A manual deduction on an agent's monthly card, with its reason (supervisor)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["agent", "month", "points", "reason"],
            "properties": {"agent": {"type": "string"}, "month": _MONTH,
                           "points": {"type": "number", "exclusiveMinimum": 0,
                                      "description": "at most [scorecard] max_manual_points (10 by default), else 400"},
                           "reason": {"type": "string", "pattern": NOT_BLANK, "maxLength": 500}}}}}},
        "responses": {
            "201": {"description": "the entry: id, agent, month, points, reason, created_by, created_at"},
            "400": {"description": "a field missing or not as described; `unknown_agent`; `bad_month` (in the future); "
                                   "points above max_manual_points", "content": {"application/json": {"schema": _ERROR}}},
            **_SUPERVISOR_ERRORS,
        },
    }
}


# Every timestamp the API writes is RFC 3339 with an offset (bot.web.params.iso: UTC, milliseconds, Z).
OPENAPI["components"]["schemas"]["Timestamp"] = {"type": "string", "format": "date-time",
                                                 "description": "RFC 3339, UTC with milliseconds: 2026-11-24T02:00:00.000Z"}
_JSON_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
_PAGING = [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
           {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0}}]
_SUGGESTION = {"type": "object", "properties": {"intent": {"type": "string"}, "score": {"type": "number", "minimum": 0, "maximum": 1},
                                                "question": {"type": "string"}, "reply": {"type": "string"}}}


def _page(summary: str, content_type: str) -> dict:
    return {"get": {"summary": summary, "security": [],
                    "responses": {"200": {"description": content_type, "content": {content_type: {"schema": {"type": "string"}}}}}}}


OPENAPI["paths"].update({
    "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1", "content": _JSON_OBJECT}}}},
    "/api/suggest": {"post": {
        "summary": "The top suggestions for a buyer's message (agent)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["text"], "properties": {
                "text": {"type": "string", "maxLength": 10000},
                "limit": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
                "platform": {"enum": ["wangwang", "dongdong", None], "description": "null or left out: any"}}}}}},
        "responses": {"200": {"description": "`{suggestions, complaint}`, best first; empty when nothing is confident",
                              "content": {"application/json": {"schema": {"type": "object", "properties": {
                                  "suggestions": {"type": "array", "items": _SUGGESTION},
                                  "complaint": {"type": ["object", "null"]}}}}}},
                      "400": {"description": "bad body"}, "401": {"description": "no or unknown token"}}}},
    "/api/conversations": {"get": {
        "summary": "Open conversations visible to the caller: buyer, platform, agent, waiting_since, the latest message",
        "parameters": _PAGING,
        "responses": {"200": {"description": "`{items, total, now, handovers}`", "content": _JSON_OBJECT},
                      "400": {"description": "bad paging"}, "401": {"description": "no or unknown token"}}}},
    "/api/conversations/{id}": {"get": {
        "summary": "A conversation's messages in event-time order, its outgoing messages (`deliveries`) and the "
                   "suggestions for the latest buyer message",
        "parameters": [_ID_PARAM],
        "responses": {"200": {"description": "the conversation", "content": _JSON_OBJECT},
                      "401": {"description": "no or unknown token"}, "403": {"description": "not routed to the caller"},
                      "404": {"description": "no such conversation"}}}},
    "/api/conversations/{id}/reply": {"post": {
        "summary": "Send a reply through the gateway, after the compliance rules; `client_msg_id` makes it idempotent",
        "parameters": [_ID_PARAM],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["text"], "properties": {
                "text": {"type": "string", "pattern": NOT_BLANK, "maxLength": 2000, "description": "not only spaces"},
                "intent": {"type": ["string", "null"], "description": "the id of the suggestion used"},
                "client_msg_id": {"type": ["string", "null"], "maxLength": 80,
                                  "description": "left out, null or empty: the bot makes one"}}}}}},
        "responses": {"202": {"description": "`{client_msg_id, queued, state, warnings}`: queued (queued false: "
                                             "the same key again, nothing sent twice)", "content": _JSON_OBJECT},
                      "400": {"description": "bad body; `unknown_intent`: no such intent in the knowledge base"},
                      "401": {"description": "no or unknown token"},
                      "403": {"description": "not routed to the caller, or no account on its platform"},
                      "404": {"description": "no such conversation"},
                      "422": {"description": "`blocked` with `rule`, `reason`, `span`: nothing was sent"}}}},
    "/api/console/stream": {"get": {
        "summary": "The agent's console as Server-Sent Events (Bearer, or `?token=`)",
        "parameters": [{"name": "token", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "text/event-stream", "content": _SSE_CONSOLE},
                      "401": {"description": "no or unknown token"}}}},
    "/api/kb/intents": {
        "get": {"summary": "The knowledge base in service (admin)",
                "responses": {"200": {"description": "`{items, total, ...}`", "content": _JSON_OBJECT},
                              "401": {"description": "no or unknown token"}, "403": {"description": "not an admin"}}},
        "post": OPENAPI["paths"]["/api/kb/intents"]["post"]},
    "/api/kb/reload": {"post": {
        "summary": "Reload knowledge/; the old base keeps serving when the new one does not validate (admin)",
        "responses": {"200": {"description": "reloaded", "content": _JSON_OBJECT},
                      "401": {"description": "no or unknown token"}, "403": {"description": "not an admin"},
                      "422": {"description": "the files do not validate: the old base is kept"}}}},
    "/console": _page("The agent's console page", "text/html"),
    "/kb": _page("The knowledge base editor page", "text/html"),
    "/reports": _page("The supervisor's reports page", "text/html"),
    "/board/board.js": _page("The board's script", "application/javascript"),
    "/board/board.css": _page("The board's style sheet", "text/css"),
    "/reports/reports.js": _page("The reports page's script", "application/javascript"),
    "/reports/reports.css": _page("The reports page's style sheet", "text/css"),
    "/static/{filename}": {"get": {
        "summary": "The pages' scripts and style sheets", "security": [],
        "parameters": [{"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the file", "content": {"*/*": {"schema": {"type": "string"}}}},
                      "404": {"description": "no such file"}}}},
})


def _completed(document: dict) -> None:
    """Every response has a content schema: errors are the Error object, the rest JSON objects unless
    described otherwise; every operation under /api/ says 401 for a missing token."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in document["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            for name in re.findall(r"\{(\w+)\}", path):
                if name not in declared:
                    op.setdefault("parameters", []).append(
                        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
            if path.startswith("/api/") and op.get("security") != []:
                responses.setdefault("401", {"description": "no or unknown token"})
                responses.setdefault("429", {"description": "too many wrong tokens from this address "
                                                            "(server.token_failures_per_minute)"})
                if op.get("parameters") or op.get("requestBody"):  # every parameter and body is checked
                    responses.setdefault("400", {"description": "a parameter or the body is refused (`bad_request`, ...)"})
                if "{" in path:
                    responses.setdefault("404", {"description": "no such item"})
            for status, response in responses.items():
                if response.get("content"):
                    continue
                if int(status) >= 400:
                    response["content"] = error
                elif path == "/board":
                    response["content"] = {"text/html": {"schema": {"type": "string"}}}
                elif path == "/metrics":
                    response["content"] = {"text/plain": {"schema": {"type": "string"}}}
                else:
                    response["content"] = _JSON_OBJECT


OPENAPI["paths"]["/metrics"]["get"]["responses"]["401"] = {
    "description": "server.metrics_token is set and the request does not bring it as a bearer token"}
for (_method, _path, _status), _schema in ANSWERS.items():  # the successful JSON bodies (bot.web.answers_openapi)
    _response = OPENAPI["paths"][_path][_method]["responses"][_status]
    _response["content"] = {**_response.get("content", {}), "application/json": {"schema": _schema}}  # (shared dicts)
_completed(OPENAPI)
