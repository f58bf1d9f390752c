"""Buyers' phone numbers, ID numbers and addresses found in text and masked (pure).

Used where buyer text leaves the bot for people or files that have no need of it: the log lines, the
report and ticket exports, /metrics label values, stored errors, supervisors' and (by the setting
`[privacy] agents_see_full`) agents' views.

>>> mask("电话13812345678，身份证110101199003071234")
'电话138****5678，身份证110***********1234'
>>> mask("寄到浙江省杭州市西湖区文三路478号华星时代广场A座1201室")
'寄到浙江省杭州市西湖区****'
>>> mask("订单 3812345678901 已发货")  # an order number is no phone number
'订单 3812345678901 已发货'
"""

from __future__ import annotations

import logging
import re

# 18-character resident ID: 6 region digits, birth date 19xx/20xx, 3 digits, a check digit or X.
_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{2})\d{3}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}([0-9Xx]{1})(?![0-9A-Za-z])")
# Mainland mobile: 1[3-9] and 9 more digits, maybe written 138 1234 5678 or 138-1234-5678 or +86.
_MOBILE = re.compile(r"(?<!\d)((?:\+?86[ -]?)?1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")
_CN = "\u4e00-\u9fff"
_NUM = "0-9０-９一二三四五六七八九十百千零〇"
# Words a buyer writes just before an address; a road name never contains them.
_NOT_NAME = "我你他她在是的住址到送寄发收货人电话号码改成为"
_NAME = rf"(?:[{_CN}A-Za-z0-9](?<![{_NOT_NAME}]))"
# The administrative part (kept: it names a region of millions), then the detail (masked).
_ADMIN = rf"(?:[{_CN}]{{2,7}}?(?:省|自治区|特别行政区))?(?:[{_CN}]{{2,7}}?(?:市|自治州|地区|盟))?(?:[{_CN}]{{1,7}}?(?:区|县|旗))?"
_UNIT = rf"(?:[{_NUM}A-Za-z\-]+(?:号楼|号院|号|栋|幢|座|单元|层|楼|室|户))+[0-9A-Za-z\-]*"  # ... and a bare room number
_DETAIL = (
    rf"(?:{_NAME}{{1,10}}?(?:镇|乡|街道))?"
    rf"(?:{_NAME}{{1,12}}?(?:路|街|大道|大街|巷|弄|胡同)[{_NUM}\-]+[号弄](?:{_NAME}{{0,12}}?{_UNIT}|{_NAME}{{0,12}})?"
    rf"|{_NAME}{{2,12}}?(?:小区|花园|公寓|大厦|新村|村|苑|家园|广场){_UNIT})"
)
_ADDRESS = re.compile(rf"({_ADMIN})({_DETAIL})")


# Cheap tests first: most text (every log line, most messages) has neither a long number nor a house
# number, and the full patterns cost about a hundred µs a line where these cost one.
_NUMBER_HINT = re.compile(r"\d{3}[ -]?\d{4}")
_ADDRESS_HINT = re.compile(r"[号栋幢座室户]|单元|[0-9]楼")


def mask(text: str) -> str:
    """`text` with every phone number, ID number and street address masked."""
    if not text:
        return text
    if _NUMBER_HINT.search(text):
        text = _ID.sub(lambda m: m[1] + "*" * 11 + m[0][-4:], text)
        text = _MOBILE.sub(lambda m: m[1] + "****" + m[2], text)
    if _ADDRESS_HINT.search(text):
        text = _ADDRESS.sub(lambda m: m[1] + "****", text)
    return text


def scrub_error(text: str) -> str:
    """An error as it may be stored or logged: masked, and without any SQL parameters it quotes."""
    if not text:
        return text
    cut = text.find("[parameters:")
    return mask(text if cut < 0 else text[:cut] + "[parameters hidden]")


BUYER_TEXT_FIELDS = frozenset({"text", "summary", "last_buyer_text", "resolution_note", "note"})


def mask_fields(value):
    """A JSON-like value with every string under a buyer-text key masked.

    >>> mask_fields({"items": [{"id": 1, "text": "13812345678"}], "buyer": "tb_1"})
    {'items': [{'id': 1, 'text': '138****5678'}], 'buyer': 'tb_1'}
    """
    if isinstance(value, dict):
        return {k: mask(v) if k in BUYER_TEXT_FIELDS and isinstance(v, str) else mask_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_fields(v) for v in value]
    return value


def mask_strings(value):
    """A JSON-like value with every string in it masked: for answers made mostly of buyer text (the
    knowledge base's learning groups, agents' rewrites), where no key tells which strings are.

    >>> mask_strings({"examples": ["电话13812345678"], "n": 2})
    {'examples': ['电话138****5678'], 'n': 2}
    """
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_strings(v) for v in value]
    return value


class MaskingFilter(logging.Filter):
    """Masks each record's message (arguments and traceback included) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = scrub_error(message), None
        return True
