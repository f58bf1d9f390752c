"""Who sees buyer text in full: the agents serving the buyer, when `[privacy] agents_see_full` lets them
(as 千牛 shows the receiving agent); supervisors and admins see phone numbers, ID numbers and
addresses masked (bot/privacy.py)."""

from __future__ import annotations

from aiohttp import web

from bot.privacy import mask_fields
from bot.web import keys
from bot.web.auth import Caller


def sees_full(request: web.Request, who: Caller) -> bool:
    return who.role == "agent" and request.app[keys.CONFIG].privacy.agents_see_full


def json_for(request: web.Request, who: Caller, body: dict) -> web.Response:
    """The response `body`, its buyer-text fields masked unless `who` sees them in full."""
    return web.json_response(body if sees_full(request, who) else mask_fields(body))
