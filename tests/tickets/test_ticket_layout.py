"""The tickets package keeps the layout's promises: its pure modules import neither the store nor aiohttp,
and it never imports matching, metrics or reminders (it reads the matcher's stored suggestions instead)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

TICKETS = ROOT / "bot" / "tickets"


def imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("name", ["detect", "workflow", "report"])
def test_pure_modules_import_no_store_and_no_aiohttp(name):
    bad = {m for m in imports(TICKETS / f"{name}.py") if m.startswith(("bot.store", "aiohttp", "sqlalchemy"))}
    assert bad == set()


def test_tickets_import_no_other_feature():
    for path in TICKETS.glob("*.py"):
        bad = {m for m in imports(path) if m.startswith(("bot.matching", "bot.metrics", "bot.reminders"))}
        assert bad == set(), path.name
