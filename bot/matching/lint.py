"""`csbot kb lint`: the loader's problems, plus conflicts between intents that make the matcher guess."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from rapidfuzz import fuzz, process

from bot.guard import Guard, GuardError, load_rules
from bot.matching.kb import KnowledgeBase, Problem, load
from bot.matching.normalize import normalize

CONFLICT_SIMILARITY = 92  # fuzz.ratio of normalized questions: above it, two questions say the same


def conflicts(kb: KnowledgeBase, *, cutoff: int = CONFLICT_SIMILARITY,
              among: Collection[str] | None = None) -> list[Problem]:
    """The same or nearly the same sample question in two intents, or in an intent and an off-topic
    subject (two off-topic subjects may overlap: either way nothing is suggested). With `among`, only
    the pairs that involve one of those ids (what an edit of them could have caused)."""
    off_topic = {topic.id for topic in kb.off_topic}
    rows = [(intent, q, normalize(q).replace(" ", "")) for intent in (*kb.matchable, *kb.off_topic)
            for q in intent.questions]
    norms = [r[2] for r in rows]
    picked = range(len(rows)) if among is None else [i for i, r in enumerate(rows) if r[0].id in among]
    matrix = process.cdist([norms[i] for i in picked], norms, scorer=fuzz.ratio, score_cutoff=cutoff, workers=1)
    problems = []
    for row, i in enumerate(picked):
        for j in range(len(rows)):
            if among is None and j <= i or among is not None and j in picked and j <= i:
                continue
            a, b = (rows[i], rows[j]) if i < j else (rows[j], rows[i])
            if matrix[row, j] and a[0].id != b[0].id and a[2] and not {a[0].id, b[0].id} <= off_topic:
                problems.append(Problem(
                    b[0].file, b[0].line,
                    f"question {b[1]!r} of {b[0].id} is nearly the same as {a[1]!r} of {a[0].id} "
                    f"({a[0].file}:{a[0].line}); the matcher would have to guess",
                    severity="warning",
                ))
    return problems


def against_rules(kb: KnowledgeBase, guard: Guard) -> list[Problem]:
    """The base's own replies must pass the compliance guard: a blocked one is an error."""
    problems = []
    for intent in kb.intents:
        for reply in intent.replies:
            for v in guard.check(reply.text):
                severity = "error" if v.action == "block" else "warning"
                problems.append(Problem(intent.file, intent.line, f"intent {intent.id}: reply breaks rule {v.rule} "
                                        f"({v.reason}) at {v.matched!r}", severity=severity))
    return problems


def refusals(kb: KnowledgeBase, guard: Guard, *, among: Collection[str] | None = None) -> list[Problem]:
    """What `kb lint` refuses beyond the loader's errors: conflicts and replies against the compliance
    rules (a blocking rule is an error, a warning rule a warning; `kb lint` fails on both)."""
    return conflicts(kb, among=among) + against_rules(kb, guard)


def lint(folder: str | Path) -> list[Problem]:
    kb, problems = load(folder)
    try:
        guard = load_rules(folder)
    except GuardError as e:
        return [*problems, Problem(str(Path(folder) / "rules"), 1, str(e)), *conflicts(kb)]
    return problems + refusals(kb, guard)
