"""Bearer tokens → a caller with a role; the checks every /api/ handler makes.

No or unknown token: 401. Known token, wrong role: 403. Agents see only their own conversations
(`Caller.accounts` are their platform accounts, as "platform:account").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from bot.config import Config
from bot.web import keys
from bot.web.errors import ApiError

# Each role may do what the roles before it may.
RANK = {"agent": 0, "supervisor": 1, "admin": 2}


@dataclass(frozen=True)
class Caller:
    role: str
    agent: str | None  # the agent id, for role agent
    accounts: frozenset[str]  # "platform:account" of that agent

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def owns(self, platform: str, account: str) -> bool:
        return f"{platform}:{account}" in self.accounts


def callers(config: Config) -> dict[str, Caller]:
    accounts = {a.id: frozenset(a.accounts) for a in config.agents}
    return {
        t.token: Caller(role=t.role, agent=t.agent, accounts=accounts.get(t.agent, frozenset()))
        for t in config.tokens
    }


class GuessLimit:
    """Wrong tokens per client address, in one-minute windows: over the limit, that address is
    answered 429 until its window ends, whatever token it sends (so tokens cannot be guessed)."""

    MAX_ADDRESSES = 10_000  # remembered at once; beyond, the oldest windows are forgotten

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._windows: dict[str, tuple[datetime, int]] = {}

    def _window(self, address: str, now: datetime) -> tuple[datetime, int]:
        start, n = self._windows.get(address, (now, 0))
        return (now, 0) if now - start >= timedelta(minutes=1) else (start, n)

    def blocked(self, address: str, now: datetime) -> bool:
        return self._window(address, now)[1] >= self.per_minute

    def failed(self, address: str, now: datetime) -> None:
        start, n = self._window(address, now)
        if len(self._windows) >= self.MAX_ADDRESSES and address not in self._windows:
            self._windows = {a: w for a, w in self._windows.items() if now - w[0] < timedelta(minutes=1)}
            if len(self._windows) >= self.MAX_ADDRESSES:
                self._windows.clear()
        self._windows[address] = (start, n + 1)


def authenticate(request: web.Request, token: str) -> Caller:
    """The caller a token belongs to; 401 if none, 429 once the address has guessed too often."""
    limit, now, address = request.app[keys.TOKEN_GUESSES], request.app[keys.CLOCK].now(), request.remote or "-"
    if limit.blocked(address, now):
        raise ApiError(429, "too_many_attempts", "too many wrong tokens from this address; wait a minute")
    found = request.app[keys.CALLERS].get(token)
    if found is None:
        limit.failed(address, now)
        raise ApiError(401, "unauthorized", "unknown token")
    return found


def caller(request: web.Request, *, role: str = "agent") -> Caller:
    """The authenticated caller of `request`, who must have at least `role`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    found = authenticate(request, token.strip())
    if not found.at_least(role):
        raise ApiError(403, "forbidden", f"this needs the {role} role; the token has {found.role}")
    return found
