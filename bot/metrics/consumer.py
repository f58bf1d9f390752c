"""Feeds the live board: processed events and newly stored messages mark buyers dirty; each round
reloads only those buyers' day from the store and replaces their contribution on the board.

Messages the outbox sends are stored without passing through the processor, so new message ids
are also polled; shift changes hand waiting buyers over (交接); midnight starts a new day.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.config import Config
from bot.privacy import mask
from bot.events import Event
from bot.metrics.board import Board, RosterEntry, iso
from bot.metrics.report import BuyerActivity, BuyerFigures, OrderFact, Rules, buyer_figures
from bot.metrics.shifts import agents_on_shift, handover_plan, shift_changes
from bot.store import conversation_end
from bot.store import csat as csat_store
from bot.store import daily_reports as daily_reports_store
from bot.store import metrics as store
from bot.store import reminders as reminders_store
from bot.store import reports as reports_store
from bot.store import tickets as tickets_store
from bot.store.db import reading
from bot.store.reminders import Decided as store_reminder

log = logging.getLogger(__name__)

MIN_ROUND_S = 0.1  # the board's rounds are at least this far apart

# Ids of messages stored by a transaction that committed after a later id was seen (PostgreSQL
# sequences) are caught by looking this far back each poll.
_LOOKBACK_IDS = 200


def activity_of(events: store.BuyerEvents) -> BuyerActivity:
    return BuyerActivity(
        events.platform, events.shop, events.nick, tuple(events.lines),
        tuple(OrderFact(o, created, paid, fen) for o, created, paid, fen in events.orders),
    )


CLOSING_INTENTS = frozenset({"service.thanks"})  # the matcher's thanks/closing intents (谢谢, 好的, 知道了)
_ONLY_SYMBOLS = re.compile(r"[\W_]*")


def closing(text: str, intent: str | None) -> bool:
    """Whether the buyer's latest message only closes the chat: a thanks/closing intent, or nothing but
    emoji and punctuation. Such a wait is shown apart (已致谢) on the board; the figures are unchanged.

    >>> closing("谢谢", "service.thanks"), closing("👍", None), closing("还没发货？", None), closing("", None)
    (True, True, False, False)
    """
    return intent in CLOSING_INTENTS or (bool(text.strip()) and bool(_ONLY_SYMBOLS.fullmatch(text)))


def _csat_today(ratings, rules: Rules) -> list[dict]:
    """Per agent and platform: today's ratings (1-5) and the share of 4-5 (CSAT, as the reports count it)."""
    found: dict[tuple[str, str], list[int]] = {}
    for r in ratings:
        agent = r.owner or rules.agent(r.platform, r.agent_account)[0]
        found.setdefault((agent, r.platform), []).append(r.rating)
    return [{"agent": a, "platform": p, "csat": round(sum(1 for v in vs if v >= 4) / len(vs), 4), "csat_responses": len(vs)}
            for (a, p), vs in sorted(found.items())]


def waiting_row(w: store.Waiting, rules: Rules) -> dict:
    agent, _ = rules.agent(w.platform, w.agent_account) if w.agent_account else ("", w.platform)
    return {"conversation_id": w.conversation_id, "buyer_id": w.buyer_id, "buyer": w.buyer, "platform": w.platform,
            "agent": agent, "waiting_since": iso(w.waiting_since), "last_buyer_text": mask(w.last_buyer_text[:200]),
            "closing": closing(w.last_buyer_text, w.last_buyer_intent)}


def handover_row(h: dict) -> dict:
    return {**h, "shift_change_at": iso(h["shift_change_at"]), "waiting_since": iso(h["waiting_since"]),
            "last_buyer_text": mask(h["last_buyer_text"][:200])}  # the board is the supervisors': masked


