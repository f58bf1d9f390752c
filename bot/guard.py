"""The compliance guard: what the shop must never send in platform chat, checked on the text
after normalization so that spacing, punctuation and full-width tricks don't slip through.

Rules are data (knowledge/rules/*.toml). Word lists go into one Aho-Corasick automaton; patterns
are regular expressions. Both run over the *squeezed* text (NFKC, simplified, lower case, without
spaces or punctuation), and every match is mapped back to its span in the original text.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import opencc

_t2s = opencc.OpenCC("t2s")
ACTIONS = ("block", "warn")


@dataclass(frozen=True)
class Rule:
    id: str
    reason: str
    action: str  # block: nothing is sent; warn: sent and recorded
    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    rule: str
    reason: str
    action: str
    start: int  # span in the original text
    end: int
    matched: str  # the original text of the span

    def as_dict(self) -> dict:
        return {"rule": self.rule, "reason": self.reason, "action": self.action,
                "span": [self.start, self.end], "matched": self.matched}


class GuardError(Exception):
    """Rules that cannot be used: which file, which rule, what is wrong."""


def _squeeze_char(ch: str) -> str:
    folded = _t2s.convert(unicodedata.normalize("NFKC", ch)).lower()
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN" or c in "@.%+-:：_")


def squeeze(text: str) -> tuple[str, list[int]]:
    """The comparable text and, for each of its characters, the index of the original character.

    >>> squeeze("加 我 Ｖ-X")[0]
    '加我v-x'
    """
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in _squeeze_char(ch):
            out.append(c)
            origin.append(i)
    return "".join(out), origin


class Guard:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._automaton = ahocorasick.Automaton()
        for rule in self.rules:
            for word in rule.words:
                key, _ = squeeze(word)
                if key:
                    self._automaton.add_word(key, (rule, len(key)))
        self._has_words = len(self._automaton) > 0
        if self._has_words:
            self._automaton.make_automaton()
        self._patterns = [(rule, re.compile(p)) for rule in self.rules for p in rule.patterns]

    def check(self, text: str) -> list[Violation]:
        """Every rule the text breaks, blocks first, each at its first place in the text."""
        squeezed, origin = squeeze(text)
        # Without the separators a pattern may need (".", "@"), words match across punctuation too.
        bare = "".join(c for c in squeezed if c not in "@.%+-:：_")
        bare_origin = [o for c, o in zip(squeezed, origin) if c not in "@.%+-:：_"]
        found: dict[str, Violation] = {}

        def add(rule: Rule, start: int, end: int, where: list[int]) -> None:
            if rule.id in found or not where:
                return
            a, b = where[start], where[end - 1] + 1
            found[rule.id] = Violation(rule.id, rule.reason, rule.action, a, b, text[a:b])

        if self._has_words:
            for source, where in ((squeezed, origin), (bare, bare_origin)):
                for end, (rule, length) in self._automaton.iter(source):
                    add(rule, end - length + 1, end + 1, where)
        for rule, pattern in self._patterns:
            for source, where in ((squeezed, origin), (bare, bare_origin)):
                if m := pattern.search(source):
                    add(rule, m.start(), m.end(), where)
                    break
        return sorted(found.values(), key=lambda v: (v.action != "block", v.start))

    def blocking(self, text: str) -> list[Violation]:
        return [v for v in self.check(text) if v.action == "block"]


def load_rules(folder: str | Path) -> Guard:
    """Read `rules/*.toml` under the knowledge folder. Raises GuardError."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for path in sorted((Path(folder) / "rules").glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise GuardError(f"{path}: not valid TOML: {e}") from None
        for raw in data.get("rule", []):
            rule_id = raw.get("id")
            if not isinstance(rule_id, str) or not rule_id:
                raise GuardError(f"{path}: a rule without an id")
            if rule_id in seen:
                raise GuardError(f"{path}: duplicate rule id {rule_id!r}")
            if raw.get("action") not in ACTIONS:
                raise GuardError(f"{path}: rule {rule_id}: action must be block or warn")
            if not raw.get("words") and not raw.get("patterns"):
                raise GuardError(f"{path}: rule {rule_id}: needs words or patterns")
            for p in raw.get("patterns", []):
                try:
                    re.compile(p)
                except re.error as e:
                    raise GuardError(f"{path}: rule {rule_id}: bad pattern {p!r}: {e}") from None
            seen.add(rule_id)
            rules.append(Rule(id=rule_id, reason=str(raw.get("reason", "")), action=raw["action"],
                              words=tuple(raw.get("words", ())), patterns=tuple(raw.get("patterns", ()))))
    return Guard(rules)
