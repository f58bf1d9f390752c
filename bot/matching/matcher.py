"""The matcher: a buyer's message → the best intents of the knowledge base, or nothing.

normalize → jieba tokens → BM25 candidates (index.py) → rapidfuzz scores on each candidate
(character and token scorers together) → per intent, its best question plus support from its
others → a calibrated 0..1 score; below `threshold` nothing is suggested.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.matching.index import Entry, Index, prepare
from bot.matching.tokenizer import Tokenizer

CANDIDATES = 200


@dataclass(frozen=True)
class Weights:
    """How the scorers combine; tuned with `csbot eval` on held-out messages."""

    chars: float = 0.35  # fuzz.ratio on the normalized characters
    tokens: float = 0.25  # fuzz.token_sort_ratio on the jieba tokens
    partial: float = 0.10  # fuzz.partial_ratio: the question inside a longer message, or the reverse
    bm25: float = 0.30  # BM25 coverage of the message's terms
    support: float = 0.15  # share of an intent's second-best question added to its best
    threshold: float = 0.5


@dataclass(frozen=True)
class Match:
    label: str  # intent id
    score: float  # 0..1
    question: str  # the sample question that matched best
    why: str  # the scorers' parts, for `csbot kb try`


class Matcher:
    """Scores messages against an index. Pure and synchronous: safe to call from any task."""

    def __init__(self, tokenizer: Tokenizer, index: Index, *, weights: Weights = Weights()) -> None:
        self.tokenizer = tokenizer
        self.index = index
        self.weights = weights

    @classmethod
    def build(cls, tokenizer: Tokenizer, labelled: Sequence[tuple[str, str]], *, weights: Weights = Weights()) -> Matcher:
        """A matcher over (label, question) pairs."""
        return cls(tokenizer, Index([prepare(tokenizer, q, label) for label, q in labelled]), weights=weights)

    def rank(self, text: str, *, limit: int = 5) -> list[Match]:
        """The best `limit` labels with their scores, confident or not (for `kb try` and evaluation)."""
        query = prepare(self.tokenizer, text)
        if not query.chars:
            return []
        w = self.weights
        per_label: dict[str, list[tuple[float, Entry, str]]] = defaultdict(list)
        for i, coverage in self.index.candidates(query, limit=CANDIDATES):
            entry = self.index.entries[i]
            chars = fuzz.ratio(query.chars, entry.chars) / 100
            tokens = fuzz.token_sort_ratio(query.token_text, entry.token_text) / 100 if query.tokens else 0.0
            partial = fuzz.partial_ratio(query.chars, entry.chars) / 100 if min(len(query.chars), len(entry.chars)) >= 3 else chars
            score = w.chars * chars + w.tokens * tokens + w.partial * partial + w.bm25 * coverage
            why = f"chars={chars:.2f} tokens={tokens:.2f} partial={partial:.2f} bm25={coverage:.2f}"
            per_label[entry.label].append((score, entry, why))
        matches = []
        for label, scored in per_label.items():
            scored.sort(key=lambda s: -s[0])
            best, entry, why = scored[0]
            second = scored[1][0] if len(scored) > 1 else 0.0
            total = min(1.0, best + w.support * second * (1 - best))
            matches.append(Match(label=label, score=round(total, 4), question=entry.question, why=why))
        matches.sort(key=lambda m: (-m.score, m.label))
        return matches[:limit]

    def suggest(self, text: str, *, limit: int = 3) -> list[Match]:
        """Only the confident matches: an empty list when nothing fits."""
        return [m for m in self.rank(text, limit=limit) if m.score >= self.weights.threshold]
