"""Logging in to the pages: GET /login, POST /api/login, POST /api/logout.

A login sets two cookies: the session (HttpOnly, SameSite=Lax, Secure behind TLS) and its CSRF token
(readable by the page, which sends it back in X-CSRF-Token with every change). Failed logins are
counted per user name and per client address; over `staff.failures_per_*` within
`staff.lockout_minutes`, a login is answered 429 with Retry-After until the oldest counted failure
is that old. A wrong password, an unknown user and a disabled account get the same 401.
"""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

from aiohttp import web

from bot.staff import passwords, secrets
from bot.staff.lockout import Lockout
from bot.store import staff as staff_store
from bot.web import keys, params
from bot.web.auth import CSRF_COOKIE, REFUSED, SESSION_COOKIE, from_session
from bot.web.errors import ApiError
from bot.web.pages import STATIC

# Where each role lands after logging in, unless the page asked for another of the bot's own pages.
HOME = {"agent": "/console", "supervisor": "/board", "admin": "/admin"}


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-cache"})


def lockout_rule(request: web.Request) -> Lockout:
    staff = request.app[keys.CONFIG].staff
    return Lockout(per_account=staff.failures_per_account, per_address=staff.failures_per_address,
                   window=timedelta(minutes=staff.lockout_minutes))


async def login(request: web.Request) -> web.Response:
    """POST /api/login {"user", "password", "next"?}: the session cookies, the role and where to go."""
    if request.content_type != "application/json":  # a cross-site form cannot send this without asking
        raise ApiError(400, "bad_request", "send JSON {\"user\": ..., \"password\": ...}")
    try:
        body = await request.json(loads=params.loads)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", "send JSON {\"user\": ..., \"password\": ...}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "send JSON {\"user\": ..., \"password\": ...}")
    username, password = body.get("user"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or len(username) > 100:
        raise ApiError(400, "bad_request", "send JSON {\"user\": ..., \"password\": ...}")
    app, rule = request.app, lockout_rule(request)
    now, address = app[keys.CLOCK].now(), app[keys.CLIENT_ADDRESS].of(request)
    async with app[keys.DB]() as session, session.begin():
        by_name, by_address = await staff_store.failures(session, username=username, address=address,
                                                         since=rule.since(now))
        wait = rule.retry_after(by_name, by_address, now=now)
        if wait is not None:
            seconds = max(1, math.ceil(wait.total_seconds()))
            raise ApiError(429, "locked_out", f"too many failed logins; try again in {seconds} s",
                           headers={"Retry-After": str(seconds)})
        user = await staff_store.user(session, username)
        usable = user is not None and not user.disabled
        # Always one Argon2 check, so an unknown or disabled user takes as long as a wrong password; in a
        # thread (argon2 releases the GIL), as it takes 0.1-1 s of CPU the event loop must not wait for.
        matches = await asyncio.to_thread(passwords.verify, user.password_hash if usable else "", password)
        if not (matches and usable):
            await staff_store.add_failure(session, username=username, address=address, now=now,
                                          forget_before=rule.since(now))
            failed = True
        else:
            failed = False
            await staff_store.forget_failures(session, username=username)
            token = secrets.new_token()
            lasts = timedelta(hours=app[keys.CONFIG].staff.session_hours)
            await staff_store.add_session(session, digest=secrets.digest(token), username=username, now=now, lasts=lasts)
    if failed:  # after the commit: the failure must count
        raise ApiError(401, "unauthorized", REFUSED)
    target = body.get("next")
    if not (isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target):
        target = HOME[user.role]
    response = web.json_response({"user": username, "role": user.role, "next": target,
                                  "csrf": secrets.csrf_of(token)})
    secure, max_age = app[keys.CONFIG].staff.cookie_secure, int(lasts.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=secure, path="/", max_age=max_age)
    response.set_cookie(CSRF_COOKIE, secrets.csrf_of(token), samesite="Strict", secure=secure, path="/", max_age=max_age)
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /api/logout (with the CSRF header): the session ends, and with it its open streams."""
    who = from_session(request)
    async with request.app[keys.DB]() as session, session.begin():
        await staff_store.end_session(session, who.session, now=request.app[keys.CLOCK].now())
    request.app[keys.SESSION_STREAMS].close([who.session])
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response
