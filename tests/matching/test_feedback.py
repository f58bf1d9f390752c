"""Learning from use: every answer is recorded as using, editing or ignoring the suggestions,
and `csbot kb stats` lists the intents agents rewrite most, with what they wrote."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa

from bot.events import AgentMessage
from bot.matching.consumer import outcome_of
from bot.matching.engine import shop_values
from bot.store.tables import ReplyFeedback
from bot.web import keys
from tests.conftest import ROOT, START, buyer_message, minutes, post_push, signed_form


def test_outcome_of_an_answer():
    replies = {"presale.courier": ["亲，默认发中通，可补差价发顺丰哦～", "亲，京东物流配送哦"],
               "presale.ship_time": ["亲，付款后24小时内发货"]}
    assert outcome_of("亲，默认发中通，可补差价发顺丰哦～", replies) == ("used", "presale.courier")
    assert outcome_of("亲，默认发中通，补5元可以发顺丰", replies) == ("edited", "presale.courier")
    assert outcome_of("亲，京东物流配送哦", replies) == ("used", "presale.courier")  # a platform's own wording
    assert outcome_of("稍等，我问一下仓库", replies) == ("ignored", None)
    assert outcome_of("好的", {}) == ("none", None)


async def answer(client, buyer: str, question: str, text: str, at_min: float) -> None:
    ask = buyer_message("wangwang", buyer=buyer, text=question, agent="小店:小美", at=START + minutes(at_min))
    reply = AgentMessage(platform="wangwang", shop="demo-tb", buyer=buyer, push_id=ask.push_id + "r",
                         at=START + minutes(at_min + 1), text=text, agent_account="小店:小美")
    for event in (ask, reply):
        assert (await post_push(client, "wangwang", signed_form(event)))[0] == 200
        await client.app[keys.PROCESSOR].process_all()


async def test_answers_typed_in_the_platform_chat_are_judged_against_the_suggestions(client, engine, config):
    courier = engine.reply("presale.courier", platform="wangwang", values={**shop_values(config.shop), "buyer": "b1"})
    await answer(client, "b1", "能发顺丰吗", courier, 0)
    await answer(client, "b2", "可以发顺丰吗", courier[:-4] + "，需补差价", 0)
    await answer(client, "b3", "发什么快递", "等一下哈，我问下仓库", 0)
    async with client.app[keys.DB]() as session:
        rows = (await session.execute(sa.select(ReplyFeedback.suggested_intent, ReplyFeedback.outcome)
                                      .order_by(ReplyFeedback.id))).all()
    assert [tuple(r) for r in rows] == [("presale.courier", "used"), ("presale.courier", "edited"),
                                        ("presale.courier", "ignored")]


async def test_kb_stats_lists_the_rewritten_intents_with_examples(client, tmp_path, config):
    await answer(client, "b4", "能发顺丰吗", "顺丰要加10块钱哦", 0)
    await answer(client, "b5", "发什么快递", "默认韵达", 5)
    db = config.database.url
    config_file = tmp_path / "stats.toml"
    config_file.write_text(f'[database]\nurl = "{db}"\n[knowledge]\npath = "{ROOT / "knowledge"}"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "kb", "stats", "--config", str(config_file)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:5] == ["presale.courier", "2", "0", "0", "2"]
    assert "agents wrote: 默认韵达" in result.stdout and "agents wrote: 顺丰要加10块钱哦" in result.stdout
