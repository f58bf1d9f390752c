"""Health, the OpenAPI document and the Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from bot.store import outbox as outbox_store
from bot.store import pushes, set_aside
from bot.store import tickets as tickets_store
from bot.web import board, keys
from bot.web.openapi import OPENAPI
from bot.web.prometheus import label


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


async def prometheus(request: web.Request) -> web.Response:
    lines = [
        "# HELP csbot_pushes_total Pushes received, by platform and outcome.",
        "# TYPE csbot_pushes_total counter",
    ]
    for (platform, outcome), n in sorted(request.app[keys.PUSH_COUNTS].items()):
        lines.append(f'csbot_pushes_total{{platform="{label(platform)}",outcome="{label(outcome)}"}} {n}')
    async with request.app[keys.DB]() as session:
        pending = await pushes.count_pending(session)
        set_aside_n = await set_aside.count(session)
    backlog, processor, leases = request.app[keys.BACKLOG], request.app[keys.PROCESSOR], request.app[keys.LEASES]
    lines += [
        "# HELP csbot_pushes_pending Stored pushes not processed yet (by any process).",
        "# TYPE csbot_pushes_pending gauge",
        f"csbot_pushes_pending {pending}",
        "# HELP csbot_pushes_set_aside Pushes set aside as failed (csbot pushes failed lists them, retry replays them).",
        "# TYPE csbot_pushes_set_aside gauge",
        f"csbot_pushes_set_aside {set_aside_n}",
        "# HELP csbot_processing_lag_seconds Age of the oldest unprocessed push (by any process).",
        "# TYPE csbot_processing_lag_seconds gauge",
        f"csbot_processing_lag_seconds {backlog.lag_s():.3f}",
        "# HELP csbot_pushes_processed_total Pushes this process processed.",
        "# TYPE csbot_pushes_processed_total counter",
        f"csbot_pushes_processed_total {processor.processed_total}",
        "# HELP csbot_store_statements_total Statements run by intake, processing and the board's small reads.",
        "# TYPE csbot_store_statements_total counter",
        f"csbot_store_statements_total {request.app[keys.STATEMENTS].n}",
        "# HELP csbot_partitions_held Partitions whose pushes this process processes.",
        "# TYPE csbot_partitions_held gauge",
        f"csbot_partitions_held {request.app[keys.CONFIG].processing.partitions if leases is None else len(leases.held)}",
    ]
    lines += request.app[keys.SUGGEST_LATENCY].lines(
        "csbot_suggestion_seconds", "Time to match one buyer message against the knowledge base.")
    lines += [
        "# HELP csbot_reminders_total Payment reminders decided by this process, by platform and outcome"
        " (sent, waiting, missed, skipped:<reason>).",
        "# TYPE csbot_reminders_total counter",
    ]
    for (platform, outcome), n in sorted(request.app[keys.REMINDER_COUNTS].items()):
        lines.append(f'csbot_reminders_total{{platform="{platform}",outcome="{label(outcome)}"}} {n}')
    async with request.app[keys.DB]() as session:
        ticket_counts = await tickets_store.count_by_state(session)
        overdue = (await tickets_store.search(session, overdue_at=request.app[keys.CLOCK].now(), limit=1))[1]
    lines += ["# HELP csbot_tickets Complaint tickets, by state and severity.", "# TYPE csbot_tickets gauge"]
    lines += [f'csbot_tickets{{state="{state}",severity="{severity}"}} {n}'
              for (state, severity), n in sorted(ticket_counts.items())]
    lines += ["# HELP csbot_tickets_overdue Open complaint tickets past an SLA.", "# TYPE csbot_tickets_overdue gauge",
              f"csbot_tickets_overdue {overdue}"]
    lines += await _outbox_lines(request.app)
    lines += board.prometheus_lines(request.app)
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")


async def _outbox_lines(app: web.Application) -> list[str]:
    counts = app[keys.OUTBOX].counts
    lines = ["# HELP csbot_outbox_total Outgoing messages by kind and outcome in this process: sent (once per message),"
             " retry (a failed try), timeout (a try with no answer in time), failed (given up), cancelled.",
             "# TYPE csbot_outbox_total counter"]
    lines += [f'csbot_outbox_total{{kind="{label(kind)}",outcome="{outcome}"}} {n}'
              for (kind, outcome), n in sorted(counts.items())]
    async with app[keys.DB]() as session:
        states = await outbox_store.count_by_state(session)
        since = await outbox_store.failing_since(session)
    lines += ["# HELP csbot_outbox_messages Outgoing messages in the outbox, by state.", "# TYPE csbot_outbox_messages gauge"]
    lines += [f'csbot_outbox_messages{{state="{state}"}} {states.get(state, 0)}'
              for state in ("pending", "sent", "failed", "cancelled")]
    failing = (app[keys.CLOCK].now() - since).total_seconds() if since else 0
    lines += ["# HELP csbot_outbox_failing_seconds How long the oldest pending message has been failing (0: none).",
              "# TYPE csbot_outbox_failing_seconds gauge", f"csbot_outbox_failing_seconds {failing:.0f}"]
    return lines
