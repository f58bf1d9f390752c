"""Signatures of the gateway protocol: TOP's hmac-sha256 and md5 methods, and JOS's md5."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def canonical(params: Mapping[str, str]) -> str:
    """Every parameter but `sign`, sorted by name in byte order, as name+value with no separators."""
    items = sorted((k, v) for k, v in params.items() if k != "sign")
    items.sort(key=lambda kv: kv[0].encode())
    return "".join(k + v for k, v in items)


def sign_hmac_sha256(params: Mapping[str, str], secret: str) -> str:
    return hmac.new(secret.encode(), canonical(params).encode(), hashlib.sha256).hexdigest().upper()


def sign_md5(params: Mapping[str, str], secret: str) -> str:
    return hashlib.md5((secret + canonical(params) + secret).encode()).hexdigest().upper()


def signature_matches(given: str, expected: str) -> bool:
    """Constant-time comparison; case of the hex digits does not matter."""
    return hmac.compare_digest(given.upper().encode(), expected.encode())
