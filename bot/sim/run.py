"""`csbot simulate` and `csbot demo`: the simulated gateway, the bot and the demo shop's traffic, run together.

`simulate` starts the gateway and drives traffic at a bot that runs elsewhere; `demo` also runs the
bot, in this process. Both print the traffic report at the end, also after Ctrl+C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Mapping, Sequence

import aiohttp
from aiohttp import web
from yarl import URL

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.sim import traffic
from bot.sim.gateway import create_gateway_app

log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 30.0
# A run number in push and order ids, so that a second run against the same database isn't all duplicates.
RUN_NUMBERS = 10_000


class CannotListen(Exception):
    """A server of the simulation could not take its address (in use, or not this machine's)."""


def parse_faults(text: str) -> dict[str, float]:
    """`--faults`: "duplicate=0.1,stale=0.02" -> {"duplicate": 0.1, "stale": 0.02}; "" -> {}.

    Raises ValueError for an unknown name, a repeated one, or a probability that is not in 0..1.
    """
    faults: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep:
            raise ValueError(f"{item!r} is not name=probability")
        if name not in traffic.FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(traffic.FAULTS)}")
        if name in faults:
            raise ValueError(f"fault {name!r} given twice")
        try:
            p = float(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number") from None
        if not 0.0 <= p <= 1.0:  # also refuses nan
            raise ValueError(f"{name}: probability {value} is not between 0 and 1")
        faults[name] = p
    return faults


async def simulate(
    config: Config, *, bot_url: str | None, rate: float, duration: float, seed: int,
    faults: Mapping[str, float], clock: Clock | None = None,
) -> int:
    """Run the gateway where the platforms' `gateway_url` says, and drive traffic at `bot_url`
    (default: the bot of `[server]`). Returns the exit status."""
    clock = clock or SystemClock()
    if problem := _unusable(config, rate=rate, duration=duration):
        print(f"csbot: {problem}", file=sys.stderr)
        return 2
    bot_url = bot_url or _bot_url(config)
    try:
        async with _serving(_gateway_app(config, clock), _gateway_addresses(config)):
            print(f"simulated gateway on {', '.join(_gateway_urls(config))}; pushing to {bot_url}", flush=True)
            await _traffic(config, bot_url=bot_url, rate=rate, duration=duration, seed=seed, faults=faults,
                           clock=clock)
    except CannotListen as e:
        print(f"csbot: {e}", file=sys.stderr)
        return 1
    return 0


async def demo(
    config: Config, *, rate: float, duration: float, seed: int, faults: Mapping[str, float],
    clock: Clock | None = None,
) -> int:
    """The bot, the gateway and the traffic in one process, until `duration` seconds (0: Ctrl+C)."""
    from bot.app import create_app  # the bot's whole stack; `simulate` has no need of it

    clock = clock or SystemClock()
    if problem := _unusable(config, rate=rate, duration=duration):
        print(f"csbot: {problem}", file=sys.stderr)
        return 2
    bot_url = _bot_url(config)
    bot_address = [(config.server.host, config.server.port)]
    try:
        async with _serving(create_app(config, clock=clock), bot_address), \
                _serving(_gateway_app(config, clock), _gateway_addresses(config)):
            if not await _wait_healthy(bot_url):
                print(f"csbot: the bot at {bot_url} was not healthy within {HEALTH_TIMEOUT_S:g} s", file=sys.stderr)
                return 1
            print(_banner(config, bot_url), flush=True)
            await _traffic(config, bot_url=bot_url, rate=rate, duration=duration, seed=seed, faults=faults,
                           clock=clock)
    except CannotListen as e:
        print(f"csbot: {e}", file=sys.stderr)
        return 1
    return 0


async def _traffic(
    config: Config, *, bot_url: str, rate: float, duration: float, seed: int, faults: Mapping[str, float],
    clock: Clock,
) -> traffic.Report:
    """Drive the demo shop's traffic; print the report at the end, whether it ends or is cancelled."""
    shops = traffic.shops_from_config(config)
    run = int(clock.now().timestamp()) % RUN_NUMBERS
    pushes = traffic.plan(shops, seed=seed, rate=rate, questions=traffic.questions_from_config(config),
                          faults=faults, run=run)
    until = f"for {duration:g} s" if duration else "until Ctrl+C"
    fault_text = ", ".join(f"{k}={v:g}" for k, v in faults.items()) or "none"
    print(f"traffic: {rate:g} pushes/s {until}, seed {seed}, run {run}, faults {fault_text}", flush=True)
    report = traffic.Report()
    try:
        await traffic.drive(pushes, shops=shops, bot_url=bot_url, duration_s=duration, clock=clock, report=report)
    finally:
        print(report.format(), flush=True)
    return report


def _unusable(config: Config, *, rate: float, duration: float) -> str | None:
    """Why these options can't make traffic, or None."""
    if not config.platforms:
        return "no [[platforms]] configured: no shop to simulate"
    if not rate > 0:
        return f"--rate must be more than 0, not {rate:g}"
    if not duration >= 0:
        return f"--duration must be 0 (until Ctrl+C) or more, not {duration:g}"
    return None


def _gateway_app(config: Config, clock: Clock) -> web.Application:
    secrets: dict[str, dict[str, str]] = {}
    for p in config.platforms:
        secrets.setdefault(p.name, {})[p.app_key] = p.app_secret
    return create_gateway_app(secrets, clock=clock)


def _gateway_urls(config: Config) -> list[str]:
    return sorted({p.gateway_url for p in config.platforms})


def _gateway_addresses(config: Config) -> list[tuple[str, int]]:
    """Where to listen: each distinct host and port of the platforms' `gateway_url`."""
    addresses = []
    for url in _gateway_urls(config):
        u = URL(url)
        if (u.host or "127.0.0.1", u.port or 80) not in addresses:
            addresses.append((u.host or "127.0.0.1", u.port or 80))
    return addresses


def _bot_url(config: Config) -> str:
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):  # listening everywhere; reach it on loopback
        host = "127.0.0.1"
    return str(URL.build(scheme="http", host=host, port=config.server.port))


@contextlib.asynccontextmanager
async def _serving(app: web.Application, addresses: Sequence[tuple[str, int]]) -> AsyncIterator[None]:
    """`app` listening on each address until the block ends (startup and cleanup run as in run_app)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        for host, port in addresses:
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as e:
                raise CannotListen(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        yield
    finally:
        await runner.cleanup()


async def _wait_healthy(bot_url: str, *, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    """True once GET /healthz answers 200; False if it hasn't within `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{bot_url}/healthz") as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.2)
    return False


def _banner(config: Config, bot_url: str) -> str:
    lines = [
        "csbot demo is running; open:",
        f"  board    {bot_url}/board",
        f"  console  {bot_url}/console",
        f"  health   {bot_url}/healthz",
        f"  metrics  {bot_url}/metrics",
        *(f"  sent     {url}/sent   (what the bot sent, as the gateway saw it)" for url in _gateway_urls(config)),
    ]
    shown = [t for t in config.tokens if t.token]  # those kept as a digest cannot be shown
    if shown:
        lines.append("tokens (Authorization: Bearer <token>):")
        width = max(len(t.token) for t in shown)
        lines += [f"  {t.token.ljust(width)}  {t.role}{' ' + t.agent if t.agent else ''}" for t in shown]
    return "\n".join(lines)
