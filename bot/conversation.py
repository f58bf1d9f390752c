"""Pure rules of a conversation: where one ends and the next begins, and who is waiting since when.

A buyer message after `gap` with no message either way starts a new conversation (metrics.md).
A buyer waits from their first message after an agent message (or the start) to the next agent
message; messages the bot sends by itself never stop a wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

BUYER, AGENT, BOT = "buyer", "agent", "bot"


@dataclass(frozen=True)
class Line:
    sender: str  # buyer, agent or bot
    sent_at: datetime
    agent_account: str = ""


def split(lines: Sequence[Line], *, gap: timedelta) -> list[list[int]]:
    """Indices of `lines` (sorted by time) grouped into conversations.

    >>> t = datetime(2026, 1, 1)
    >>> split([Line(BUYER, t), Line(AGENT, t + timedelta(minutes=40))], gap=timedelta(minutes=30))
    [[0, 1]]
    """
    groups: list[list[int]] = []
    previous: datetime | None = None
    for i, line in enumerate(lines):
        new = previous is None or (line.sender == BUYER and line.sent_at - previous > gap)
        if new:
            groups.append([i])
        else:
            groups[-1].append(i)
        previous = line.sent_at
    return groups


def waiting_since(lines: Sequence[Line]) -> datetime | None:
    """When the buyer started the wait still open at the end of `lines` (sorted), or None."""
    since: datetime | None = None
    for line in lines:
        if line.sender == BUYER and since is None:
            since = line.sent_at
        elif line.sender == AGENT:
            since = None
    return since


# A supervisor without a platform account of their own replies as this account (主管): the reply is
# theirs, counted under it, and the conversation stays with the agent it was routed to.
SUPERVISOR_ACCOUNT = "主管"


def current_agent(lines: Sequence[Line]) -> str:
    """The agent who last answered, else the agent the buyer was last routed to, else "" (a supervisor's
    reply as SUPERVISOR_ACCOUNT does not take the conversation)."""
    for line in reversed(lines):
        if line.sender == AGENT and line.agent_account and line.agent_account != SUPERVISOR_ACCOUNT:
            return line.agent_account
    for line in reversed(lines):
        if line.agent_account and line.agent_account != SUPERVISOR_ACCOUNT:
            return line.agent_account
    return ""
