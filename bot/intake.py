"""Push intake: durable group-committed storage before the answer, then resumable processing.

`PushWriter.accept` returns only once the push is committed (a 200 survives kill -9). The
`Processor` turns stored, unprocessed pushes into the bot's events, in event-time order, and hands
them to the consumers; on start it simply finds what is still unprocessed and catches up.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.events import CHAT_EVENTS, ORDER_EVENTS, AgentMessage, BuyerMessage, Event, OrderClosed, OrderCreated, OrderPaid
from bot.gateway import PLATFORMS
from bot.gateway.base import Push, Rejected
from bot.partitions import partition_of
from bot.rounds import run_rounds
from bot.store import changes, chat, chat_batch, consumer_failures, orders, pushes

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The intake queue is full, or the backlog over its bound; the gateway should retry (503)."""


class Backlog:
    """How far processing is behind, read from the store every `every_s` by `run` (all processes'
    pushes on PostgreSQL): unprocessed pushes and the age of the oldest one."""

    def __init__(self, engine: AsyncEngine, *, clock: Clock, max_pending: int, every_s: float = 1.0) -> None:
        self._engine = engine
        self._clock = clock
        self.max_pending = max_pending
        self._every_s = every_s
        self.pending = 0
        self.oldest_received_at = None

    @property
    def over(self) -> bool:
        return self.pending > self.max_pending

    def lag_s(self) -> float:
        """Seconds since the oldest unprocessed push was received; 0 when nothing waits."""
        if self.oldest_received_at is None:
            return 0.0
        return max(0.0, (self._clock.now() - self.oldest_received_at).total_seconds())

    async def read(self) -> None:
        async with self._engine.connect() as conn:
            self.pending, self.oldest_received_at = await pushes.backlog(conn)

    async def run(self) -> None:
        while True:
            try:
                await self.read()
            except Exception as e:
                log.warning("backlog not read error=%s", type(e).__name__)
            await asyncio.sleep(self._every_s)


def is_transient(error: BaseException) -> bool:
    """Whether a store error may pass (503, the gateway retries): anything but a value the store
    cannot hold, which is that one push's fault (400). A lost connection, a lock, a full disk, a
    missing table or a revoked privilege are the store's state, not the push's.
    """
    if isinstance(error, (sa_exc.DataError, sa_exc.IntegrityError, UnicodeError, ValueError)):
        return False
    if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, (UnicodeError, ValueError)):
        return False
    # PostgreSQL's classes 22 (data exception, e.g. a NUL in a text) and 23 (integrity constraint).
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
    return not sqlstate.startswith(("22", "23"))


def _maybe_a_race(error: BaseException) -> bool:
    """A unique-key conflict: another process may have inserted the same row meanwhile."""
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
    return isinstance(error, sa_exc.IntegrityError) and (sqlstate == "23505" or "UNIQUE constraint" in str(error))


def _brief(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:300]!r}"


