"""The matcher: a buyer's message → the best intents of the knowledge base, or nothing.

normalize → jieba tokens → BM25 candidates (index.py) → rapidfuzz scores on each candidate
(character and token scorers together) → per intent, features from its best questions and from
its pooled vocabulary (index.Evidence) → a logistic model gives a calibrated 0..1 score, the
chance that the intent is the right one; a second model over the whole ranking (scope.py) decides
whether anything is suggested.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process

from bot.matching.index import Index, prepare
from bot.matching.normalize import ORDER_WORD, PHONE_WORD, TRACKING_WORD, normalize
from bot.matching.scope import Scope, scope_features
from bot.matching.tokenizer import Tokenizer

CANDIDATES = 32  # questions the index hands to rapidfuzz
PARTIAL = 16  # of which the best by the cheap scorers also get fuzz.partial_ratio

# The features of one (message, intent) pair, in the order of `Weights.coef`.
FEATURES = (
    "chars",  # best fuzz.ratio between the message and one of the intent's questions (characters)
    "tokens",  # best fuzz.token_sort_ratio (jieba tokens, order ignored)
    "partial",  # best fuzz.partial_ratio: a question inside a longer message, or the reverse
    "bm25",  # best BM25 coverage of one question
    "second",  # the intent's second-best question (composite): support from its other wordings
    "label_bm25",  # BM25 against all of the intent's questions pooled
    "token_cover",  # IDF share of the message's tokens that the intent's vocabulary has
    "gram_cover",  # the same for character bigrams
    "known",  # IDF share of the message's tokens known to the whole base (out-of-scope signal)
    "gap",  # the intent's composite minus the best other intent's: how clear the winner is
    "short",  # 1 / number of characters: very short messages are ambiguous
    "missing",  # IDF mass of the message's tokens the intent's vocabulary lacks (in unseen-word units)
    "token_set",  # best fuzz.token_set_ratio: the question's words all inside the message, or the reverse
)
_COL = {name: i for i, name in enumerate(FEATURES)}
_BEST_OF = [_COL[name] for name in ("chars", "tokens", "partial", "bm25", "token_set")]  # per intent, a max


@dataclass(frozen=True)
class Weights:
    """The logistic model: score = sigmoid(bias + coef · features).

    Fitted offline by `scripts/fit_match.py` (`.venv/bin/python scripts/fit_match.py`, then pasted
    here by hand) by L2-regularised logistic regression (Newton's method, C=1, bias not penalised)
    over every candidate intent of every message (gold intent = 1, the others and every intent of an
    out-of-scope message = 0; off-topic subjects are scored by the same model, never fitted on), on
    tests/matching/data/dev.tsv, dev2.tsv and dev3.tsv (buyer messages written for tuning),
    the knowledge base's own questions by 5-fold (each against a base without its fold, weight 0.3)
    and, weighted 0.1, the even query rows of the public LCQMC retrieval set (question similarity
    for large bases; the data stays outside the repository). The held-out files are never fitted on.
    Whether anything is shown is `Scope`'s decision. Never trained at run time; refit after large
    changes to the features. These values were fitted on the base of commit 4af8277, before its
    questions grew from the dev files' misses (see fit_match.py on refitting after that). The
    composite (`mix`) only picks an intent's best question and feeds the `gap` feature.
    """

    coef: tuple[float, ...] = (
        0.318, 0.662, -0.252, -6.574, 1.618, 1.873, 4.144, 3.202, -2.267, 11.991, -1.511, 0.112, 2.304,
    )
    bias: float = -4.359
    mix: tuple[float, float, float, float] = (0.35, 0.25, 0.10, 0.30)  # chars, tokens, partial, bm25
    # Once a message is judged in scope, the runners-up above this floor are suggested with the best,
    # so the agent can pick the right one when the best is wrong.
    also: float = 0.02


@dataclass(frozen=True)
class Match:
    label: str  # intent id
    score: float  # 0..1
    question: str  # the sample question that matched best
    features: tuple[float, ...]  # the scorers' parts (FEATURES), shown by `csbot kb try`
    in_scope: float = 1.0  # Scope's chance that the message is one the base answers (one value per message)
    off_topic: str = ""  # the off-topic subject that outranks the message's best intent (then in_scope is 0)

    @property
    def why(self) -> str:
        # formatted only when asked: on every suggestion it cost some 2-3% of matching
        return " ".join(f"{name}={value:.2f}" for name, value in zip(FEATURES, self.features) if name != "short")


@dataclass(frozen=True)
class Scored:
    """Every candidate intent of one message with its features, before the model (for fitting)."""

    label_ids: np.ndarray  # positions in `Index.labels`
    entry_ids: np.ndarray  # each label's best question, a position in `Index.entries`
    features: np.ndarray  # shape (len(label_ids), len(FEATURES))


def _empty() -> Scored:
    return Scored(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, len(FEATURES))))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(z, -30), 30)))  # np.clip's overhead is larger


RANKED_CACHE = 20_000  # rankings kept, by normalized text (a few MB)


class Matcher:
    """Scores messages against an index. Pure and synchronous: safe to call from any task."""

    def __init__(self, tokenizer: Tokenizer, index: Index, *, weights: Weights = Weights(),
                 scope: Scope = Scope(), off_topic: frozenset[str] = frozenset()) -> None:
        """`off_topic`: the labels of `index` that are subjects the shop does not answer, not intents."""
        if len(weights.coef) != len(FEATURES):
            raise ValueError(f"Weights.coef needs {len(FEATURES)} values, one per feature {FEATURES}")
        self.tokenizer = tokenizer
        self.index = index
        self.weights = weights
        self.scope = scope
        self._coef = np.asarray(weights.coef, dtype=np.float64)
        self.off_topic = off_topic
        self._off_topic = np.fromiter((label in off_topic for label in index.labels), dtype=bool,
                                      count=len(index.labels))
        self._ranked: OrderedDict[tuple[str, int], tuple[Match, ...]] = OrderedDict()
        self._cache_lock = threading.Lock()  # the matcher may be used from a worker thread too

    @classmethod
    def build(cls, tokenizer: Tokenizer, labelled: Sequence[tuple[str, str]], *, weights: Weights = Weights(),
              scope: Scope = Scope(), keywords: Mapping[str, Sequence[str]] | None = None,
              off_topic: frozenset[str] = frozenset()) -> Matcher:
        """A matcher over (label, question) pairs; `keywords` (per label) join the label's vocabulary;
        the labels in `off_topic` are subjects not answered (their pairs are example messages)."""
        words = {label: [prepare(tokenizer, w, label) for w in ws] for label, ws in (keywords or {}).items()}
        return cls(tokenizer, Index([prepare(tokenizer, q, label) for label, q in labelled], keywords=words),
                   weights=weights, scope=scope, off_topic=off_topic)

    def score_features(self, text: str) -> Scored:
        """The candidate intents of `text` and their features (empty when nothing shares a word)."""
        query = prepare(self.tokenizer, text)
        if not query.chars.replace(ORDER_WORD, "").replace(PHONE_WORD, "").replace(TRACKING_WORD, ""):
            return _empty()  # nothing but an order or phone number: no question to answer yet
        ids, coverage = self.index.candidate_arrays(query, limit=CANDIDATES)
        if not len(ids):
            return _empty()
        index = self.index
        cand_chars = index.chars[ids].tolist()
        cand_tokens = index.token_texts[ids].tolist()
        chars = process.cdist([query.chars], cand_chars, scorer=fuzz.ratio, dtype=np.float32)[0] / 100
        if query.tokens:
            # token_text is already sorted tokens (with no spaces inside): fuzz.token_sort_ratio would
            # give the same as fuzz.ratio, after splitting and sorting again.
            tokens = process.cdist([query.token_text], cand_tokens, scorer=fuzz.ratio, dtype=np.float32)[0] / 100
            token_set = process.cdist([query.token_text], cand_tokens, scorer=fuzz.token_set_ratio, dtype=np.float32)[0] / 100
        else:
            tokens = token_set = np.zeros(len(ids), dtype=np.float32)
        # partial_ratio is the costly scorer: only on the most promising candidates; the others keep `chars`.
        partial = chars.copy()
        if len(query.chars) >= 3:
            near = np.argsort(-(chars + tokens + coverage), kind="stable")[:PARTIAL]
            near = near[index.lengths[ids[near]] >= 3]
            partial[near] = process.cdist([query.chars], [cand_chars[i] for i in near.tolist()], scorer=fuzz.partial_ratio,
                                          dtype=np.float32)[0] / 100
        mix = self.weights.mix
        composite = mix[0] * chars + mix[1] * tokens + mix[2] * partial + mix[3] * coverage

        # Group the candidate questions by label: per label, the max of each scorer and its best two composites.
        labels = index.entry_label[ids]
        per_scorer = np.array((chars, tokens, partial, coverage, token_set))  # rows as _BEST_OF
        if index.one_per_label:  # an evaluation base: each question is its own label, nothing to group
            uniq, best_q, n = labels, np.arange(len(ids)), len(ids)
            best = composite.astype(np.float64)
            second = 0.0
            maxes = per_scorer
        else:
            uniq, inverse = np.unique(labels, return_inverse=True)
            n = len(uniq)
            order = np.lexsort((-composite, inverse))  # by label, then best composite first
            grouped = inverse[order]
            first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])  # one position per label, in label order
            best_q = order[first]
            best = composite[best_q].astype(np.float64)
            has_second = np.r_[first[1:], len(order)] - first > 1
            second = np.where(has_second, composite[order[np.minimum(first + 1, len(order) - 1)]], 0.0)
            maxes = np.maximum.reduceat(per_scorer[:, order], first, axis=1)
        if n > 1:
            runner_up, top = np.partition(best, n - 2)[n - 2:].tolist()
            other = np.where(best >= top, runner_up, top)
        else:
            other = np.zeros(1)
        ev = self.index.evidence(query, uniq)
        # Filled column by column: cheaper than np.column_stack over thirteen small arrays.
        features = np.empty((n, len(FEATURES)))
        features[:, _BEST_OF] = maxes.T
        features[:, _COL["second"]] = second
        features[:, _COL["label_bm25"]] = ev.bm25
        features[:, _COL["token_cover"]] = ev.token_cover
        features[:, _COL["gram_cover"]] = ev.gram_cover
        features[:, _COL["known"]] = ev.known
        features[:, _COL["gap"]] = best - other
        features[:, _COL["short"]] = 1.0 / len(query.chars)
        features[:, _COL["missing"]] = (1.0 - ev.token_cover) * ev.token_mass
        return Scored(uniq, ids[best_q], features)

    def rank(self, text: str, *, limit: int = 5) -> list[Match]:
        """The best `limit` intents with their scores, confident or not (for `kb try` and evaluation).
        Off-topic subjects are never among them; one that outranks the best intent puts the message
        out of scope (`in_scope` 0, and `Match.off_topic` names it).

        Buyers repeat themselves (在吗, 发货了吗): the ranking depends only on the normalized text, and
        the last RANKED_CACHE rankings are kept (in the simulator's traffic 4 messages in 10 are repeats)."""
        key = (normalize(text), limit)
        with self._cache_lock:
            if (hit := self._ranked.get(key)) is not None:
                self._ranked.move_to_end(key)
                return list(hit)
        matches = self._rank(text, limit=limit)
        with self._cache_lock:
            self._ranked[key] = tuple(matches)
            if len(self._ranked) > RANKED_CACHE:
                self._ranked.popitem(last=False)
        return matches

    def _rank(self, text: str, *, limit: int) -> list[Match]:
        scored = self.score_features(text)
        if not len(scored.label_ids):
            return []
        probs = _sigmoid(scored.features @ self._coef + self.weights.bias)
        off = self._off_topic[scored.label_ids]
        off_label, off_score = "", 0.0
        if off.any():
            closest = int(np.argmax(np.where(off, probs, -1.0)))
            off_label, off_score = self.index.labels[scored.label_ids[closest]], float(probs[closest])
            on = np.flatnonzero(~off)
            if not len(on):
                return []
            scored = Scored(scored.label_ids[on], scored.entry_ids[on], scored.features[on])
            probs = probs[on]
        top = np.argsort(-probs, kind="stable")[:limit]
        beaten_by = off_label if off_label and off_score >= probs[top[0]] else ""
        in_scope = 0.0 if beaten_by else \
            round(self.scope.chance(scope_features(probs, scored.features, FEATURES, off_score)), 4)
        matches = []
        for i in top.tolist():
            matches.append(Match(label=self.index.labels[scored.label_ids[i]], score=round(float(probs[i]), 4),
                                 question=self.index.entries[scored.entry_ids[i]].question,
                                 features=tuple(scored.features[i].tolist()), in_scope=in_scope, off_topic=beaten_by))
        matches.sort(key=lambda m: (-m.score, m.label))
        return matches

    def suggest(self, text: str, *, limit: int = 3) -> list[Match]:
        """What an agent is shown: nothing when `Scope` judges the message out of scope (or too
        unsure), else the best and up to `limit - 1` runners-up scoring at least `also`."""
        return self.shown(self.rank(text, limit=limit))

    def shown(self, ranked: Sequence[Match]) -> list[Match]:
        """`suggest`'s rule applied to an existing ranking."""
        if not ranked or ranked[0].in_scope < self.scope.threshold or ranked[0].score < self.scope.floor \
                or ranked[0].off_topic:
            return []
        return [ranked[0], *(m for m in ranked[1:] if m.score >= self.weights.also)]
