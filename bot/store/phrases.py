"""Quick phrases (快捷短语): the team's (owner "") and each agent's own, by a short code.

A code is unique among the phrases one agent sees: their own and the team's. Session-first; nothing
here commits.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import Phrase

TEAM = ""


class CodeTaken(Exception):
    def __init__(self, phrase: Phrase) -> None:
        super().__init__(phrase.code)
        self.phrase = phrase


async def visible(session: AsyncSession, *, owner: str | None) -> list[Phrase]:
    """The team's phrases and `owner`'s own (None: the team's only), by code."""
    owners = [TEAM] if owner is None else [TEAM, owner]
    return list((await session.scalars(sa.select(Phrase).where(Phrase.owner.in_(owners))
                                       .order_by(Phrase.code, Phrase.id))).all())


async def _clash(session: AsyncSession, *, code: str, owner: str) -> Phrase | None:
    """A phrase that someone who would see the new one already sees under `code`."""
    if owner == TEAM:  # a team code must not hide any agent's own
        where = Phrase.code == code
    else:
        where = sa.and_(Phrase.code == code, Phrase.owner.in_([TEAM, owner]))
    return await session.scalar(sa.select(Phrase).where(where).limit(1))


async def add(session: AsyncSession, *, scope: str, owner: str, code: str, text: str, created_by: str,
              now: datetime) -> Phrase:
    """Store a phrase; raises CodeTaken when the code is already used where it would be seen."""
    if (taken := await _clash(session, code=code, owner=owner)) is not None:
        raise CodeTaken(taken)
    phrase = Phrase(scope=scope, owner=owner, code=code, text=text, created_by=created_by, created_at=now)
    try:
        async with session.begin_nested():
            session.add(phrase)
            await session.flush()
    except IntegrityError:
        taken = await _clash(session, code=code, owner=owner)
        raise CodeTaken(taken or phrase) from None
    return phrase


async def get(session: AsyncSession, phrase_id: int) -> Phrase | None:
    return await session.get(Phrase, phrase_id)


async def delete(session: AsyncSession, phrase: Phrase) -> None:
    await session.delete(phrase)
    await session.flush()
