"""Retention: chat text and raw push forms older than `[database] retention_days` are blanked.

Rows are kept and only their text is emptied (stored as a plain "", which no sealed value is, so a
blanked row is never visited again): the messages' times, senders and agents stay, and with them
the metric facts, the figures and the tickets' numbers (a deleted message would make the facts
rebuilt from it lose its response). Each batch is its own short transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.tables import Conversation, Handover, Message, OutboxMessage, RawPush, ReplyFeedback, Ticket

BATCH = 1000


@dataclass(frozen=True)
class Blanked:
    """One text column blanked once the row's `age` column is older than the cutoff (and `done` holds)."""

    table: sa.Table
    column: str
    age: str
    done: sa.ColumnElement | None = None  # only rows finished with: a push processed, an outbox message not pending

    def where(self, cutoff: datetime) -> list[sa.ColumnElement]:
        c = self.table.c
        found = [c[self.age] < cutoff, sa.type_coerce(c[self.column], sa.String) != ""]
        return found if self.done is None else [*found, self.done]


_p, _o, _t = RawPush.__table__.c, OutboxMessage.__table__.c, Ticket.__table__.c
BLANKED = (
    Blanked(Message.__table__, "text", "sent_at"),
    Blanked(RawPush.__table__, "form", "received_at", _p.processed_at.is_not(None)),
    Blanked(Conversation.__table__, "last_buyer_text", "last_message_at"),
    Blanked(Handover.__table__, "last_buyer_text", "shift_change_at"),
    Blanked(ReplyFeedback.__table__, "text", "created_at"),
    Blanked(OutboxMessage.__table__, "text", "created_at", _o.state != "pending"),
    Blanked(Ticket.__table__, "summary", "closed_at", _t.state == "closed"),
    Blanked(Ticket.__table__, "resolution_note", "closed_at", _t.state == "closed"),
)


async def blank_older_than(engine: AsyncEngine, *, now: datetime, days: int, batch: int = BATCH) -> dict[str, int]:
    """Blank what is older than `days` before `now`; returns the rows blanked per "table.column"."""
    cutoff = now - timedelta(days=days)
    done: dict[str, int] = {}
    for rule in BLANKED:
        (pk,) = rule.table.primary_key.columns
        # The rule again in the update: a row written meanwhile (a conversation's newer last text) stays.
        blank = (sa.update(rule.table).where(pk.in_(sa.bindparam("ids", expanding=True)), *rule.where(cutoff))
                 .values({rule.column: sa.type_coerce(sa.literal(""), sa.String)}))
        n = 0
        while True:
            async with engine.begin() as conn:
                ids = list((await conn.scalars(sa.select(pk).where(*rule.where(cutoff)).order_by(pk).limit(batch))).all())
                if ids:
                    await conn.execute(blank, {"ids": ids})
            n += len(ids)
            if len(ids) < batch:
                break
        done[f"{rule.table.name}.{rule.column}"] = n
    return done
