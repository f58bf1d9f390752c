"""GET /metrics in Prometheus' text format, named as its conventions say: counters end `_total`,
durations are histograms (a p90 is computed over every process's buckets, never averaged), ratios end
`_ratio`, a reason is a label of its own.

prometheus_client writes the format (escaping, histogram buckets, the `process_*` series read from
/proc) instead of the hand-written lines this replaced: the tests parse the output with its parser.
Each app has its own registry (tests run many apps in one process). What this process observes as it
goes is in `Instruments`; the figures read from the store or the board are sampled at each scrape.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.process_collector import ProcessCollector

from bot import __version__
from bot.privacy import mask

SUGGEST_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
HTTP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
DELAY_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Agents' response times: metrics.md's board thresholds (30, 60, 100 s by default) are added as bounds,
# so that "responses within 30 s" is one bucket over the count.
RESPONSE_BUCKETS_S = (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 100.0, 180.0, 300.0, 600.0, 1800.0, 3600.0)


class Instruments:
    """The histograms this process fills as it works, its `process_*` series and its build."""

    def __init__(self, *, response_bounds_s: Iterable[float] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        Info("csbot_build", "The running csbot's version.", registry=self.registry).info({"version": __version__})
        self.suggestion = Histogram(
            "csbot_suggestion_duration_seconds", "Time to match one buyer message against the knowledge base.",
            buckets=SUGGEST_BUCKETS_S, registry=self.registry)
        self.http = Histogram(
            "csbot_http_request_duration_seconds", "Time to answer an HTTP request, by method, route and status code.",
            ["method", "route", "code"], buckets=HTTP_BUCKETS_S, registry=self.registry)
        self.processing_delay = Histogram(
            "csbot_push_processing_delay_seconds",
            "Time from a push's arrival to its processing, for the pushes this process processed.",
            buckets=DELAY_BUCKETS_S, registry=self.registry)
        self.response = Histogram(
            "csbot_agent_response_seconds",
            "Agents' response times (metrics.md), by agent and platform; each response is observed by the"
            " process that holds its buyer's partition, so the buckets add up across processes.",
            ["agent", "platform"], buckets=sorted({*RESPONSE_BUCKETS_S, *map(float, response_bounds_s)}),
            registry=self.registry)

    def observe_response(self, agent: str, platform: str, seconds: float) -> None:
        self.response.labels(agent=agent, platform=platform).observe(seconds)


def authorized(request: web.Request, token: str | None) -> bool:
    """With a token configured, a scrape must bring it as `Authorization: Bearer <token>`."""
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def exposition(instruments: Instruments, sampled: list) -> bytes:
    """The text format of this process's instruments and the families sampled for this scrape."""
    once = CollectorRegistry(auto_describe=False)
    once.register(_Families(sampled))
    return generate_latest(instruments.registry) + generate_latest(once)


CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
INSTRUMENTS_KEY = web.AppKey("instruments", Instruments)


class _Families:
    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self):
        return iter(self._families)


def label(value: str, *, limit: int = 100) -> str:
    """A label value as /metrics shows it: buyers' numbers and addresses masked (bot/privacy.py) and cut
    short; prometheus_client escapes it."""
    return mask(str(value))[:limit]


def counter(name: str, help_text: str, labels: tuple[str, ...], rows: Iterable[tuple[tuple[str, ...], float]]):
    family = CounterMetricFamily(name, help_text, labels=labels)
    for values, n in rows:
        family.add_metric([label(v) for v in values], n)
    return family


def gauge(name: str, help_text: str, labels: tuple[str, ...] = (), rows: Iterable[tuple[tuple[str, ...], float]] = ()):
    family = GaugeMetricFamily(name, help_text, labels=labels)
    for values, n in rows:
        family.add_metric([label(v) for v in values], n)
    return family


def seconds_since(earliest: str, now: datetime) -> float:
    since = datetime.fromisoformat(earliest.replace("Z", "+00:00"))
    return max(0.0, (now - since).total_seconds())


@web.middleware
async def timed(request: web.Request, handler):
    """Every request's duration, by method, route (its pattern, never the raw path) and status code."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[INSTRUMENTS_KEY].http.labels(
            method=request.method, route=route, code=str(status)).observe(time.perf_counter() - started)
