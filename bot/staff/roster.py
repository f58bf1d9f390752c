"""The agents and shifts in service: those the file declares, then those added on /admin.

The file wins for what it declares: an [[agents]] id's name, accounts and groups, and a [[shifts]]
name's times and agents, come from the file whatever the page stored. A disabled user stays an agent
(their figures keep their name) but is on no shift, so gets no ticket and no handover.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import AgentConfig, Config, ShiftConfig


@dataclass(frozen=True)
class PageUser:
    """What /admin stores about a user that the roster needs."""

    username: str
    name: str
    accounts: tuple[str, ...]
    groups: tuple[str, ...]
    disabled: bool = False


@dataclass(frozen=True)
class PageShift:
    name: str
    start: str
    end: str
    agents: tuple[str, ...]


def agents(file: Config, users: list[PageUser]) -> tuple[AgentConfig, ...]:
    declared = {a.id for a in file.agents}
    added = tuple(AgentConfig(id=u.username, name=u.name, accounts=u.accounts, roles=u.groups)
                  for u in sorted(users, key=lambda u: u.username)
                  if u.username not in declared and (u.accounts or u.groups))
    return tuple(file.agents) + added


def shifts(file: Config, page: list[PageShift], *, known: set[str], disabled: set[str]) -> tuple[ShiftConfig, ...]:
    declared = {s.name for s in file.shifts}
    added = [ShiftConfig(name=s.name, start=s.start, end=s.end, agents=s.agents)
             for s in sorted(page, key=lambda s: s.name) if s.name not in declared]
    return tuple(s.model_copy(update={"agents": tuple(a for a in s.agents if a in known and a not in disabled)})
                 for s in (*file.shifts, *added))


def merged(file: Config, users: list[PageUser], page_shifts: list[PageShift]) -> Config:
    """The configuration with the roster in service, validated as a file would be (raises ValueError:
    an account of two agents, say)."""
    roster = agents(file, users)
    disabled = {u.username for u in users if u.disabled}
    data = file.model_dump()
    data.update(agents=[a.model_dump() for a in roster],
                shifts=[s.model_dump() for s in shifts(file, page_shifts, known={a.id for a in roster}, disabled=disabled)])
    return Config.model_validate(data)
