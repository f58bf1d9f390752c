"""/api/kb/* edits: written back to a copy of knowledge/ keeping everything else as it was, refused
with the field and the rule, 409 on a stale version, undo, impact before apply, roles."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
import sqlalchemy as sa

from bot.store.tables import KbChange
from bot.web import keys
from tests.conftest import ROOT, make_config

AGENT = {"Authorization": "Bearer agent-xiaomei-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
ADMIN = {"Authorization": "Bearer admin-token-12"}
HELDOUT = str(ROOT / "tests" / "matching" / "data" / "dev6.tsv")  # any labelled set serves as the gate here


@pytest.fixture
async def kb_client(tmp_path, aiohttp_client, clock, make_app):
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"],
                   check=True)
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}",
                         knowledge={"path": str(folder), "heldout": [HELDOUT], "impact_margin": 0.005})
    return await aiohttp_client(make_app(config, clock)), folder


async def load(client, headers=SUPERVISOR) -> dict:
    resp = await client.get("/api/kb/base", headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def intent_of(base: dict, intent_id: str) -> dict:
    return next(i for i in base["intents"] if i["id"] == intent_id)


def diff(folder) -> str:
    return subprocess.run(["git", "-C", str(folder), "diff", "-U0"], capture_output=True, text=True, check=True).stdout


def changed_lines(folder) -> list[str]:
    return [line for line in diff(folder).splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


async def test_editing_a_reply_and_adding_a_question_changes_only_those_lines_and_is_served(kb_client):
    client, folder = kb_client
    base = await load(client)
    stock = intent_of(base, "presale.stock")
    replies = [dict(r) for r in stock["replies"]]
    old_reply = replies[0]["text"]
    replies[0]["text"] = "亲，页面能选的都有现货，放心拍～"
    body = {"title": stock["title"], "questions": stock["questions"] + ["这个色号还能买到吗"], "replies": replies,
            "versions": base["versions"]}
    resp = await client.put("/api/kb/intents/presale.stock", json=body, headers=SUPERVISOR)
    result = await resp.json()
    assert resp.status == 200, result
    assert result["applied"] and result["impact"]["sets"][0]["set"] == "dev6.tsv"
    assert set(result["impact"]["sets"][0]["before"]) >= {"top1", "top3", "oos_rejected"}
    lines = changed_lines(folder)
    assert sorted(lines) == sorted([f'-text = "{old_reply}"', '+text = "亲，页面能选的都有现货，放心拍～"',
                                    '+  "这个色号还能买到吗",']), diff(folder)
    suggest = await client.post("/api/suggest", json={"text": "这款还有货吗"}, headers=AGENT)
    assert (await suggest.json())["suggestions"][0]["reply"] == "亲，页面能选的都有现货，放心拍～"
    async with client.app[keys.DB]() as session:
        [row] = (await session.scalars(sa.select(KbChange))).all()
    assert (row.who, row.action, row.target) == ("supervisor", "edit_intent", "presale.stock")


async def test_two_editors_saving_the_same_intent_one_wins_the_other_gets_409_with_the_change(kb_client):
    client, folder = kb_client
    base = await load(client)
    stock = intent_of(base, "presale.stock")

    def edit(text: str) -> dict:
        return {"title": stock["title"], "questions": stock["questions"],
                "replies": [{"platform": None, "text": text}] + stock["replies"][1:], "versions": base["versions"]}

    first, second = await asyncio.gather(
        client.put("/api/kb/intents/presale.stock", json=edit("亲，第一位编辑的回复～"), headers=SUPERVISOR),
        client.put("/api/kb/intents/presale.stock", json=edit("亲，第二位编辑的回复～"), headers=ADMIN))
    statuses = sorted([first.status, second.status])
    assert statuses == [200, 409]
    loser = first if first.status == 409 else second
    body = await loser.json()
    winner_text = "亲，第一位编辑的回复～" if loser is second else "亲，第二位编辑的回复～"
    assert body["error"] == "conflict" and body["files"] == ["intents/presale.toml"]
    assert body["current"]["reply"][0]["text"] == winner_text
    assert body["change"]["target"] == "presale.stock"
    assert winner_text in (folder / "intents" / "presale.toml").read_text(encoding="utf-8")


async def test_a_file_changed_on_disk_since_loading_is_409(kb_client):
    client, folder = kb_client
    base = await load(client)
    invoice = folder / "intents" / "invoice.toml"
    invoice.write_text(invoice.read_text(encoding="utf-8") + "\n# edited by hand\n", encoding="utf-8")
    inv = intent_of(base, "invoice.request")
    resp = await client.put("/api/kb/intents/invoice.request", headers=SUPERVISOR, json={
        "title": "发票", "questions": inv["questions"], "replies": inv["replies"], "versions": base["versions"]})
    assert resp.status == 409 and (await resp.json())["error"] == "conflict"
    assert invoice.read_text(encoding="utf-8").endswith("# edited by hand\n")


@pytest.mark.parametrize(("change", "field", "rule"), [
    (lambda i: {**i, "questions": i["questions"][:5]}, "questions", "at least 12 are needed"),
    (lambda i: {**i, "title": "  "}, "title", "title must not be empty"),
    (lambda i: {**i, "replies": [{"platform": None, "text": "亲，您的{coupon}已发"}]}, "replies.0.text",
     "unknown placeholders ['coupon']"),
    (lambda i: {**i, "replies": [i["replies"][0], {"platform": "dongdong", "text": "亲，加微信 abc123 给您发"}]},
     "replies.1.text", "breaks rule"),
    (lambda i: {**i, "questions": i["questions"] + ["能开发票吗"]}, None, "nearly the same"),
])
async def test_a_save_that_breaks_a_rule_is_refused_with_the_field_and_the_files_are_untouched(kb_client, change,
                                                                                             field, rule):
    client, folder = kb_client
    base = await load(client)
    stock = {k: v for k, v in intent_of(base, "presale.stock").items() if k in ("title", "questions", "replies")}
    resp = await client.put("/api/kb/intents/presale.stock", headers=SUPERVISOR,
                            json={**change(stock), "versions": base["versions"]})
    body = await resp.json()
    assert resp.status == 422, body
    matching = [p for p in body["problems"] if rule in p["message"]]
    assert matching, body
    if field is None:  # the conflict names the new question's index
        assert matching[0]["field"] == f"questions.{len(stock['questions'])}"
    else:
        assert matching[0]["field"] == field
    assert diff(folder) == ""


async def test_a_duplicate_id_is_refused_at_the_id(kb_client):
    client, folder = kb_client
    base = await load(client)
    resp = await client.post("/api/kb/intents", headers=SUPERVISOR, json={
        "id": "presale.stock", "title": "x", "questions": [f"问题{i}" for i in range(12)],
        "replies": [{"text": "亲"}], "versions": base["versions"]})
    body = await resp.json()
    assert resp.status == 422 and body["problems"][0]["field"] == "id" and "already exists" in body["message"]
    assert diff(folder) == ""


async def test_agents_may_not_write_and_question_text_with_html_is_stored_as_text(kb_client):
    client, folder = kb_client
    base = await load(client)
    for method, path in [("put", "/api/kb/intents/presale.stock"), ("post", "/api/kb/intents"),
                         ("post", "/api/kb/intents/presale.stock/retire"), ("post", "/api/kb/questions/move"),
                         ("post", "/api/kb/changes/1/undo"), ("get", "/api/kb/base"), ("get", "/api/kb/learn"),
                         ("post", "/api/kb/learn/accept"), ("post", "/api/kb/intents/presale.stock/reply")]:
        resp = await getattr(client, method)(path, json={}, headers=AGENT)
        assert resp.status == 403, (method, path)
    assert (await client.get("/api/kb/learn", headers=SUPERVISOR)).status == 403  # the spec: admin
    stock = intent_of(base, "presale.stock")
    html = "<b>有货</b>吗<script>x</script>"
    resp = await client.put("/api/kb/intents/presale.stock", headers=SUPERVISOR, json={
        "title": stock["title"], "questions": stock["questions"] + [html], "replies": stock["replies"],
        "versions": base["versions"]})
    assert resp.status == 200, await resp.text()
    assert html in intent_of(await load(client), "presale.stock")["questions"]


async def test_undo_puts_the_file_back_and_is_recorded(kb_client):
    client, folder = kb_client
    base = await load(client)
    stock = intent_of(base, "presale.stock")
    resp = await client.put("/api/kb/intents/presale.stock", headers=SUPERVISOR, json={
        "title": "库存与补货", "questions": stock["questions"], "replies": stock["replies"], "versions": base["versions"]})
    change = (await resp.json())["change"]
    assert diff(folder) != ""
    resp = await client.post(f"/api/kb/changes/{change['id']}/undo", json={}, headers=SUPERVISOR)
    body = await resp.json()
    assert resp.status == 200, body
    assert diff(folder) == ""
    history = await (await client.get("/api/kb/changes", headers=SUPERVISOR)).json()
    assert [c["action"] for c in history["items"]] == ["undo", "edit_intent"]
    assert history["items"][1]["undone_by"] == history["items"][0]["id"]
    again = await client.post(f"/api/kb/changes/{change['id']}/undo", json={}, headers=SUPERVISOR)
    assert again.status == 409


async def test_retire_and_move_a_question(kb_client):
    client, folder = kb_client
    base = await load(client)
    question = intent_of(base, "order.cancel")["questions"][0]
    resp = await client.post("/api/kb/questions/move", headers=SUPERVISOR, json={
        "question": question, "from": "order.cancel", "to": "aftersale.return", "versions": base["versions"],
        "confirm": True})
    assert resp.status == 200, await resp.text()
    now = await load(client)
    assert question not in intent_of(now, "order.cancel")["questions"]
    assert question in intent_of(now, "aftersale.return")["questions"]
    resp = await client.post("/api/kb/intents/member.points/retire", headers=SUPERVISOR,
                             json={"versions": now["versions"], "confirm": True})
    assert resp.status == 200, await resp.text()
    assert "member.points" not in {i["id"] for i in (await load(client))["intents"]}


async def test_a_drop_beyond_the_margin_needs_a_confirm_and_the_record_keeps_both_figures(kb_client):
    client, folder = kb_client
    base = await load(client)
    resp = await client.post("/api/kb/intents/presale.size/retire", headers=SUPERVISOR,
                             json={"versions": base["versions"]})
    body = await resp.json()
    assert resp.status == 409 and body["error"] == "confirm_needed", body
    drop = body["impact"]["drops"][0]
    assert drop["figure"] == "top1" and drop["before"] - drop["after"] > 0.005
    assert any(c["pair"].startswith("presale.size→") for c in body["impact"]["confusions_changed"])
    assert diff(folder) == ""
    resp = await client.post("/api/kb/intents/presale.size/retire", headers=SUPERVISOR,
                             json={"versions": base["versions"], "confirm": True})
    body = await resp.json()
    assert resp.status == 200 and body["change"]["confirmed"] is True
    assert body["change"]["impact"]["sets"][0]["before"]["top1"] > body["change"]["impact"]["sets"][0]["after"]["top1"]


async def test_an_unwritable_file_is_a_clear_error_and_nothing_is_half_written(kb_client):
    client, folder = kb_client
    base = await load(client)
    target = folder / "intents" / "presale.toml"
    stock = intent_of(base, "presale.stock")
    if subprocess.run(["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        resp = await client.put("/api/kb/intents/presale.stock", headers=SUPERVISOR, json={
            "title": "库存", "questions": stock["questions"], "replies": stock["replies"],
            "versions": base["versions"]})
        body = await resp.json()
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert resp.status == 503 and body["error"] == "cannot_write", body
    assert "presale.toml" in body["message"] and "nothing was changed" in body["message"]
    assert diff(folder) == ""
    assert [p.name for p in (folder / "intents").iterdir() if p.name.startswith(".")] == []


async def test_off_topic_subjects_are_edited_and_added_like_intents(kb_client):
    client, folder = kb_client
    base = await load(client)
    bank = next(t for t in base["topics"] if t["id"] == "other.bank")
    resp = await client.put("/api/kb/topics/other.bank", headers=SUPERVISOR, json={
        "title": bank["title"], "questions": bank["questions"] + ["银行理财产品靠谱吗"], "versions": base["versions"],
        "confirm": True})
    assert resp.status == 200, await resp.text()
    assert changed_lines(folder) == ['+  "银行理财产品靠谱吗",']
    base = await load(client)
    resp = await client.post("/api/kb/topics", headers=SUPERVISOR, json={
        "id": "other.lottery", "title": "彩票", "questions": ["双色球几点开奖", "彩票中奖了怎么领"],
        "versions": base["versions"], "confirm": True})
    assert resp.status == 200, await resp.text()
    topics = {t["id"]: t for t in (await load(client))["topics"]}
    assert topics["other.lottery"]["questions"] == ["双色球几点开奖", "彩票中奖了怎么领"]
    suggest = await client.post("/api/suggest", json={"text": "双色球今晚几点开奖"}, headers=AGENT)
    assert (await suggest.json())["suggestions"] == []
    empty = await client.post("/api/kb/topics", headers=SUPERVISOR, json={
        "id": "other.empty", "title": "空", "questions": [], "versions": (await load(client))["versions"]})
    body = await empty.json()
    assert empty.status == 422 and body["problems"][0]["field"] == "questions"