class MetricsConsumer:
    """The processor's metrics consumer, and the loop that keeps the board current."""

    name = "metrics"

    def __init__(self, db: async_sessionmaker, *, board: Board, clock: Clock, config: Config,
                 poll_s: float = 0.25, recheck: timedelta = timedelta(seconds=30),
                 small_reads: async_sessionmaker | None = None) -> None:
        self._db = db
        # A round's few small reads: on SQLite the inline engine, so that a round is one short burst
        # instead of a wait for the event loop at every statement while pushes are being processed.
        self._small_reads = small_reads or db
        self._board = board
        self._clock = clock
        self._config = config
        self._rules = board.rules
        self._loaded_accounts = None  # the rules' accounts the day was loaded under: /admin may change them
        self._poll_s = poll_s
        self._recheck = recheck
        self._horizon = timedelta(hours=config.metrics.waiting_horizon_hours)
        self._pending: set[tuple[str, str, str]] = set()  # (platform, shop, buyer) of events in the open batch
        self._dirty_keys: set[tuple[str, str, str]] = set()
        self._dirty_ids: set[int] = set()
        self._seen_ids: set[int] = set()
        self._last_id = 0
        self._next_recheck: datetime | None = None
        self._last_shift_check: datetime | None = None
        self._wake = asyncio.Event()
        self.change_position: Callable[[], int] = lambda: 0  # bot.live.ChangeTail's: what was marked dirty
        self.lag_s: Callable[[], float] = lambda: 0.0  # bot.intake.Backlog's
        # New responses found when a buyer is reloaded go to /metrics' histogram, for the buyers whose
        # partition this process holds (set by the app).
        self.on_response: Callable[[str, str, float], None] = lambda agent, platform, seconds: None
        self.holds: Callable[[str, str, str], bool] = lambda platform, shop, nick: True

    # --- the processor's side ------------------------------------------------------------------

    async def handle(self, session: AsyncSession, event: Event) -> None:
        self._pending.add((event.platform, event.shop, event.buyer))

    async def handle_batch(self, session: AsyncSession, recorded: list) -> None:
        self._pending.update((r.event.platform, r.event.shop, r.event.buyer) for r in recorded)

    def on_processed(self, events: list[Event]) -> None:
        """After the processor's commit: those buyers are looked at in the next round, at once."""
        self._dirty_keys |= self._pending
        self._dirty_keys |= {(e.platform, e.shop, e.buyer) for e in events}
        self._pending = set()
        self._wake.set()

    def mark_dirty(self, keys: set[tuple[str, str, str]]) -> None:
        """Buyers another process processed pushes of (bot.live): looked at in the next round."""
        self._dirty_keys |= keys
        self._wake.set()

    def mark_buyer(self, buyer_id: int) -> None:
        """Something outside the processor changed the buyer (a transfer): look at them in the next round."""
        self._dirty_ids.add(buyer_id)
        self._wake.set()

    # --- the board's loop ----------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("board refresh failed; retrying")
            # At most one round per MIN_ROUND_S: under heavy traffic a round takes in many buyers
            # and sends every viewer one update, instead of many small ones.
            await asyncio.sleep(max(0.0, started + MIN_ROUND_S - loop.time()))
            try:  # asyncio.timeout, not wait_for: see bot/rounds.py
                async with asyncio.timeout(self._poll_s):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def refresh(self) -> int:
        """One round: new day, shift changes, new messages, dirty buyers → board → subscribers.

        Returns how many buyers were reloaded.
        """
        now = self._clock.now()
        self._board.now = now
        # Every change up to here is already marked dirty (or loaded): after this round it is shown.
        position = self.change_position()
        self._board.set_lag(self.lag_s())
        today = now.astimezone(self._rules.zone).date()
        if self._board.day != today or self._rules.accounts != self._loaded_accounts:
            await self.load_today(now)
        self._roster(now)
        await self._handovers(now)
        async with self._small_reads() as session:
            # Only reads: no write lock, so intake and processing never wait for the board.
            await reading(session)
            await self._poll_messages(session)
            if self._next_recheck is None or now >= self._next_recheck:
                self._dirty_ids |= set(self._board.pending_buyers())
                self._board.prune_waiting(since=now - self._horizon)
                await self._extras(session, now)
                self._next_recheck = now + self._recheck
            keys, self._dirty_keys = self._dirty_keys, set()
            ids = self._dirty_ids | set(await store.buyer_ids_of(session, keys))
            self._dirty_ids = set()
            found, waiting = await self._fetch(session, ids, now)
        # Computed after the session is closed: on SQLite every transaction holds the write lock.
        self._apply(ids, found, waiting, now)
        self._board.position = max(self._board.position, position)
        self._board.flush()
        return len(ids)

    async def load_today(self, now: datetime) -> None:
        """Everything for today from the store: the snapshot the live updates then build on."""
        today = now.astimezone(self._rules.zone).date()
        start, end = self._rules.day_bounds(today, today)
        self._loaded_accounts = self._rules.accounts
        async with self._db() as session:
            await reading(session)
            self._last_id = await store.last_message_id(session)
            self._seen_ids = set()
            everyone = await store.buyer_events(session, start=start, end=end, order_margin=self._rules.conversion + timedelta(days=1))
            waiting = [waiting_row(w, self._rules) for w in await store.waiting(session, since=now - self._horizon)]
            handovers = [handover_row(h) for h in await store.open_handovers(session)]
        figures = {e.buyer_id: buyer_figures(activity_of(e), start=start, end=end, now=now, rules=self._rules)
                   for e in everyone}
        # Buyers marked dirty meanwhile stay dirty: reloading them again is harmless, missing them is not.
        self._board.reset(today, figures, waiting, handovers)
        log.info("board loaded day=%s buyers=%d waiting=%d", today, len(figures), len(waiting))

    async def _poll_messages(self, session: AsyncSession) -> None:
        # SQLite commits one writer at a time, so ids become visible in order; PostgreSQL's sequences
        # do not promise that, so there a window of recent ids is looked at again.
        lookback = 0 if session.bind.dialect.name == "sqlite" else _LOOKBACK_IDS
        rows = await store.buyers_with_messages_after(session, after_id=max(0, self._last_id - lookback))
        for message_id, buyer_id in rows:
            if message_id not in self._seen_ids:
                self._seen_ids.add(message_id)
                self._dirty_ids.add(buyer_id)
        if rows:
            self._last_id = max(self._last_id, rows[-1][0])
        floor = self._last_id - lookback
        self._seen_ids = {i for i in self._seen_ids if i > floor}

    async def _fetch(self, session: AsyncSession, buyer_ids: Collection[int], now: datetime):
        if not buyer_ids:
            return {}, {}
        start, end = self._rules.day_bounds(self._board.day, self._board.day)
        found = {e.buyer_id: e for e in await store.buyer_events(
            session, start=start, end=end, order_margin=self._rules.conversion + timedelta(days=1), buyer_ids=buyer_ids)}
        waiting: dict[int, list[dict]] = {}
        for w in await store.waiting(session, since=now - self._horizon, buyer_ids=buyer_ids):
            waiting.setdefault(w.buyer_id, []).append(waiting_row(w, self._rules))
        return found, waiting

    def _apply(self, buyer_ids: Collection[int], found: dict, waiting: dict, now: datetime) -> None:
        start, end = self._rules.day_bounds(self._board.day, self._board.day)
        for buyer_id in buyer_ids:
            events = found.get(buyer_id)
            figures = (buyer_figures(activity_of(events), start=start, end=end, now=now, rules=self._rules)
                       if events else BuyerFigures("", False, (), frozenset(), frozenset(), (), ()))
            if events and self.holds(events.platform, events.shop, events.nick):
                known = set(self._board.figures_of(buyer_id).responses)
                for (agent, platform), seconds, _, _ in (r for r in figures.responses if r not in known):
                    self.on_response(agent, platform, seconds)
            self._board.update_buyer(buyer_id, figures, waiting.get(buyer_id, []))

    async def _extras(self, session: AsyncSession, now: datetime) -> None:
        """Tickets past their SLA and today's payment reminders, for the board's header."""
        start, end = self._rules.day_bounds(self._board.day, self._board.day)
        try:
            overdue = (await tickets_store.search(session, overdue_at=now, limit=1))[1]
            decided = await reminders_store.decided_between(session, since=start, until=end)
            daily_failures = await daily_reports_store.failures(session, since=self._board.day - timedelta(days=7))
            ratings = [*await csat_store.ratings(session, start=start, end=end),
                       *await reports_store.ratings(session, start=start, end=end)]
            ended = await conversation_end.ended_counts(session, start=start, end=end)
        except Exception:
            # Another part's tables: a problem there must not stop the board.
            log.exception("board extras failed")
            return
        sent = [d for d in decided if d.state == "sent"]
        last_sent: dict[int, store_reminder] = {}
        for d in sent:
            if d.order_pk not in last_sent or d.decided_at > last_sent[d.order_pk].decided_at:
                last_sent[d.order_pk] = d
        recovered = [d for d in last_sent.values()
                     if d.paid_at is not None and d.decided_at <= d.paid_at <= d.decided_at + self._rules.conversion]
        self._board.set_extras({
            "tickets_overdue": overdue, "reminders_sent": len(sent), "reminded_orders": len(last_sent),
            "reminders_recovered": len(recovered), "recovered_fen": sum(d.paid_fen or 0 for d in recovered),
            "daily_report_failures": daily_failures, "csat": _csat_today(ratings, self._rules),
            "ended": [{"agent": by, "platform": platform, "ended": n} for (by, platform), n in sorted(ended.items())],
        })

    def _roster(self, now: datetime) -> None:
        on = agents_on_shift(self._config.shifts, now, self._rules.zone)
        scheduled = {agent for shift in self._config.shifts for agent in shift.agents}
        # shift: the shift's name, None when off shift, "" for an agent with no shift configured
        self._board.set_roster([RosterEntry(a.id, a.name or a.id, on.get(a.id) if a.id in scheduled else "")
                                for a in self._config.agents])

    async def _handovers(self, now: datetime) -> None:
        """At each shift change since the last look, hand the leaving agents' waiting buyers over."""
        shifts = self._config.shifts
        if not shifts:
            return
        if self._last_shift_check is None:
            # Just started: the latest change of the past day may have passed while the bot was
            # down. Handing over is stored once per buyer and change, and only buyers who were
            # already waiting at the change are handed over, so a mere restart hands over nobody new.
            changes = shift_changes(shifts, after=now - timedelta(days=1), until=now, zone=self._rules.zone)[-1:]
        else:
            changes = shift_changes(shifts, after=self._last_shift_check, until=now, zone=self._rules.zone)
        self._last_shift_check = now
        for at in changes:
            async with self._db() as session, session.begin():
                await hand_over(session, at=at, now=now, shifts=shifts, rules=self._rules, horizon=self._horizon)
        if changes:
            async with self._db() as session:
                await reading(session)
                self._board.set_handovers([handover_row(h) for h in await store.open_handovers(session)])


async def hand_over(session: AsyncSession, *, at: datetime, now: datetime, shifts, rules: Rules,
                    horizon: timedelta) -> int:
    """The handovers (交接) of the shift change `at`, stored once however many processes do it."""
    # Only buyers already waiting at the change: a restart after it must not hand over those who
    # started waiting since (they were never the leaving agent's at the change).
    waiting = [w for w in await store.waiting(session, since=now - horizon) if w.waiting_since <= at]
    by_id = {w.conversation_id: w for w in waiting}
    plan = handover_plan(
        [(w.conversation_id, rules.agent(w.platform, w.agent_account)[0]) for w in waiting if w.agent_account],
        shifts=shifts, at=at, zone=rules.zone,
    )
    rows = [
        {"conversation_id": cid, "buyer_id": by_id[cid].buyer_id, "platform": by_id[cid].platform,
         "from_agent": leaving, "to_agent": incoming, "shift_change_at": at,
         "waiting_since": by_id[cid].waiting_since, "last_buyer_text": by_id[cid].last_buyer_text[:500]}
        for cid, (leaving, incoming) in plan.items()
    ]
    new = await store.record_handovers(session, rows)
    if new:
        log.info("handover at=%s buyers=%d", at.isoformat(), new)
    return new
