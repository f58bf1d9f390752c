"""The agents and shifts in service, changed on /admin without a restart.

The configuration object is shared by every part of the bot; a change on /admin replaces its `agents`
and `shifts` in place (and refreshes the few objects that took them once at start: the tokens' callers,
the board's names, the ticket assignment), so each part sees the change at its next use. The file's own
declarations win (bot/staff/roster.py). Other processes on the same database take the change up within
`Roster.POLL_S`. Which platform account belongs to which agent (the figures' `Rules.accounts`) changes
with it: the board reloads the day, and the stored period facts are rebuilt, so a platform account given
to an agent, or moved to another, counts for that agent at once. (With several processes, until the
others have polled, each finds the facts built under the other's accounts and rebuilds them again:
a few extra rebuilds, for at most `Roster.POLL_S`.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.metrics.report import Rules
from bot.staff import roster
from bot.store import agents as agents_store
from bot.store import staff as staff_store
from bot.store.tables import StaffUser
from bot.tickets.actions import Assignment
from bot.web import keys
from bot.web.auth import callers

log = logging.getLogger(__name__)


class Roster:
    POLL_S = 5.0  # how soon a change made through another process is in service here

    def __init__(self, app: web.Application, config: Config) -> None:
        self._app = app
        self.file = config.model_copy()  # what the file declares, before any page change is applied

    async def start(self, session: AsyncSession) -> None:
        """At start: seed the first admin, then put the stored roster in service."""
        await self._seed_admin(session)
        merged = await self.merged(session)
        self._apply(merged)
        board = self._app[keys.BOARD]
        board.rules = Rules.from_config(self._app[keys.CONFIG])  # before the figures' consumers take it
        await agents_store.sync_from_config(session, self._app[keys.CONFIG])

    async def merged(self, session: AsyncSession, **changes) -> Config:
        """The roster with the stored page changes (and, to try one, `users=` / `shifts=` in their place)."""
        users = changes.get("users") or [staff_store.page_user(u) for u in await staff_store.users(session)]
        shifts = changes.get("shifts") or await staff_store.page_shifts(session)
        return roster.merged(self.file, users, shifts)

    async def reload(self, session: AsyncSession) -> None:
        """After a change on /admin, in its transaction."""
        self._apply(await self.merged(session))
        await agents_store.sync_from_config(session, self._app[keys.CONFIG])

    async def run(self) -> None:
        """Takes up the changes other processes made on /admin (each process applies its own at once)."""
        while True:
            await asyncio.sleep(self.POLL_S)
            try:
                await self.refresh()
            except Exception:
                log.exception("reading the staff roster failed; the next poll retries")

    async def refresh(self) -> bool:
        """Apply the stored roster if it differs from the one in service; whether it did."""
        async with self._app[keys.DB]() as session:
            merged = await self.merged(session)
        live = self._app[keys.CONFIG]
        if (merged.agents, merged.shifts) == (live.agents, live.shifts):
            return False
        self._apply(merged)
        return True

    def declared(self) -> dict:
        """What the file declares, which the page shows read-only."""
        return {"agents": [a.id for a in self.file.agents], "shifts": [s.name for s in self.file.shifts]}

    def _apply(self, merged: Config) -> None:
        live = self._app[keys.CONFIG]
        # The configuration is frozen for every other purpose: only the roster changes, here.
        object.__setattr__(live, "agents", merged.agents)
        object.__setattr__(live, "shifts", merged.shifts)
        fresh = callers(live)
        self._app[keys.CALLERS].clear()
        self._app[keys.CALLERS].update(fresh)
        board = self._app[keys.BOARD]
        board.rename({a.id: a.name or a.id for a in live.agents})
        # The board's rules object is the one the figures' consumer, the period facts and the jobs hold.
        object.__setattr__(board.rules, "accounts", Rules.from_config(live).accounts)
        assignment, new = self._app[keys.TICKET_ASSIGNMENT], Assignment.from_config(live)
        for f in dataclasses.fields(assignment):  # the ticket consumer and job hold this very object
            object.__setattr__(assignment, f.name, getattr(new, f.name))

    async def _seed_admin(self, session: AsyncSession) -> None:
        if await staff_store.has_admin(session):
            return
        staff = self.file.staff
        if not staff.first_admin_password_hash:
            log.warning("no admin account yet and no staff.first_admin_password_hash: nobody can log in to /admin "
                        "(make one with `csbot hash-password`)")
            return
        now = self._app[keys.CLOCK].now()
        found = await staff_store.user(session, staff.first_admin)
        if found is None:
            session.add(StaffUser(username=staff.first_admin, name=staff.first_admin, role="admin",
                                  password_hash=staff.first_admin_password_hash, created_at=now, changed_at=now))
        else:
            found.role, found.disabled, found.password_hash = "admin", False, staff.first_admin_password_hash
            found.changed_at = now
        await session.flush()
        log.info("first admin account created user=%s", staff.first_admin)
