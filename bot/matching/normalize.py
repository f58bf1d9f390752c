"""Normalization of buyer text before anything else: what two wordings of one question share.

Traditional → simplified (這款還有貨嗎 → 这款还有货), full-width → half-width, case, emoji and
punctuation, filler particles (亲 哦 呢 啊 ...), and order, phone or waybill numbers → placeholder words.
"""

from __future__ import annotations

import re
import unicodedata

import opencc

MAX_CHARS = 300  # a buyer's question fits; a pasted essay is cut here so matching stays bounded
ORDER_WORD = "订单号"
PHONE_WORD = "手机号"
TRACKING_WORD = "运单号"  # a courier's waybill number: letters then digits (sf1234567890, yt...)

_t2s = opencc.OpenCC("t2s")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ORDER = re.compile(r"\d{10,}")
_TRACKING = re.compile(r"(?<![a-z])[a-z]{1,4}\d{8,}")
# Particles and interjections that carry no meaning for matching (亲 is how shops and buyers say "dear").
_FILLER = re.compile(r"亲爱的|亲亲|亲|哦|呢|啊|呀|吧|嘛|啦|哈|嗯|噢|喔|哇|咯|呐|捏|滴|哟|诶|欸|嘞|那个|请问|麻烦问下|麻烦")
_REPEAT = re.compile(r"(.)\1{2,}")  # 快快快快 → 快快
_SPACES = re.compile(r"\s+")


def _is_noise(ch: str) -> bool:
    """Punctuation, symbols and emoji: everything that is not a letter, a digit or a space."""
    if ch.isspace():
        return False
    category = unicodedata.category(ch)
    return category[0] in "PSCM" or category in ("Zl", "Zp")


class _NoiseToSpace(dict):
    """A `str.translate` table: noise → a space, anything else → itself; each character is looked
    up with `_is_noise` once, when first seen, instead of once per character of every message."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        self[code] = " " if _is_noise(ch) else ch
        return self[code]


_NOISE_TO_SPACE = _NoiseToSpace()


def normalize(text: str) -> str:
    """The comparable form of a message.

    >>> normalize("親，這款還有貨嗎？？😊")
    '这款还有货吗'
    >>> normalize("订单 3856120000001234 到哪了")
    '订单 订单号 到哪了'
    >>> normalize("单号SF1234567890查不到")
    '单号 运单号 查不到'
    """
    text = unicodedata.normalize("NFKC", text[: MAX_CHARS * 2])[:MAX_CHARS]
    text = _t2s.convert(text).lower()
    text = text.translate(_NOISE_TO_SPACE)
    text = _PHONE.sub(f" {PHONE_WORD} ", text)
    text = _TRACKING.sub(f" {TRACKING_WORD} ", text)
    text = _ORDER.sub(f" {ORDER_WORD} ", text)
    text = _FILLER.sub(" ", text)
    text = _REPEAT.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()
