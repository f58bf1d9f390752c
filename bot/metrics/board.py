"""The supervisor's live board: today's figures, buyers waiting now and handovers, kept current one
buyer at a time, and the fan-out of its changes to Server-Sent-Event subscribers.

Each subscriber has a bounded queue. A subscriber that falls behind loses its queued changes and
gets one fresh snapshot instead (`RESNAPSHOT`), so a slow or stalled viewer costs at most
`queue_size` messages of memory; the web handler also drops a viewer whose socket stops taking writes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.clock import iso  # noqa: F401  (the API's timestamp form; imported from here by the web layer)
from bot.metrics.report import EMPTY, BuyerFigures, Rules, Totals
from bot.metrics.response import PENDING

RESNAPSHOT = object()  # in a subscriber's queue: send a full snapshot instead of the changes it missed
CLOSE = object()  # in a subscriber's queue: end the stream (the client reconnects by itself)


class Subscriber:
    """One viewer's queue of serialized SSE messages, bounded."""

    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(queue_size)
        self.resnapshots = 0

    def offer(self, message: object) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # Behind: what it missed is replaced by one snapshot.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(CLOSE if message is CLOSE else RESNAPSHOT)
            self.resnapshots += 1

    async def next(self) -> object:
        return await self.queue.get()


@dataclass(frozen=True)
class RosterEntry:
    id: str
    name: str
    shift: str | None  # the shift they are on now, None when off shift, "" when they have no shifts


def sse(kind: str, data: dict, *, id: int | None = None) -> str:
    """One Server-Sent Event; JSON has no raw newlines, so `data` is one line. `id`: the change-log
    position the message reflects, which a reconnecting client sends back as Last-Event-ID."""
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


STALE_S = 5.0  # the board says 延迟 N 秒 when its data is older than this


@dataclass
class _Changes:
    agents: bool = False
    waiting_upsert: dict[int, dict] = field(default_factory=dict)
    waiting_remove: set[int] = field(default_factory=set)
    handovers: bool = False
    roster: bool = False
    extras: bool = False

    def any(self) -> bool:
        return bool(self.agents or self.waiting_upsert or self.waiting_remove or self.handovers or self.roster
                    or self.extras)


