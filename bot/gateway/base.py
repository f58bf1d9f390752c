"""What both platform adapters share: the rejection type, the replay window, field readers."""

from __future__ import annotations

import json
import re
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


# Limits on what a push may carry (issue 14): over one, 400 naming the field. Ids and names as the
# platforms issue them are far shorter; texts are chat messages (the body limit bounds them anyway).
MAX_FORM_FIELDS = 16  # wangwang's pushes have 8, dongdong's 6: room for a few the gateway adds
MAX_ID = 64  # push ids, msgIds, order ids, buyer nicks / pins, agent nicks, shops, topics, methods
MAX_TEXT = 5000  # a chat message (text, content)
MAX_OTHER = 512  # everything else: titles, reasons, amounts, times, signatures, unknown fields
MAX_JSON_FIELDS = 32
TEXTS = frozenset({"text", "content"})
IDS = frozenset({"id", "topic", "method", "app_key", "pushId", "msgId", "venderId", "customerPin", "waiterPin",
                 "orderId", "tid", "buyer_nick", "seller_nick", "agent_nick"})
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """The normalisation rule of intake: NUL and lone surrogates (which only JSON's \\u escapes can
    produce) become U+FFFD, so that every accepted text is storable by SQLite and PostgreSQL alike.

    >>> storable("a\\x00b\\ud800c")
    'a\\ufffdb\\ufffdc'
    """
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _limit(name: str) -> int:
    return MAX_ID if name in IDS else MAX_TEXT if name in TEXTS else MAX_OTHER


def bounded_form(pairs: list[tuple[str, str]], *, json_field: str) -> dict[str, str]:
    """A decoded form checked and normalised before anything else reads it: no field twice, not
    too many fields, none over its length, and texts made storable (see `storable`). The form's
    values are left as signed (the signature is checked on them); the JSON field is rewritten
    only when one of its strings had to be normalised. Raises Rejected(400) naming the field."""
    if len(pairs) > MAX_FORM_FIELDS:
        raise malformed(f"too many form fields ({len(pairs)}; at most {MAX_FORM_FIELDS})")
    form: dict[str, str] = {}
    for name, value in pairs:
        if len(name) > MAX_ID:
            raise malformed(f"a form field's name is longer than {MAX_ID} characters")
        if name in form:
            raise malformed(f"field {name} appears twice")
        limit = 60_000 if name == json_field else _limit(name)
        if len(value) > limit:
            raise malformed(f"field {name} is longer than {limit} characters")
        form[name] = value
    return form


def storable_form(form: dict[str, str], *, json_field: str) -> dict[str, str]:
    """After the signature: every value storable, and the JSON field's strings bounded and storable."""
    out = {name: storable(value) for name, value in form.items()}
    raw = out.get(json_field)
    if not raw:
        return out
    try:
        value = json.loads(raw)
    except RecursionError:
        raise malformed(f"{json_field} is nested too deeply") from None
    except ValueError:
        return out  # the adapter says what is wrong with it
    if not isinstance(value, dict):
        return out
    if len(value) > MAX_JSON_FIELDS:
        raise malformed(f"{json_field} has too many fields ({len(value)}; at most {MAX_JSON_FIELDS})")
    changed = False
    for key, item in list(value.items()):
        if isinstance(item, (dict, list)):
            raise malformed(f"field {json_field}.{storable(key)[:MAX_ID]} must be a string or a number")
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 10**20:
            raise malformed(f"field {json_field}.{storable(key)[:MAX_ID]} is not a plausible number")
        if isinstance(item, str):
            limit = _limit(key)
            if len(item) > limit:
                raise malformed(f"field {json_field}.{storable(key)[:MAX_ID]} is longer than {limit} characters")
            clean = storable(item)
            if clean != item:
                value[key], changed = clean, True
        clean_key = storable(key)
        if clean_key != key:
            value[clean_key] = value.pop(key)
            changed = True
    if changed:
        out[json_field] = json.dumps(value, ensure_ascii=False)
    return out
