"""`python tests/patched_bot.py <csbot arguments>`: the bot exactly as `python -m bot` runs it, with
test-only patches applied first, so that tests with real processes can make two processes' claims
overlap for certain, and run the mutation of tests/exactly_once.py in a real process.

CSBOT_TEST_PATCHES is a comma-separated list of:
- `hold:<module>:<function>`: the claim, when it got rows, keeps its transaction open HOLD_S seconds
  before returning, so that the other process's next round (scans and senders run every second)
  claims while this claim's rows are still uncommitted: what an unlucky moment would do.
- `unlock:<module>:<function>`: the mutation, `without_lock` (every `FOR UPDATE [SKIP LOCKED]` of
  the claim dropped).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: bot/ and tests/

HOLD_S = 1.5  # longer than a round's period (1 s), so the other process claims meanwhile


def hold(monkeypatch, module, name: str) -> None:
    real = getattr(module, name)

    async def held(*args, **kwargs):
        rows = await real(*args, **kwargs)
        if rows:
            await asyncio.sleep(HOLD_S)
        return rows

    monkeypatch.setattr(module, name, held)


def apply(spec: str) -> None:
    import pytest

    from tests.exactly_once import without_lock

    patch = pytest.MonkeyPatch()
    for entry in filter(None, spec.split(",")):
        kind, module_name, name = entry.split(":")
        module = importlib.import_module(module_name)
        {"hold": hold, "unlock": without_lock}[kind](patch, module, name)


if __name__ == "__main__":
    apply(os.environ.get("CSBOT_TEST_PATCHES", ""))
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