class Board:
    """Live state for today (shop time) and its subscribers. Not thread-safe; one event loop."""

    def __init__(self, rules: Rules, *, thresholds_s: Sequence[int] = (30, 60, 100), queue_size: int = 64,
                 agent_names: dict[str, str] | None = None) -> None:
        self.rules = rules
        self.thresholds_s = tuple(thresholds_s)
        self.queue_size = queue_size
        self.day: date | None = None
        self._agent_names = agent_names or {}
        self._totals = Totals(rules)
        self._figures: dict[int, BuyerFigures] = {}
        self._waiting: dict[int, dict] = {}  # conversation id -> row
        self._waiting_of: dict[int, set[int]] = {}  # buyer id -> conversation ids
        self._handovers: dict[int, dict] = {}  # conversation id -> row
        self._roster: list[RosterEntry] = []
        self._extras: dict = {}  # tickets past SLA, reminders today: other parts' figures, shown as they are
        self._sent_agents: dict[tuple[str, str], dict] = {}
        self._changes = _Changes()
        self._subscribers: set[Subscriber] = set()
        self.now: datetime | None = None
        # The change log (store.changes) up to this id is reflected in the state: a stream's event id.
        self.position = 0
        self._sent_position = 0
        self.lag_s = 0.0  # how far processing is behind (bot.intake.Backlog): the board's data is this old

    # --- state ---------------------------------------------------------------------------------

    def reset(self, day: date, figures: dict[int, BuyerFigures], waiting: Iterable[dict], handovers: Iterable[dict]) -> None:
        """Start over for `day` (at start and at midnight), then everyone gets a fresh snapshot."""
        self.day = day
        self._totals = Totals(self.rules)
        self._figures = {}
        for buyer_id, f in figures.items():
            self._set_figures(buyer_id, f)
        self._waiting, self._waiting_of = {}, {}
        for row in waiting:
            self._waiting[row["conversation_id"]] = row
            self._waiting_of.setdefault(row["buyer_id"], set()).add(row["conversation_id"])
        self._handovers = {h["conversation_id"]: h for h in handovers}
        self._sent_agents = {(r["agent"], r["platform"]): r for r in self._totals.agents()}
        self._changes = _Changes()
        for sub in self._subscribers:
            sub.offer(RESNAPSHOT)

    def _set_figures(self, buyer_id: int, figures: BuyerFigures) -> None:
        old = self._figures.pop(buyer_id, None)
        if old is not None:
            self._totals.remove(old)
        if figures != EMPTY and (figures.consulted or figures.responses or figures.consulting_agents):
            self._totals.add(figures)
            self._figures[buyer_id] = figures

    def figures_of(self, buyer_id: int) -> BuyerFigures:
        return self._figures.get(buyer_id, EMPTY)

    def update_buyer(self, buyer_id: int, figures: BuyerFigures, waiting: Iterable[dict]) -> None:
        """Replace one buyer's contribution and waiting conversations (incremental: nothing else is recomputed)."""
        if figures != self._figures.get(buyer_id, EMPTY):
            self._set_figures(buyer_id, figures)
            self._changes.agents = True
        new = {row["conversation_id"]: row for row in waiting}
        for conversation_id in self._waiting_of.pop(buyer_id, set()) - set(new):
            self._waiting.pop(conversation_id, None)
            self._changes.waiting_remove.add(conversation_id)
            self._changes.waiting_upsert.pop(conversation_id, None)
        for conversation_id, row in new.items():
            if self._waiting.get(conversation_id) != row:
                self._waiting[conversation_id] = row
                self._changes.waiting_upsert[conversation_id] = row
                self._changes.waiting_remove.discard(conversation_id)
        if new:
            self._waiting_of[buyer_id] = set(new)
        for conversation_id, handover in list(self._handovers.items()):
            if handover["buyer_id"] == buyer_id:
                still = new.get(conversation_id)
                if still is None or still["waiting_since"] != handover["waiting_since"]:
                    del self._handovers[conversation_id]
                    self._changes.handovers = True

    def set_handovers(self, handovers: Iterable[dict]) -> None:
        fresh = {h["conversation_id"]: h for h in handovers}
        if fresh != self._handovers:
            self._handovers = fresh
            self._changes.handovers = True

    def rename(self, agent_names: dict[str, str]) -> None:
        """The agents' names changed (/admin); the next snapshot shows them."""
        self._agent_names = dict(agent_names)

    def set_roster(self, roster: list[RosterEntry]) -> None:
        if roster != self._roster:
            self._roster = roster
            self._changes.roster = True

    def set_extras(self, extras: dict) -> None:
        if extras != self._extras:
            self._extras = extras
            self._changes.extras = True

    def set_lag(self, lag_s: float) -> None:
        """Viewers hear when the data becomes or stops being stale, and each second it stays so."""
        before, self.lag_s = self.lag_s, round(lag_s, 1)
        if (before > STALE_S) != (self.lag_s > STALE_S) or (self.lag_s > STALE_S and int(before) != int(self.lag_s)):
            self._changes.extras = True

    def announce(self, kind: str, data: dict) -> None:
        """A one-off message to every viewer (e.g. tickets just escalated past their SLA)."""
        message = sse(kind, data)
        for sub in self._subscribers:
            sub.offer(message)

    def prune_waiting(self, *, since: datetime) -> None:
        """Forget waits that started before `since` (older than the board's horizon)."""
        cutoff = iso(since)
        for conversation_id, row in list(self._waiting.items()):
            if row["waiting_since"] < cutoff:
                del self._waiting[conversation_id]
                self._waiting_of.get(row["buyer_id"], set()).discard(conversation_id)
                self._changes.waiting_remove.add(conversation_id)

    def pending_buyers(self) -> list[int]:
        """Buyers whose effective-reply day is still undecided (to look at again later)."""
        return [b for b, f in self._figures.items() if any(s == PENDING for _, s in f.effective_days)]

    # --- views ---------------------------------------------------------------------------------

    def agents(self) -> list[dict]:
        rows = self._totals.agents()
        for row in rows:
            row["name"] = self._agent_names.get(row["agent"], row["agent"])
        return rows

    def waiting(self) -> list[dict]:
        """Buyers waiting now, longest first."""
        return sorted(self._waiting.values(), key=lambda r: (r["waiting_since"], r["conversation_id"]))

    def handovers(self) -> list[dict]:
        return sorted(self._handovers.values(), key=lambda h: (h["waiting_since"], h["conversation_id"]))

    def shop(self) -> dict:
        return {"consulting_buyers": self._totals.consulting, "responses": self._totals.responses,
                "waiting": len(self._waiting), "effective": self._totals.effective_days(),
                "hours": self._totals.hours(), **self._extras}

    def snapshot(self) -> dict:
        return {
            "now": iso(self.now) if self.now else None, "day": self.day.isoformat() if self.day else None,
            "lag_s": self.lag_s, "stale_after_s": STALE_S,
            "timezone": str(self.rules.zone), "thresholds_s": list(self.thresholds_s),
            "roster": [r.__dict__ for r in self._roster], "agents": self.agents(), "waiting": self.waiting(),
            "handovers": self.handovers(), "shop": self.shop(),
        }

    def snapshot_message(self) -> str:
        return sse("snapshot", self.snapshot(), id=self.position)

    def resume_message(self, buyer_ids: set[int], not_waiting: list[int]) -> str:
        """For a client that reconnects with the position it had: the buyers changed since (their
        waiting conversations now, and `not_waiting`: theirs that no longer wait), and the totals."""
        upsert = [row for cid, row in self._waiting.items() if row["buyer_id"] in buyer_ids]
        self._sent_agents = {(r["agent"], r["platform"]): r for r in self.agents()}
        update = {"now": iso(self.now) if self.now else None, "lag_s": self.lag_s, "resumed": True,
                  "agents": list(self._sent_agents.values()), "shop": self.shop(), "waiting_upsert": upsert,
                  "waiting_remove": sorted(set(not_waiting) - set(self._waiting)), "handovers": self.handovers()}
        return sse("update", update, id=self.position)

    # --- fan-out -------------------------------------------------------------------------------

    def subscribe(self) -> Subscriber:
        sub = Subscriber(self.queue_size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def disconnect_all(self) -> None:
        """End every stream (shutdown, or a test cutting the connection); clients reconnect."""
        for sub in self._subscribers:
            sub.offer(CLOSE)

    def flush(self) -> bool:
        """Send what changed since the last flush to every subscriber, as one message. True if anything did."""
        changes, self._changes = self._changes, _Changes()
        # A position that moved is news too: a viewer that reconnects later says where it was.
        if not changes.any() and self.position == self._sent_position:
            return False
        self._sent_position = self.position
        update: dict = {"now": iso(self.now) if self.now else None, "lag_s": self.lag_s}
        if changes.agents:
            rows = {(r["agent"], r["platform"]): r for r in self.agents()}
            update["agents"] = [r for k, r in rows.items() if self._sent_agents.get(k) != r]
            update["agents_removed"] = [list(k) for k in self._sent_agents if k not in rows]
            self._sent_agents = rows
            update["shop"] = self.shop()
        if changes.waiting_upsert:
            update["waiting_upsert"] = list(changes.waiting_upsert.values())
        if changes.waiting_remove:
            update["waiting_remove"] = sorted(changes.waiting_remove)
        if changes.waiting_upsert or changes.waiting_remove or changes.extras:
            update.setdefault("shop", self.shop())
        if changes.handovers:
            update["handovers"] = self.handovers()
        if changes.roster:
            update["roster"] = [r.__dict__ for r in self._roster]
        message = sse("update", update, id=self.position)
        for sub in self._subscribers:
            sub.offer(message)
        return True

    def waiting_by_platform(self) -> dict[str, tuple[int, str | None]]:
        """Platform → (buyers waiting, the earliest waiting_since), for /metrics."""
        found: dict[str, tuple[int, str | None]] = {}
        for row in self._waiting.values():
            n, earliest = found.get(row["platform"], (0, None))
            found[row["platform"]] = (n + 1, min(earliest or row["waiting_since"], row["waiting_since"]))
        return found
