"""Pure: is a buyer message a complaint (投诉), how severe, and which rule said so.

The rules are data (`knowledge/complaints.toml`, see its header); `load_rules` reads them once and
`detect` applies them to one message with what the caller knows about it (the matcher's intents, how
long the buyer has waited, how many angry messages came before).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

SEVERITIES = ("P1", "P2", "P3")  # P1 is the worst


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    category: str
    reason: str
    words: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    min_waiting: timedelta | None = None

    def match(self, text: str) -> str | None:
        """The matched word or text, or None."""
        for word in self.words:
            if word in text:
                return word
        for pattern in self.patterns:
            if m := pattern.search(text):
                return m.group(0)
        return None


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...] = ()
    ignore: tuple[re.Pattern[str], ...] = ()
    angry: Rule | None = None
    angry_repeat: int = 3
    intents: tuple[tuple[str, Rule], ...] = ()  # (intent id, what it means)


@dataclass(frozen=True)
class Complaint:
    severity: str  # P1, P2 or P3
    category: str
    rule: str  # id of the rule that fired: a [[rule]] id, "intent:<id>" or "angry"
    reason: str


class RulesHolder:
    """The rules in service; a reload of the knowledge folder puts new ones in `rules`."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, no spaces: `１２３１５` and `12315` are one word."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def is_angry(text: str, rules: Rules) -> bool:
    return rules.angry is not None and rules.angry.match(_strip_ignored(normalize(text), rules)) is not None


def detect(
    text: str, rules: Rules, *, intents: Sequence[str] = (), waiting: timedelta | None = None,
    angry_before: int = 0,
) -> Complaint | None:
    """The complaint in `text`, or None.

    `intents`: the matcher's intents for it (callers pass its best confident one); `waiting`: how long the buyer has been
    waiting for an answer when it was sent (None: not waiting); `angry_before`: earlier angry
    messages in the same conversation. The worst severity wins; on a tie the first rule in the file.

    >>> r = parse_rules('[[rule]]\\nid="x"\\nseverity="P1"\\ncategory="general"\\nreason="r"\\nwords=["12315"]')
    >>> detect("我要打１２３１５", r).rule
    'x'
    >>> detect("请问怎么退货", r) is None
    True
    """
    clean = _strip_ignored(normalize(text), rules)
    found: list[tuple[int, int, Complaint]] = []
    for n, rule in enumerate(rules.rules):
        if rule.min_waiting is not None and (waiting is None or waiting < rule.min_waiting):
            continue
        if (hit := rule.match(clean)) is not None:
            found.append((SEVERITIES.index(rule.severity), n, _complaint(rule, rule.id, hit)))
    for n, (intent, rule) in enumerate(rules.intents):
        if intent in intents:
            found.append((SEVERITIES.index(rule.severity), len(rules.rules) + n,
                          _complaint(rule, f"intent:{intent}", None)))
    if rules.angry is not None and angry_before + 1 >= rules.angry_repeat:
        if (hit := rules.angry.match(clean)) is not None:
            found.append((SEVERITIES.index(rules.angry.severity), 10**6, _complaint(rules.angry, "angry", hit)))
    if not found:
        return None
    return min(found, key=lambda f: (f[0], f[1]))[2]


def worse(a: str, b: str) -> str:
    """The worse of two severities: worse("P2", "P1") == "P1"."""
    return min(a, b, key=SEVERITIES.index)


def _complaint(rule: Rule, rule_id: str, hit: str | None) -> Complaint:
    reason = f"{rule.reason}（{hit}）" if hit else rule.reason
    return Complaint(severity=rule.severity, category=rule.category, rule=rule_id, reason=reason)


def _strip_ignored(text: str, rules: Rules) -> str:
    for pattern in rules.ignore:
        text = pattern.sub("·", text)
    return text


def load_rules(path: str | Path) -> Rules:
    """Read a rules file. Raises RulesError, also when it is missing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: no such file") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str = "<rules>") -> Rules:
    """Parse the TOML of a rules file. Raises RulesError naming the file and the rule."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RulesError(f"{source}: not valid TOML: {e}") from None
    rules, seen = [], set()
    for n, raw in enumerate(data.get("rule", []), start=1):
        rule = _rule(raw, where=f"{source}: rule #{n}")
        if rule.id in seen:
            raise RulesError(f"{source}: rule {rule.id!r}: duplicate id")
        seen.add(rule.id)
        rules.append(rule)
    ignore = tuple(
        _pattern(p, where=f"{source}: ignore #{n}")
        for n, raw in enumerate(data.get("ignore", []), start=1) for p in raw.get("patterns", [])
    )
    angry, repeat = None, 3
    if "angry" in data:
        raw = dict(data["angry"])
        repeat = raw.pop("repeat", 3)
        if not isinstance(repeat, int) or repeat < 1:
            raise RulesError(f"{source}: angry: repeat must be a positive integer")
        angry = _rule({"id": "angry", **raw}, where=f"{source}: angry")
    intents = tuple(
        (intent, _rule({"id": f"intent:{intent}", **raw}, where=f"{source}: intents.{intent}"))
        for intent, raw in data.get("intents", {}).items()
    )
    return Rules(rules=tuple(rules), ignore=ignore, angry=angry, angry_repeat=repeat, intents=intents)


def _rule(raw: dict, *, where: str) -> Rule:
    known = {"id", "severity", "category", "reason", "words", "patterns", "min_waiting_minutes"}
    if unknown := set(raw) - known:
        raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise RulesError(f"{where}: id is required")
    where = f"{where.split(':')[0]}: {rule_id}"
    if raw.get("severity") not in SEVERITIES:
        raise RulesError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    category = raw.get("category", "general")
    if not isinstance(category, str) or not re.fullmatch(r"[a-z_]+", category):
        raise RulesError(f"{where}: category must be lower-case letters and _")
    words = raw.get("words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
        raise RulesError(f"{where}: words must be a list of non-empty strings")
    waiting = raw.get("min_waiting_minutes")
    if waiting is not None and (not isinstance(waiting, int) or waiting < 0):
        raise RulesError(f"{where}: min_waiting_minutes must be a whole number of minutes")
    patterns = tuple(_pattern(p, where=where) for p in raw.get("patterns", []))
    if not words and not patterns and not rule_id.startswith("intent:"):
        raise RulesError(f"{where}: a rule needs words or patterns")
    return Rule(
        id=rule_id, severity=raw["severity"], category=category, reason=str(raw.get("reason", rule_id)),
        words=tuple(normalize(w) for w in words), patterns=patterns,
        min_waiting=None if waiting is None else timedelta(minutes=waiting),
    )


def _pattern(pattern: object, *, where: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise RulesError(f"{where}: patterns must be strings")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise RulesError(f"{where}: bad pattern {pattern!r}: {e}") from None
