"""Push intake per gateway.md: every answer of its table, and each bad input."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bot.clock import PLATFORM_TZ, format_platform_time
from bot.events import AgentMessage, OrderCreated
from bot.web import keys
from tests.conftest import APP_KEYS, START, buyer_message, minutes, post_push, resign, signed_form


async def stored_pushes(client) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    from bot.store.tables import RawPush

    async with client.app[keys.DB]() as session:
        return [(r.platform, r.push_id) for r in (await session.scalars(sa.select(RawPush))).all()]


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_a_good_push_is_stored_and_answered_ok(client, platform):
    event = buyer_message(platform, push_id="m1")
    assert await post_push(client, platform, signed_form(event)) == (200, {"code": 0, "msg": "ok"})
    assert await stored_pushes(client) == [(platform, "m1")]


async def test_wangwang_md5_signature_is_accepted(client):
    form = signed_form(buyer_message("wangwang", push_id="md5-1"), sign_method="md5")
    assert await post_push(client, "wangwang", form) == (200, {"code": 0, "msg": "ok"})


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_the_same_push_again_is_a_duplicate_and_changes_nothing(client, platform):
    form = signed_form(buyer_message(platform, push_id="dup"))
    assert (await post_push(client, platform, form))[1]["msg"] == "ok"
    assert await post_push(client, platform, form) == (200, {"code": 0, "msg": "duplicate"})
    assert await stored_pushes(client) == [(platform, "dup")]


async def test_concurrent_copies_of_one_push_store_it_once(client):
    import asyncio

    form = signed_form(buyer_message("dongdong", push_id="race"))
    answers = await asyncio.gather(*(post_push(client, "dongdong", form) for _ in range(20)))
    assert sorted(a[1]["msg"] for a in answers) == ["duplicate"] * 19 + ["ok"]
    assert await stored_pushes(client) == [("dongdong", "race")]


@pytest.mark.parametrize(
    ("platform", "sign_method"), [("wangwang", "hmac-sha256"), ("wangwang", "md5"), ("dongdong", None)]
)
async def test_bad_signature_is_401_for_each_scheme(client, platform, sign_method):
    extra = {"sign_method": sign_method} if sign_method else {}
    form = signed_form(buyer_message(platform), secret="not-the-secret", **extra)
    assert await post_push(client, platform, form) == (401, {"code": 25, "msg": "bad signature"})
    assert await stored_pushes(client) == []


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_tampered_field_breaks_the_signature(client, platform):
    form = signed_form(buyer_message(platform))
    form["timestamp"] = format_platform_time(START + minutes(1))
    assert await post_push(client, platform, form) == (401, {"code": 25, "msg": "bad signature"})


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_missing_sign_is_401(client, platform):
    form = signed_form(buyer_message(platform))
    del form["sign"]
    assert await post_push(client, platform, form) == (401, {"code": 25, "msg": "missing sign"})


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
async def test_unknown_app_key_is_401(client, platform):
    form = resign(platform, {**signed_form(buyer_message(platform)), "app_key": "someone-else"})
    assert await post_push(client, platform, form) == (401, {"code": 25, "msg": "unknown app_key"})


@pytest.mark.parametrize("platform", ["wangwang", "dongdong"])
@pytest.mark.parametrize("offset", [-11, 11])
async def test_stale_and_future_timestamps_are_401(client, platform, offset):
    form = signed_form(buyer_message(platform), now=START + minutes(offset))
    assert await post_push(client, platform, form) == (401, {"code": 25, "msg": "timestamp out of window"})


@pytest.mark.parametrize("offset", [-9.9, 9.9])
async def test_timestamps_inside_the_window_are_accepted(client, offset):
    form = signed_form(buyer_message("wangwang"), now=START + minutes(offset))
    assert (await post_push(client, "wangwang", form))[0] == 200


async def test_a_bad_signature_learns_nothing_about_other_faults(client):
    form = signed_form(buyer_message("wangwang"), secret="wrong")
    form["content"] = "not json"
    assert await post_push(client, "wangwang", form) == (401, {"code": 25, "msg": "bad signature"})


def _ww(**changes) -> dict[str, str]:
    form = signed_form(buyer_message("wangwang"))
    form.update(changes)
    return resign("wangwang", {k: v for k, v in form.items() if v is not None})


def _jd(params: object = None, **changes) -> dict[str, str]:
    form = signed_form(buyer_message("dongdong"))
    if params is not None:
        form["360buy_param_json"] = params if isinstance(params, str) else json.dumps(params)
    form.update(changes)
    return resign("dongdong", {k: v for k, v in form.items() if v is not None})


def _jd_params(**changes) -> dict:
    params = json.loads(signed_form(buyer_message("dongdong"))["360buy_param_json"])
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


@pytest.mark.parametrize(
    ("platform", "form", "msg"),
    [
        ("wangwang", _ww(id=None), "missing field id"),
        ("wangwang", _ww(topic=None), "missing field topic"),
        ("wangwang", _ww(pub_time=None), "missing field pub_time"),
        ("wangwang", _ww(content=None), "missing field content"),
        ("wangwang", _ww(content='{"buyer_nick": "b"'), "content is not valid JSON"),
        ("wangwang", _ww(content="[1, 2]"), "content is not a JSON object"),
        ("wangwang", _ww(content='"text"'), "content is not a JSON object"),
        ("wangwang", _ww(content=json.dumps({"direction": "buyer", "text": "hi"})), "missing field content.buyer_nick"),
        ("wangwang", _ww(content=json.dumps({"buyer_nick": "b", "direction": "sideways", "text": "hi"})),
         "content.direction must be buyer or agent"),
        ("wangwang", _ww(topic="taobao_item_ItemDelete"), "unknown topic 'taobao_item_ItemDelete'"),
        ("wangwang", _ww(pub_time="24/11/2026 10:00"),
         "pub_time is not a time of the form yyyy-MM-dd HH:mm:ss: '24/11/2026 10:00'"),
        ("dongdong", _jd(method=None), "missing field method"),
        ("dongdong", _jd("{not json"), "360buy_param_json is not valid JSON"),
        ("dongdong", _jd("[]"), "360buy_param_json is not a JSON object"),
        ("dongdong", _jd(_jd_params(pushId=None)), "missing field 360buy_param_json.pushId"),
        ("dongdong", _jd(_jd_params(customerPin=None)), "missing field 360buy_param_json.customerPin"),
        ("dongdong", _jd(method="jingdong.ware.delete"), "unknown method 'jingdong.ware.delete'"),
        ("dongdong", _jd(_jd_params(sendTime="yesterday")),
         "360buy_param_json.sendTime is not epoch milliseconds: 'yesterday'"),
        ("dongdong", _jd(_jd_params(sendTime="1000")), "360buy_param_json.sendTime is not epoch milliseconds: '1000'"),
        ("dongdong", _jd(_jd_params(sendTime="99999999999999")),
         "360buy_param_json.sendTime is not epoch milliseconds: '99999999999999'"),
    ],
)
async def test_malformed_pushes_are_400_with_what_is_wrong(client, platform, form, msg):
    assert await post_push(client, platform, form) == (400, {"code": 40, "msg": msg})
    assert await stored_pushes(client) == []


@pytest.mark.parametrize(
    ("payment", "msg"),
    [("-5.00", "content.payment must be a non-negative amount with at most 2 decimals: '-5.00'"),
     ("abc", "content.payment is not a decimal amount: 'abc'")],
)
async def test_order_with_a_bad_amount_is_400(client, payment, msg):
    event = OrderCreated(platform="wangwang", shop="demo-tb", buyer="b", push_id="o1", at=START,
                         order_id="1001", title="T恤", amount_fen=100, created_at=START, closes_at=START + minutes(30))
    form = signed_form(event)
    content = json.loads(form["content"])
    content["payment"] = payment
    form = resign("wangwang", {**form, "content": json.dumps(content)})
    assert await post_push(client, "wangwang", form) == (400, {"code": 40, "msg": msg})


async def test_order_closing_before_it_was_created_is_400(client):
    event = OrderCreated(platform="dongdong", shop="demo-jd", buyer="b", push_id="o2", at=START,
                         order_id="2001", title="T恤", amount_fen=100, created_at=START, closes_at=START - minutes(1))
    status, body = await post_push(client, "dongdong", signed_form(event))
    assert (status, body["msg"]) == (400, "360buy_param_json.paymentDeadline is before orderStartTime")


async def test_agent_message_without_agent_is_400(client):
    event = AgentMessage(platform="wangwang", shop="demo-tb", buyer="b", push_id="a1", at=START, text="您好",
                         agent_account="")
    status, body = await post_push(client, "wangwang", signed_form(event))
    assert (status, body["msg"]) == (400, "missing field content.agent_nick for an agent message")


async def test_a_body_over_the_limit_is_413(client):
    form = signed_form(buyer_message("wangwang", text="好" * 30_000))
    resp = await client.post("/webhooks/wangwang", data=form)
    assert resp.status == 413
    assert await stored_pushes(client) == []


async def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(client):
    """A correctly signed push, sent in chunks with no Content-Length: over the limit it is refused and
    not stored (it would be, were the size not checked); the same kind of push under it is stored."""
    def chunked(event):
        body = urlencode(signed_form(event)).encode()

        async def chunks():
            for i in range(0, len(body), 8192):
                yield body[i:i + 8192]
        return chunks()

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    big = buyer_message("dongdong", text="好" * 30_000, push_id="big")
    resp = await client.post("/webhooks/dongdong", data=chunked(big), headers=headers)
    assert resp.status == 413
    assert await stored_pushes(client) == []
    small = buyer_message("dongdong", text="好" * 100, push_id="small")
    resp = await client.post("/webhooks/dongdong", data=chunked(small), headers=headers)
    assert (resp.status, await stored_pushes(client)) == (200, [("dongdong", "small")])


async def test_a_non_form_content_type_is_400(client):
    form = signed_form(buyer_message("wangwang"))
    resp = await client.post("/webhooks/wangwang", json=form)
    assert resp.status == 400
    assert await resp.json() == {"code": 40, "msg": "content type must be application/x-www-form-urlencoded"}


async def test_an_unconfigured_platform_is_404_json(client):
    resp = await client.post("/webhooks/pinduoduo", data={"a": "b"})
    assert resp.status == 404
    assert (await resp.json())["code"] == 44


async def test_healthz_is_ok_once_the_store_is_ready(client):
    resp = await client.get("/healthz")
    assert (resp.status, await resp.json()) == (200, {"status": "ok"})


async def test_unknown_paths_answer_json(client):
    resp = await client.get("/no/such/page")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


