"""A batch of chat events stored with a handful of statements, not a dozen per message.

The rules are those of `chat.record_message` (bot.conversation's): a message after all of its
buyer's others joins their last conversation, or starts a new one when a buyer writes after the gap.
The batch's events come sorted by event time, so a buyer is either in order for the whole batch
(its first event is not earlier than anything stored for it) or not; the processor gives the buyers
that are not to `chat.record_message`, one event at a time, and this module the rest:

1. the buyers' ids (one SELECT; one INSERT for new buyers),
2. their conversations that the batch can touch, locked (one SELECT), whether an agent answered in
   them and their last message (one SELECT each),
3. the batch applied in memory,
4. the new conversations, the messages and the changed conversations written (one statement each).

Each event comes back as a `Recorded`: what the consumers need of it, as it was right after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import AGENT, BUYER, SUPERVISOR_ACCOUNT
from bot.events import AgentMessage, BuyerMessage, Event
from bot.store.tables import Buyer, Conversation, Message

_b, _c, _m = Buyer.__table__, Conversation.__table__, Message.__table__
_INSERT_BUYERS = {
    name: dialect_insert(_b).on_conflict_do_nothing()
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_INSERT_CONVERSATIONS = sa.insert(_c).returning(_c.c.id, sort_by_parameter_order=True)
_INSERT_MESSAGES = sa.insert(_m).returning(_m.c.id, sort_by_parameter_order=True)
_UPDATE_CONVERSATION = sa.update(_c).where(_c.c.id == sa.bindparam("cid")).values(
    last_message_at=sa.bindparam("last"), waiting_since=sa.bindparam("waiting"),
    agent_account=sa.bindparam("agent"), last_buyer_text=sa.bindparam("text"),
)
_STATE = ("started_at", "last_message_at", "waiting_since", "agent_account", "last_buyer_text")
CHUNK = 500  # ids per IN (...): well under SQLite's and asyncpg's parameter limits


@dataclass(frozen=True)
class ConversationAt:
    """A conversation as it was right after one message (what the ticket consumer reads of it)."""

    id: int
    agent_account: str
    waiting_since: datetime | None


@dataclass
class Recorded:
    """A chat event as stored by the batch."""

    event: BuyerMessage | AgentMessage
    buyer_id: int
    sender: str
    conversation: ConversationAt | None = None  # set once the conversation has its id
    message_id: int = 0
    previous_id: int | None = None  # the message before it in its conversation, and who sent it
    previous_sender: str | None = None
    _state: _State | None = field(default=None, repr=False)
    _previous: Recorded | None = field(default=None, repr=False)
    _agent: str = ""
    _waiting: datetime | None = None


@dataclass
class _State:
    """One conversation while the batch is applied."""

    id: int | None
    buyer_id: int
    platform: str
    shop: str
    started_at: datetime
    last_message_at: datetime
    waiting_since: datetime | None
    agent_account: str
    last_buyer_text: str
    answered: bool = False  # an agent with an account has written in it
    last_id: int | None = None  # its last stored message, and who sent it
    last_sender: str | None = None
    last_recorded: Recorded | None = None  # its last message in this batch
    changed: bool = False


def _chunks(values: Sequence, n: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


async def buyer_ids(session: AsyncSession, events: Sequence[Event], *, known: dict) -> dict[tuple[str, str, str], int]:
    """(platform, shop, nick) -> id for every buyer of `events`, created on first sight. `known` is
    what earlier transactions found (read here, not changed)."""
    wanted = {(e.platform, e.shop, e.buyer): e.at for e in events}
    found = {k: known[k] for k in wanted if k in known}
    missing = [k for k in wanted if k not in found]
    if missing:
        await _read_buyers(session, missing, found)
        new = [k for k in missing if k not in found]
        if new:
            await session.execute(_INSERT_BUYERS[session.bind.dialect.name], [
                {"platform": p, "shop": s, "nick": n, "first_seen_at": wanted[(p, s, n)]} for p, s, n in new])
            await _read_buyers(session, new, found)
    return found


async def _read_buyers(session: AsyncSession, keys: list[tuple[str, str, str]], into: dict) -> None:
    groups: dict[tuple[str, str], list[str]] = {}
    for platform, shop, nick in keys:
        groups.setdefault((platform, shop), []).append(nick)
    for (platform, shop), nicks in groups.items():
        for part in _chunks(nicks):
            rows = await session.execute(sa.select(_b.c.id, _b.c.nick).where(
                _b.c.platform == platform, _b.c.shop == shop, _b.c.nick.in_(part)))
            into.update(((platform, shop, nick), id_) for id_, nick in rows)


class ChatBatch:
    """The conversations of a batch's buyers, loaded once; `in_order` tells which buyers this
    module may record, `record` records their events."""

    def __init__(self, *, gap: timedelta) -> None:
        self._gap = gap
        self._states: dict[int, list[_State]] = {}  # buyer id -> conversations by start

    async def load(self, session: AsyncSession, firsts: dict[int, datetime]) -> None:
        """The conversations the batch can touch, for buyers whose first event in it is at `firsts[id]`."""
        if not firsts:
            return
        since = min(firsts.values()) - self._gap
        ids = sorted(firsts)
        rows = []
        for part in _chunks(ids):
            rows += (await session.execute(
                sa.select(_c).where(_c.c.buyer_id.in_(part), _c.c.last_message_at >= since)
                .order_by(_c.c.started_at, _c.c.id).with_for_update()
            )).all()
        # An agent message after the gap still joins the buyer's last conversation: those that have
        # none in the window get their last one.
        seen = {r.buyer_id for r in rows}
        rest = [i for i in ids if i not in seen]
        for part in _chunks(rest):
            latest = (sa.select(_c.c.id, sa.func.row_number().over(
                partition_by=_c.c.buyer_id, order_by=(_c.c.started_at.desc(), _c.c.id.desc())).label("n"))
                .where(_c.c.buyer_id.in_(part)).subquery())
            rows += (await session.execute(
                sa.select(_c).where(_c.c.id.in_(sa.select(latest.c.id).where(latest.c.n == 1))).with_for_update()
            )).all()
        states = {r.id: _State(r.id, r.buyer_id, r.platform, r.shop, *(getattr(r, k) for k in _STATE)) for r in rows}
        for part in _chunks(sorted(states)):
            answered = await session.scalars(sa.select(_m.c.conversation_id).distinct().where(
                _m.c.conversation_id.in_(part), _m.c.sender == AGENT, _m.c.agent_account != "",
                _m.c.agent_account != SUPERVISOR_ACCOUNT))
            for cid in answered:
                states[cid].answered = True
            last = (sa.select(_m.c.conversation_id, _m.c.id, _m.c.sender, sa.func.row_number().over(
                partition_by=_m.c.conversation_id, order_by=(_m.c.sent_at.desc(), _m.c.id.desc())).label("n"))
                .where(_m.c.conversation_id.in_(part)).subquery())
            for cid, mid, sender in await session.execute(
                    sa.select(last.c.conversation_id, last.c.id, last.c.sender).where(last.c.n == 1)):
                states[cid].last_id, states[cid].last_sender = mid, sender
        for state in sorted(states.values(), key=lambda s: (s.started_at, s.id)):
            self._states.setdefault(state.buyer_id, []).append(state)

    def in_order(self, buyer_id: int, first_at: datetime) -> bool:
        """Whether the buyer's first event in the batch comes after everything stored for them."""
        return all(s.last_message_at <= first_at for s in self._states.get(buyer_id, ()))

    async def record(self, session: AsyncSession, events: Sequence[tuple[BuyerMessage | AgentMessage, int]]) -> list[Recorded]:
        """Store (event, buyer id) pairs, sorted by event time, of buyers that are `in_order`."""
        recorded = [self._apply(event, buyer_id) for event, buyer_id in events]
        new = [s for states in self._states.values() for s in states if s.id is None]
        if new:
            result = await session.execute(_INSERT_CONVERSATIONS, [
                {"buyer_id": s.buyer_id, "platform": s.platform, "shop": s.shop,
                 **{k: getattr(s, k) for k in _STATE}} for s in new])
            for s, (cid,) in zip(new, result):
                s.id = cid
        if recorded:
            result = await session.execute(_INSERT_MESSAGES, [
                {"conversation_id": r._state.id, "buyer_id": r.buyer_id, "platform": r.event.platform,
                 "sender": r.sender, "agent_account": r.event.agent_account, "text": r.event.text,
                 "sent_at": r.event.at, "push_id": r.event.push_id, "client_msg_id": None} for r in recorded])
            for r, (mid,) in zip(recorded, result):
                r.message_id = mid
        changed = [s for states in self._states.values() for s in states if s.changed and s not in new]
        if changed:
            await session.execute(_UPDATE_CONVERSATION.execution_options(synchronize_session=False), [
                {"cid": s.id, "last": s.last_message_at, "waiting": s.waiting_since, "agent": s.agent_account,
                 "text": s.last_buyer_text} for s in changed])
        for r in recorded:
            r.conversation = ConversationAt(r._state.id, r._agent, r._waiting)
            if r._previous is not None:
                r.previous_id, r.previous_sender = r._previous.message_id, r._previous.sender
            r._state = r._previous = None
        return recorded

    def _apply(self, event: BuyerMessage | AgentMessage, buyer_id: int) -> Recorded:
        """What the full regrouping would make of the buyer's conversations with `event` at their end."""
        sender = BUYER if isinstance(event, BuyerMessage) else AGENT
        states = self._states.setdefault(buyer_id, [])
        last = states[-1] if states else None
        if last is None or (sender == BUYER and event.at - last.last_message_at > self._gap):
            state = _State(None, buyer_id, event.platform, event.shop, event.at, event.at, None, "", "", changed=True)
            states.append(state)
        else:
            state = last
            state.changed = True
        recorded = Recorded(event, buyer_id, sender, _state=state, _previous=state.last_recorded)
        if state.last_recorded is None:
            recorded.previous_id, recorded.previous_sender = state.last_id, state.last_sender
        state.last_message_at = event.at
        if sender == BUYER:
            state.last_buyer_text = event.text[:500]
            if state.waiting_since is None:
                state.waiting_since = event.at
        else:
            state.waiting_since = None
        if event.agent_account == SUPERVISOR_ACCOUNT:
            pass  # a supervisor's reply: the conversation stays with its agent
        elif sender == AGENT and event.agent_account:
            state.agent_account = event.agent_account
            state.answered = True
        elif event.agent_account and not state.answered:
            state.agent_account = event.agent_account
        state.last_recorded = recorded
        recorded._agent, recorded._waiting = state.agent_account, state.waiting_since
        return recorded

