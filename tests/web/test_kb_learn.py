"""GET /api/kb/learn (the spec's fixed endpoint), its accept action, and `csbot kb learn`."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import timedelta

import pytest

from bot.cli import main
from bot.events import AgentMessage
from tests.conftest import APP_KEYS, ROOT, START, buyer_message, make_config, push_and_process

ADMIN = {"Authorization": "Bearer admin-token-12"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
HELDOUT = str(ROOT / "tests" / "matching" / "data" / "dev6.tsv")  # any labelled set serves as the gate here
DAY = START.date().isoformat()


@pytest.fixture
async def learn_bot(tmp_path, aiohttp_client, make_app, clock):
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", folder)
    db = f"sqlite:///{tmp_path / 'bot.db'}"
    config = make_config(db, knowledge={"path": str(folder), "heldout": [HELDOUT]})
    client = await aiohttp_client(make_app(config, clock))
    events = []
    for n, (text, reply) in enumerate([("能刻字吗", "亲，可以免费刻字的～"), ("可以定制刻字吗", "亲，可以免费刻字的～"),
                                       ("刻字可以吗", "亲，刻字是免费的哦"), ("这款还有货吗", None),
                                       ("你们有实体店吗", None)]):
        at = START + timedelta(minutes=n)
        events.append(buyer_message(buyer=f"b{n}", text=text, at=at, agent="小店:小美"))
        if reply:
            events.append(AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer=f"b{n}",
                                       push_id=f"r{n}", at=at + timedelta(seconds=30), text=reply,
                                       agent_account="小店:小美"))
    await push_and_process(client, *events)
    return client, folder, db


async def test_learn_groups_unanswered_messages_with_closest_intents_and_agent_replies(learn_bot):
    client, _, _ = learn_bot
    resp = await client.get(f"/api/kb/learn?from={DAY}&to={DAY}", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200 and body["total"] == len(body["items"]) == 2, body
    carve = body["items"][0]
    assert carve["size"] == 3 and set(carve["examples"]) == {"能刻字吗", "可以定制刻字吗", "刻字可以吗"}
    assert carve["agent_replies"][0] == {"text": "亲，可以免费刻字的～", "count": 2}
    assert {"intent", "title", "score", "count"} <= set(carve["closest_intents"][0])
    assert all("这款还有货吗" not in item["examples"] for item in body["items"])  # it got a suggestion
    other_day = await (await client.get("/api/kb/learn?from=2026-11-25&to=2026-11-26", headers=ADMIN)).json()
    assert other_day["total"] == 0 and other_day["items"] == []


@pytest.mark.parametrize(("query", "status"), [("from=2026-11-30&to=2026-11-01", 400), ("from=yesterday", 400),
                                               ("to=", 400), ("from=2026-01-01&to=2027-06-01", 400), ("limit=0", 400)])
async def test_learn_bad_periods_are_400(learn_bot, query, status):
    client, _, _ = learn_bot
    resp = await client.get(f"/api/kb/learn?{query}", headers=ADMIN)
    assert resp.status == status and (await resp.json())["error"] in ("bad_period", "bad_request")


async def test_learn_is_for_admins(learn_bot):
    client, _, _ = learn_bot
    assert (await client.get("/api/kb/learn", headers=SUPERVISOR)).status == 403
    assert (await client.get("/api/kb/learn")).status == 401


async def test_accepting_a_group_as_a_new_intent_or_off_topic_and_when_its_messages_are_gone(learn_bot):
    client, folder, _ = learn_bot
    groups = (await (await client.get(f"/api/kb/learn?from={DAY}&to={DAY}", headers=ADMIN)).json())["items"]
    carve = next(g for g in groups if g["size"] == 3)
    ids = [m["id"] for m in carve["messages"]]
    few = await client.post("/api/kb/learn/accept", headers=ADMIN, json={
        "message_ids": ids, "action": "new_intent", "id": "presale.engrave", "title": "刻字定制",
        "reply": carve["agent_replies"][0]["text"]})
    body = await few.json()
    assert few.status == 422 and body["problems"][0]["field"] == "questions"  # 3 questions; 12 are needed
    assert not (folder / "intents" / "presale.toml").read_text(encoding="utf-8").count("presale.engrave")
    more = [f"刻字{n}号怎么收费" for n in range(9)]
    made = await client.post("/api/kb/learn/accept", headers=ADMIN, json={
        "message_ids": ids, "action": "new_intent", "id": "presale.engrave", "title": "刻字定制",
        "reply": carve["agent_replies"][0]["text"], "questions": more, "confirm": True})
    body = await made.json()
    assert made.status == 200, body
    assert body["change"]["action"] == "add_intent" and body["gone"] == []
    suggest = await client.post("/api/suggest", json={"text": "可以刻字吗"}, headers=ADMIN)
    top = (await suggest.json())["suggestions"][0]
    assert (top["intent"], top["reply"]) == ("presale.engrave", "亲，可以免费刻字的～")

    store = next(g for g in groups if g["size"] == 1)
    off = await client.post("/api/kb/learn/accept", headers=ADMIN, json={
        "message_ids": [m["id"] for m in store["messages"]] + [999999], "action": "off_topic",
        "intent": "other.elsewhere_points", "confirm": True})
    body = await off.json()
    assert off.status == 200 and body["gone"] == [999999], body
    assert "你们有实体店吗" in (folder / "off_topic.toml").read_text(encoding="utf-8")

    gone = await client.post("/api/kb/learn/accept", headers=ADMIN, json={
        "message_ids": [999998, 999999], "action": "intent", "intent": "presale.spec"})
    assert gone.status == 200 and (await gone.json()) == {
        "applied": False, "gone": [999998, 999999],
        "message": "these messages are gone (deleted by retention); nothing to learn"}


@pytest.mark.parametrize("body", [{}, {"message_ids": [], "action": "intent"}, {"message_ids": ["1"], "action": "intent"},
                                  {"message_ids": [1], "action": "delete"}])
async def test_accept_bad_input_is_400(learn_bot, body):
    client, _, _ = learn_bot
    assert (await client.post("/api/kb/learn/accept", json=body, headers=ADMIN)).status == 400


async def test_the_learn_command_prints_the_same_groups(learn_bot, capsys, monkeypatch):
    client, _, db = learn_bot
    api = await (await client.get(f"/api/kb/learn?from={DAY}&to={DAY}", headers=ADMIN)).json()
    monkeypatch.setenv("CSBOT_DATABASE_URL", db)
    config = str(ROOT / "config.example.toml")
    code = await asyncio.to_thread(main, ["kb", "learn", "--config", config, "--from", DAY, "--to", DAY, "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(i["size"], i["examples"]) for i in printed["items"]] == [(i["size"], i["examples"]) for i in api["items"]]
    code = await asyncio.to_thread(main, ["kb", "learn", "--config", config, "--from", DAY, "--to", DAY])
    out = capsys.readouterr().out
    assert code == 0 and "5 buyer message(s)" not in out and "2 group(s)" in out
    assert "agents replied ×2: 亲，可以免费刻字的～" in out
    assert await asyncio.to_thread(main, ["kb", "learn", "--config", config, "--from", "2026-02-30"]) == 2


async def test_an_agents_frequent_rewrite_from_kb_stats_becomes_the_intents_reply(learn_bot):
    client, folder, _ = learn_bot
    rewrite = "亲，顺丰到付需要补差价，下单时备注就好～"
    await push_and_process(client, buyer_message(buyer="s1", text="能发顺丰吗", at=START + timedelta(hours=1),
                                                 agent="小店:小美"),
                           AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="s1", push_id="s1r",
                                        at=START + timedelta(hours=1, seconds=30), text=rewrite,
                                        agent_account="小店:小美"))
    stats = await (await client.get("/api/kb/stats", headers=SUPERVISOR)).json()
    courier = next(s for s in stats["items"] if s["intent"] == "presale.courier")
    assert rewrite in courier["examples"]
    base = await (await client.get("/api/kb/base", headers=SUPERVISOR)).json()
    saved = await client.post("/api/kb/intents/presale.courier/reply", headers=SUPERVISOR,
                              json={"text": rewrite, "platform": None, "versions": base["versions"], "confirm": True})
    body = await saved.json()
    assert saved.status == 200 and body["change"]["action"] == "save_reply", body
    suggest = await client.post("/api/suggest", json={"text": "能发顺丰吗"}, headers=SUPERVISOR)
    assert (await suggest.json())["suggestions"][0]["reply"] == rewrite
    blocked = await client.post("/api/kb/intents/presale.courier/reply", headers=SUPERVISOR,
                                json={"text": "亲，加我微信 abc123 发顺丰", "versions": body["versions"]})
    problems = (await blocked.json())["problems"]
    assert blocked.status == 422 and problems[0]["field"] == "replies.0.text" and "微信" in problems[0]["message"]


async def test_learning_never_shows_or_writes_a_buyers_phone_or_address(learn_bot):
    """Curating the knowledge base needs the question's shape, not the buyer's data: the groups, the
    learned questions in the files and the change history hold phone and ID numbers masked; so does
    kb/stats (addresses: the same mask, bot/privacy.py)."""
    client, folder, db = learn_bot
    phone, id_number = "15905718823", "110101199003071234"
    await push_and_process(client, buyer_message(buyer="p1", text=f"你们有实体店吗 我电话{phone} 身份证{id_number}",
                                                 at=START + timedelta(minutes=30), agent="小店:小美"),
                           AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="p1", push_id="p1r",
                                        at=START + timedelta(minutes=31), text=f"亲，已记下您的电话{phone}",
                                        agent_account="小店:小美"))
    learned = await client.get(f"/api/kb/learn?from={DAY}&to={DAY}", headers=ADMIN)
    text = json.dumps(await learned.json(), ensure_ascii=False)
    assert learned.status == 200 and phone not in text and id_number not in text and "159****8823" in text, text
    group = next(g for g in (await learned.json())["items"] if any("159****8823" in e for e in g["examples"]))
    accepted = await client.post("/api/kb/learn/accept", headers=ADMIN, json={
        "message_ids": [m["id"] for m in group["messages"]], "action": "off_topic",
        "intent": "other.elsewhere_points", "confirm": True})
    assert accepted.status == 200, await accepted.text()
    files = "".join(p.read_text(encoding="utf-8") for p in folder.rglob("*.toml"))
    assert "159****8823" in files and phone not in files and id_number not in files
    import sqlite3

    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        history = "".join(str(row) for row in conn.execute("SELECT * FROM kb_changes"))
    assert history and phone not in history and id_number not in history
    stats = json.dumps(await (await client.get("/api/kb/stats", headers=SUPERVISOR)).json(), ensure_ascii=False)
    assert phone not in stats