class PushWriter:
    """Group commit: pushes that arrive while a commit is under way go together in the next one.

    `gate` is shared with the Processor: an asyncio.Lock is first come, first served, so a commit
    of pushes never waits behind more than one processing batch (SQLite has one writer at a time,
    and its own busy-wait would let a busy processor starve the answers).
    """

    def __init__(
        self, engine: AsyncEngine, *, clock: Clock, on_commit: Callable[[], None] = lambda: None,
        max_batch: int = 500, max_queue: int = 20_000, gate: asyncio.Lock | None = None,
        partitions: int = 1, backlog: Backlog | None = None,
    ) -> None:
        self._engine = engine
        self._gate = gate or asyncio.Lock()
        self._clock = clock
        self.on_commit = on_commit  # told after each commit that stored something new
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[dict, asyncio.Future[str]]] = asyncio.Queue(max_queue)
        self._committing = False
        self._partitions = partitions
        self._backlog = backlog
        # (when, why) of the last commit that failed on a transient error; None once one succeeds.
        self.last_failure: tuple[datetime, str] | None = None

    @property
    def busy(self) -> bool:
        """Pushes are waiting to be committed, or being committed."""
        return self._committing or not self._queue.empty()

    async def accept(self, push: Push, form: Mapping[str, str]) -> str:
        """Store the push; "ok" once committed, "duplicate" if its id was stored before."""
        if self._backlog is not None and self._backlog.over:
            raise Overloaded  # a bound on what waits for processing: the gateway retries later
        e = push.event
        row = {
            "platform": push.platform, "push_id": push.push_id, "kind": push.kind,
            "shop": push.event.shop, "buyer": push.event.buyer, "event_at": push.event.at,
            "received_at": self._clock.now(), "form": json.dumps(dict(form), ensure_ascii=False),
            "partition": partition_of(e.platform, e.shop, e.buyer, partitions=self._partitions), "processed_at": None, "attempts": 0, "last_error": None,
        }
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((row, done))
        except asyncio.QueueFull:
            raise Overloaded from None
        return await done

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._committing = True
            try:
                await self._commit(batch)
            finally:
                self._committing = False

    async def _commit(self, batch: list[tuple[dict, asyncio.Future[str]]]) -> None:
        # The first of several copies of one push in a batch is the one stored; the rest are duplicates.
        first: dict[tuple[str, str], dict] = {}
        for row, _ in batch:
            first.setdefault((row["platform"], row["push_id"]), row)
        try:
            new: dict[tuple[str, str], object] = dict.fromkeys(await self._insert(list(first.values())), True)
        except Exception as e:
            if is_transient(e):
                log.error("push batch failed to commit size=%d: %s", len(batch), _brief(e))
                self.last_failure = (self._clock.now(), _brief(e))
                for _, done in batch:
                    if not done.done():
                        done.set_exception(e)
                return
            # One push the store refuses must not fail the others: each alone, answered on its own.
            log.warning("push batch refused size=%d, committing each push alone: %s", len(batch), _brief(e))
            new = await self._commit_each(first)
        transient = [o for o in new.values() if isinstance(o, Exception) and is_transient(o)]
        self.last_failure = (self._clock.now(), _brief(transient[0])) if transient else None
        for row, done in batch:
            key = (row["platform"], row["push_id"])
            if done.done():
                continue
            if isinstance(outcome := new.get(key), Exception):
                done.set_exception(outcome)
            else:
                done.set_result("ok" if outcome is True and first[key] is row else "duplicate")
        if any(outcome is True for outcome in new.values()):
            self.on_commit()

    async def _insert(self, rows: list[dict]) -> set[tuple[str, str]]:
        async with self._gate, self._engine.begin() as conn:
            return await pushes.insert_new(conn, rows)

    async def _commit_each(self, first: dict[tuple[str, str], dict]) -> dict[tuple[str, str], object]:
        """Each push in its own transaction: True when new, an exception when refused (the store's
        refusal as a 400, or a transient error as itself, a 503). Duplicates are left out."""
        outcomes: dict[tuple[str, str], object] = {}
        transient: Exception | None = None
        for key, row in first.items():
            if transient is not None:  # the store went away meanwhile: the rest need not try
                outcomes[key] = transient
                continue
            try:
                if await self._insert([row]):
                    outcomes[key] = True
            except Exception as e:
                if is_transient(e):
                    transient = outcomes[key] = e
                else:
                    log.warning("push refused by the store platform=%s push_id=%r: %s",
                                row["platform"], row["push_id"][:64], _brief(e))
                    outcomes[key] = Rejected(400, 40, "the store refuses this push (a field it cannot hold)")
        return outcomes

    def fail_waiting(self) -> None:
        """At shutdown: whoever still waits gets an error (503), never a false 200."""
        while not self._queue.empty():
            _, done = self._queue.get_nowait()
            if not done.done():
                done.set_exception(Overloaded())


def transient(error: BaseException) -> bool:
    """For processing: an error of the store or the network, not of the push, so retrying the batch
    later may succeed. A bug in a consumer (a Python error) or a value the store cannot hold
    (`is_transient`'s data and constraint errors) is the push's own: retrying changes nothing."""
    while isinstance(error, ConsumerFailed) and error.__cause__ is not None:
        error = error.__cause__
    store_or_network = (sa_exc.DBAPIError, sa_exc.DisconnectionError, OSError, asyncio.TimeoutError)
    return isinstance(error, store_or_network) and is_transient(error)


class ConsumerFailed(Exception):
    """A consumer raised while the push was processed without a savepoint per consumer."""


