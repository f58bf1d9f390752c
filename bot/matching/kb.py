"""The knowledge base: intents, their sample questions and scripted replies (话术), loaded from
`knowledge/` and checked. Errors carry file:line; a base with errors is never served."""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDERS = frozenset({
    "buyer", "shop_name", "ship_hours", "return_days", "service_hours", "price_protect_days", "courier",
    "order_id", "item", "amount", "close_time", "count",
})
# What a reply says when a value is unknown: never a raw {placeholder} in front of a buyer.
FALLBACKS = {
    "buyer": "亲", "order_id": "您的订单", "item": "您拍下的宝贝", "amount": "订单金额",
    "close_time": "订单关闭前", "count": "几", "shop_name": "本店", "courier": "合作快递",
}
MIN_QUESTIONS = 12  # knowledge/README.md: "sample questions, at least 12"
INTENT_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
INTENT_KEYS = {"id", "title", "questions", "keywords", "auto_reply", "template", "reply"}
PLATFORMS = {"wangwang", "dongdong"}


@dataclass(frozen=True)
class Reply:
    text: str
    platform: str | None = None  # None: for every platform without its own wording


@dataclass(frozen=True)
class Intent:
    id: str
    title: str
    questions: tuple[str, ...]
    replies: tuple[Reply, ...]
    keywords: tuple[str, ...] = ()
    auto_reply: bool = False  # safe for the bot to answer alone, outside shifts
    template: bool = False  # sent by the bot (reminders), never matched against buyers
    file: str = ""
    line: int = 0

    def reply(self, platform: str | None = None) -> Reply:
        """The platform's own wording if it has one, else the first general reply."""
        own = [r for r in self.replies if r.platform == platform]
        general = [r for r in self.replies if r.platform is None]
        return (own or general or list(self.replies))[0]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str
    severity: str = "error"  # error: not loaded; warning: loaded, but `kb lint` fails

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class KnowledgeBase:
    folder: Path
    intents: tuple[Intent, ...]
    synonyms: tuple[tuple[str, ...], ...] = ()
    userdict: Path | None = None
    by_id: Mapping[str, Intent] = field(default_factory=dict)
    # Messages the shop does not answer (`off_topic.toml`), grouped by subject: matched like intents,
    # and a message closer to one of them than to any intent gets no suggestion. No replies.
    off_topic: tuple[Intent, ...] = ()

    @property
    def matchable(self) -> tuple[Intent, ...]:
        return tuple(i for i in self.intents if not i.template)


