"""Changes to the knowledge files, as the /kb page and the learning queue make them: each is a
`Proposal` (the new text of each file it touches, and the text it was based on), tried on a copy of
the folder before anything is written: every `kb lint` check and the compliance rules (problems
carry the field they are about), then the held-out evaluation of the proposed base.

Building a proposal is pure; `trial` is blocking (seconds): run it in a thread."""

from __future__ import annotations

import re
import shutil
import tempfile
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.guard import GuardError, load_rules
from bot.matching import kb_files
from bot.matching.engine import build_engine
from bot.matching.impact import HeldOut, measure
from bot.matching.kb import INTENT_ID, PLACEHOLDERS, PLATFORMS, Problem, load, placeholders
from bot.matching.kb_files import ReplyText
from bot.matching.lint import refusals

OFF_TOPIC = "off_topic.toml"


class ProposalError(ValueError):
    """The request cannot become a change (unknown id, bad values); `field` says where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FieldProblem:
    field: str | None  # "title", "questions", "questions.3", "replies.0.text", "id"; None: the base as a whole
    message: str
    severity: str = "error"
    file: str = ""
    line: int = 0

    def as_dict(self) -> dict:
        return {"field": self.field, "message": self.message, "severity": self.severity,
                "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Proposal:
    action: str  # edit_intent, add_intent, retire_intent, move_question, edit_topic, add_topic, undo, learn
    summary: str  # for a person: what changes
    texts: Mapping[str, str]  # path relative to the folder -> new text
    before: Mapping[str, str | None]  # the text it is based on (None: a new file)
    touched: frozenset[str]  # ids whose questions or replies change
    target: str = ""  # the id the fields are about
    questions: tuple[str, ...] = ()  # the target's questions after the change (for the fields)
    replies: tuple[ReplyText, ...] = ()
    meta: Mapping[str, object] = field(default_factory=dict)


def snapshot(folder: Path) -> dict[str, str]:
    """The editable files: relative path -> text."""
    files = sorted((folder / "intents").glob("*.toml"))
    if (folder / OFF_TOPIC).is_file():
        files.append(folder / OFF_TOPIC)
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in files}


def locate(texts: Mapping[str, str], table_id: str) -> tuple[str, str] | None:
    """(file, "intent" | "topic") of the table with this id, as the files are now."""
    for rel, text in texts.items():
        key = "topic" if rel == OFF_TOPIC else "intent"
        try:
            tables = tomllib.loads(text).get(key, [])
        except tomllib.TOMLDecodeError:
            continue
        if isinstance(tables, list) and any(isinstance(t, dict) and t.get("id") == table_id for t in tables):
            return rel, key
    return None


def _clean_questions(questions: object) -> tuple[str, ...]:
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise ProposalError("questions must be a list of strings", "questions")
    out, seen = [], set()
    for q in questions:
        q = q.strip()
        if q and q not in seen:
            seen.add(q)
            out.append(q)
    return tuple(out)


def _clean_replies(replies: object) -> tuple[ReplyText, ...]:
    if not isinstance(replies, list):
        raise ProposalError("replies must be a list of {platform, text}", "replies")
    out = []
    for i, r in enumerate(replies):
        if not isinstance(r, dict) or not isinstance(r.get("text"), str):
            raise ProposalError("each reply needs a text", f"replies.{i}.text")
        platform = r.get("platform") or None
        if platform is not None and (not isinstance(platform, str) or platform not in PLATFORMS):  # a list was a 500
            raise ProposalError("platform must be wangwang, dongdong or empty", f"replies.{i}.platform")
        out.append(ReplyText(r["text"].strip(), platform))
    return tuple(out)


def _title(value: object) -> str:
    if not isinstance(value, str):
        raise ProposalError("title must be a string", "title")
    return value.strip()


def edit_table(texts: Mapping[str, str], table_id: str, body: Mapping[str, object]) -> Proposal:
    """An intent's (or off-topic subject's) title, questions and replies, as the page sends them."""
    found = locate(texts, table_id)
    if found is None:
        raise ProposalError(f"no intent or off-topic subject {table_id!r}", "id")
    rel, key = found
    title = _title(body.get("title"))
    questions = _clean_questions(body.get("questions"))
    replies = _clean_replies(body.get("replies", [])) if key == "intent" else ()
    new = kb_files.set_intent(texts[rel], table_id, title=title, questions=questions, replies=replies, key=key)
    kind = "off-topic subject" if key == "topic" else "intent"
    return Proposal(action=f"edit_{key}", summary=f"edit {kind} {table_id}", texts={rel: new},
                    before={rel: texts[rel]}, touched=frozenset({table_id}), target=table_id,
                    questions=questions, replies=replies)


def add_table(texts: Mapping[str, str], table_id: object, body: Mapping[str, object], *,
              topic: bool = False) -> Proposal:
    """A new intent, in `intents/<group>.toml` (a new file for a new group), or a new off-topic subject."""
    if not isinstance(table_id, str) or not INTENT_ID.match(table_id):
        raise ProposalError("the id must look like group.name (lower case letters, digits, _)", "id")
    if locate(texts, table_id) is not None:
        raise ProposalError(f"{table_id!r} already exists", "id")
    title = _title(body.get("title"))
    questions = _clean_questions(body.get("questions"))
    replies = () if topic else _clean_replies(body.get("replies", []))
    rel = OFF_TOPIC if topic else f"intents/{table_id.split('.')[0]}.toml"
    current = texts.get(rel)
    new = kb_files.add_intent(current or "", table_id, title=title, questions=questions, replies=replies,
                              key="topic" if topic else "intent")
    kind = "off-topic subject" if topic else "intent"
    return Proposal(action="add_topic" if topic else "add_intent", summary=f"add {kind} {table_id}",
                    texts={rel: new}, before={rel: current}, touched=frozenset({table_id}), target=table_id,
                    questions=questions, replies=replies)


def retire(texts: Mapping[str, str], table_id: str) -> Proposal:
    found = locate(texts, table_id)
    if found is None:
        raise ProposalError(f"no intent or off-topic subject {table_id!r}", "id")
    rel, key = found
    if kb_files.table_of(texts[rel], table_id, key=key).get("template") is True:
        raise ProposalError(f"{table_id} is a template the bot sends by itself; it cannot be retired", "id")
    return Proposal(action="retire", summary=f"retire {table_id}",
                    texts={rel: kb_files.remove_intent(texts[rel], table_id, key=key)}, before={rel: texts[rel]},
                    touched=frozenset(), target=table_id)


def move_question(texts: Mapping[str, str], question: object, source: object, to: object) -> Proposal:
    """One sample question from one intent (or subject) to another."""
    if not isinstance(question, str) or not question.strip():
        raise ProposalError("question must be a non-empty string", "question")
    question = question.strip()
    where = {}
    for name, table_id in (("from", source), ("to", to)):
        found = locate(texts, table_id) if isinstance(table_id, str) else None
        if found is None:
            raise ProposalError(f"no intent or off-topic subject {table_id!r}", name)
        where[name] = found
    if source == to:
        raise ProposalError("from and to are the same", "to")
    new = dict(texts)
    (rel_from, key_from), (rel_to, key_to) = where["from"], where["to"]
    old_questions = kb_files.questions_of(new[rel_from], source, key=key_from)
    if question not in old_questions:
        raise ProposalError(f"{source} has no question {question!r}", "question")
    table_from = kb_files.table_of(new[rel_from], source, key=key_from)
    new[rel_from] = kb_files.set_intent(
        new[rel_from], source, title=str(table_from.get("title", "")),
        questions=[q for q in old_questions if q != question], replies=_replies_of(table_from), key=key_from)
    return _add_questions(new, texts, to, [question], key=key_to, rel=rel_to, action="move_question",
                          summary=f"move {question!r} from {source} to {to}", touched={source, to})


def add_questions(texts: Mapping[str, str], table_id: object, questions: Sequence[str], *, action: str = "learn",
                  summary: str = "") -> Proposal:
    """Questions added to an intent or off-topic subject (those it already has are skipped)."""
    found = locate(texts, table_id) if isinstance(table_id, str) else None
    if found is None:
        raise ProposalError(f"no intent or off-topic subject {table_id!r}", "intent")
    rel, key = found
    return _add_questions(dict(texts), texts, table_id, list(questions), key=key, rel=rel, action=action,
                          summary=summary or f"add {len(questions)} question(s) to {table_id}", touched={table_id})


def _add_questions(new: dict[str, str], texts: Mapping[str, str], table_id: str, questions: list[str], *, key: str,
                   rel: str, action: str, summary: str, touched: set[str]) -> Proposal:
    table = kb_files.table_of(new[rel], table_id, key=key)
    old = [str(q) for q in table.get("questions", [])]
    merged = tuple(old + [q for q in dict.fromkeys(q.strip() for q in questions) if q and q not in old])
    new[rel] = kb_files.set_intent(new[rel], table_id, title=str(table.get("title", "")), questions=merged,
                                   replies=_replies_of(table), key=key)
    changed = {r: t for r, t in new.items() if t != texts.get(r)}
    return Proposal(action=action, summary=summary, texts=changed, before={r: texts.get(r) for r in changed},
                    touched=frozenset(touched), target=table_id, questions=merged, replies=_replies_of(table))


def set_reply(texts: Mapping[str, str], table_id: object, text: object, *, platform: str | None = None) -> Proposal:
    """An agent's wording as the intent's first reply for that platform (or its first general reply)."""
    found = locate(texts, table_id) if isinstance(table_id, str) else None
    if found is None or found[1] != "intent":
        raise ProposalError(f"no intent {table_id!r}", "intent")
    if not isinstance(text, str) or not text.strip():
        raise ProposalError("the reply text must not be empty", "text")
    rel, _ = found
    table = kb_files.table_of(texts[rel], table_id)
    replies = list(_replies_of(table))
    index = next((i for i, r in enumerate(replies) if r.platform == platform), None)
    if index is None:
        replies.append(ReplyText(text.strip(), platform))
    else:
        replies[index] = ReplyText(text.strip(), platform)
    new = kb_files.set_intent(texts[rel], table_id, title=str(table.get("title", "")),
                              questions=[str(q) for q in table.get("questions", [])], replies=replies)
    return Proposal(action="save_reply", summary=f"agent's reply saved as {table_id}'s reply", texts={rel: new},
                    before={rel: texts[rel]}, touched=frozenset({table_id}), target=table_id,
                    questions=tuple(str(q) for q in table.get("questions", [])), replies=tuple(replies))


def restore(texts: Mapping[str, str], files: Sequence[Mapping[str, str | None]], summary: str) -> Proposal:
    """Undo: each file back to its text before the change; None if a file changed since."""
    new, before = {}, {}
    for f in files:
        rel = str(f["path"])
        if texts.get(rel) != f["after"]:
            raise ProposalError(f"{rel} changed after this change; undo the later changes first", "files")
        new[rel], before[rel] = f["before"] or "", f["after"]
    return Proposal(action="undo", summary=summary, texts=new, before=before, touched=frozenset())


def _replies_of(table: Mapping) -> tuple[ReplyText, ...]:
    return tuple(ReplyText(str(r.get("text", "")), r.get("platform")) for r in table.get("reply", []))


@dataclass
class Trial:
    problems: list[FieldProblem]
    figures: dict | None  # the held-out measurement of the proposed base (None when it has errors)
    signature: int = 0


def trial(folder: Path, proposal: Proposal, sets: Sequence[HeldOut]) -> Trial:
    """The proposal applied to a copy of `folder`: what `kb lint` refuses of it, then its figures."""
    with tempfile.TemporaryDirectory(prefix="csbot-kb-") as temp:
        copy = Path(temp) / "knowledge"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".*"))
        for rel, text in proposal.texts.items():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_text(text, encoding="utf-8")
        kb, problems = load(copy)
        try:
            guard = load_rules(copy)
        except GuardError as e:
            problems.append(Problem(str(copy / "rules"), 1, str(e)))
        else:
            problems += refusals(kb, guard, among=proposal.touched)
        mapped = [_field_problem(p, proposal, copy) for p in problems]
        if mapped:
            return Trial(mapped, None)
        engine = build_engine(copy)
        return Trial([], measure(engine.matcher, sets), signature(engine.kb))


_QUESTION_PAIR = re.compile(r"^question (?P<q>'.*') of (?P<a>\S+) is nearly the same as (?P<p>'.*') of (?P<b>\S+) \(")


def _field_problem(problem: Problem, proposal: Proposal, copy: Path) -> FieldProblem:
    try:
        file = str(Path(problem.file).relative_to(copy))
    except ValueError:
        file = problem.file
    message, target = problem.message, proposal.target

    def made(field_name: str | None) -> FieldProblem:
        return FieldProblem(field_name, message, problem.severity, file, problem.line)

    if not target:
        return made(None)
    if (pair := _QUESTION_PAIR.match(message)) is not None:
        for id_key, q_key in (("a", "q"), ("b", "p")):
            if pair.group(id_key) == target:
                question = _unquote(pair.group(q_key))
                index = next((i for i, q in enumerate(proposal.questions) if q == question), None)
                return made(f"questions.{index}" if index is not None else "questions")
        return made(None)
    about = re.match(rf"^(intent|topic) {re.escape(target)}: ", message)
    if f"id {target!r}" in message:
        return made("id")
    if not about:
        return made(None)
    if "title" in message:
        return made("title")
    if "question" in message or "example messages" in message:
        return made("questions")
    if "placeholders" in message or "reply" in message:
        return made(_reply_field(message, proposal.replies))
    return made(None)


def _unquote(quoted: str) -> str:
    return quoted[1:-1].replace("\\'", "'")


def _reply_field(message: str, replies: Sequence[ReplyText]) -> str:
    names = re.search(r"unknown placeholders \[([^\]]*)\]", message)
    if names:
        wanted = {n.strip().strip("'\"") for n in names.group(1).split(",")}
        for i, r in enumerate(replies):
            if placeholders(r.text) - PLACEHOLDERS & wanted or "<unbalanced braces>" in wanted and \
                    "<unbalanced braces>" in placeholders(r.text):
                return f"replies.{i}.text"
    span = re.search(r" at '(.*)'$", message)
    if span:
        for i, r in enumerate(replies):
            if span.group(1) and span.group(1) in r.text:
                return f"replies.{i}.text"
    return "replies"


def signature(kb) -> int:
    """The same for two bases with the same content wherever their files are (the figures' cache key)."""
    return hash((tuple((i.id, i.title, i.questions, i.replies, i.keywords, i.auto_reply, i.template)
                       for i in (*kb.intents, *kb.off_topic)), kb.synonyms))
