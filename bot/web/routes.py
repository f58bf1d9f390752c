"""Every URL of the bot, in one list."""

from aiohttp import web

from bot.web import api, webhooks


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", api.healthz)
    app.router.add_post("/webhooks/{platform}", webhooks.receive)
    app.router.add_get("/metrics", api.prometheus)
    app.router.add_get("/api/openapi.json", api.openapi)
