"""Wangwang (旺旺 / 千牛, Taobao and Tmall): TOP-style pushes and sends, both directions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from bot.clock import format_platform_time
from bot.events import AgentMessage, BuyerMessage, Event, OrderClosed, OrderCreated, OrderPaid
from bot.gateway.base import (
    Outgoing,
    Push,
    amount_fen,
    check_window,
    format_yuan,
    json_object,
    malformed,
    platform_time,
    require,
    unauthorized,
)
from bot.signing import sign_hmac_sha256, sign_md5, signature_matches

NAME = "wangwang"
JSON_FIELD = "content"  # the form field that holds a JSON object
CHAT = "wangwang_ChatMessage"
TRADE_CREATE = "taobao_trade_TradeCreate"
TRADE_PAY = "taobao_trade_TradeBuyerPay"
TRADE_CLOSE = "taobao_trade_TradeClose"
SEND_METHOD = "taobao.qianniu.message.send"


def app_key(form: Mapping[str, str]) -> str:
    return form.get("app_key", "")


def verify(form: Mapping[str, str], secret: str, *, now: datetime) -> None:
    """Check the signature (either TOP method), then the replay window. Raises Rejected(401)."""
    given = form.get("sign")
    if not given:
        raise unauthorized("missing sign")
    method = form.get("sign_method", "hmac-sha256")
    if method == "hmac-sha256":
        expected = sign_hmac_sha256(form, secret)
    elif method == "md5":
        expected = sign_md5(form, secret)
    else:
        raise unauthorized("unknown sign_method")
    if not signature_matches(given, expected):
        raise unauthorized("bad signature")
    check_window(form.get("timestamp", ""), now)


def parse_push(form: Mapping[str, str]) -> Push:
    """A verified form into the bot's event. Raises Rejected(400) on anything malformed."""
    push_id = require(form, "id")
    topic = require(form, "topic")
    at = platform_time(require(form, "pub_time"), "pub_time")
    content = json_object(require(form, "content"), "content")
    shop = app_key(form)

    def field(name: str) -> str:
        return require(content, name, where="content.")

    if topic == CHAT:
        direction = field("direction")
        text = require(content, "text", where="content.")
        common = dict(platform=NAME, shop=shop, buyer=field("buyer_nick"), push_id=push_id, at=at)
        agent = str(content.get("agent_nick") or "")
        if direction == "buyer":
            event: Event = BuyerMessage(**common, text=text, agent_account=agent)
        elif direction == "agent":
            if not agent:
                raise malformed("missing field content.agent_nick for an agent message")
            event = AgentMessage(**common, text=text, agent_account=agent)
        else:
            raise malformed("content.direction must be buyer or agent")
    elif topic == TRADE_CREATE:
        event = OrderCreated(
            platform=NAME, shop=shop, buyer=field("buyer_nick"), push_id=push_id, at=at,
            order_id=field("tid"),
            title=str(content.get("title") or ""),
            amount_fen=amount_fen(field("payment"), "content.payment"),
            created_at=platform_time(field("created"), "content.created"),
            closes_at=_optional_time(content, "timeout_action_time"),
        )
        if event.closes_at is not None and event.closes_at < event.created_at:
            raise malformed("content.timeout_action_time is before content.created")
    elif topic == TRADE_PAY:
        event = OrderPaid(
            platform=NAME, shop=shop, buyer=field("buyer_nick"), push_id=push_id, at=at,
            order_id=field("tid"),
            paid_at=platform_time(field("pay_time"), "content.pay_time"),
            amount_fen=amount_fen(field("payment"), "content.payment"),
        )
    elif topic == TRADE_CLOSE:
        event = OrderClosed(
            platform=NAME, shop=shop, buyer=field("buyer_nick"), push_id=push_id, at=at,
            order_id=field("tid"), reason=str(content.get("close_reason") or ""),
        )
    else:
        raise malformed(f"unknown topic {topic[:60]!r}")
    return Push(platform=NAME, push_id=push_id, kind=topic, event=event)


