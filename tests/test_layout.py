"""The dependency rules of style.md, read from the imports of every module: the four consumers'
packages (matching, metrics, reminders, tickets) never import one another, and the pure modules
import neither the store, the web layer, aiohttp nor SQLAlchemy. Every import form counts:
`import bot.x`, `from bot.x import y`, `from bot import x` and relative imports (`from ..x import y`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

BOT = ROOT / "bot"
FEATURES = ("matching", "metrics", "reminders", "tickets")
PURE = ("bot/metrics/response.py", "bot/metrics/report.py", "bot/metrics/shifts.py", "bot/metrics/facts.py",
        "bot/reminders/policy.py", "bot/reminders/report.py", "bot/tickets/detect.py", "bot/tickets/workflow.py",
        "bot/tickets/report.py", "bot/matching/matcher.py", "bot/matching/scope.py", "bot/matching/normalize.py",
        "bot/matching/index.py", "bot/guard.py", "bot/signing.py",
        "bot/staff/passwords.py", "bot/staff/secrets.py", "bot/staff/lockout.py", "bot/staff/roster.py",
        "bot/privacy.py", "bot/conversation.py", "bot/reports/csat.py", "bot/reports/daily.py",
        "bot/reports/scorecard.py", "bot/reports/export.py", "bot/matching/kb_files.py")
IMPURE = ("bot.store", "bot.web", "aiohttp", "sqlalchemy", "sqlmodel")


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` (the text of `module`) imports, as absolute dotted names; for
    `from P import n`, both P and P.n (n may be a module: `from bot import metrics`)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            found.add(parent)
            found |= {f"{parent}.{a.name}" for a in node.names}
    return found


def imports_of(path: Path) -> set[str]:
    return imports(path.read_text(encoding="utf-8"), module_of(path), is_package=path.name == "__init__.py")


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("source, module, expected", [
    ("from bot import metrics", "bot.tickets.job", "bot.metrics"),
    ("from bot.metrics import board", "bot.tickets.job", "bot.metrics.board"),
    ("import bot.metrics.board", "bot.tickets.job", "bot.metrics.board"),
    ("from ..metrics import board", "bot.tickets.job", "bot.metrics.board"),
    ("from .. import metrics", "bot.tickets.job", "bot.metrics"),
    ("from . import workflow", "bot.tickets.job", "bot.tickets.workflow"),
])
def test_every_import_form_is_seen(source, module, expected):
    found = imports(source, module)
    assert expected in found, found


def says_it_is_pure(path: Path) -> bool:
    """A module whose docstring calls it pure ("Pure: ...", "Pure rules ...", "(pure)", "..., pure: ...")."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return bool(re.search(r"^Pure\b|\(pure\)|, pure:", doc))


def test_the_checks_cover_all_four_consumer_packages_and_every_pure_module():
    assert all((BOT / feature / "consumer.py").exists() for feature in FEATURES)
    assert all((ROOT / path).exists() for path in PURE)
    claimed = {str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if says_it_is_pure(p)}
    assert claimed - set(PURE) == set(), "modules that call themselves pure, not checked as such"


@pytest.mark.parametrize("path", sorted(p for f in FEATURES for p in (BOT / f).glob("*.py")),
                         ids=lambda p: str(p.relative_to(BOT)))
def test_a_consumer_package_never_imports_another(path):
    own = path.parent.name
    others = [f"bot.{f}" for f in FEATURES if f != own]
    bad = {m for m in imports_of(path) if any(within(m, o) for o in others)}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", PURE)
def test_pure_modules_import_no_store_no_web_no_aiohttp_no_sqlalchemy(path):
    bad = {m for m in imports_of(ROOT / path) if any(within(m, i) for i in IMPURE)}
    assert not bad, f"{path} imports {sorted(bad)}"
