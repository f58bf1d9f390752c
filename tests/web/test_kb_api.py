"""/api/suggest, /api/kb/intents and /api/kb/reload: roles, bad input, reload that keeps the old
base on errors, the file watcher, and suggestions stored with each buyer message."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa

from bot.store.tables import Message, Suggestion
from bot.web import keys
from tests.conftest import ROOT, buyer_message, eventually, make_config, post_push, signed_form

AGENT = {"Authorization": "Bearer agent-xiaomei-token"}
ADMIN = {"Authorization": "Bearer admin-token-12"}


async def test_suggest_answers_the_best_intents_with_filled_replies(client):
    resp = await client.post("/api/suggest", json={"text": "這款還有貨嗎", "limit": 3}, headers=AGENT)
    body = await resp.json()
    assert resp.status == 200
    assert body["complaint"] is None
    top = body["suggestions"][0]
    assert top["intent"] == "presale.stock"
    assert 0 < top["score"] <= 1 and top["question"] and "{" not in top["reply"]
    scores = [s["score"] for s in body["suggestions"]]
    assert scores == sorted(scores, reverse=True)


async def test_nothing_confident_is_an_empty_list(client):
    resp = await client.post("/api/suggest", json={"text": "😊😊😊"}, headers=AGENT)
    assert (await resp.json())["suggestions"] == []


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "Bearer nope-nope-nope"}, 401),
                                                  ({"Authorization": "Basic abc"}, 401)])
async def test_suggest_needs_a_known_token(client, headers, status):
    resp = await client.post("/api/suggest", json={"text": "在吗"}, headers=headers)
    assert resp.status == status
    assert (await resp.json())["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "message"),
    [("not json", "the body must be a JSON object"), ([1], "the body must be a JSON object"),
     ({"text": 5}, "text must be a string"), ({"text": "在吗", "limit": 0}, "limit must be an integer from 1 to 10"),
     ({"text": "在吗", "limit": "3"}, "limit must be an integer from 1 to 10"),
     ({"text": "好" * 10_001}, "text is longer than 10000 characters"),
     ({"text": "在吗", "platform": "pdd"}, "platform must be wangwang or dongdong")],
)
async def test_suggest_bad_input_is_400(client, body, message):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    resp = await client.post("/api/suggest", headers=AGENT, **kwargs)
    assert (resp.status, (await resp.json())["message"]) == (400, message)


async def test_the_intents_are_for_admins(client):
    assert (await client.get("/api/kb/intents", headers=AGENT)).status == 403
    resp = await client.get("/api/kb/intents", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200 and body["total"] == len(body["items"]) >= 40


@pytest.fixture
async def own_kb_client(tmp_path, aiohttp_client, clock, make_app):
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}", knowledge={"path": str(folder)})
    return await aiohttp_client(make_app(config, clock)), folder


async def test_a_reload_with_errors_is_refused_and_the_old_base_keeps_serving(own_kb_client):
    client, folder = own_kb_client
    (folder / "intents" / "broken.toml").write_text('[[intent]]\nid = "x.y"\nquestions = [\n', encoding="utf-8")
    resp = await client.post("/api/kb/reload", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 422
    assert body["error"] == "invalid_knowledge_base" and "broken.toml" in body["problems"][0]
    suggest = await client.post("/api/suggest", json={"text": "有货吗"}, headers=AGENT)
    assert (await suggest.json())["suggestions"][0]["intent"] == "presale.stock"


async def test_a_valid_reload_serves_the_new_base(own_kb_client):
    client, folder = own_kb_client
    (folder / "intents" / "extra.toml").write_text(
        '[[intent]]\nid = "presale.pets"\ntitle = "宠物"\nquestions = ["猫能吃吗", "狗狗能用吗", "宠物可以用吗", '
        '"猫咪用安全吗", "狗能穿吗", "给猫用的吗", "宠物能不能吃", "猫狗通用吗", "猫咪可以玩吗", '
        '"狗子能不能用", "宠物专用吗", "猫会不会抓坏"]\n[[intent.reply]]\ntext = "亲，这款不适合宠物哦"\n',
        encoding="utf-8")
    resp = await client.post("/api/kb/reload", headers=AGENT)
    assert resp.status == 403
    resp = await client.post("/api/kb/reload", headers=ADMIN)
    assert resp.status == 200
    suggest = await client.post("/api/suggest", json={"text": "猫咪能用吗"}, headers=AGENT)
    assert (await suggest.json())["suggestions"][0]["intent"] == "presale.pets"


async def test_a_reload_takes_new_complaint_rules_and_refuses_broken_ones(own_kb_client):
    client, folder = own_kb_client
    rules = folder / "complaints.toml"
    probe = {"text": "这款杯子有乌龟图案的吗"}

    async def complaint():
        return (await (await client.post("/api/suggest", json=probe, headers=AGENT)).json())["complaint"]

    assert await complaint() is None
    rules.write_text(rules.read_text(encoding="utf-8") + '\n[[rule]]\nid = "slow_turtle"\nseverity = "P3"\n'
                     'category = "service"\nreason = "测试规则"\nwords = ["乌龟图案"]\n', encoding="utf-8")
    assert (await client.post("/api/kb/reload", headers=ADMIN)).status == 200
    assert (await complaint())["rule"] == "slow_turtle"
    good = rules.read_text(encoding="utf-8")
    rules.write_text(good + "\n[[rule]]\nid = \"broken\n", encoding="utf-8")
    resp = await client.post("/api/kb/reload", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 422 and "complaints.toml" in body["problems"][0]
    assert (await complaint())["rule"] == "slow_turtle"  # the rules in service stay


async def test_the_watcher_reloads_when_a_file_changes(own_kb_client):
    client, folder = own_kb_client
    before = client.app[keys.ENGINES].engine
    stock = folder / "intents" / "presale.toml"
    stock.write_text(stock.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert await eventually(lambda: _engine(client), lambda e: e is not before, within_s=20) is not before


async def _engine(client):
    return client.app[keys.ENGINES].engine


async def test_each_buyer_message_gets_its_suggestions_stored(client):
    await post_push(client, "wangwang", signed_form(buyer_message(text="亲，能发顺丰吗", push_id="s1")))
    await post_push(client, "wangwang", signed_form(buyer_message(text="今天天气真好", push_id="s2")))
    await client.app[keys.PROCESSOR].process_all()
    async with client.app[keys.DB]() as session:
        rows = (await session.execute(
            sa.select(Message.push_id, Suggestion.rank, Suggestion.intent)
            .join(Suggestion, Suggestion.message_id == Message.id).order_by(Message.push_id, Suggestion.rank)
        )).all()
    assert rows[0] == ("s1", 1, "presale.courier")
    assert all(push_id == "s1" for push_id, _, _ in rows)


async def test_a_reload_refuses_a_reply_that_breaks_a_blocking_compliance_rule(own_kb_client):
    """The 加微信 case: what `kb lint` refuses, a reload refuses too, and the old replies keep serving."""
    client, folder = own_kb_client
    stock = folder / "intents" / "presale.toml"
    text = stock.read_text(encoding="utf-8")
    first_reply = text.index('[[intent.reply]]\ntext = "', text.index('id = "presale.stock"')) + len('[[intent.reply]]\ntext = "')
    stock.write_text(text[:first_reply] + "亲，加微信 abc123 聊～" + text[first_reply:], encoding="utf-8")
    from bot.matching.lint import lint
    assert any("加微信" in str(p) or "微信" in str(p) for p in lint(folder))
    resp = await client.post("/api/kb/reload", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 422 and any("presale.stock" in p and "微信" in p for p in body["problems"]), body
    suggest = await client.post("/api/suggest", json={"text": "这款还有货吗"}, headers=AGENT)
    top = (await suggest.json())["suggestions"][0]
    assert top["intent"] == "presale.stock" and "微信" not in top["reply"]


async def test_the_watcher_keeps_the_old_base_when_a_reply_breaks_a_blocking_rule(own_kb_client):
    client, folder = own_kb_client
    before = client.app[keys.ENGINES].engine
    stock = folder / "intents" / "presale.toml"
    text = stock.read_text(encoding="utf-8")
    stock.write_text(text.replace('text = "亲', 'text = "加微信 abc123，亲', 1), encoding="utf-8")
    with pytest.raises(Exception) as refused:
        await client.app[keys.ENGINES].reload()
    assert "微信" in str(refused.value)
    assert client.app[keys.ENGINES].engine is before
