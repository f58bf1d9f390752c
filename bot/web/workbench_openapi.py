"""The OpenAPI paths of the agent's workbench (bot.web.workbench), merged into bot.web.openapi."""

from bot.web.params import NOT_BLANK
from bot.web.workbench import PHRASE_CODE

_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _r(**codes: str) -> dict:
    out = {}
    for code, why in codes.items():
        status = code.removeprefix("s")
        out[status] = {"description": why, **(_ERR if status >= "400" else {})}
    out.setdefault("401", {"description": "no or unknown token (`unauthorized`)", **_ERR})
    return out


def _body(properties: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required}}}}


_NOT_ROUTED = "the buyer is not one the caller may see (`not_routed_to_you`): not routed, handed over or transferred to them, no open ticket of theirs"

PATHS = {
    "/api/conversations/{id}/context": {"get": {
        "summary": "The buyer's orders on this shop (each with order_id, status, title, amount, created_at, paid_at, "
                   "closes_at, reminders), their tickets, and their earlier conversations newest first (`limit` default 10, `offset`)",
        "parameters": [_ID, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                       {"name": "offset", "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}}],
        "responses": _r(s200="`{\"orders\", \"tickets\", \"earlier\": {\"items\", \"total\"}}`", s400="bad paging",
                        s403=_NOT_ROUTED, s404="no such conversation")}},
    "/api/conversations/{id}/transfer": {"post": {
        "summary": "Transfer (转接) to a colleague (`to`: agent id) or a group (`to`: `group:售前` / `group:售后`, given to "
                   "an online member); the receiver may see and answer it, the sender no longer (a supervisor may transfer any). "
                   "`version` (optional): the conversation's `version` the caller saw",
        "parameters": [_ID],
        "requestBody": _body({"to": {"type": "string", "pattern": NOT_BLANK}, "note": {"type": "string", "maxLength": 500},
                              "version": {"type": "integer", "minimum": 0}}, ["to"]),
        "responses": _r(s200="the transfer: `{conversation_id, seq, from, from_name, to, to_name, group, note, at, buyer, version}`",
                        s400="`bad_request`: to, note or version not as described; `unknown_agent`, "
                             "`transfer_to_self`, `unknown_group`, `no_account_on_platform`",
                        s403=_NOT_ROUTED, s404="no such conversation",
                        s409="`transfer_conflict` (another transfer came first, or a stale `version`); `group_unavailable`")}},
    "/api/conversations/{id}/end": {"post": {
        "summary": "End the conversation (结束会话), as an agent who may answer it or a supervisor; the buyer is invited "
                   "to rate it at once under satisfaction's rules ([csat]); a buyer message after the end makes it live again. "
                   "The figures are unchanged (conversations follow metrics.md's gap)",
        "parameters": [_ID],
        "responses": _r(s200="`{id, ended_at, ended_by, csat_invited}`", s403=_NOT_ROUTED, s404="no such conversation",
                        s409="`already_ended` (and no message since)")}},
    "/api/me": {"get": {
        "summary": "Who I am: role, agent, name, accounts, the shop's time zone, heartbeat_s, and (agents) my status",
        "responses": _r(s200="`{role, agent, name, accounts, timezone, heartbeat_s, status}`")}},
    "/api/me/status": {"put": {
        "summary": "Set my status: online (在线), busy (忙碌), away (挂起); also a heartbeat",
        "requestBody": _body({"status": {"enum": ["online", "busy", "away"]}}, ["status"]),
        "responses": _r(s200="`{agent, status, status_name, chosen, changed_at, heartbeat_at}`",
                        s400="`bad_status`", s403="`not_an_agent`: the token has no agent")}},
    "/api/me/heartbeat": {"post": {
        "summary": "My console is open (every 30 s); an agent without one for 2 minutes is offline",
        "responses": _r(s200="my status", s403="`not_an_agent`")}},
    "/api/me/figures": {"get": {
        "summary": "My rows of the board's figures for today (the same definitions as /api/metrics/agents)",
        "responses": _r(s200="`{day, items, total, thresholds_s}`", s403="`not_an_agent`")}},
    "/api/agents": {"get": {
        "summary": "Every agent with status (online, busy, away, offline), on_shift, waiting (supervisor)",
        "responses": _r(s200="`{items: [{id, agent, name, roles, platforms, status, status_name, chosen, on_shift, shift, waiting, heartbeat_at}], total}`",
                        s403="not a supervisor")}},
    "/api/colleagues": {"get": {
        "summary": "The agents' names, groups, platforms and status, to choose whom to transfer to (agent)",
        "responses": _r(s200="`{items: [{id, name, roles, platforms, status, status_name}], total}`")}},
    "/api/phrases": {
        "get": {"summary": "Quick phrases (快捷短语) visible to me: the team's and my own",
                "responses": _r(s200="`{items: [{id, code, text, scope, owner, created_by, created_at}], total}`")},
        "post": {"summary": "Add a phrase; team phrases by supervisors only; checked by the compliance guard",
                 "requestBody": _body({"code": {"type": "string", "pattern": f"^{PHRASE_CODE}$",
                                                "description": "1-20 characters without spaces, after an optional /"},
                                       "text": {"type": "string", "pattern": NOT_BLANK, "maxLength": 500},
                                       "scope": {"enum": ["personal", "team"]}}, ["code", "text"]),
                 "responses": _r(s201="the phrase", s400="`bad_phrase_code`, `bad_phrase_text`, `bad_request`",
                                 s403="`team_phrases_supervisor_only`",
                                 s409="`phrase_code_taken`: the code is in use among the phrases someone would see",
                                 s422="`blocked` with `rule`, `reason`, `span`")}},
    "/api/phrases/{id}": {"delete": {
        "summary": "Delete my phrase, or (supervisor) a team phrase", "parameters": [_ID],
        "responses": _r(s200="`{deleted: true}`", s403="`team_phrases_supervisor_only`", s404="not found or not mine")}},
    "/api/outbox/{id}/retry": {"post": {
        "summary": "Send again a reply that failed for good (its `deliveries` entry in GET /api/conversations/{id})",
        "parameters": [_ID],
        "responses": _r(s200="`{id, state: \"pending\"}`", s403=_NOT_ROUTED, s404="no such reply",
                        s409="`not_failed`")}},
    "/api/guard/check": {"post": {
        "summary": "The compliance rules a text would break, before sending it",
        "requestBody": _body({"text": {"type": "string"}}, ["text"]),
        "responses": _r(s200="`{blocking: [...], warnings: [...]}` (each `{rule, reason, action, span, matched}`)",
                        s400="`bad_request`")}},
}
