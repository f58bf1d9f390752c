"""Staff users, their sessions, API tokens, login failures and the shifts added on /admin.
Session-first; nothing here commits."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.staff import roster
from bot.staff.roster import PageShift, PageUser
from bot.store.tables import ApiToken, LoginFailure, StaffSession, StaffShift, StaffUser


def split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


def page_user(user: StaffUser) -> PageUser:
    return PageUser(username=user.username, name=user.name, accounts=split(user.accounts),
                    groups=split(user.groups), disabled=user.disabled)


async def users(session: AsyncSession) -> list[StaffUser]:
    return list((await session.scalars(sa.select(StaffUser).order_by(StaffUser.username))).all())


async def user(session: AsyncSession, username: str) -> StaffUser | None:
    return await session.get(StaffUser, username)


async def has_admin(session: AsyncSession) -> bool:
    found = await session.scalar(sa.select(StaffUser.username).where(StaffUser.role == "admin",
                                                                     StaffUser.disabled.is_(False)).limit(1))
    return found is not None


async def page_shifts(session: AsyncSession) -> list[PageShift]:
    rows = (await session.scalars(sa.select(StaffShift).order_by(StaffShift.name))).all()
    return [PageShift(name=s.name, start=s.start, end=s.end, agents=split(s.agents)) for s in rows]


async def put_shift(session: AsyncSession, shift: PageShift) -> None:
    row = await session.get(StaffShift, shift.name)
    if row is None:
        session.add(StaffShift(name=shift.name, start=shift.start, end=shift.end, agents=",".join(shift.agents)))
    else:
        row.start, row.end, row.agents = shift.start, shift.end, ",".join(shift.agents)
    await session.flush()


async def delete_shift(session: AsyncSession, name: str) -> bool:
    result = await session.execute(sa.delete(StaffShift).where(StaffShift.name == name))
    return bool(result.rowcount)


# --- sessions -------------------------------------------------------------------------------------

async def add_session(session: AsyncSession, *, digest: str, username: str, now: datetime, lasts: timedelta) -> None:
    session.add(StaffSession(digest=digest, username=username, created_at=now, expires_at=now + lasts))
    await session.flush()


async def live_session(session: AsyncSession, digest: str, *, now: datetime) -> StaffUser | None:
    """The user of a session that has not ended nor expired, if they are not disabled."""
    return await session.scalar(
        sa.select(StaffUser).join(StaffSession, StaffSession.username == StaffUser.username)
        .where(StaffSession.digest == digest, StaffSession.ended_at.is_(None), StaffSession.expires_at > now,
               StaffUser.disabled.is_(False)))


async def end_session(session: AsyncSession, digest: str, *, now: datetime) -> None:
    await session.execute(sa.update(StaffSession).where(StaffSession.digest == digest, StaffSession.ended_at.is_(None))
                          .values(ended_at=now))


async def end_sessions_of(session: AsyncSession, username: str, *, now: datetime) -> list[str]:
    """End every open session of `username`; their digests (so their open streams can be closed)."""
    digests = list((await session.scalars(sa.select(StaffSession.digest).where(
        StaffSession.username == username, StaffSession.ended_at.is_(None)))).all())
    if digests:
        await session.execute(sa.update(StaffSession).where(StaffSession.digest.in_(digests)).values(ended_at=now))
    return digests


# --- API tokens -----------------------------------------------------------------------------------

async def add_token(session: AsyncSession, token: ApiToken) -> ApiToken:
    session.add(token)
    await session.flush()
    return token


async def live_token(session: AsyncSession, digest: str, *, now: datetime) -> ApiToken | None:
    """The token, unless revoked, expired, or made for an agent whose login is disabled (disabling a
    person stops their programs too)."""
    disabled = sa.select(StaffUser.username).where(StaffUser.username == ApiToken.agent, StaffUser.disabled)
    return await session.scalar(sa.select(ApiToken).where(
        ApiToken.digest == digest, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now, ~disabled.exists()))


async def tokens(session: AsyncSession) -> list[ApiToken]:
    return list((await session.scalars(sa.select(ApiToken).order_by(ApiToken.id))).all())


async def revoke_token(session: AsyncSession, token_id: int, *, now: datetime) -> bool:
    result = await session.execute(sa.update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                                   .values(revoked_at=now))
    return bool(result.rowcount)


# --- login failures -------------------------------------------------------------------------------

async def add_failure(session: AsyncSession, *, username: str, address: str, now: datetime, forget_before: datetime) -> None:
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.at <= forget_before))
    session.add(LoginFailure(username=username, address=address, at=now))
    await session.flush()


async def failures(session: AsyncSession, *, username: str, address: str, since: datetime) -> tuple[list[datetime], list[datetime]]:
    """The failed logins since `since`: of this user name, and from this address."""
    recent = LoginFailure.at > since
    by_name = (await session.scalars(sa.select(LoginFailure.at).where(LoginFailure.username == username, recent))).all()
    by_address = (await session.scalars(sa.select(LoginFailure.at).where(LoginFailure.address == address, recent))).all()
    return list(by_name), list(by_address)


async def forget_failures(session: AsyncSession, *, username: str) -> None:
    """A successful login: the user name's failures no longer count (the address's still do)."""
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.username == username))


async def roster_of(session: AsyncSession, file: Config) -> Config:
    """The configuration with the agents and shifts added on /admin, as `csbot serve` puts them in service."""
    return roster.merged(file, [page_user(u) for u in await users(session)], await page_shifts(session))
