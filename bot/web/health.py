"""GET /healthz: ok only when the bot can do its work, else 503 with the reasons; `?detail=1`
lists every check.

The checks (limits in `[health]`): the store and the knowledge base are loaded; the store takes a
write where pushes are written (rolled back); the push writer's last commit did not fail; the
processor's last batch did not fail on the store (a table it writes renamed away or its privilege
revoked, PostgreSQL's disk full: pushes are still taken, but nothing is processed); the SQLite
database's disk has room; processing is not behind (the oldest unprocessed push is younger
than `processing.behind_seconds`: else `"status": "behind"`, with `lag_seconds` and `pending`); sends to the gateway have not been failing for
longer than `health.max_send_failing_seconds`.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from aiohttp import web

from bot.clock import iso
from bot.store import health as health_store
from bot.store import outbox as outbox_store
from bot.web import keys

PROBE_TIMEOUT_S = 3.0


def _check(name: str, ok: bool, detail: str) -> dict:
    return {"name": name, "ok": ok, "detail": detail}


async def healthz(request: web.Request) -> web.Response:
    app = request.app
    detail = request.query.get("detail")
    if detail not in (None, "1", "true"):
        return web.json_response({"error": "bad_request", "message": "detail is 1 or true"}, status=400)
    ready = app[keys.READY]
    if not (ready and all(ready.values())):
        waiting = sorted(name for name, ok in ready.items() if not ok)
        return web.json_response({"status": "starting", "waiting_for": waiting}, status=503)
    checks = [await _store_writes(app), _writer(app), _processor(app), _disk(app), *await _backlog_and_sends(app)]
    failed = [c for c in checks if not c["ok"]]
    body: dict = {"status": "ok"} if not failed else {
        "status": "behind" if [c["name"] for c in failed] == ["processing"] else "unhealthy",
        "reasons": [f"{c['name']}: {c['detail']}" for c in failed]}
    if any(c["name"] == "processing" for c in failed):
        backlog = app[keys.BACKLOG]
        body.update(lag_seconds=round(backlog.lag_s(), 1), pending=backlog.pending)
    if detail:
        body["checks"] = checks
    return web.json_response(body, status=503 if failed else 200)


async def _store_writes(app: web.Application) -> dict:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S), app[keys.DB]() as session:
            async with session.begin():
                await health_store.probe_write(session, now=app[keys.CLOCK].now())
                await session.rollback()
    except TimeoutError:
        return _check("store_writes", False, f"the store did not take a write within {PROBE_TIMEOUT_S:g} s")
    except Exception as e:
        return _check("store_writes", False, f"the store refuses writes: {type(e).__name__}: {str(e)[:200]}")
    return _check("store_writes", True, "a write to pushes is accepted")


def _writer(app: web.Application) -> dict:
    failure = app[keys.WRITER].last_failure
    if failure is None:
        return _check("push_commits", True, "the last commit of pushes went through")
    at, error = failure
    return _check("push_commits", False, f"commits of pushes fail since {iso(at)}: {error}")


def _processor(app: web.Application) -> dict:
    failing = app[keys.PROCESSOR].store_failing
    if failing is None:
        return _check("processing_writes", True, "the last processing batch committed")
    since, error = failing
    return _check("processing_writes", False, f"processing fails on the store since {iso(since)}: {error}")


def _disk(app: web.Application) -> dict:
    url = str(app[keys.ENGINE].url)
    if not url.startswith("sqlite"):
        return _check("disk", True, "the database is PostgreSQL: its server watches its own disk")
    folder = Path(app[keys.ENGINE].url.database or ".").resolve().parent
    free_mb = shutil.disk_usage(folder).free // 2**20
    need = app[keys.CONFIG].health.min_free_disk_mb
    if free_mb < need:
        return _check("disk", False, f"the database's disk is full: {free_mb} MB free, {need} MB needed")
    return _check("disk", True, f"{free_mb} MB free")


async def _backlog_and_sends(app: web.Application) -> list[dict]:
    config, now = app[keys.CONFIG], app[keys.CLOCK].now()
    backlog = app[keys.BACKLOG]
    await backlog.read()  # fresh, not as of the last second
    async with app[keys.DB]() as session:
        failing_since = await outbox_store.failing_since(session)
    lag, behind = backlog.lag_s(), config.processing.behind_seconds
    # Many waiting is not behind by itself (intake answers 503 over processing.max_backlog); old is.
    if lag > behind:
        processing = _check("processing", False, f"the oldest waiting push has waited {lag:.0f} s (more than {behind:g} s)")
    else:
        processing = _check("processing", True, f"{backlog.pending} pushes wait, the oldest {lag:.0f} s")
    failing = (now - failing_since).total_seconds() if failing_since else 0.0
    limit = config.health.max_send_failing_seconds
    if failing > limit:
        sends = _check("sends", False, f"sends to the gateway have failed for {failing:.0f} s")
    else:
        sends = _check("sends", True, "sends go through" if not failing_since else f"failing for {failing:.0f} s")
    return [processing, sends]
