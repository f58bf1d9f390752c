"""Session and API tokens: random, shown to their holder once, stored only as a SHA-256 digest.

A token has 256 random bits, so a plain (unsalted, fast) digest is enough: nothing can be guessed
from it, and a lookup by digest is one indexed read. The CSRF token of a session is derived from the
session's own token, so it needs no storage and changes with every login.

>>> digest("abc") == digest("abc") != digest("abd")
True
>>> csrf_of("s1") != csrf_of("s2")
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_of(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