class KnowledgeBaseError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def fill(template: str, values: Mapping[str, object]) -> str:
    """Fill {placeholders}; a missing or empty value takes its fallback wording, never stays raw."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        value = values.get(name)
        out.append(str(value) if value not in (None, "") else FALLBACKS.get(name, ""))
    return "".join(out)


def placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return {"<unbalanced braces>"}


def _line_of(text: str, needle: str, nth: int = 0) -> int:
    """The line of the `nth` (0-based) occurrence of `needle`, or 1."""
    index = -1
    for _ in range(nth + 1):
        index = text.find(needle, index + 1)
        if index < 0:
            return 1
    return text.count("\n", 0, index) + 1


def _id_line(text: str, table_id: str, nth: int = 0) -> int:
    """The line of the `nth` table whose `id = "..."` is `table_id` (a duplicate's own line)."""
    found = [m.start() for m in re.finditer(rf'^\s*id\s*=\s*"{re.escape(table_id)}"', text, re.M)]
    if nth < len(found):
        return text.count("\n", 0, found[nth]) + 1
    return _line_of(text, f'"{table_id}"', nth)


def load(folder: str | Path) -> tuple[KnowledgeBase, list[Problem]]:
    """Read every `intents/*.toml`, `off_topic.toml`, `synonyms.toml` and `dict/userdict.txt` under `folder`.

    Returns the base and its problems; use `load_valid` to refuse a base with errors.
    """
    folder = Path(folder)
    problems: list[Problem] = []
    intents: list[Intent] = []
    seen: dict[str, Intent] = {}
    files = sorted((folder / "intents").glob("*.toml"))
    if not files:
        problems.append(Problem(str(folder / "intents"), 1, "no intent files (intents/*.toml)"))
    for path in files:
        for intent in _load_file(path, problems):
            if intent.id in seen:
                first = seen[intent.id]
                problems.append(Problem(intent.file, intent.line,
                                        f"duplicate intent id {intent.id!r} (first at {first.file}:{first.line})"))
                continue
            seen[intent.id] = intent
            intents.append(intent)
    off_topic = []
    for topic in _load_off_topic(folder / "off_topic.toml", problems):
        if topic.id in seen:
            first = seen[topic.id]
            problems.append(Problem(topic.file, topic.line, f"off-topic id {topic.id!r} is already an intent's "
                                                            f"({first.file}:{first.line})"))
            continue
        seen[topic.id] = topic
        off_topic.append(topic)
    synonyms = _load_synonyms(folder / "synonyms.toml", problems)
    userdict = folder / "dict" / "userdict.txt"
    kb = KnowledgeBase(folder=folder, intents=tuple(intents), synonyms=synonyms,
                       userdict=userdict if userdict.is_file() else None,
                       by_id={i.id: i for i in intents}, off_topic=tuple(off_topic))
    return kb, problems


def load_valid(folder: str | Path) -> KnowledgeBase:
    """The base, or KnowledgeBaseError with its errors (warnings do not stop it)."""
    kb, problems = load(folder)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise KnowledgeBaseError(errors)
    return kb


def _read_tables(path: Path, key: str, problems: list[Problem]) -> tuple[list, str]:
    """The `[[key]]` tables of a TOML file and its text ([] after a problem that stops reading it)."""
    file = str(path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        found = re.search(r"line (\d+)", str(e))
        line = int(found.group(1)) if found else 1
        problems.append(Problem(file, line, f"not valid TOML: {e}"))
        return [], text
    unknown = set(data) - {key}
    if unknown:
        problems.append(Problem(file, 1, f"unknown top-level keys {sorted(unknown)} (only [[{key}]] tables)"))
    tables = data.get(key, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(Problem(file, _line_of(text, key), f"{key} must be an array of tables: [[{key}]]"))
        return [], text
    return tables, text


def _load_file(path: Path, problems: list[Problem]) -> list[Intent]:
    raw_intents, text = _read_tables(path, "intent", problems)
    seen: dict[str, int] = {}
    out = []
    for raw in raw_intents:
        nth = seen.get(raw.get("id"), 0) if isinstance(raw.get("id"), str) else 0
        if isinstance(raw.get("id"), str):
            seen[raw["id"]] = nth + 1
        if (i := _intent(raw, str(path), text, problems, nth=nth)) is not None:
            out.append(i)
    return out


def _intent(raw: dict, file: str, text: str, problems: list[Problem], *, nth: int = 0) -> Intent | None:
    intent_id = raw.get("id")
    line = _id_line(text, intent_id, nth) if isinstance(intent_id, str) else 1

    def problem(message: str, severity: str = "error") -> None:
        problems.append(Problem(file, line, message, severity))

    if not isinstance(intent_id, str) or not INTENT_ID.match(intent_id):
        problem(f"intent id {intent_id!r} must look like group.name (lower case)")
        return None
    where = f"intent {intent_id}"
    unknown = set(raw) - INTENT_KEYS
    if unknown:
        problem(f"{where}: unknown keys {sorted(unknown)}")
    template = raw.get("template", False) is True
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        problem(f"{where}: title must not be empty")
    questions = _questions(raw, where, problem)
    if not template and len(questions) < MIN_QUESTIONS:
        problem(f"{where}: {len(questions)} sample questions; at least {MIN_QUESTIONS} are needed")
    replies = []
    raw_replies = raw.get("reply", [])
    if not isinstance(raw_replies, list):
        raw_replies = []
    for r in raw_replies:
        if not isinstance(r, dict) or not isinstance(r.get("text"), str) or not r["text"].strip():
            problem(f"{where}: every [[intent.reply]] needs a non-empty text")
            continue
        platform = r.get("platform")
        if platform is not None and platform not in PLATFORMS:
            problem(f"{where}: reply platform {platform!r} is not wangwang or dongdong")
        unknown_names = placeholders(r["text"]) - PLACEHOLDERS
        if unknown_names:
            problem(f"{where}: unknown placeholders {sorted(unknown_names)} (known: {', '.join(sorted(PLACEHOLDERS))})")
        replies.append(Reply(text=r["text"].strip(), platform=platform))
    if not replies:
        problem(f"{where}: no reply")
    elif all(r.platform is not None for r in replies):
        problem(f"{where}: needs a reply without platform, for the platforms without their own wording")
    keywords = raw.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        problem(f"{where}: keywords must be a list of strings")
        keywords = []
    return Intent(
        id=intent_id, title=str(title).strip() if isinstance(title, str) and title.strip() else intent_id, questions=tuple(questions),
        replies=tuple(replies), keywords=tuple(keywords), auto_reply=raw.get("auto_reply", False) is True,
        template=template, file=file, line=line,
    )


def _questions(raw: dict, where: str, problem: Callable[[str], None]) -> list[str]:
    """The table's `questions`, stripped, without empty ones (none after a problem)."""
    questions = raw.get("questions", [])
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        problem(f"{where}: questions must be a list of strings")
        return []
    return [q.strip() for q in questions if q.strip()]


def _load_off_topic(path: Path, problems: list[Problem]) -> list[Intent]:
    """`[[topic]]` tables: an id, a title and example messages; no replies, as nothing is answered."""
    if not path.is_file():
        return []
    raw_topics, text = _read_tables(path, "topic", problems)
    file = str(path)
    topics, seen, count = [], set(), {}
    for raw in raw_topics:
        topic_id = raw.get("id")
        if isinstance(topic_id, str):
            count[topic_id] = count.get(topic_id, 0) + 1
        line = _id_line(text, topic_id, count[topic_id] - 1) if isinstance(topic_id, str) else 1
        if not isinstance(topic_id, str) or not INTENT_ID.match(topic_id):
            problems.append(Problem(file, line, f"topic id {topic_id!r} must look like group.name (lower case)"))
            continue
        if topic_id in seen:
            problems.append(Problem(file, line, f"duplicate topic id {topic_id!r}"))
            continue
        seen.add(topic_id)
        unknown = set(raw) - {"id", "title", "questions"}
        if unknown:
            problems.append(Problem(file, line, f"topic {topic_id}: unknown keys {sorted(unknown)}"))
        questions = _questions(raw, f"topic {topic_id}", lambda m: problems.append(Problem(file, line, m)))
        if not questions:
            problems.append(Problem(file, line, f"topic {topic_id}: no example messages"))
            continue
        topics.append(Intent(id=topic_id, title=str(raw.get("title") or topic_id), questions=tuple(questions),
                             replies=(), file=file, line=line))
    return topics


def _load_synonyms(path: Path, problems: list[Problem]) -> tuple[tuple[str, ...], ...]:
    if not path.is_file():
        return ()
    text = path.read_text(encoding="utf-8")
    try:
        groups = tomllib.loads(text).get("groups", [])
    except tomllib.TOMLDecodeError as e:
        problems.append(Problem(str(path), 1, f"not valid TOML: {e}"))
        return ()
    out, owner = [], {}
    for group in groups:
        if not isinstance(group, list) or len(group) < 2 or not all(isinstance(w, str) for w in group):
            problems.append(Problem(str(path), 1, f"a synonym group must list at least two words: {group!r}"))
            continue
        for word in group:
            if word in owner:
                problems.append(Problem(str(path), _line_of(text, f'"{word}"'),
                                        f"{word!r} is in two synonym groups ({owner[word]!r} and {group[0]!r})"))
            owner[word] = group[0]
        out.append(tuple(group))
    return tuple(out)
