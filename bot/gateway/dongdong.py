"""Dongdong (咚咚, JD): JOS-style pushes and sends, both directions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from bot.clock import format_platform_time, from_epoch_ms, parse_platform_time, to_epoch_ms
from bot.events import AgentMessage, BuyerMessage, Event, OrderClosed, OrderCreated, OrderPaid
from bot.gateway.base import (
    Outgoing,
    Push,
    amount_fen,
    check_window,
    format_yuan,
    json_object,
    malformed,
    require,
    unauthorized,
)
from bot.signing import sign_md5, signature_matches

NAME = "dongdong"
PARAMS = "360buy_param_json"
JSON_FIELD = PARAMS  # the form field that holds a JSON object
CHAT = "jingdong.dd.chat.message"
ORDER_CREATE = "jingdong.order.create"
ORDER_PAY = "jingdong.order.pay"
ORDER_CANCEL = "jingdong.order.cancel"
SEND_METHOD = "jingdong.dd.message.send"


def app_key(form: Mapping[str, str]) -> str:
    return form.get("app_key", "")


def verify(form: Mapping[str, str], secret: str, *, now: datetime) -> None:
    """Check the JOS md5 signature, then the replay window. Raises Rejected(401)."""
    given = form.get("sign")
    if not given:
        raise unauthorized("missing sign")
    if not signature_matches(given, sign_md5(form, secret)):
        raise unauthorized("bad signature")
    check_window(form.get("timestamp", ""), now)


def _time(fields: Mapping[str, object], name: str) -> datetime:
    value = require(fields, name, where=f"{PARAMS}.")
    try:
        return from_epoch_ms(fields[name])
    except (ValueError, OverflowError):
        raise malformed(f"{PARAMS}.{name} is not epoch milliseconds: {value[:40]!r}") from None


def parse_push(form: Mapping[str, str]) -> Push:
    """A verified form into the bot's event. Raises Rejected(400) on anything malformed."""
    method = require(form, "method")
    params = json_object(require(form, PARAMS), PARAMS)
    push_id = require(params, "pushId", where=f"{PARAMS}.")
    shop = app_key(form)

    def field(name: str) -> str:
        return require(params, name, where=f"{PARAMS}.")

    if method == CHAT:
        direction = field("direction")
        at = _time(params, "sendTime")
        common = dict(platform=NAME, shop=shop, buyer=field("customerPin"), push_id=push_id, at=at)
        text = field("content")
        agent = str(params.get("waiterPin") or "")
        if direction == "customer":
            event: Event = BuyerMessage(**common, text=text, agent_account=agent)
        elif direction == "waiter":
            if not agent:
                raise malformed(f"missing field {PARAMS}.waiterPin for a waiter message")
            event = AgentMessage(**common, text=text, agent_account=agent)
        else:
            raise malformed(f"{PARAMS}.direction must be customer or waiter")
    elif method == ORDER_CREATE:
        created = _time(params, "orderStartTime")
        closes = _time(params, "paymentDeadline") if params.get("paymentDeadline") not in (None, "") else None
        if closes is not None and closes < created:
            raise malformed(f"{PARAMS}.paymentDeadline is before orderStartTime")
        event = OrderCreated(
            platform=NAME, shop=shop, buyer=field("customerPin"), push_id=push_id, at=created,
            order_id=field("orderId"), title=str(params.get("skuName") or ""),
            amount_fen=amount_fen(field("orderTotalPrice"), f"{PARAMS}.orderTotalPrice"),
            created_at=created, closes_at=closes,
        )
    elif method == ORDER_PAY:
        paid = _time(params, "paymentConfirmTime")
        event = OrderPaid(
            platform=NAME, shop=shop, buyer=field("customerPin"), push_id=push_id, at=paid,
            order_id=field("orderId"), paid_at=paid, amount_fen=None,
        )
    elif method == ORDER_CANCEL:
        # A cancel push carries no time of its own: the push's signing time stands in for it.
        event = OrderClosed(
            platform=NAME, shop=shop, buyer=field("customerPin"), push_id=push_id,
            at=_cancel_time(form), order_id=field("orderId"), reason=str(params.get("cancelReason") or ""),
        )
    else:
        raise malformed(f"unknown method {method[:60]!r}")
    return Push(platform=NAME, push_id=push_id, kind=method, event=event)


