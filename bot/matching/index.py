"""An immutable retrieval index over the knowledge base's questions: BM25 over jieba tokens and
character bigrams. It narrows thousands of questions to a few hundred candidates for rapidfuzz.
Built whole (pure, no I/O), then swapped in on reload."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bot.matching.normalize import normalize
from bot.matching.tokenizer import Tokenizer

K1, B = 1.2, 0.75


@dataclass(frozen=True)
class Entry:
    """One sample question, prepared for scoring."""

    label: str  # the intent id (or, for an evaluation base, any id)
    question: str
    chars: str  # normalized, without spaces
    tokens: tuple[str, ...]
    token_text: str  # the tokens sorted and joined, for rapidfuzz's token scorers


def terms(tokens: Sequence[str], chars: str) -> list[str]:
    """Index terms: the tokens, and the character bigrams (robust to segmentation differences)."""
    grams = [chars[i:i + 2] for i in range(len(chars) - 1)] or ([chars] if chars else [])
    return [*tokens, *("#" + g for g in grams)]


def prepare(tokenizer: Tokenizer, text: str, label: str = "") -> Entry:
    norm = normalize(text)
    tokens = tuple(tokenizer.tokens(norm))
    chars = norm.replace(" ", "")
    return Entry(label=label, question=text, chars=chars, tokens=tokens, token_text=" ".join(sorted(tokens)))


class Index:
    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = tuple(entries)
        doc_terms = [Counter(terms(e.tokens, e.chars)) for e in self.entries]
        n = max(len(doc_terms), 1)
        avg_len = sum(sum(c.values()) for c in doc_terms) / n or 1.0
        df: Counter[str] = Counter(t for c in doc_terms for t in c)
        self._idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self._unseen_idf = math.log(1 + (n + 0.5) / 0.5)  # a term no question has: as rare as can be
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for doc, counts in enumerate(doc_terms):
            length = sum(counts.values())
            for term, tf in counts.items():
                weight = self._idf[term] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg_len))
                ids, weights = postings[term]
                ids.append(doc)
                weights.append(weight)
        self._postings = {
            t: (np.asarray(ids, dtype=np.int32), np.asarray(ws, dtype=np.float32)) for t, (ids, ws) in postings.items()
        }

    def __len__(self) -> int:
        return len(self.entries)

    def candidates(self, query: Entry, *, limit: int) -> list[tuple[int, float]]:
        """Up to `limit` (entry index, BM25 coverage in 0..1) sharing at least one term, best first.

        Coverage is the BM25 score over the best that the query's terms could reach, so that a
        short query and a long one are on the same scale.
        """
        query_terms = set(terms(query.tokens, query.chars))
        known = [t for t in query_terms if t in self._postings]
        if not known or not self.entries:
            return []
        scores = np.zeros(len(self.entries), dtype=np.float32)
        for term in known:
            ids, weights = self._postings[term]
            scores[ids] += weights
        hit = np.flatnonzero(scores)
        if len(hit) > limit:
            hit = hit[np.argpartition(scores[hit], -limit)[-limit:]]
        # Terms no question has count in the ceiling: a message mostly about something else scores low.
        ceiling = sum(self._idf.get(t, self._unseen_idf) for t in query_terms) * (K1 + 1) / (1 + K1 * (1 - B))
        order = hit[np.argsort(-scores[hit], kind="stable")]
        return [(int(i), min(1.0, float(scores[i]) / ceiling)) for i in order]
