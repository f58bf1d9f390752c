"""What both platform adapters share: the rejection type, the replay window, field readers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from bot.clock import parse_platform_time
from bot.events import Event

REPLAY_WINDOW = timedelta(minutes=10)


class Rejected(Exception):
    """A push the bot refuses: HTTP status, the protocol's code, and a message for the sender."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def unauthorized(msg: str) -> Rejected:
    return Rejected(401, 25, msg)


def malformed(msg: str) -> Rejected:
    return Rejected(400, 40, msg)


@dataclass(frozen=True)
class Push:
    """A push that passed its signature and parsed: the platform's id and the bot's event."""

    platform: str
    push_id: str
    kind: str  # topic or method
    event: Event


@dataclass(frozen=True)
class Outgoing:
    """A message the bot sends to a buyer."""

    buyer: str
    agent_account: str
    text: str
    kind: str  # reply, reminder or notice
    client_msg_id: str


def require(fields: Mapping[str, object], name: str, *, where: str = "") -> str:
    value = fields.get(name)
    if value is None or value == "":
        raise malformed(f"missing field {where}{name}")
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise malformed(f"field {where}{name} must be a string")
    return str(value)


def json_object(text: str, name: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise malformed(f"{name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise malformed(f"{name} is not a JSON object")
    return value


def platform_time(text: str, name: str) -> datetime:
    try:
        return parse_platform_time(text)
    except ValueError:
        raise malformed(f"{name} is not a time of the form yyyy-MM-dd HH:mm:ss: {text[:40]!r}") from None


def check_window(timestamp: str, now: datetime) -> None:
    try:
        sent = parse_platform_time(timestamp)
    except ValueError:
        raise unauthorized("timestamp is not yyyy-MM-dd HH:mm:ss") from None
    if abs(sent - now) > REPLAY_WINDOW:
        raise unauthorized("timestamp out of window")


def amount_fen(text: str, name: str) -> int:
    """A decimal yuan string such as "99.00" as integer fen; 400 when negative or not a number."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise malformed(f"{name} is not a decimal amount: {text[:40]!r}") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise malformed(f"{name} must be a non-negative amount with at most 2 decimals: {text[:40]!r}")
    if value > Decimal("10000000"):
        raise malformed(f"{name} is implausibly large: {text[:40]!r}")
    return int(value * 100)


def format_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"
