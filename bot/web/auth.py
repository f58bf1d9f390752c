"""Who is calling, and the checks every /api/ handler makes.

A caller is a program with a bearer token (from the file's [[tokens]], or made on /admin and stored
hashed) or a person logged in on /login (the session cookie; a state-changing request must also carry
the session's CSRF token in the X-CSRF-Token header, else 403). `identify` (a middleware) does the
database reads; `caller` only checks. No credentials, or wrong, expired, revoked or disabled ones: 401,
always with the same message. Known caller, wrong role: 403. Agents see only their own conversations
(`Caller.accounts` are their platform accounts, as "platform:account").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.config import Config
from bot.staff import secrets
from bot.store import staff as staff_store
from bot.web import keys
from bot.web.errors import ApiError

# Each role may do what the roles before it may.
RANK = {"agent": 0, "supervisor": 1, "admin": 2}


SESSION_COOKIE = "csbot_session"  # HttpOnly: the page's scripts never see it
CSRF_COOKIE = "csbot_csrf"  # readable by the page, which sends it back in CSRF_HEADER
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# One answer for every refused credential, so that it never says which part was wrong.
REFUSED = "wrong user name or password, or an unknown, expired or revoked token"
_FROM_TOKEN = web.RequestKey("token_caller", object)  # a stored API token's caller, found by `identify`
_FROM_SESSION = web.RequestKey("session_caller", object)  # (Caller, cookie value) of a live session
CALLER = web.RequestKey("caller", object)  # the Caller `caller` accepted


@dataclass(frozen=True)
class Caller:
    role: str
    agent: str | None  # the agent id, for role agent
    accounts: frozenset[str]  # "platform:account" of that agent
    user: str | None = None  # the staff user name, for a logged-in person
    session: str | None = None  # the digest of their session

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def owns(self, platform: str, account: str) -> bool:
        return f"{platform}:{account}" in self.accounts


def callers(config: Config) -> dict[str, tuple[Caller, datetime | None]]:
    """The file's tokens by their SHA-256: the caller, and when the token stops working (the end of its
    `expires` day in the shop's time zone; None: never)."""
    accounts = {a.id: frozenset(a.accounts) for a in config.agents}
    zone = ZoneInfo(config.shop.timezone)
    return {
        t.digest: (Caller(role=t.role, agent=t.agent, accounts=accounts.get(t.agent, frozenset())),
                   datetime.combine(t.expires + timedelta(days=1), time.min, tzinfo=zone) if t.expires else None)
        for t in config.tokens
    }


def _file_caller(request: web.Request, token: str, now: datetime) -> Caller | None:
    found = request.app[keys.CALLERS].get(secrets.digest(token))
    if found is None or (found[1] is not None and now >= found[1]):
        return None
    return found[0]


def accounts_of(config: Config, agent: str | None) -> frozenset[str]:
    return next((frozenset(a.accounts) for a in config.agents if a.id == agent), frozenset())


def person(config: Config, *, username: str, role: str, session: str) -> Caller:
    """A logged-in user as a caller: their agent id is their user name when the roster has it."""
    is_agent = role == "agent" or any(a.id == username for a in config.agents)
    return Caller(role=role, agent=username if is_agent else None, accounts=accounts_of(config, username),
                  user=username, session=session)


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


@web.middleware
async def identify(request: web.Request, handler):
    """Finds a stored API token's or a session's caller (database reads, so `caller` need not)."""
    if request.path.startswith("/api/"):
        token = _bearer(request) or request.query.get("token")
        cookie = request.cookies.get(SESSION_COOKIE)
        now = request.app[keys.CLOCK].now()
        guesses = request.app[keys.TOKEN_GUESSES]
        if token and _file_caller(request, token, now) is None and not guesses.blocked(
                request.app[keys.CLIENT_ADDRESS].of(request), now):
            # (an address answered 429 for its guesses costs no database read)
            async with request.app[keys.DB]() as session:
                found = await staff_store.live_token(session, secrets.digest(token), now=now)
            if found is not None:
                config = request.app[keys.CONFIG]
                request[_FROM_TOKEN] = (token, Caller(role=found.role, agent=found.agent,
                                                      accounts=accounts_of(config, found.agent)))
        elif cookie and not token:
            digest = secrets.digest(cookie)
            async with request.app[keys.DB]() as session:
                user = await staff_store.live_session(session, digest, now=now)
            if user is not None:
                request[_FROM_SESSION] = (person(request.app[keys.CONFIG], username=user.username, role=user.role,
                                                 session=digest), cookie)
    return await handler(request)


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
    limit, now = request.app[keys.TOKEN_GUESSES], request.app[keys.CLOCK].now()
    address = request.app[keys.CLIENT_ADDRESS].of(request)
    if limit.blocked(address, now):
        raise ApiError(429, "too_many_attempts", "too many wrong tokens from this address; wait a minute")
    found = _file_caller(request, token, now)
    if found is None:
        stored = request.get(_FROM_TOKEN)
        found = stored[1] if stored and secrets.same(stored[0], token) else None
    if found is None:
        limit.failed(address, now)
        raise ApiError(401, "unauthorized", REFUSED)
    return found


def from_session(request: web.Request) -> Caller:
    """The logged-in person; a state-changing request must carry the session's CSRF token (403)."""
    found = request.get(_FROM_SESSION)
    if found is None:
        raise ApiError(401, "unauthorized", REFUSED if SESSION_COOKIE in request.cookies
                       else "log in at /login, or send Authorization: Bearer <token>")
    who, cookie = found
    if request.method not in SAFE_METHODS and not secrets.same(request.headers.get(CSRF_HEADER, ""),
                                                               secrets.csrf_of(cookie)):
        raise ApiError(403, "csrf_missing", f"a change made with the login cookie needs the {CSRF_HEADER} header")
    return who


def caller(request: web.Request, *, role: str = "agent") -> Caller:
    """The authenticated caller of `request`, who must have at least `role`."""
    token = _bearer(request)
    found = authenticate(request, token) if token else from_session(request)
    if not found.at_least(role):
        raise ApiError(403, "forbidden", f"this needs the {role} role; the caller has {found.role}")
    request[CALLER] = found
    return found