class Consumer(Protocol):
    """Something that acts on the bot's events, inside their processing transaction: the chat of a
    batch all at once (`handle_batch`, each message as stored), and one event at a time (`handle`)
    for orders and for chat that had to be stored on its own (a buyer's late message)."""

    name: str

    async def handle(self, session: AsyncSession, event: Event) -> None: ...

    async def handle_batch(self, session: AsyncSession, recorded: list[chat_batch.Recorded]) -> None: ...


def event_of(stored: sa.Row) -> Event:
    """Parse a stored push again with its platform's adapter (its signature was checked on arrival)."""
    return PLATFORMS[stored.platform].parse_push(json.loads(stored.form)).event


# The longest the processor waits for a pause in arriving pushes. 1 s made the board's p99 at 200
# pushes/s (scripts/bench board) 0.9-1.8 s, as bursts held processing back; 0.2 s gives 0.2-0.35 s,
# for the same durable intake (scripts/bench ingest: 3,030-3,060 vs 2,680-3,100 pushes/s).
YIELD_S = 0.2
# While pushes are arriving, a batch is at most this many pushes: on SQLite their commit waits for it.
BUSY_BATCH = 10
KNOWN_BUYERS_MAX = 200_000  # buyer ids remembered across batches (rows are never deleted)


class Processor:
    """Stored pushes → conversations and orders → consumers, in event-time order, resumable."""

    def __init__(
        self, db: async_sessionmaker, *, clock: Clock, gap: timedelta,
        consumers: Sequence[Consumer] = (), batch: int = 10, idle_poll_s: float = 1.0,
        on_processed: Callable[[list[Event]], None] = lambda events: None, gate: asyncio.Lock | None = None,
        intake_busy: Callable[[], bool] = lambda: False, leases=None, partition_lock_ns: int | None = None,
    ) -> None:
        self._db = db
        self._gate = gate or asyncio.Lock()
        self._intake_busy = intake_busy
        self._clock = clock
        self._gap = gap
        self._consumers = tuple(consumers)
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._on_processed = on_processed
        self._wake = asyncio.Event()
        self._buyers: dict[tuple[str, str, str], int] = {}  # committed buyers: one lookup less per push
        # Whose partitions this process processes (bot.leases); None: every partition, unlocked (SQLite).
        self._leases = leases
        self._partition_lock_ns = partition_lock_ns
        self.processed_total = 0  # pushes this process processed (/metrics)
        self.on_delay: Callable[[float], None] = lambda seconds: None  # each push's arrival → processing (/metrics)
        # (since when, the last error) while processing fails on the store's errors; None once a batch commits.
        self.store_failing: tuple[datetime, str] | None = None

    @property
    def consumer_names(self) -> list[str]:
        return [c.name for c in self._consumers]

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_rounds(self.process_batch, wake=self._wake, idle_s=self._idle_poll_s, what="processing batch")

    async def process_all(self) -> int:
        """Process until nothing is pending (tests and catch-up)."""
        total = 0
        while n := await self.process_batch():
            total += n
        return total

    async def process_batch(self) -> int:
        processed: list[Event] = []
        # Answers first: while pushes are arriving, wait for a pause in them (up to YIELD_S, so
        # that processing still moves under a flood that never pauses).
        loop = asyncio.get_running_loop()
        until = loop.time() + YIELD_S
        while self._intake_busy() and loop.time() < until:
            await asyncio.sleep(0.002)
        # Small batches under the shared gate: the push writer, waiting in the gate's queue, gets
        # the database between two of them, so answers stay fast while a backlog is processed.
        try:
            async with self._gate, self._db() as session:
                async with session.begin():
                    session.info[chat.COMMITTED_BUYERS] = self._buyers
                    handled = await self._process(session, processed)
                self._remember_buyers(session.info.get(chat.BUYERS, {}))
        except Exception as e:
            if transient(e):  # /healthz says so while it lasts
                since = self.store_failing[0] if self.store_failing else self._clock.now()
                self.store_failing = (since, _brief(e.__cause__ if isinstance(e, ConsumerFailed) else e))
            raise
        self.store_failing = None
        if processed:
            self._on_processed(processed)
        return handled

    async def _process(self, session: AsyncSession, processed: list[Event]) -> int:
        """One batch inside its transaction; the events that went through are added to `processed`."""
        # While pushes wait for their commit (SQLite: behind this batch), a smaller batch.
        limit = min(self._batch, BUSY_BATCH) if self._intake_busy() else self._batch
        if self._leases is None:
            stored = await pushes.claim_pending(session, limit=limit)
        else:
            mine = self._leases.held
            if self._partition_lock_ns is not None:
                mine = await pushes.lock_partitions(session, mine, ns=self._partition_lock_ns)
            stored = await pushes.claim_pending(session, limit=limit, partitions=mine)
        if not stored:  # idle: the consumers' failed parts asked to be replayed, if any
            replayed = await self._replay_consumers(session, None if self._leases is None else mine, processed)
            if processed:
                await changes.append(session, processed, now=self._clock.now())
            return replayed
        parsed: list[tuple[sa.Row, Event]] = []
        for push in stored:
            try:
                parsed.append((push, event_of(push)))
            except Exception as e:
                await self._failed(session, push, e)
        try:
            async with session.begin_nested():
                await self._apply_batch(session, [event for _, event in parsed])
        except Exception as e:
            if transient(e):
                raise  # the store is failing, not a push: the whole batch stays pending, retried
            # A push or a consumer failed somewhere in the batch: each push again on its own, so that
            # only what fails is set aside.
            log.warning("batch failed (%s: %s); its pushes are processed one by one", type(e).__name__, e)
            self._forget_lookups(session)
            parsed = await self._one_by_one(session, parsed)
        done = [push.id for push, _ in parsed]
        processed.extend(event for _, event in parsed)
        now = self._clock.now()
        await pushes.mark_processed(session, done, now=now)
        for push, _ in parsed:
            self.on_delay(max(0.0, (now - push.received_at).total_seconds()))
        await changes.append(session, processed, now=self._clock.now())
        self.processed_total += len(done)
        return len(stored)

    async def _apply_batch(self, session: AsyncSession, events: list[Event]) -> None:
        """The batch set-based (bot.store.chat_batch): the buyers' chat in a handful of statements and
        the consumers given the whole batch; the few events that need one at a time (orders, a buyer
        whose message arrived after later ones) go through `_apply` first."""
        ids = await chat_batch.buyer_ids(session, events, known=self._buyers)
        session.info[chat.BUYERS] = dict(ids)
        firsts: dict[int, datetime] = {}
        for e in events:
            if isinstance(e, CHAT_EVENTS):
                firsts.setdefault(ids[(e.platform, e.shop, e.buyer)], e.at)
        batch = chat_batch.ChatBatch(gap=self._gap)
        await batch.load(session, firsts)
        late = {buyer for buyer, at in firsts.items() if not batch.in_order(buyer, at)}
        chat_events, order_events = [], []
        for e in events:
            buyer = ids[(e.platform, e.shop, e.buyer)]
            if isinstance(e, ORDER_EVENTS):
                order_events.append((e, buyer))
            elif isinstance(e, CHAT_EVENTS) and buyer not in late:
                chat_events.append((e, buyer))
            else:
                await self._apply(session, e, isolated=False)
        await orders.apply_batch(session, order_events)
        for e, _ in order_events:
            for consumer in self._consumers:
                try:
                    await consumer.handle(session, e)
                except Exception as error:
                    raise ConsumerFailed(consumer.name) from error
        recorded = await batch.record(session, chat_events)
        for consumer in self._consumers:
            try:
                await consumer.handle_batch(session, recorded)
            except Exception as e:
                raise ConsumerFailed(consumer.name) from e

    async def _one_by_one(self, session: AsyncSession, parsed: list[tuple[sa.Row, Event]]) -> list:
        """Each push in its own savepoint; those that fail are recorded and left out."""
        done = []
        for push, event in parsed:
            try:
                try:
                    async with session.begin_nested():
                        await self._apply(session, event, isolated=False)
                except ConsumerFailed:
                    # Redo the push with each consumer in its own savepoint, so that the one that
                    # fails does not undo the others.
                    self._forget_lookups(session)
                    async with session.begin_nested():
                        await self._apply(session, event, isolated=True)
            except Exception as e:
                if transient(e):
                    raise
                self._forget_lookups(session)
                await self._failed(session, push, e)
                continue
            done.append((push, event))
        return done

    async def _failed(self, session: AsyncSession, push: sa.Row, error: Exception) -> None:
        """Set the push aside with its reason: at once, as trying again gives the same result; but a
        unique-key conflict may be a race with another process, so that push is tried MAX_ATTEMPTS times."""
        log.error("push processing failed platform=%s push_id=%s error=%s: %s", push.platform, push.push_id,
                  type(error).__name__, error, exc_info=error)
        await pushes.mark_failed(session, push.id, now=self._clock.now(), error=f"{type(error).__name__}: {error}",
                                 at_once=not _maybe_a_race(error))

    async def _consumer_failed(self, session: AsyncSession, consumer: str, event: Event, error: Exception) -> None:
        await consumer_failures.record(session, platform=event.platform, push_id=event.push_id, consumer=consumer,
                                       error=f"{type(error).__name__}: {error}", now=self._clock.now())

    async def _replay_consumers(self, session: AsyncSession, partitions, processed: list[Event]) -> int:
        """Consumer failures whose replay was asked for (`csbot pushes retry --consumers`): that
        consumer alone, on its push again, in a savepoint; on success the failure is marked replayed,
        on failure recorded again with the new error."""
        by_name = {c.name: c for c in self._consumers}
        replays = await consumer_failures.claim_replays(session, limit=self._batch, partitions=partitions)
        for failure in replays:
            consumer = by_name.get(failure.consumer)
            try:
                if consumer is None:
                    raise LookupError(f"no consumer named {failure.consumer!r} runs in this bot")
                event = event_of(failure)
                async with session.begin_nested():
                    await consumer.handle(session, event)
            except Exception as e:
                if transient(e):
                    raise
                self._forget_lookups(session)
                log.error("consumer replay failed consumer=%s push_id=%s error=%s", failure.consumer,
                          failure.push_id, _brief(e))
                await consumer_failures.record(session, platform=failure.platform, push_id=failure.push_id,
                                               consumer=failure.consumer, error=f"{type(e).__name__}: {e}",
                                               now=self._clock.now())
                continue
            await consumer_failures.mark_replayed(session, failure.id, now=self._clock.now())
            processed.append(event)
            log.info("consumer replayed consumer=%s push_id=%s", failure.consumer, failure.push_id)
        return len(replays)

    def _forget_lookups(self, session: AsyncSession) -> None:
        """What was looked up or attached inside a rolled-back savepoint may be gone."""
        chat.forget_attached(session)
        session.info.clear()
        session.info[chat.COMMITTED_BUYERS] = self._buyers

    def _remember_buyers(self, created: dict[tuple[str, str, str], int]) -> None:
        if len(self._buyers) + len(created) > KNOWN_BUYERS_MAX:
            self._buyers.clear()
        self._buyers.update(created)

    async def _apply(self, session: AsyncSession, event: Event, *, isolated: bool) -> None:
        buyer_id = await chat.buyer_id(
            session, platform=event.platform, shop=event.shop, nick=event.buyer, seen_at=event.at
        )
        if isinstance(event, (BuyerMessage, AgentMessage)):
            await chat.record_message(
                session, buyer_id=buyer_id, platform=event.platform, shop=event.shop,
                sender="buyer" if isinstance(event, BuyerMessage) else "agent",
                agent_account=event.agent_account, text=event.text, sent_at=event.at, gap=self._gap,
                push_id=event.push_id,
            )
        elif isinstance(event, (OrderCreated, OrderPaid, OrderClosed)):
            await orders.apply(session, event, buyer_id=buyer_id)
        for consumer in self._consumers:
            if not isolated:
                try:
                    await consumer.handle(session, event)
                except Exception as e:
                    raise ConsumerFailed(consumer.name) from e
                continue
            try:
                async with session.begin_nested():
                    await consumer.handle(session, event)
            except Exception as e:
                if transient(e):
                    raise  # the store's fault, not this consumer's: the push waits, whole, for a retry
                log.exception("consumer failed consumer=%s push_id=%s", consumer.name, event.push_id)
                await self._consumer_failed(session, consumer.name, event, e)
