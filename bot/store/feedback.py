"""Reply feedback by intent: how often agents used, edited or ignored each suggestion."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import ReplyFeedback


@dataclass
class IntentUse:
    intent: str
    shown: int = 0  # replies written while this intent was the top suggestion
    used: int = 0
    edited: int = 0
    ignored: int = 0
    examples: list[str] = field(default_factory=list)  # what agents wrote instead

    @property
    def rewritten_share(self) -> float:
        return (self.edited + self.ignored) / self.shown if self.shown else 0.0


async def by_intent(session: AsyncSession, *, examples: int = 3) -> list[IntentUse]:
    """Per top-suggested intent, worst first (most edited or ignored)."""
    rows = (await session.execute(
        sa.select(ReplyFeedback.suggested_intent, ReplyFeedback.outcome, ReplyFeedback.text)
        .where(ReplyFeedback.suggested_intent.is_not(None)).order_by(ReplyFeedback.id.desc())
    )).all()
    uses: dict[str, IntentUse] = {}
    for intent, outcome, text in rows:
        use = uses.setdefault(intent, IntentUse(intent))
        use.shown += 1
        if outcome in ("used", "edited", "ignored"):
            setattr(use, outcome, getattr(use, outcome) + 1)
        if outcome in ("edited", "ignored") and len(use.examples) < examples:
            use.examples.append(text)
    return sorted(uses.values(), key=lambda u: (-u.rewritten_share, -u.shown, u.intent))


async def record(session: AsyncSession, feedback: ReplyFeedback) -> None:
    session.add(feedback)
    await session.flush()


async def insert_rows(session: AsyncSession, rows: list[dict]) -> None:
    """Feedback rows (ReplyFeedback's columns but the id) in one statement."""
    if rows:
        await session.execute(sa.insert(ReplyFeedback.__table__), rows)
