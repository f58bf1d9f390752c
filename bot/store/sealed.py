"""Buyer text encrypted at rest: AES-256-GCM (authenticated) with a key from the environment.

A column typed `Sealed` is encrypted when written and decrypted when read, by SQLAlchemy's bind and
result processors, so every reader (console, workbench, API, reports) and every writer (bulk inserts
included) goes through it without knowing. A stored value names the key that sealed it:

    "\\x1e" "1" <key id: 8 hex> ":" <base64 of nonce + ciphertext + tag>

Plain values (written without a key, or before one was set) are read as they are; a plain value that
itself starts with the mark is stored as "\\x1e" "p:" + value, so no buyer can forge a sealed one.
The key id is a fingerprint of the key (not the key): `csbot db rotate-key` and the start-up check
(`check_keys`) compare fingerprints, never keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Mapping

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator
from sqlmodel.sql.sqltypes import AutoString

log = logging.getLogger(__name__)

MARK = "\x1e"  # ASCII record separator: no text a person types starts with it
_SEALED = MARK + "1"
_ESCAPED = MARK + "p:"
KEY_ENV, OLD_KEYS_ENV = "CSBOT_DATA_KEY", "CSBOT_DATA_KEY_OLD"
KEYS_SETTING = "data_key_ids"  # settings row: the ids of every key that may have sealed a stored value


class DataKeyError(Exception):
    """The data keys cannot be used: badly written, or not those the stored values were sealed with."""


class Unreadable(Exception):
    """A stored value that no configured key opens (wrong key, or the value was tampered with)."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"csbot data key id\0" + key).hexdigest()[:8]


def parse_key(text: str, *, name: str) -> bytes:
    """A 32-byte key written in base64 (standard or URL-safe), as `openssl rand -base64 32` prints it."""
    try:
        key = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise DataKeyError(f"{name} is not base64 (make one with: openssl rand -base64 32)") from None
    if len(key) != 32:
        raise DataKeyError(f"{name} must be 32 bytes in base64, not {len(key)} (make one with: openssl rand -base64 32)")
    return key


class Keyring:
    """The current key (seals new values) and old ones (only open values, until rotate-key is done)."""

    def __init__(self, current: bytes | None = None, old: tuple[bytes, ...] = ()) -> None:
        self.current_id = key_id(current) if current is not None else None
        self._aead = {key_id(k): AESGCM(k) for k in (*old, *([current] if current else []))}
        self._current = self._aead.get(self.current_id) if self.current_id else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Keyring:
        current = environ.get(KEY_ENV, "").strip()
        old = [k for k in environ.get(OLD_KEYS_ENV, "").replace(",", " ").split() if k]
        return cls(parse_key(current, name=KEY_ENV) if current else None,
                   tuple(parse_key(k, name=OLD_KEYS_ENV) for k in old))

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self._aead)

    def seal(self, text: str) -> str:
        if self._current is None:
            return _ESCAPED + text if text.startswith(MARK) else text
        nonce = os.urandom(12)  # random 96-bit nonces: safe for far more values than one key will seal
        sealed = self._current.encrypt(nonce, text.encode(), None)
        return f"{_SEALED}{self.current_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str) -> str:
        if not stored.startswith(MARK):
            return stored
        if stored.startswith(_ESCAPED):
            return stored[len(_ESCAPED):]
        kid = sealed_by(stored)
        aead = self._aead.get(kid) if kid else None
        if aead is None:
            raise Unreadable(f"a stored value is sealed with key id {kid}, which no configured key has ({KEY_ENV})")
        raw = base64.b64decode(stored[len(_SEALED) + 9:])
        try:
            return aead.decrypt(raw[:12], raw[12:], None).decode()
        except InvalidTag:
            raise Unreadable(f"a stored value sealed with key id {kid} fails its authentication tag") from None


def sealed_by(stored: str | None) -> str | None:
    """The id of the key that sealed `stored`; None for a plain value."""
    if stored and stored.startswith(_SEALED) and stored[len(_SEALED) + 8:len(_SEALED) + 9] == ":":
        return stored[len(_SEALED):len(_SEALED) + 8]
    return None


# The process's keyring: set once at start (`use`), before anything is read or written.
_keyring = Keyring()


def use(keyring: Keyring) -> None:
    global _keyring
    _keyring = keyring


def current() -> Keyring:
    return _keyring


class Sealed(TypeDecorator):
    """A text column encrypted at rest with the process's keyring (`use`)."""

    impl = AutoString
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else _keyring.seal(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else _keyring.open(value)


async def stored_key_ids(conn: AsyncConnection) -> frozenset[str]:
    """The key ids the database says it holds values sealed with (none before the first key, or before
    the settings table exists)."""
    has_settings = await conn.run_sync(lambda c: sa.inspect(c).has_table("settings"))
    if not has_settings:
        return frozenset()
    value = await conn.scalar(sa.text("SELECT value FROM settings WHERE key = :k"), {"k": KEYS_SETTING})
    return frozenset(v for v in (value or "").split(",") if v)


def missing_keys(stored: frozenset[str], keyring: Keyring) -> str | None:
    """Why this keyring cannot read the database, or None when it can."""
    missing = sorted(stored - keyring.ids)
    if not missing:
        return None
    if keyring.current_id is None and not keyring.ids:
        return (f"the database holds buyer data encrypted with key id {', '.join(missing)} and {KEY_ENV} is not set; "
                f"set it to the key the data was written with")
    have = ", ".join(sorted(keyring.ids))
    return (f"the database holds buyer data encrypted with key id {', '.join(missing)}, but the configured keys "
            f"({KEY_ENV}, {OLD_KEYS_ENV}) have id {have}: a wrong key; set the key the data was written with "
            f"(or, to move to a new key, the new one in {KEY_ENV} and the old one in {OLD_KEYS_ENV}, then run "
            f"`csbot db rotate-key`)")


async def check_keys(conn: AsyncConnection, keyring: Keyring) -> None:
    """Raise DataKeyError when the database holds values sealed with a key the keyring lacks. Reads only."""
    if (why := missing_keys(await stored_key_ids(conn), keyring)) is not None:
        raise DataKeyError(why)


async def register_current(conn: AsyncConnection, keyring: Keyring) -> None:
    """Record the current key's id before it seals anything (in the start-up transaction)."""
    if keyring.current_id is None:
        log.warning("buyer text is stored unencrypted: %s is not set (see the README, Buyer data)", KEY_ENV)
        return
    stored = await stored_key_ids(conn)
    if keyring.current_id not in stored:
        await set_key_ids(conn, stored | {keyring.current_id})


async def set_key_ids(conn: AsyncConnection, ids: frozenset[str]) -> None:
    value = ",".join(sorted(ids))
    updated = await conn.execute(sa.text("UPDATE settings SET value = :v WHERE key = :k"), {"v": value, "k": KEYS_SETTING})
    if updated.rowcount == 0:
        await conn.execute(sa.text("INSERT INTO settings (key, value) VALUES (:k, :v)"), {"v": value, "k": KEYS_SETTING})
