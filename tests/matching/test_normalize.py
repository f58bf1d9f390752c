"""Normalization: what two wordings of one question share (pure; no fixtures)."""

from __future__ import annotations

from bot.matching.normalize import MAX_CHARS, ORDER_WORD, PHONE_WORD, normalize


def test_traditional_becomes_simplified():
    assert normalize("這款還有貨嗎") == "这款还有货吗"
    assert normalize("退貨運費誰出") == "退货运费谁出"


def test_full_width_and_case():
    assert normalize("ＸＬ碼有嗎") == "xl码有吗"
    assert normalize("ＯＫ") == "ok"
    assert normalize("Hello  World") == "hello world"


def test_punctuation_and_emoji_are_dropped():
    assert normalize("有货吗？？？！！😊😊") == "有货吗"
    assert normalize("👌🌹🔥") == ""
    assert normalize("……？？ 。。") == ""
    assert normalize("   \t\n ") == ""
    assert normalize("") == ""


def test_filler_particles_are_dropped():
    assert normalize("亲，在吗？") == "在吗"
    assert normalize("亲亲 这个有货吗 哦") == "这个有货吗"
    assert normalize("请问发什么快递呢") == "发什么快递"


def test_repeats_are_squeezed():
    assert normalize("快快快快快发货") == "快快发货"


def test_order_and_phone_numbers_become_placeholders():
    assert normalize("订单 3856120000001234 到哪了") == f"订单 {ORDER_WORD} 到哪了"
    assert normalize("电话改成13912345678") == f"电话改成 {PHONE_WORD}"
    assert normalize("3856120000001234") == ORDER_WORD
    # A short number is a size or a price, not an id.
    assert normalize("能少20吗") == "能少20吗"


def test_long_text_is_truncated():
    out = normalize("我想问一下这个东西" * 2000)
    assert 0 < len(out) <= MAX_CHARS


def test_mixed_chinese_and_english():
    assert normalize("这件有XL码吗 size guide?") == "这件有xl码吗 size guide"


def test_waybill_numbers_become_a_placeholder_of_their_own():
    # A courier's number is not an order number, and its letters (sf, yt) must not read as a courier's name.
    assert normalize("单号SF1234567890查不到") == "单号 运单号 查不到"
    assert normalize("yt1234567890123 到哪了") == "运单号 到哪了"
    assert normalize("size M 还有吗") == "size m 还有吗"  # letters alone are kept
