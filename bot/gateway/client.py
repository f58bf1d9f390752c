"""The client of the gateway's send endpoints: one signed POST, and what its answer means."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import aiohttp

from bot.clock import Clock
from bot.config import PlatformConfig
from bot.gateway import PLATFORMS
from bot.gateway.base import Outgoing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retryable: bool  # a timeout, a connection failure or a 5xx: try again later with the same key
    msg_id: str | None = None
    error: str = ""
    timed_out: bool = False  # no answer in time: the gateway may have delivered it


class GatewayClient:
    def __init__(self, session: aiohttp.ClientSession, *, clock: Clock, timeout_s: float = 5.0) -> None:
        self._session = session
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, platform: PlatformConfig, message: Outgoing) -> SendResult:
        adapter = PLATFORMS[platform.name]
        form = adapter.send_form(message, app_key=platform.app_key, secret=platform.app_secret, now=self._clock.now())
        url = f"{platform.gateway_url}/{platform.name}/send"
        try:
            async with self._session.post(url, data=form, timeout=self._timeout) as resp:
                body = await resp.text()
                status = resp.status
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as e:
            return SendResult(ok=False, retryable=True, error=f"{type(e).__name__}: {e}"[:500],
                              timed_out=isinstance(e, asyncio.TimeoutError))
        if status >= 500:
            return SendResult(ok=False, retryable=True, error=f"HTTP {status}: {body[:200]}")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if status == 200 and isinstance(answer, dict) and answer.get("code") == 0:
            return SendResult(ok=True, retryable=False, msg_id=str(answer.get("msg_id", "")))
        return SendResult(ok=False, retryable=False, error=f"HTTP {status}: {body[:200]}")