def _optional_time(content: Mapping[str, object], name: str) -> datetime | None:
    value = content.get(name)
    if value in (None, ""):
        return None
    return platform_time(str(value), f"content.{name}")


def push_form(
    event: Event, *, app_key: str, secret: str, now: datetime, seller_nick: str = "",
    sign_method: str = "hmac-sha256",
) -> dict[str, str]:
    """The signed form the gateway pushes for an event (used by the simulator and tests)."""
    if isinstance(event, (BuyerMessage, AgentMessage)):
        topic = CHAT
        content: dict[str, object] = {
            "buyer_nick": event.buyer, "seller_nick": seller_nick, "agent_nick": event.agent_account,
            "direction": "buyer" if isinstance(event, BuyerMessage) else "agent", "text": event.text,
        }
    elif isinstance(event, OrderCreated):
        topic = TRADE_CREATE
        content = {
            "tid": int(event.order_id) if event.order_id.isascii() and event.order_id.isdigit() else event.order_id,
            "buyer_nick": event.buyer, "seller_nick": seller_nick, "title": event.title,
            "payment": format_yuan(event.amount_fen), "created": format_platform_time(event.created_at),
        }
        if event.closes_at:
            content["timeout_action_time"] = format_platform_time(event.closes_at)
    elif isinstance(event, OrderPaid):
        topic = TRADE_PAY
        content = {
            "tid": int(event.order_id) if event.order_id.isascii() and event.order_id.isdigit() else event.order_id,
            "buyer_nick": event.buyer, "payment": format_yuan(event.amount_fen or 0),
            "pay_time": format_platform_time(event.paid_at),
        }
    elif isinstance(event, OrderClosed):
        topic = TRADE_CLOSE
        content = {
            "tid": int(event.order_id) if event.order_id.isascii() and event.order_id.isdigit() else event.order_id,
            "buyer_nick": event.buyer, "close_reason": event.reason,
        }
    else:
        raise TypeError(f"no wangwang push for {type(event).__name__}")
    form = {
        "app_key": app_key, "timestamp": format_platform_time(now), "sign_method": sign_method,
        "id": event.push_id, "topic": topic, "pub_time": format_platform_time(event.at, millis=True),
        "content": json.dumps(content, ensure_ascii=False),
    }
    return sign(form, secret)


def sign(form: dict[str, str], secret: str) -> dict[str, str]:
    form = {k: v for k, v in form.items() if k != "sign"}
    signer = sign_md5 if form.get("sign_method") == "md5" else sign_hmac_sha256
    form["sign"] = signer(form, secret)
    return form


def send_form(message: Outgoing, *, app_key: str, secret: str, now: datetime) -> dict[str, str]:
    """The signed form of `POST {gateway}/wangwang/send` (always hmac-sha256: md5 is never sent)."""
    form = {
        "app_key": app_key, "timestamp": format_platform_time(now), "sign_method": "hmac-sha256",
        "v": "2.0", "method": SEND_METHOD, "buyer_nick": message.buyer,
        "agent_nick": message.agent_account, "text": message.text, "kind": message.kind,
        "client_msg_id": message.client_msg_id,
    }
    return sign(form, secret)


def parse_send(form: Mapping[str, str]) -> Outgoing:
    """The gateway's side of a send: a verified form back into the message. Raises Rejected(400)."""
    if form.get("method") != SEND_METHOD:
        raise malformed(f"method must be {SEND_METHOD}")
    kind = require(form, "kind")
    if kind not in ("reply", "reminder", "notice"):
        raise malformed("kind must be reply, reminder or notice")
    return Outgoing(
        buyer=require(form, "buyer_nick"), agent_account=form.get("agent_nick", ""),
        text=require(form, "text"), kind=kind, client_msg_id=require(form, "client_msg_id"),
    )
