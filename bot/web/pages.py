"""The pages the bot serves (no build step): /console, and the static files beside them; /api/me."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.web import keys
from bot.web.auth import caller

STATIC = Path(__file__).parent / "static"


async def console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})


async def me(request: web.Request) -> web.Response:
    """Who the token belongs to: the pages greet the user and check the token with it."""
    who = caller(request)
    names = {a.id: a.name for a in request.app[keys.CONFIG].agents}
    return web.json_response({"role": who.role, "agent": who.agent, "name": names.get(who.agent or "", ""),
                              "accounts": sorted(who.accounts), "timezone": request.app[keys.CONFIG].shop.timezone})
