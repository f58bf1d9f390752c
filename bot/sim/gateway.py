"""The simulated gateway's server side: the send endpoints of gateway.md, plus `GET /sent`.

It checks each send exactly as a platform would (signature, replay window, fields), sends a
repeated `client_msg_id` only once, and can be told to fail the next sends with 5xx, to be down
(every send 503) or to stall (deliver, then answer only after a delay) until told otherwise. It also
keeps every request it received (`GET /received`) and each `client_msg_id`'s attempts, so that a test
can count deliveries at the receiver: accepted once, and tried how many times.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl

from aiohttp import web

from bot.clock import Clock, SystemClock, format_platform_time
from bot.gateway import PLATFORMS
from bot.gateway.base import Rejected

SECRETS = web.AppKey("secrets", dict)  # platform -> {app_key: app_secret}
STATE = web.AppKey("state", object)


@dataclass
class SentMessage:
    msg_id: str
    platform: str
    app_key: str
    buyer: str
    agent_account: str
    text: str
    kind: str
    client_msg_id: str
    received_at: str
    sign_valid: bool  # always True for a stored message: invalid ones are refused


@dataclass
class Received:
    """One send request as it arrived, whatever became of it."""

    platform: str
    client_msg_id: str  # "" when the form had none (it was refused)
    status: int
    code: int
    received_at: str


class GatewayState:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sent: list[SentMessage] = []
        self.by_client_id: dict[tuple[str, str], dict] = {}
        self.received: list[Received] = []  # every send request, in arrival order
        self.attempts: Counter[tuple[str, str]] = Counter()  # (platform, client_msg_id) -> requests
        self.rejected = 0
        self.repeats = 0
        self.fail_next = 0  # answer this many coming sends with 503, to exercise retries
        self.down = False  # answer every send 503 until cleared
        self.stall_s = 0.0  # deliver each send, then answer only after this many seconds
        self.tries = 0  # sends received, repeats and failures included
        self._ids = itertools.count(1)

    def answer(self, platform: str, app_key: str, form: Mapping[str, str]) -> tuple[int, dict]:
        adapter = PLATFORMS[platform]
        message = adapter.parse_send(form)
        key = (platform, message.client_msg_id)
        self.attempts[key] += 1
        self.tries += 1
        if self.down:
            return 503, {"code": 50, "msg": "gateway down (simulated fault)"}
        if key in self.by_client_id:
            self.repeats += 1
            return 200, self.by_client_id[key]
        if self.fail_next > 0:
            self.fail_next -= 1
            return 503, {"code": 50, "msg": "gateway busy (simulated fault)"}
        msg_id = f"{platform[:2]}-{next(self._ids)}"
        self.sent.append(SentMessage(
            msg_id=msg_id, platform=platform, app_key=app_key, buyer=message.buyer,
            agent_account=message.agent_account, text=message.text, kind=message.kind,
            client_msg_id=message.client_msg_id, received_at=format_platform_time(self.clock.now()),
            sign_valid=True,
        ))
        body = {"code": 0, "msg_id": msg_id}
        self.by_client_id[key] = body
        return 200, body


async def send(request: web.Request) -> web.Response:
    platform = request.match_info["platform"]
    state: GatewayState = request.app[STATE]
    if platform not in PLATFORMS:
        return web.json_response({"code": 44, "msg": "unknown platform"}, status=404)
    form = dict(parse_qsl((await request.read()).decode("utf-8", "replace"), keep_blank_values=True))
    app_key = form.get("app_key", "")
    secret = request.app[SECRETS].get(platform, {}).get(app_key)
    try:
        if secret is None:
            raise Rejected(401, 25, "unknown app_key")
        PLATFORMS[platform].verify(form, secret, now=state.clock.now())
        status, body = state.answer(platform, app_key, form)
        if state.stall_s:
            await asyncio.sleep(state.stall_s)  # a slow gateway: delivered, the answer comes late
    except Rejected as e:
        state.rejected += 1
        status, body = e.status, {"code": e.code, "msg": e.msg}
    state.received.append(Received(
        platform=platform, client_msg_id=_client_msg_id(platform, form), status=status, code=body.get("code", -1),
        received_at=format_platform_time(state.clock.now())))
    return web.json_response(body, status=status)


def _client_msg_id(platform: str, form: Mapping[str, str]) -> str:
    try:
        return PLATFORMS[platform].parse_send(form).client_msg_id
    except Rejected:
        return ""


async def sent(request: web.Request) -> web.Response:
    """What the bot sent, oldest first (newest last), filterable by platform, buyer and kind; each
    with `attempts`, how many requests carried its `client_msg_id` (the first one included)."""
    state: GatewayState = request.app[STATE]
    q = request.query
    items = [
        {**asdict(m), "attempts": state.attempts[(m.platform, m.client_msg_id)]} for m in state.sent
        if all(not q.get(f) or getattr(m, attr) == q[f] for f, attr in
               (("platform", "platform"), ("buyer", "buyer"), ("kind", "kind")))
    ]
    return web.json_response({"items": items, "total": len(items), "repeats": state.repeats, "tries": state.tries})


async def received(request: web.Request) -> web.Response:
    """Every send request the gateway received, in arrival order, with the status it answered."""
    state: GatewayState = request.app[STATE]
    items = [asdict(r) for r in state.received]
    return web.json_response({"items": items, "total": len(items)})


async def faults(request: web.Request) -> web.Response:
    """POST {"fail_next": N, "down": bool, "stall_seconds": S}: the next N sends are answered 503;
    while down, every send is; with stall_seconds, each send is delivered and answered S seconds late."""
    body = await request.json()
    state: GatewayState = request.app[STATE]
    state.fail_next = int(body.get("fail_next", 0))
    state.down = bool(body.get("down", False))
    state.stall_s = float(body.get("stall_seconds", 0))
    return web.json_response({"fail_next": state.fail_next, "down": state.down, "stall_seconds": state.stall_s})


def create_gateway_app(secrets: dict[str, dict[str, str]], *, clock: Clock | None = None) -> web.Application:
    """`secrets` maps platform to {app_key: app_secret} for the shops the gateway serves."""
    app = web.Application()
    app[SECRETS] = secrets
    app[STATE] = GatewayState(clock or SystemClock())
    app.router.add_post("/{platform}/send", send)
    app.router.add_get("/sent", sent)
    app.router.add_get("/received", received)
    app.router.add_post("/faults", faults)
    return app
