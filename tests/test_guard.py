"""The compliance guard: each rule with a positive and a negative case, and the evasions."""

from pathlib import Path

import pytest

from bot.guard import Guard, GuardError, Rule, load_rules, squeeze

ROOT = Path(__file__).resolve().parent.parent
GUARD = load_rules(ROOT / "knowledge")


@pytest.mark.parametrize(
    ("rule", "bad", "fine"),
    [
        ("contact.wechat", "有问题加我微信聊", "亲，有问题随时在这里留言哦"),
        ("contact.qq", "加QQ：12345678", "亲，这款是纯棉的"),
        ("contact.phone", "打我电话13812345678", "订单号3856120000001234已发货"),
        ("contact.email", "发到 shop.help@163.com", "亲，已经帮您备注啦"),
        ("link.external", "去 https://t.cn/abc 领券", "店铺首页就可以领券哦"),
        ("payment.offplatform", "钱转到卡号：6222020200112233445就行", "订单3856120000001234已发货，支持花呗"),
        ("qrcode", "扫码加群领红包", "亲，下单后会尽快发货"),
        ("address.offline", "您可以到店自提哦", "我们会尽快安排发货"),
        ("insult", "你是不是神经病", "亲，非常抱歉给您带来不便"),
        ("review.incentive", "好评返现5元", "期待您的好评哦"),
        ("promise.absolute", "百分百正品", "保证正品，支持验货"),
    ],
)
def test_each_rule_has_a_positive_and_a_negative(rule, bad, fine):
    assert rule in {v.rule for v in GUARD.check(bad)}
    assert rule not in {v.rule for v in GUARD.check(fine)}


@pytest.mark.parametrize(
    ("text", "rule", "matched"),
    [
        ("加我 微 信 吧", "contact.wechat", "微 信"),
        ("加我微.信.", "contact.wechat", "微.信"),
        ("加我ｖｘ：abc", "contact.wechat", "ｖｘ"),  # full-width letters
        ("加我 V X", "contact.wechat", "V X"),
        ("w e i x i n：abc", "contact.wechat", "w e i x i n"),
        ("加我薇信", "contact.wechat", "薇信"),
        ("加我微信", "contact.wechat", "微信"),  # traditional
        ("电话 138 1234 5678", "contact.phone", "138 1234 5678"),
        ("电话 １３８-１２３４-５６７８", "contact.phone", "１３８-１２３４-５６７８"),
        ("Q Q 123456789", "contact.qq", "Q Q 123456789"),
    ],
)
def test_evasions_are_caught_and_the_span_is_in_the_original_text(text, rule, matched):
    found = {v.rule: v for v in GUARD.check(text)}
    assert rule in found
    v = found[rule]
    assert text[v.start:v.end] == v.matched == matched


def test_innocent_words_that_contain_short_bad_ones():
    for text in ["这款有usb接口", "滚筒洗衣机专用", "我们的卡号码偏小", "有病虫害吗"]:
        assert GUARD.blocking(text) == [], text


def test_blocks_come_before_warnings():
    found = GUARD.check("百分百正品，加微信")
    assert [v.action for v in found] == ["block", "warn"]


def test_squeeze_maps_back_to_the_original():
    text, origin = squeeze("Ａ B，c")
    assert text == "abc" and origin == [0, 2, 4]


def test_bad_rule_files(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text('[[rule]]\nid = "x"\naction = "maybe"\nwords = ["a"]\n')
    with pytest.raises(GuardError, match="action must be block or warn"):
        load_rules(tmp_path)
    (tmp_path / "rules" / "r.toml").write_text('[[rule]]\nid = "x"\naction = "block"\npatterns = ["("]\n')
    with pytest.raises(GuardError, match="bad pattern"):
        load_rules(tmp_path)
    assert Guard([Rule(id="w", reason="r", action="warn", words=("某词",))]).check("某 词")[0].rule == "w"
