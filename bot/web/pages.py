"""The pages the bot serves (no build step): /console, and the static files beside them (GET /api/me is in workbench.py)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.web.errors import ApiError


STATIC = Path(__file__).parent / "static"


async def console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})


async def static_file(request: web.Request) -> web.FileResponse:
    """GET /static/{filename}: a file of the folder (one path segment: no way out of it). A missing one is
    the API's JSON 404; aiohttp's static route answered an empty application/octet-stream 404."""
    name = request.match_info["filename"]
    path = STATIC / name
    if name.startswith(".") or not path.is_file():
        raise ApiError(404, "not_found", "no such file")
    return web.FileResponse(path)
