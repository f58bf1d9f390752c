"""Evaluation of the matcher on labelled messages: top-1/top-3 accuracy, MRR, out-of-scope
rejection, the worst intents and the most frequent confusions, and matching time."""

from __future__ import annotations

import csv
import difflib
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.matching.matcher import Matcher

NONE = "none"


@dataclass(frozen=True)
class Case:
    text: str
    gold: frozenset[str]  # any of these counts; {"none"} for a message that should get nothing


@dataclass
class Report:
    n: int = 0
    in_scope: int = 0
    top1: float = 0.0
    top3: float = 0.0
    mrr: float = 0.0
    oos: int = 0
    oos_rejected: float = 0.0
    false_suggestion_rate: float = 0.0  # in-scope messages whose confident top-1 is wrong
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    worst: list[tuple[str, float, int]] = field(default_factory=list)  # intent, top-1, n
    confusions: list[tuple[str, str, int]] = field(default_factory=list)  # gold, predicted, count
    # One per message: text, gold, shown (the intents an agent would see), top3 [[intent, score]], hit, missed.
    rows: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready; a rate with no message to count over is None (n/a), never 0."""
        out = dict(self.__dict__)
        if not self.in_scope:
            out.update(top1=None, top3=None, mrr=None, false_suggestion_rate=None)
        if not self.oos:
            out["oos_rejected"] = None
        return out

    @property
    def misses(self) -> list[dict]:
        return [row for row in self.rows if row["missed"]]

    def format(self) -> str:
        def rate(value: float, n: int) -> str:
            return f"{value:.3f}" if n else "n/a"

        lines = [
            f"messages {self.n} (in scope {self.in_scope}, out of scope {self.oos})",
            f"top-1 {rate(self.top1, self.in_scope)}  top-3 {rate(self.top3, self.in_scope)}  "
            f"MRR {rate(self.mrr, self.in_scope)}",
            f"out-of-scope rejected {rate(self.oos_rejected, self.oos)}  "
            f"wrong confident top-1 {rate(self.false_suggestion_rate, self.in_scope)}",
            f"matching time p50 {self.p50_ms:.3f} ms  p99 {self.p99_ms:.3f} ms",
        ]
        if self.worst:
            lines.append("worst intents (top-1, n): " + ", ".join(f"{i} {a:.2f} ({n})" for i, a, n in self.worst))
        if self.confusions:
            lines.append("frequent confusions: " + ", ".join(f"{g}→{p} ×{c}" for g, p, c in self.confusions))
        return "\n".join(lines)

    def format_misses(self) -> str:
        """Every missed message: its gold, and the top 3 with scores (✓: what an agent would see)."""
        lines = [f"missed {len(self.misses)} of {self.n}:"]
        for row in self.misses:
            top = ", ".join(f"{'✓' if label in row['shown'] else ' '}{label} {score:.3f}" for label, score in row["top3"])
            lines.append(f"{row['text']}\tgold {row['gold']}\t{top or '(no candidate)'}")
        return "\n".join(lines)


class EvalFileError(ValueError):
    """A labelled file that cannot be read as one: missing, not UTF-8, no header, a row without gold."""


def read_tsv(path: str | Path, *, text_col: str = "text", gold_col: str = "gold_intent") -> list[Case]:
    """Rows of `text<TAB>gold` with a header; gold may list several ids separated by `|`. Lines
    starting with `#` are comments (a data file says there what it was and was not used for)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            numbered = [(n, line) for n, line in enumerate(f, start=1) if not line.startswith("#")]
            reader = csv.DictReader((line for _, line in numbered), delimiter="\t", quoting=csv.QUOTE_NONE)
            if not reader.fieldnames or text_col not in reader.fieldnames or gold_col not in reader.fieldnames:
                raise EvalFileError(f"{path}: needs a header line with the columns {text_col!r} and {gold_col!r} "
                                    f"separated by a tab (found {reader.fieldnames or 'an empty file'})")
            cases = []
            for index, row in enumerate(reader, start=1):
                if not row.get(gold_col) or row.get(text_col) is None:
                    line = numbered[index][0] if index < len(numbered) else "?"
                    raise EvalFileError(f"{path}:{line}: a row needs {text_col!r} and {gold_col!r}")
                cases.append(Case(text=row[text_col], gold=frozenset(row[gold_col].split("|"))))
            return cases
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise EvalFileError(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError as e:
        raise EvalFileError(f"{path}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise EvalFileError(f"{path}: cannot be read ({e.strerror})") from None


def unknown_golds(cases: Iterable[Case], known: Collection[str]) -> dict[str, list[str]]:
    """Gold ids that are neither `none` nor in `known`, each with the near names (for the error)."""
    missing = sorted({g for c in cases for g in c.gold if g != NONE and g not in known})
    return {g: difflib.get_close_matches(g, list(known), n=3, cutoff=0.6) for g in missing}


def read_kb_tsv(path: str | Path) -> list[tuple[str, str]]:
    """(id, question) rows of an evaluation knowledge base such as ../shared/data/eval/*_kb.tsv."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not reader.fieldnames or not {"id", "question"} <= set(reader.fieldnames):
                raise EvalFileError(f"{path}: needs a header line with the columns 'id' and 'question'")
            return [(row["id"], row["question"]) for row in reader]
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as e:
        raise EvalFileError(f"{path}: cannot be read ({type(e).__name__})") from None


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def evaluate(matcher: Matcher, cases: Iterable[Case], *, confident_only: bool = True) -> Report:
    """Score each case. With `confident_only`, an in-scope message counts as found only when its
    gold intent is among the suggestions an agent would see (`Matcher.suggest`: nothing unless the
    best intent is confident, then the best and its runners-up); without it, the raw ranking counts."""
    report = Report()
    hits1 = hits3 = 0
    rr = 0.0
    oos_ok = wrong_confident = 0
    times: list[float] = []
    per_intent: dict[str, list[int]] = defaultdict(list)
    confusions: Counter[tuple[str, str]] = Counter()
    matcher.rank("你好，在吗")  # warm up (first calls into numpy and rapidfuzz), so the timings are of matching
    for case in cases:
        report.n += 1
        started = time.perf_counter()
        ranked = matcher.rank(case.text, limit=3)
        times.append((time.perf_counter() - started) * 1000)
        shown = matcher.shown(ranked) if confident_only else ranked
        labels = [m.label for m in shown]
        row = {"text": case.text, "gold": "|".join(sorted(case.gold)), "shown": labels,
               "top3": [[m.label, round(m.score, 4)] for m in ranked[:3]]}
        report.rows.append(row)
        if NONE in case.gold:
            report.oos += 1
            oos_ok += not labels
            row.update(hit=None, missed=bool(labels))
            continue
        report.in_scope += 1
        hit = next((rank for rank, label in enumerate(labels, 1) if label in case.gold), None)
        row.update(hit=hit, missed=hit != 1)
        hits1 += hit == 1
        hits3 += hit is not None and hit <= 3
        rr += 1 / hit if hit else 0.0
        gold = sorted(case.gold)[0]
        per_intent[gold].append(hit == 1)
        if labels and labels[0] not in case.gold:
            wrong_confident += 1
            confusions[(gold, labels[0])] += 1
        elif not labels:
            confusions[(gold, NONE)] += 1
    if report.in_scope:
        report.top1, report.top3 = hits1 / report.in_scope, hits3 / report.in_scope
        report.mrr = rr / report.in_scope
        report.false_suggestion_rate = wrong_confident / report.in_scope
    if report.oos:
        report.oos_rejected = oos_ok / report.oos
    report.p50_ms, report.p99_ms = _percentile(times, 0.5), _percentile(times, 0.99)
    scored = [(intent, sum(h) / len(h), len(h)) for intent, h in per_intent.items()]
    report.worst = sorted(scored, key=lambda s: (s[1], s[0]))[:5]
    report.confusions = [(g, p, c) for (g, p), c in confusions.most_common(8)]
    return report
