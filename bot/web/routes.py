"""Every URL of the bot, in one list."""

from aiohttp import web

from bot.web import api, kb_api, webhooks


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", api.healthz)
    app.router.add_post("/webhooks/{platform}", webhooks.receive)
    app.router.add_get("/metrics", api.prometheus)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_post("/api/suggest", kb_api.suggest)
    app.router.add_get("/api/kb/intents", kb_api.intents)
    app.router.add_post("/api/kb/reload", kb_api.reload)
