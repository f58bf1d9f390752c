"""The worked examples of gateway.md, byte for byte, and its time format."""

from datetime import datetime

import pytest

from bot.clock import UTC, parse_platform_time
from bot.signing import canonical, sign_hmac_sha256, sign_md5, signature_matches

WW = {"app_key": "demo-tb", "id": "m1", "sign_method": "hmac-sha256", "timestamp": "2026-11-24 10:00:00", "topic": "t"}
JD = {"app_key": "demo-jd", "method": "jingdong.dd.chat.message", "timestamp": "2026-11-24 10:00:00", "v": "2.0",
      "360buy_param_json": '{"pushId":"p1"}'}


def test_canonical_string_sorts_by_name_and_skips_sign():
    assert canonical({**WW, "sign": "X"}) == "app_keydemo-tbidm1sign_methodhmac-sha256timestamp2026-11-24 10:00:00topict"
    assert canonical(JD).startswith("360buy_param_json")


def test_wangwang_hmac_sha256_example():
    assert sign_hmac_sha256(WW, "s3cr3t") == "7D62552CF81EF3C625EE34F0D414CCC228548201601BA38E3C0A3D2E552ACFA1"


def test_wangwang_md5_example():
    assert sign_md5({**WW, "sign_method": "md5"}, "s3cr3t") == "43392C9D80D01AF10698775838E13A81"


def test_dongdong_example():
    assert sign_md5(JD, "s3cr3t") == "E126BE79717833DD47A61072BCCB52B0"


def test_signature_comparison():
    assert signature_matches("e126be79717833dd47a61072bccb52b0", "E126BE79717833DD47A61072BCCB52B0")
    assert not signature_matches("E126BE79717833DD47A61072BCCB52B1", "E126BE79717833DD47A61072BCCB52B0")


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-11-24 10:00:00", datetime(2026, 11, 24, 2, 0, tzinfo=UTC)),
    ("2026-11-24 08:00:00.250", datetime(2026, 11, 24, 0, 0, 0, 250_000, tzinfo=UTC)),
])
def test_platform_times_are_utc_plus_8(text, utc):
    assert parse_platform_time(text) == utc


@pytest.mark.parametrize("text", [
    "", "2026-11-24", "2026-11-24T10:00:00", "2026-11-24 10:00:00+08:00", "2026-1-24 10:00:00", "2026-13-24 10:00:00",
    "2026-02-30 10:00:00", "2026-11-24 24:00:00", "２０２６-11-24 10:00:00", " 2026-11-24 10:00:00", "2026-11-24 10:00:00.1234567",
])
def test_anything_but_the_platform_time_format_is_refused(text):
    with pytest.raises(ValueError):
        parse_platform_time(text)
