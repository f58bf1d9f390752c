"""The pages the bot serves (no build step): /console, and the static files beside them (GET /api/me is in workbench.py)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web


STATIC = Path(__file__).parent / "static"


async def console(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})
