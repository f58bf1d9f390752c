"""Phone numbers, ID numbers and addresses masked in text, log records, stored errors, /metrics labels,
exports and the views of callers who have no need of them."""

from __future__ import annotations

import logging
import sys

import pytest
import sqlalchemy as sa

from bot.privacy import MaskingFilter, mask, scrub_error
from bot.reports.export import to_csv
from bot.store.tables import RawPush
from bot.web import keys
from bot.web.prometheus import label
from tests.conftest import buyer_message, make_config, push_and_process

PHONE, ID_NUMBER = "15905718823", "330106198807150413"
ADDRESSES = [
    ("浙江省杭州市西湖区文三路478号华星时代广场A座1201室", "浙江省杭州市西湖区****", "文三路478号"),
    ("北京市海淀区中关村大街27号3号楼1501", "北京市海淀区****", "中关村大街27号"),
    ("上海市浦东新区张江镇科苑路399号", "上海市浦东新区****", "科苑路399号"),
    ("广东省深圳市南山区深南大道9988号", "广东省深圳市南山区****", "深南大道9988号"),
    ("阳光花园3栋2单元501室", "****", "2单元501室"),
]


@pytest.mark.parametrize("text, masked", [
    (f"手机{PHONE}", "手机159****8823"),
    ("手机 159 0571 8823", "手机 159****8823"),
    ("+86 159-0571-8823", "+86 159****8823"),
    (f"身份证{ID_NUMBER}", "身份证330***********0413"),
    ("身份证44030419851231002X", "身份证440***********002X"),
])
def test_phone_and_id_numbers_keep_only_their_ends(text, masked):
    assert mask(text) == masked


@pytest.mark.parametrize("address, masked, detail", ADDRESSES)
def test_an_address_keeps_its_region_and_loses_its_street(address, masked, detail):
    assert mask(f"请寄到{address}，谢谢") == f"请寄到{masked}，谢谢"
    assert detail not in mask(address)


@pytest.mark.parametrize("text", ["订单 3812345678901 已发货", "1590571882345 是运单号", "路上堵车，3号能到吗",
                                  "放到门口就行", "还有20210315这批货吗"])
def test_order_numbers_and_ordinary_words_are_left_alone(text):
    assert mask(text) == text


def test_a_stored_error_loses_its_sql_parameters_and_buyer_data():
    error = f"IntegrityError: duplicate key [SQL: INSERT INTO messages ...] [parameters: ('{PHONE}', 'x')]"
    scrubbed = scrub_error(error)
    assert PHONE not in scrubbed and "parameters hidden" in scrubbed and "IntegrityError" in scrubbed


def test_a_log_record_is_masked_with_its_arguments_and_traceback():
    try:
        raise ValueError(f"bad form {ID_NUMBER}")
    except ValueError:
        record = logging.LogRecord("bot.x", logging.ERROR, __file__, 1, "push from %s", (PHONE,), sys.exc_info())
    assert MaskingFilter().filter(record)
    line = logging.Formatter().format(record)
    assert PHONE not in line and ID_NUMBER not in line
    assert "159****8823" in line and "ValueError" in line


def test_metrics_labels_and_export_cells_are_masked():
    assert PHONE not in label(f"reason {PHONE}")
    assert PHONE not in to_csv([{"day": "2026-11-24", "agent": PHONE, "responses": 1}])


async def test_an_agent_sees_the_buyer_in_full_and_a_supervisor_masked(aiohttp_client, clock, make_app, sqlite_url):
    text = f"电话{PHONE}，寄到{ADDRESSES[0][0]}"
    client = await aiohttp_client(make_app(make_config(sqlite_url), clock))
    await push_and_process(client, buyer_message(text=text, agent="小店:小美"))

    async def latest(token: str) -> str:
        body = await (await client.get("/api/conversations", headers={"Authorization": f"Bearer {token}"})).json()
        return body["items"][0]["latest"]["text"]

    assert await latest("agent-xiaomei-token") == text
    assert await latest("supervisor-token") == mask(text) != text


async def test_agents_see_it_masked_when_the_shop_says_so(aiohttp_client, clock, make_app, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url, privacy={"agents_see_full": False}), clock))
    await push_and_process(client, buyer_message(text=f"电话{PHONE}", agent="小店:小美"))
    body = await (await client.get("/api/conversations", headers={"Authorization": "Bearer agent-xiaomei-token"})).json()
    cid = body["items"][0]["id"]
    assert body["items"][0]["latest"]["text"] == "电话159****8823"
    one = await (await client.get(f"/api/conversations/{cid}", headers={"Authorization": "Bearer agent-xiaomei-token"})).json()
    assert [m["text"] for m in one["messages"]] == ["电话159****8823"]


async def test_a_failed_push_stores_its_error_masked(aiohttp_client, clock, make_app, sqlite_url):
    client = await aiohttp_client(make_app(make_config(sqlite_url), clock))
    app_db = client.app[keys.DB]
    from bot.store import consumer_failures, pushes
    from bot.store.tables import ConsumerFailure

    async with app_db() as session, session.begin():
        session.add(RawPush(platform="wangwang", push_id="x1", kind="k", shop="s", buyer="b", event_at=clock.now(),
                            received_at=clock.now(), form="{}"))
    async with app_db() as session, session.begin():
        pid = await session.scalar(sa.select(RawPush.id))
        await pushes.mark_failed(session, pid, now=clock.now(), error=f"KeyError [parameters: ('{PHONE}',)] {ID_NUMBER}",
                                 at_once=False)
        await consumer_failures.record(session, platform="wangwang", push_id="x1", consumer="tickets",
                                       error=f"KeyError: {PHONE} {ID_NUMBER}", now=clock.now())
    async with client.app[keys.ENGINE].connect() as conn:
        stored = await conn.scalar(sa.select(RawPush.__table__.c.last_error))
        consumer_error = await conn.scalar(sa.select(ConsumerFailure.__table__.c.error))
    assert PHONE not in stored and ID_NUMBER not in stored and "KeyError" in stored
    assert PHONE not in consumer_error and ID_NUMBER not in consumer_error and "KeyError" in consumer_error
