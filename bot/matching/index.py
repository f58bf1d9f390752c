"""An immutable retrieval index over the knowledge base's questions: BM25 over jieba tokens and
character bigrams, per question and per intent (an intent's questions pooled). It narrows thousands
of questions to a few hundred candidates for rapidfuzz, and says how much of a message each intent's
vocabulary covers. Built whole (pure, no I/O), then swapped in on reload."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from bot.matching.normalize import normalize
from bot.matching.tokenizer import Tokenizer

K1, B = 1.2, 0.75
GRAM = "#"  # prefix that tells a character bigram from a jieba token among the index terms
# A term in more questions than this (and more than COMMON_SHARE of them) does not select candidates,
# it only adds to the score of those the rarer terms selected: a large base stays fast, and a term that
# common says little about which question fits.
COMMON_MIN, COMMON_SHARE = 200, 0.02


@dataclass(frozen=True)
class Entry:
    """One sample question (or a message), prepared for scoring."""

    label: str  # the intent id (or, for an evaluation base, any id)
    question: str
    chars: str  # normalized, without spaces
    tokens: tuple[str, ...]
    token_text: str  # the tokens sorted and joined, for rapidfuzz's token scorers

    @cached_property
    def term_set(self) -> frozenset[str]:
        """`terms` as a set, computed once for a message that both candidates and evidence look up
        (a base's own entries never ask, so they don't keep one)."""
        return frozenset(terms(self.tokens, self.chars))


@dataclass(frozen=True)
class Evidence:
    """What the index knows about a message, per label (arrays indexed like `Index.labels`).

    All values are in 0..1 and IDF-weighted, so a match that rests on common words ("什么", "#怎么")
    counts for little, and words no question uses (a message about something else) count against.
    """

    bm25: np.ndarray  # BM25 of the message against the label's pooled questions, over its ceiling
    token_cover: np.ndarray  # share of the message's token IDF mass found in the label's vocabulary
    gram_cover: np.ndarray  # the same for character bigrams
    known: float  # share of the message's token IDF mass found anywhere in the base
    token_mass: float  # the message's token IDF mass, in units of an unseen word's IDF


def terms(tokens: Sequence[str], chars: str) -> list[str]:
    """Index terms: the tokens, and the character bigrams (robust to segmentation differences)."""
    grams = [chars[i:i + 2] for i in range(len(chars) - 1)] or ([chars] if chars else [])
    return [*tokens, *(GRAM + g for g in grams)]


def prepare(tokenizer: Tokenizer, text: str, label: str = "") -> Entry:
    norm = normalize(text)
    tokens = tuple(tokenizer.tokens(norm))
    chars = norm.replace(" ", "")
    return Entry(label=label, question=text, chars=chars, tokens=tokens, token_text=" ".join(sorted(tokens)))


def _ceiling(idf_mass: float) -> float:
    """The best BM25 a message's terms could reach, from the sum of their IDFs. Terms no question
    has count in the ceiling: a message mostly about something else scores low."""
    return idf_mass * (K1 + 1) / (1 + K1 * (1 - B)) or 1.0


def _bm25_postings(docs: Sequence[Counter[str]], *, postings: bool = True,
                   ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, float], float]:
    """Postings (doc ids, BM25 term weights), the IDF of each term, and the IDF of an unseen term."""
    n = max(len(docs), 1)
    avg_len = sum(sum(c.values()) for c in docs) / n or 1.0
    df: Counter[str] = Counter(t for c in docs for t in c)
    idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
    if not postings:
        return {}, idf, math.log(1 + (n + 0.5) / 0.5)
    lists: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for doc, counts in enumerate(docs):
        norm = K1 * (1 - B + B * sum(counts.values()) / avg_len)
        for term, tf in counts.items():
            ids, weights = lists[term]
            ids.append(doc)
            weights.append(idf[term] * tf * (K1 + 1) / (tf + norm))
    postings = {t: (np.asarray(ids, dtype=np.int32), np.asarray(ws, dtype=np.float32)) for t, (ids, ws) in lists.items()}
    return postings, idf, math.log(1 + (n + 0.5) / 0.5)


class Index:
    def __init__(self, entries: Sequence[Entry], *, keywords: Mapping[str, Sequence[Entry]] | None = None) -> None:
        """`keywords`: per label, extra words (prepared like questions) that belong to its pooled
        vocabulary, so they count in the label's evidence, but that are not questions: they never
        become candidates on their own."""
        self.entries = tuple(entries)
        # Columns of the entries, for gathering a few hundred candidates without a Python loop.
        self.chars = np.array([e.chars for e in self.entries] or [""], dtype=object)[: len(self.entries)]
        self.token_texts = np.array([e.token_text for e in self.entries] or [""], dtype=object)[: len(self.entries)]
        self.lengths = np.fromiter((len(e.chars) for e in self.entries), dtype=np.int32, count=len(self.entries))
        doc_terms = [Counter(terms(e.tokens, e.chars)) for e in self.entries]
        self._postings, self._idf, self._unseen_idf = _bm25_postings(doc_terms)
        # Common terms get a dense row of weights over all entries: rescoring candidates is then one
        # gather per term instead of a search in its posting (63 rows, 2.5 MB at 10,000 questions;
        # 80 rows, 32 MB at 100,000).
        cut = max(COMMON_MIN, COMMON_SHARE * len(self.entries))
        common = [t for t, (ids, _) in self._postings.items() if len(ids) > cut]
        self._common_row = {t: i for i, t in enumerate(common)}
        self._common_weights = np.zeros((len(common), len(self.entries)), dtype=np.float32)
        for row, term in enumerate(common):
            ids, weights = self._postings[term]
            self._common_weights[row, ids] = weights
        # Per label: its questions pooled into one document.
        self.labels: tuple[str, ...] = tuple(dict.fromkeys(e.label for e in self.entries))
        position = {label: i for i, label in enumerate(self.labels)}
        self.one_per_label = len(self.labels) == len(self.entries)
        self.entry_label = np.fromiter((position[e.label] for e in self.entries), dtype=np.int32, count=len(self.entries))
        pooled: list[Counter[str]] = [Counter() for _ in self.labels]
        if len(self.labels) < len(self.entries):
            for entry, counts in zip(self.entries, doc_terms):
                pooled[position[entry.label]].update(counts)
            for label, words in (keywords or {}).items():
                if label in position:
                    for word in words:
                        pooled[position[label]].update(terms(word.tokens, word.chars))
        # A label's questions repeat its words: BM25 saturates term frequency, which is what we want.
        # With one question per label (an evaluation base) the pooled documents are the questions.
        if self.one_per_label:
            pooled = doc_terms
            self._label_idf, self._label_unseen_idf = self._idf, self._unseen_idf
            avg_len = sum(sum(c.values()) for c in pooled) / max(len(pooled), 1) or 1.0
        else:
            _, self._label_idf, self._label_unseen_idf = _bm25_postings(pooled, postings=False)
            avg_len = sum(sum(c.values()) for c in pooled) / max(len(pooled), 1) or 1.0
        # The labels' forward index (label → its terms with their BM25 weight), laid out flat: evidence
        # is then a few numpy operations over the candidate labels' terms, whatever the size of the base.
        self._term_id: dict[str, int] = {t: i for i, t in enumerate(self._label_idf)}
        self._term_idf = np.fromiter(self._label_idf.values(), dtype=np.float32, count=len(self._label_idf))
        self._term_is_gram = np.fromiter((t.startswith(GRAM) for t in self._label_idf), dtype=bool, count=len(self._label_idf))
        offsets = [0]
        fwd_terms: list[int] = []
        fwd_weights: list[float] = []
        for counts in pooled:
            norm = K1 * (1 - B + B * sum(counts.values()) / avg_len)
            for term, tf in counts.items():
                fwd_terms.append(self._term_id[term])
                fwd_weights.append(self._label_idf[term] * tf * (K1 + 1) / (tf + norm))
            offsets.append(len(fwd_terms))
        self._fwd_offsets = np.asarray(offsets, dtype=np.int64)
        self._fwd_terms = np.asarray(fwd_terms, dtype=np.int32)
        self._fwd_weights = np.asarray(fwd_weights, dtype=np.float32)
        # Each forward entry's term IDF, split into a token column and a bigram column (0 in the other),
        # so that evidence gathers them directly (twice the forward index's memory, 13 MB at 100,000).
        fwd_gram = self._term_is_gram[self._fwd_terms]
        fwd_idf = self._term_idf[self._fwd_terms]
        self._fwd_token_idf = np.where(fwd_gram, np.float32(0.0), fwd_idf)
        self._fwd_gram_idf = np.where(fwd_gram, fwd_idf, np.float32(0.0))

    def __len__(self) -> int:
        return len(self.entries)

    def candidates(self, query: Entry, *, limit: int) -> list[tuple[int, float]]:
        """Up to `limit` (entry index, BM25 coverage in 0..1) sharing at least one term, best first.

        Coverage is the BM25 score over the best that the query's terms could reach, so that a
        short query and a long one are on the same scale.
        """
        ids, coverage = self.candidate_arrays(query, limit=limit)
        return list(zip(ids.tolist(), coverage.tolist()))

    def candidate_arrays(self, query: Entry, *, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """`candidates` as two numpy arrays (entry indices, coverage), best first."""
        query_terms = query.term_set
        known = [t for t in query_terms if t in self._postings]
        if not known or not self.entries:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rare = [t for t in known if t not in self._common_row]
        common = [t for t in known if t in self._common_row] if rare else []
        selecting = [self._postings[t] for t in rare or known]
        scores = np.zeros(len(self.entries), dtype=np.float32)
        # One np.add.at over the postings laid end to end: the same sums, term by term, as a loop of
        # `scores[ids] += weights`, with one numpy call instead of one per term.
        np.add.at(scores, np.concatenate([ids for ids, _ in selecting]), np.concatenate([ws for _, ws in selecting]))
        hit = np.flatnonzero(scores != 0)  # numpy finds the nonzero of a bool array faster than of floats
        if len(hit) > limit:
            hit = hit[np.argpartition(scores[hit], -limit)[-limit:]]
        found = scores[hit]
        for term in common:
            found += self._common_weights[self._common_row[term], hit]
        order = np.argsort(-found, kind="stable")
        ceiling = _ceiling(sum(self._idf.get(t, self._unseen_idf) for t in query_terms))
        return hit[order], np.minimum(1.0, found[order] / ceiling)

    def evidence(self, query: Entry, labels: np.ndarray) -> Evidence:
        """Label-level evidence for `query`, for the labels at positions `labels` of `self.labels`
        (the arrays of the result are aligned with `labels`; see `Evidence`)."""
        idf, unseen, term_id = self._label_idf, self._label_unseen_idf, self._term_id
        # One pass over the message's terms; each sum adds in the set's order, as separate sums would.
        mass = token_mass = gram_mass = 0.0
        known_ids: list[int] = []
        known_tokens: list[int] = []
        for t in query.term_set:
            w = idf.get(t, unseen)
            mass += w
            i = term_id.get(t)
            if t.startswith(GRAM):
                gram_mass += w
            else:
                token_mass += w
                if i is not None:
                    known_tokens.append(i)
            if i is not None:
                known_ids.append(i)
        is_known = np.zeros(len(self._term_idf), dtype=bool)  # a lookup table: cheaper than np.isin
        is_known[known_ids] = True
        known_mass = float(self._term_idf[known_tokens].sum()) if known_ids else 0.0
        n = len(labels)
        starts = self._fwd_offsets[labels]
        lengths = self._fwd_offsets[labels + 1] - starts
        segment = np.repeat(np.arange(n), lengths)
        flat = np.arange(len(segment)) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        hit = is_known[self._fwd_terms[flat]]
        segment, flat = segment[hit], flat[hit]
        bm25 = np.bincount(segment, weights=self._fwd_weights[flat], minlength=n)
        token_cover = np.bincount(segment, weights=self._fwd_token_idf[flat], minlength=n)
        gram_cover = np.bincount(segment, weights=self._fwd_gram_idf[flat], minlength=n)
        bm25 = bm25 / _ceiling(mass)
        if token_mass:
            token_cover = token_cover / token_mass
        if gram_mass:
            gram_cover = gram_cover / gram_mass
        return Evidence(bm25=np.minimum(bm25, 1.0), token_cover=token_cover, gram_cover=gram_cover,
                        known=known_mass / token_mass if token_mass else 0.0, token_mass=token_mass / unseen)

