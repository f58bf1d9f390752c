"""The OpenAPI document and the Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from bot.store import outbox as outbox_store
from bot.store import consumer_failures, pushes, set_aside
from bot.store import tickets as tickets_store
from bot.web import board, keys
from bot.web.openapi import OPENAPI
from bot.web.prometheus import CONTENT_TYPE, authorized, counter, exposition, gauge


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


# The webhook's outcomes (bot.web.webhooks) as an outcome and a reason: a rejection's reason is a label of its own.
_PUSH_OUTCOMES = {"ok": "stored", "duplicate": "duplicate", "overloaded": "overloaded", "client gone": "abandoned",
                  "store unavailable": "error"}


def push_outcome(outcome: str) -> tuple[str, str]:
    """The webhook's outcome as /metrics' outcome and reason labels.

    >>> push_outcome("ok"), push_outcome("bad signature"), push_outcome("store unavailable")
    (('stored', ''), ('rejected', 'bad signature'), ('error', 'store unavailable'))
    """
    known = _PUSH_OUTCOMES.get(outcome)
    if known is None:
        return "rejected", outcome
    return known, outcome if known == "error" else ""


async def prometheus(request: web.Request) -> web.Response:
    app = request.app
    if not authorized(request, app[keys.CONFIG].server.metrics_token):
        return web.json_response({"error": "unauthorized", "message": "GET /metrics needs its bearer token"},
                                 status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    families = [
        counter("csbot_pushes", "Pushes received by this process, by platform, outcome and the reason of a rejection.",
                ("platform", "outcome", "reason"),
                [((platform, *push_outcome(outcome)), n) for (platform, outcome), n in sorted(app[keys.PUSH_COUNTS].items())]),
    ]
    async with app[keys.DB]() as session:
        pending = await pushes.count_pending(session)
        set_aside_n = await set_aside.count(session)
        consumer_failed = await consumer_failures.open_by_consumer(session)
        ticket_counts = await tickets_store.count_by_state(session)
        overdue = (await tickets_store.search(session, overdue_at=app[keys.CLOCK].now(), limit=1))[1]
    backlog, processor, leases = app[keys.BACKLOG], app[keys.PROCESSOR], app[keys.LEASES]
    held = app[keys.CONFIG].processing.partitions if leases is None else len(leases.held)
    families += [
        gauge("csbot_pushes_pending", "Stored pushes not processed yet (by any process).", rows=[((), pending)]),
        gauge("csbot_pushes_set_aside", "Pushes set aside as failed (csbot pushes failed lists them, retry replays them).",
              rows=[((), set_aside_n)]),
        gauge("csbot_consumer_failures", "Consumers' failures on a push, not replayed yet, by consumer (csbot pushes"
              " failed lists them, retry replays them).", ("consumer",),
              [((name,), consumer_failed.get(name, 0)) for name in sorted({*processor.consumer_names, *consumer_failed})]),
        gauge("csbot_processing_lag_seconds", "Age of the oldest unprocessed push now (by any process).",
              rows=[((), backlog.lag_s())]),
        counter("csbot_pushes_processed", "Pushes this process processed.", (), [((), processor.processed_total)]),
        counter("csbot_store_statements", "Statements run by intake, processing and the board's small reads.", (),
                [((), app[keys.STATEMENTS].n)]),
        gauge("csbot_partitions_held", "Partitions whose pushes this process processes.", rows=[((), held)]),
        counter("csbot_reminders", "Payment reminders decided by this process, by platform, outcome (sent, waiting,"
                " missed, skipped) and the reason of a skip.", ("platform", "outcome", "reason"),
                [((platform, *_split_reason(outcome)), n) for (platform, outcome), n in sorted(app[keys.REMINDER_COUNTS].items())]),
        gauge("csbot_tickets", "Complaint tickets, by state and severity.", ("state", "severity"),
              sorted(ticket_counts.items())),
        gauge("csbot_tickets_overdue", "Open complaint tickets past an SLA.", rows=[((), overdue)]),
        *await _outbox_families(app),
        *board.prometheus_families(app),
    ]
    return web.Response(body=exposition(app[keys.INSTRUMENTS], families), headers={"Content-Type": CONTENT_TYPE})


def _split_reason(outcome: str) -> tuple[str, str]:
    """A reminder's outcome ("skipped:<reason>") as the outcome and reason labels.

    >>> _split_reason("skipped:quiet_hours"), _split_reason("sent")
    (('skipped', 'quiet_hours'), ('sent', ''))
    """
    name, _, reason = outcome.partition(":")
    return name, reason


async def _outbox_families(app: web.Application) -> list:
    counts = app[keys.OUTBOX].counts
    kinds = sorted({kind for kind, _ in counts})

    def per_kind(outcome: str) -> list:
        return [((kind,), counts[(kind, outcome)]) for kind in kinds]

    async with app[keys.DB]() as session:
        states = await outbox_store.count_by_state(session)
        since = await outbox_store.failing_since(session)
    failing = (app[keys.CLOCK].now() - since).total_seconds() if since else 0
    return [
        counter("csbot_outbox_sent", "Outgoing messages this process sent, by kind (once per message).", ("kind",),
                per_kind("sent")),
        counter("csbot_outbox_retries", "Failed tries of outgoing messages in this process, by kind and reason"
                " (timeout: no answer in time; error: an error answer).", ("kind", "reason"),
                [((kind, "timeout"), counts[(kind, "timeout")]) for kind in kinds]
                + [((kind, "error"), counts[(kind, "retry")] - counts[(kind, "timeout")]) for kind in kinds]),
        counter("csbot_outbox_failed", "Outgoing messages this process gave up, by kind.", ("kind",), per_kind("failed")),
        counter("csbot_outbox_cancelled", "Outgoing messages this process cancelled (a reminder's order was paid),"
                " by kind.", ("kind",), per_kind("cancelled")),
        gauge("csbot_outbox_messages", "Outgoing messages in the outbox now, by state (queued: waiting to be sent).",
              ("state",), [((name,), states.get(state, 0)) for state, name in
                           (("pending", "queued"), ("sent", "sent"), ("failed", "failed"), ("cancelled", "cancelled"))]),
        gauge("csbot_outbox_failing_seconds", "How long the oldest queued message has been failing (0: none).",
              rows=[((), round(failing))]),
    ]
