"""Complaint detection (pure): phrasings that are complaints, look-alikes that are not, severity and the
rule that fired, the matcher's intents, the long wait and repeated anger; a bad rules file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.tickets.detect import RulesError, detect, load_rules, parse_rules, worse
from tests.conftest import ROOT

RULES = load_rules(ROOT / "knowledge" / "complaints.toml")


@pytest.mark.parametrize(("text", "severity", "category", "rule"), [
    ("我要打12315投诉你们", "P1", "general", "regulator"),
    ("去消协告你们", "P1", "general", "regulator"),
    ("找记者来曝光你们这家店", "P1", "general", "regulator"),
    ("法院见", "P1", "general", "regulator"),
    ("我要打１２３１５", "P1", "general", "regulator"),  # full-width digits
    ("用了两天脸上过敏了", "P1", "safety", "safety"),
    ("充电宝冒烟了差点着火", "P1", "safety", "safety"),
    ("孩子被你们的玩具划伤了", "P1", "safety", "safety"),
    ("不解决就给差评", "P2", "general", "bad_review"),
    ("等着收一星吧", "P2", "general", "bad_review"),
    ("卖假货的骗子", "P2", "quality", "fraud"),
    ("凭什么不给我退款", "P2", "refund", "refund_dispute"),
    ("拖了一周一直不给我退款", "P2", "refund", "refund_dispute"),
    ("质量太差了吧", "P2", "quality", "quality_angry"),
    ("我要投诉", "P3", "service", "service"),
    ("你们客服态度太差了", "P3", "service", "service"),
    ("半天不回消息是什么意思", "P3", "service", "service"),
    ("我要投诉，再不退款就打12315", "P1", "general", "regulator"),  # the worst rule wins
])
def test_complaints_get_a_severity_and_the_rule_that_fired(text, severity, category, rule):
    found = detect(text, RULES)
    assert found is not None, text
    assert (found.severity, found.category, found.rule) == (severity, category, rule)
    assert found.reason


@pytest.mark.parametrize("text", [
    "请问怎么退货呀",
    "你好，我想退货，麻烦告诉我怎么操作，谢谢",
    "这个报警器怎么安装",
    "我不会给差评的，放心",
    "你们家差评多吗",
    "是正品吗？不会是假货吧",
    "这个面霜会不会过敏",
    "店长推荐哪款",
    "一星期了还没到吗",
    "订单号1231567890帮我查下",
    "好评返现吗",
    "收到是碎的",  # damage: a complaint only after a long wait (below)
    "在吗",
])
def test_look_alikes_are_not_complaints(text):
    assert detect(text, RULES) is None


def test_a_damage_message_from_a_buyer_waiting_long_is_a_complaint():
    assert detect("收到是碎的", RULES, waiting=timedelta(minutes=29)) is None
    found = detect("收到是碎的", RULES, waiting=timedelta(minutes=30))
    assert (found.severity, found.category, found.rule) == ("P2", "quality", "quality_waiting")


def test_the_matchers_complaint_intents_count():
    found = detect("我想找你们管事的", RULES, intents=["presale.stock", "complaint.regulator"])
    assert (found.severity, found.rule) == ("P1", "intent:complaint.regulator")
    assert detect("我想找你们管事的", RULES, intents=["presale.stock"]) is None


def test_a_rule_worse_than_the_intent_wins():
    found = detect("再不处理我就打12315", RULES, intents=["complaint.service"])
    assert (found.severity, found.rule) == ("P1", "regulator")


def test_the_third_angry_message_is_a_complaint():
    assert detect("搞什么啊！！", RULES, angry_before=1) is None
    found = detect("搞什么啊！！", RULES, angry_before=2)
    assert (found.severity, found.rule) == ("P3", "angry")
    assert detect("好的谢谢", RULES, angry_before=5) is None


def test_worse():
    assert worse("P2", "P1") == "P1" and worse("P3", "P2") == "P2" and worse("P3", "P3") == "P3"


@pytest.mark.parametrize(("toml", "problem"), [
    ('[[rule]]\nid = "x"\nseverity = "P4"\nwords = ["a"]', "severity must be one of"),
    ('[[rule]]\nid = "x"\nseverity = "P1"', "needs words or patterns"),
    ('[[rule]]\nid = "x"\nseverity = "P1"\npatterns = ["("]', "bad pattern"),
    ('[[rule]]\nid = "x"\nseverity = "P1"\nwords = ["a"]\nwordz = ["b"]', "unknown key 'wordz'"),
    ('[[rule]]\nid = "x"\nseverity = "P1"\nwords = ["a"]\n[[rule]]\nid = "x"\nseverity = "P2"\nwords = ["b"]', "duplicate id"),
    ('[[rule]\n', "not valid TOML"),
])
def test_a_bad_rules_file_names_the_problem(toml, problem):
    with pytest.raises(RulesError, match=problem):
        parse_rules(toml, source="complaints.toml")


def test_a_missing_rules_file_is_an_error(tmp_path):
    with pytest.raises(RulesError, match="no such file"):
        load_rules(tmp_path / "complaints.toml")
