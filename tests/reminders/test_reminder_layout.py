"""The dependency rules of style.md for bot/reminders, read from the imports: the rules and the report
are pure (no store, no aiohttp), and reminders never import matching, metrics or tickets."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "bot" / "reminders"


def imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_reminders_never_import_the_other_parts(path):
    bad = {m for m in imports(path) if m.split(".")[:2] in (["bot", "matching"], ["bot", "metrics"], ["bot", "tickets"])}
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("name", ["policy.py", "report.py"])
def test_the_rules_are_pure(name):
    bad = {m for m in imports(PACKAGE / name)
           if m.startswith(("bot.store", "aiohttp", "sqlalchemy", "sqlmodel", "bot.web"))}
    assert not bad, f"{name} imports {bad}"
