"""The clock: the only place that asks the system for the time, and shop-time helpers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = timezone.utc
# Both gateways write their times in UTC+8 (China Standard Time), whatever the shop's own zone.
PLATFORM_TZ = timezone(timedelta(hours=8))


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)


def parse_platform_time(text: str) -> datetime:
    """Parse `yyyy-MM-dd HH:mm:ss[.SSS]` in UTC+8 into an aware UTC datetime.

    Raises ValueError on anything else.
    """
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=PLATFORM_TZ).astimezone(UTC)


def format_platform_time(at: datetime, *, millis: bool = False) -> str:
    local = at.astimezone(PLATFORM_TZ)
    if millis:
        return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    return local.strftime("%Y-%m-%d %H:%M:%S")


def from_epoch_ms(value: object) -> datetime:
    """Epoch milliseconds (int or digit string) to an aware UTC datetime; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"not epoch milliseconds: {value!r}")
    ms = int(value)
    if not 0 < ms < 10**14:
        raise ValueError(f"epoch milliseconds out of range: {value!r}")
    return datetime.fromtimestamp(ms / 1000, UTC)


def to_epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def shop_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