def _cancel_time(form: Mapping[str, str]) -> datetime:
    return parse_platform_time(form["timestamp"])  # verify() already checked its form


def push_form(event: Event, *, app_key: str, secret: str, now: datetime, **_: object) -> dict[str, str]:
    """The signed form the gateway pushes for an event (used by the simulator and tests)."""
    params: dict[str, object] = {"pushId": event.push_id}
    if isinstance(event, (BuyerMessage, AgentMessage)):
        method = CHAT
        params.update(
            msgId=event.push_id, venderId=app_key, customerPin=event.buyer, waiterPin=event.agent_account,
            direction="customer" if isinstance(event, BuyerMessage) else "waiter",
            content=event.text, sendTime=to_epoch_ms(event.at),
        )
    elif isinstance(event, OrderCreated):
        method = ORDER_CREATE
        params.update(
            orderId=event.order_id, venderId=app_key, customerPin=event.buyer, skuName=event.title,
            orderTotalPrice=format_yuan(event.amount_fen), orderStartTime=to_epoch_ms(event.created_at),
        )
        if event.closes_at:
            params["paymentDeadline"] = to_epoch_ms(event.closes_at)
    elif isinstance(event, OrderPaid):
        method = ORDER_PAY
        params.update(orderId=event.order_id, customerPin=event.buyer, paymentConfirmTime=to_epoch_ms(event.paid_at))
    elif isinstance(event, OrderClosed):
        method = ORDER_CANCEL
        params.update(orderId=event.order_id, customerPin=event.buyer, cancelReason=event.reason)
    else:
        raise TypeError(f"no dongdong push for {type(event).__name__}")
    form = {
        "app_key": app_key, "timestamp": format_platform_time(now), "v": "2.0", "method": method,
        PARAMS: json.dumps(params, ensure_ascii=False),
    }
    return sign(form, secret)


def sign(form: dict[str, str], secret: str) -> dict[str, str]:
    form = {k: v for k, v in form.items() if k != "sign"}
    form["sign"] = sign_md5(form, secret)
    return form


def send_form(message: Outgoing, *, app_key: str, secret: str, now: datetime) -> dict[str, str]:
    """The signed form of `POST {gateway}/dongdong/send`."""
    params = {
        "customerPin": message.buyer, "waiterPin": message.agent_account, "content": message.text,
        "kind": message.kind, "clientMsgId": message.client_msg_id,
    }
    form = {
        "app_key": app_key, "timestamp": format_platform_time(now), "v": "2.0", "method": SEND_METHOD,
        PARAMS: json.dumps(params, ensure_ascii=False),
    }
    return sign(form, secret)


def parse_send(form: Mapping[str, str]) -> Outgoing:
    """The gateway's side of a send: a verified form back into the message. Raises Rejected(400)."""
    if form.get("method") != SEND_METHOD:
        raise malformed(f"method must be {SEND_METHOD}")
    params = json_object(require(form, PARAMS), PARAMS)
    kind = require(params, "kind", where=f"{PARAMS}.")
    if kind not in ("reply", "reminder", "notice"):
        raise malformed("kind must be reply, reminder or notice")
    return Outgoing(
        buyer=require(params, "customerPin", where=f"{PARAMS}."),
        agent_account=str(params.get("waiterPin") or ""),
        text=require(params, "content", where=f"{PARAMS}."), kind=kind,
        client_msg_id=require(params, "clientMsgId", where=f"{PARAMS}."),
    )
