"""/admin (admins only): staff users, the shifts, and API tokens, changed without a restart.

A user is a login (role agent, supervisor or admin) and, with platform accounts or groups, an agent
of the roster (bot/web/roster.py). What the configuration file declares for an agent (name, accounts,
groups) or a shift is read-only here (409 `declared_in_file`): the file wins. Disabling a user ends
their sessions and closes their open streams at once. An API token is shown once, when made; only its
SHA-256 is stored.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from aiohttp import web

from bot.config import ShiftConfig
from bot.metrics.board import iso
from bot.staff import passwords, secrets
from bot.staff.roster import PageShift
from bot.store import staff as staff_store
from bot.store.tables import ApiToken, StaffUser
from bot.web import keys, params
from bot.web.auth import RANK, caller
from bot.web.errors import ApiError
from bot.web.pages import STATIC

USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
HHMM = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # the document's pattern for a shift's start and end
DECLARED_FIELDS = ("name", "accounts", "groups")
MAX_TOKEN_DAYS = 366


async def admin_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "admin.html", headers={"Cache-Control": "no-cache"})


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json(loads=params.loads)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send a JSON object")
    return body


def _is_role(value: object) -> bool:
    return isinstance(value, str) and value in RANK  # a dict is unhashable: a 500 before


def _strings(body: dict, key: str) -> tuple[str, ...] | None:
    """The list `key` of the body (None when left out; null is not a list: 400)."""
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() and "," not in v for v in value):
        raise ApiError(400, "bad_request", f"{key} must be a list of non-empty strings without commas")
    return tuple(v.strip() for v in value)


def _user_json(user: StaffUser, declared: set[str]) -> dict:
    return {"user": user.username, "name": user.name, "role": user.role, "disabled": user.disabled,
            "accounts": list(staff_store.split(user.accounts)), "groups": list(staff_store.split(user.groups)),
            "has_password": bool(user.password_hash), "declared_in_file": user.username in declared}


async def staff(request: web.Request) -> web.Response:
    """GET /api/admin/staff: users, the agents in service, the shifts, and what the file declares."""
    caller(request, role="admin")
    roster = request.app[keys.ROSTER]
    declared = roster.declared()
    config = request.app[keys.CONFIG]
    async with request.app[keys.DB]() as session:
        users = await staff_store.users(session)
    return web.json_response({
        "users": [_user_json(u, set(declared["agents"])) for u in users],
        "agents": [{"id": a.id, "name": a.name, "accounts": list(a.accounts), "groups": list(a.roles),
                    "declared_in_file": a.id in declared["agents"]} for a in config.agents],
        "shifts": [{"name": s.name, "start": s.start, "end": s.end, "agents": list(s.agents),
                    "declared_in_file": s.name in declared["shifts"]} for s in config.shifts],
        "declared": declared,
    })


async def _apply(request: web.Request, session, **trial) -> None:
    """Check the roster a change makes (an account of two agents, ...: 422), then put it in service."""
    roster = request.app[keys.ROSTER]
    try:
        await roster.merged(session, **trial)
    except ValueError as e:
        raise ApiError(422, "invalid_roster", _first_error(e)) from None
    await roster.reload(session)


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(e)


async def add_user(request: web.Request) -> web.Response:
    """POST /api/admin/users {user, password, role, name?, accounts?, groups?}."""
    caller(request, role="admin")
    body = await _body(request)
    username, role, password = body.get("user"), body.get("role", "agent"), body.get("password")
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ApiError(400, "bad_request", "user must be 1-40 letters, digits, _ . or -")
    if not _is_role(role):
        raise ApiError(400, "bad_request", "role must be agent, supervisor or admin")
    hashed = await _hash(password)
    accounts, groups = _strings(body, "accounts") or (), _strings(body, "groups") or ()
    name = body.get("name", "")
    if not isinstance(name, str) or len(name) > 100:
        raise ApiError(400, "bad_request", "name must be a string of at most 100 characters")
    now = request.app[keys.CLOCK].now()
    async with request.app[keys.DB]() as session, session.begin():
        if await staff_store.user(session, username) is not None:
            raise ApiError(409, "user_exists", f"there is already a user {username}")
        user = StaffUser(username=username, name=name, role=role, password_hash=hashed,
                         accounts=",".join(accounts), groups=",".join(groups), created_at=now, changed_at=now)
        if username in request.app[keys.ROSTER].declared()["agents"] and (accounts or groups or name):
            raise ApiError(409, "declared_in_file", f"{username}'s name, accounts and groups come from the configuration file")
        session.add(user)
        await session.flush()
        await _apply(request, session)
        body = _user_json(user, set(request.app[keys.ROSTER].declared()["agents"]))
    return web.json_response(body, status=201)


async def _hash(password: object) -> str:
    if not isinstance(password, str):
        raise ApiError(400, "bad_request", "password must be a string")
    try:  # in a thread: Argon2 is slow on purpose, and the event loop serves the webhooks meanwhile
        return await asyncio.to_thread(passwords.hash_password, password)
    except ValueError as e:
        raise ApiError(400, "weak_password", str(e)) from None


async def change_user(request: web.Request) -> web.Response:
    """PUT /api/admin/users/{user} with any of name, role, accounts, groups, disabled, password."""
    me = caller(request, role="admin")
    body = await _body(request)
    username = request.match_info["user"]
    declared = set(request.app[keys.ROSTER].declared()["agents"])
    if username in declared and any(k in body for k in DECLARED_FIELDS):
        raise ApiError(409, "declared_in_file", f"{username}'s name, accounts and groups come from the configuration file")
    if "role" in body and not _is_role(body["role"]):
        raise ApiError(400, "bad_request", "role must be agent, supervisor or admin")
    if "disabled" in body and not isinstance(body["disabled"], bool):
        raise ApiError(400, "bad_request", "disabled must be true or false")
    if username == me.user and (body.get("disabled") or body.get("role", "admin") != "admin"):
        raise ApiError(409, "own_account", "an admin cannot disable or demote their own account")
    now = request.app[keys.CLOCK].now()
    ended: list[str] = []
    async with request.app[keys.DB]() as session, session.begin():
        user = await staff_store.user(session, username)
        if user is None:
            raise ApiError(404, "not_found", f"no user {username}")
        if "role" in body:
            user.role = body["role"]
        if "name" in body:
            if not isinstance(body["name"], str) or len(body["name"]) > 100:
                raise ApiError(400, "bad_request", "name must be a string of at most 100 characters")
            user.name = body["name"]
        for key in ("accounts", "groups"):
            if key in body:
                setattr(user, key, ",".join(_strings(body, key) or ()))
        if "password" in body:
            user.password_hash = await _hash(body["password"])
        if "disabled" in body:
            user.disabled = body["disabled"]
        if user.disabled or "role" in body or "password" in body:
            # A disabled user, a new role or a new password: their open sessions end now.
            ended = await staff_store.end_sessions_of(session, username, now=now)
        user.changed_at = now
        await session.flush()
        await _apply(request, session)
        answer = _user_json(user, declared)
    request.app[keys.SESSION_STREAMS].close(ended)
    return web.json_response(answer)


async def put_shift(request: web.Request) -> web.Response:
    """PUT /api/admin/shifts/{name} {start, end, agents}: adds or changes a shift."""
    caller(request, role="admin")
    name = request.match_info["name"]
    if name in request.app[keys.ROSTER].declared()["shifts"]:
        raise ApiError(409, "declared_in_file", f"shift {name} comes from the configuration file")
    body = await _body(request)
    agents = _strings(body, "agents") or ()
    for key in ("start", "end"):
        if not isinstance(body.get(key), str) or not HHMM.fullmatch(body[key]):
            raise ApiError(400, "bad_request", f"{key} must be a time HH:MM, 00:00 to 24:00")
    try:
        shift = ShiftConfig(name=name, start=body["start"], end=body["end"], agents=agents)
    except ValueError as e:  # well formed, but a shift that starts when it ends
        raise ApiError(400, "bad_shift", _first_error(e)) from None
    known = {a.id for a in request.app[keys.CONFIG].agents}
    if unknown := [a for a in agents if a not in known]:
        raise ApiError(400, "unknown_agent", f"not agents: {', '.join(unknown)}")
    async with request.app[keys.DB]() as session, session.begin():
        await staff_store.put_shift(session, PageShift(name=name, start=shift.start, end=shift.end, agents=agents))
        await _apply(request, session)
    return web.json_response({"name": name, "start": shift.start, "end": shift.end, "agents": list(agents),
                              "declared_in_file": False})


async def delete_shift(request: web.Request) -> web.Response:
    caller(request, role="admin")
    name = request.match_info["name"]
    if name in request.app[keys.ROSTER].declared()["shifts"]:
        raise ApiError(409, "declared_in_file", f"shift {name} comes from the configuration file")
    async with request.app[keys.DB]() as session, session.begin():
        if not await staff_store.delete_shift(session, name):
            raise ApiError(404, "not_found", f"no shift {name} added here")
        await _apply(request, session)
    return web.json_response({"deleted": name})


def _token_json(token: ApiToken) -> dict:
    return {"id": token.id, "label": token.label, "role": token.role, "agent": token.agent,
            "created_by": token.created_by, "created_at": iso(token.created_at), "expires_at": iso(token.expires_at),
            "revoked_at": iso(token.revoked_at) if token.revoked_at else None}


async def list_tokens(request: web.Request) -> web.Response:
    caller(request, role="admin")
    async with request.app[keys.DB]() as session:
        found = await staff_store.tokens(session)
    return web.json_response({"items": [_token_json(t) for t in found]})


async def add_token(request: web.Request) -> web.Response:
    """POST /api/admin/tokens {label, role, agent?, expires_days}: the token, shown this once."""
    me = caller(request, role="admin")
    body = await _body(request)
    role, agent, days, label = body.get("role"), body.get("agent"), body.get("expires_days"), body.get("label", "")
    if not _is_role(role):
        raise ApiError(400, "bad_request", "role must be agent, supervisor or admin")
    if not isinstance(days, int | float) or isinstance(days, bool) or not 0 < days <= MAX_TOKEN_DAYS:
        raise ApiError(400, "bad_request", f"expires_days must be a number of days, above 0 and at most {MAX_TOKEN_DAYS}")
    if not isinstance(label, str) or len(label) > 100:
        raise ApiError(400, "bad_request", "label must be a string of at most 100 characters")
    if agent is not None and not isinstance(agent, str):  # a dict was a 500 (unhashable)
        raise ApiError(400, "bad_request", "agent must be an agent id or null")
    known = {a.id for a in request.app[keys.CONFIG].agents}
    if role == "agent" and agent not in known:
        raise ApiError(400, "unknown_agent", "a token with role agent needs agent: one of the agents")
    if agent is not None and agent not in known:
        raise ApiError(400, "unknown_agent", f"{agent[:40]!r} is not an agent")
    now, token = request.app[keys.CLOCK].now(), secrets.new_token()
    async with request.app[keys.DB]() as session, session.begin():
        row = await staff_store.add_token(session, ApiToken(
            digest=secrets.digest(token), label=label, role=role, agent=agent, created_by=me.user or me.role,
            created_at=now, expires_at=now + timedelta(days=days)))
        answer = {**_token_json(row), "token": token}
    return web.json_response(answer, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    caller(request, role="admin")
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # "²" is a digit to str.isdigit
        raise ApiError(404, "not_found", "no such token")
    async with request.app[keys.DB]() as session, session.begin():
        if not await staff_store.revoke_token(session, int(raw), now=request.app[keys.CLOCK].now()):
            raise ApiError(404, "not_found", "no such token, or it was revoked already")
    return web.json_response({"revoked": int(raw)})
