"""Bearer tokens → a caller with a role; the checks every /api/ handler makes.

No or unknown token: 401. Known token, wrong role: 403. Agents see only their own conversations
(`Caller.accounts` are their platform accounts, as "platform:account").
"""

from __future__ import annotations

from dataclasses import dataclass

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


def caller(request: web.Request, *, role: str = "agent") -> Caller:
    """The authenticated caller of `request`, who must have at least `role`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    found = request.app[keys.CALLERS].get(token.strip())
    if found is None:
        raise ApiError(401, "unauthorized", "unknown token")
    if not found.at_least(role):
        raise ApiError(403, "forbidden", f"this needs the {role} role; the token has {found.role}")
    return found
