"""Every URL of the bot, in one list."""

from aiohttp import web

from bot.web import api, board, health, console_feed, conversations, kb_api, orders, pages, tickets, webhooks


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health.healthz)
    app.router.add_post("/webhooks/{platform}", webhooks.receive)
    app.router.add_get("/metrics", api.prometheus)
    app.router.add_get("/api/openapi.json", api.openapi)
    app.router.add_get("/api/orders", orders.list_orders)
    app.router.add_get("/api/reminders/report", orders.reminder_report)
    app.router.add_post("/api/suggest", kb_api.suggest)
    app.router.add_get("/api/conversations", conversations.list_conversations)
    app.router.add_get("/api/conversations/{id}", conversations.get_conversation)
    app.router.add_post("/api/conversations/{id}/reply", conversations.reply)
    app.router.add_get("/api/me", pages.me)
    app.router.add_get("/console", pages.console)
    app.router.add_get("/api/console/stream", console_feed.stream)
    app.router.add_static("/static", pages.STATIC, append_version=False)
    app.router.add_get("/api/kb/intents", kb_api.intents)
    app.router.add_post("/api/kb/reload", kb_api.reload)
    app.router.add_get("/api/tickets", tickets.list_tickets)
    app.router.add_post("/api/tickets", tickets.create_ticket)
    app.router.add_get("/api/tickets/{id}", tickets.get_ticket)
    app.router.add_post("/api/tickets/{id}/transition", tickets.transition)
    app.router.add_get("/api/metrics/agents", board.agent_metrics)
    app.router.add_get("/api/handovers", board.handovers)
    app.router.add_get("/api/board/stream", board.stream)
    app.router.add_get("/board", board.board_page)
    app.router.add_get("/board/board.js", board.board_js)
    app.router.add_get("/board/board.css", board.board_css)
