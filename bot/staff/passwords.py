"""Passwords hashed with Argon2id (argon2-cffi's defaults, RFC 9106's low-memory choice)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Checked when the user name is unknown, so that an unknown name takes as long as a wrong password.
_DUMMY = _HASHER.hash("not a password anyone has")
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify(stored_hash: str, password: str) -> bool:
    """Whether `password` matches; an empty or malformed hash never matches (and costs the same time)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and bool(stored_hash)
    except (VerificationError, InvalidHashError):
        return False
