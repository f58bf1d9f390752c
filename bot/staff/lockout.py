"""When failed logins lock a user name or a client address, and for how long.

A user name with `per_account` failures within the last `window`, or an address with `per_address`,
is locked until its oldest counted failure leaves the window: so the lockout ends by itself.

>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> rule = Lockout(per_account=3, per_address=10, window=timedelta(minutes=15))
>>> rule.retry_after([t0, t0, t0], [], now=t0 + timedelta(minutes=1))
datetime.timedelta(seconds=840)
>>> rule.retry_after([t0, t0], [], now=t0) is None
True
>>> rule.retry_after([t0] * 3, [], now=t0 + timedelta(minutes=15)) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Lockout:
    per_account: int
    per_address: int
    window: timedelta

    def since(self, now: datetime) -> datetime:
        """Failures before this no longer count."""
        return now - self.window

    def retry_after(self, account_failures: Sequence[datetime], address_failures: Sequence[datetime], *,
                    now: datetime) -> timedelta | None:
        """How long until a login may be tried again, or None when it may be tried now."""
        waits = [self._wait(account_failures, self.per_account, now), self._wait(address_failures, self.per_address, now)]
        return max((w for w in waits if w is not None), default=None)

    def _wait(self, failures: Sequence[datetime], limit: int, now: datetime) -> timedelta | None:
        recent = sorted(t for t in failures if t > self.since(now))
        if len(recent) < limit:
            return None
        # Locked until enough of them have aged out that fewer than `limit` remain.
        return recent[len(recent) - limit] + self.window - now
