"""The history of knowledge-base edits (who, when, what, the figures before and after)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import iso
from bot.store.tables import KbChange


async def record(session: AsyncSession, change: KbChange) -> KbChange:
    session.add(change)
    await session.flush()
    return change


async def get(session: AsyncSession, change_id: int) -> KbChange | None:
    return await session.get(KbChange, change_id)


async def latest(session: AsyncSession, *, limit: int = 50, offset: int = 0,
                 target: str | None = None) -> tuple[list[KbChange], int]:
    query = sa.select(KbChange)
    if target:
        query = query.where(KbChange.target == target)
    total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = (await session.scalars(query.order_by(KbChange.id.desc()).limit(limit).offset(offset))).all()
    return list(rows), int(total or 0)


async def mark_undone(session: AsyncSession, change_id: int, *, by: int) -> None:
    await session.execute(sa.update(KbChange).where(KbChange.id == change_id).values(undone_by=by))


def public(change: KbChange, *, with_files: bool = False) -> dict:
    out = {"id": change.id, "at": iso(change.at), "who": change.who, "action": change.action,
           "summary": change.summary, "target": change.target, "confirmed": change.confirmed,
           "undo_of": change.undo_of, "undone_by": change.undone_by,
           "impact": json.loads(change.impact) if change.impact else None,
           "paths": [f["path"] for f in json.loads(change.files)]}
    if with_files:
        out["files"] = json.loads(change.files)
    return out
