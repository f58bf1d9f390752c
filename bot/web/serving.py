"""Serving the app with bounds an unauthenticated client cannot push past (issue 14).

- a request's line and headers must arrive within `server.header_timeout_seconds` of the connection
  opening or of the previous answer (aiohttp's keep-alive timer, which closes a connection whose
  next request has not been parsed in time);
- at most `server.max_connections` open connections, and `server.max_connections_per_client` from
  one address: the ones over are closed as soon as they are accepted, before any byte is read;
  the cap is kept under the process's file limit, so that accept() never runs out of descriptors;
- the event loop's errors (e.g. accept() failing for want of descriptors) are logged at most once
  a second each, with how many were left out, so they cannot flood the disk.

Bodies have their own deadline where they are read (`server.body_timeout_seconds`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import time
from collections import Counter
from collections.abc import Callable

from aiohttp import web

from bot.config import ServerConfig

log = logging.getLogger(__name__)
FILES_HELD_BACK = 100  # descriptors kept for the database, the gateway client, logs and the knowledge watcher


def connection_cap(wanted: int) -> int:
    """`wanted`, or fewer if the file limit (raised to its hard limit if need be) would not hold it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FILES_HELD_BACK
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < need:
        capped = max(1, soft - FILES_HELD_BACK)
        log.warning("file limit %d holds %d connections, not max_connections=%d", soft, capped, wanted)
        return capped
    return wanted


class _Guarded(asyncio.Protocol):
    """Stands in front of one connection's aiohttp protocol: admits it, or closes it at once."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._client: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client = peer[0] if isinstance(peer, tuple) and peer else str(peer)
        refusal = self._guard.admit(client)
        if refusal:
            self._guard.refused(refusal)
            transport.abort()
            return
        self._client = client
        self._inner = self._guard.factory()
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._guard.release(self._client)
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class ConnectionGuard:
    """Counts open connections, in all and per client address; wraps a protocol factory."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], *, max_total: int, max_per_client: int) -> None:
        self.factory = factory
        self.max_total, self.max_per_client = max_total, max_per_client
        self.open = 0
        self.by_client: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self._quiet = RateLimitedLog(log, every_s=1.0)

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    def admit(self, client: str) -> str | None:
        if self.open >= self.max_total:
            return "too many connections"
        if self.by_client[client] >= self.max_per_client:
            return "too many connections from one address"
        self.open += 1
        self.by_client[client] += 1
        return None

    def release(self, client: str | None) -> None:
        self.open -= 1
        if client is not None:
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]

    def refused(self, why: str) -> None:
        self.refusals[why] += 1
        self._quiet.warning(why, "connection refused: %s (open=%d)", why, self.open)


class RateLimitedLog:
    """At most one record per key every `every_s` seconds; the next one says how many were dropped."""

    def __init__(self, logger: logging.Logger, *, every_s: float) -> None:
        self._log, self._every = logger, every_s
        self._last: dict[str, float] = {}
        self._dropped: Counter[str] = Counter()

    def warning(self, key: str, msg: str, *args) -> None:
        now = time.monotonic()  # log pacing only, no business time
        if now - self._last.get(key, -1e9) < self._every:
            self._dropped[key] += 1
            return
        self._last[key] = now
        dropped = self._dropped.pop(key, 0)
        if len(self._last) > 1000:
            self._last.clear()
        self._log.warning(msg + (" (%d like it left out)" if dropped else ""), *args, *((dropped,) if dropped else ()))


def quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """The loop's exception handler, rate-limited per message (accept() errors come in floods)."""
    limited = RateLimitedLog(logging.getLogger("asyncio"), every_s=1.0)

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        message = str(context.get("message", "event loop error"))
        error = context.get("exception")
        limited.warning(message[:80], "%s: %r", message[:200], error)

    loop.set_exception_handler(handle)


async def start(app: web.Application, config: ServerConfig) -> tuple[web.AppRunner, asyncio.Server, ConnectionGuard]:
    """`app` listening on the configured address, with the bounds above; the caller cleans up the runner."""
    loop = asyncio.get_running_loop()
    quiet_loop_errors(loop)
    # lingering_time: after an answer that left a body unread (a 408), wait at most 1 s for its rest.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=config.header_timeout_seconds,
                           lingering_time=1.0, handle_signals=False)
    await runner.setup()
    guard = ConnectionGuard(runner.server, max_total=connection_cap(config.max_connections),
                            max_per_client=config.max_connections_per_client)
    server = await loop.create_server(guard, config.host, config.port, backlog=512)
    return runner, server, guard


async def serve_forever(app: web.Application, config: ServerConfig, *, on_started: Callable[[], None]) -> None:
    """Run `app` on the configured address until SIGINT or SIGTERM, with the bounds above."""
    loop = asyncio.get_running_loop()
    runner, server, _ = await start(app, config)
    on_started()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        server.close()
        await runner.cleanup()
