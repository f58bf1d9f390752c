"""The in-scope decision: is a message one the knowledge base answers at all, judged from its whole
ranking, not from the best intent's score alone. It decides what an agent is shown, never the ranking.

The intent model (matcher.Weights) scores each intent against the others; a message about
something else (银行几点上班) can still have one intent far ahead of the rest, and a buyer's own
long wording of a real question can have a low best score with a clear winner. A second logistic
model over features of the ranking and of the message tells the two apart better than one threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# The best intent's features (by their names in matcher.FEATURES) that say how much of the message it explains.
_TOP = ("known", "short", "missing", "token_cover", "gram_cover", "chars", "tokens", "partial", "token_set",
        "label_bm25", "gap")

# The features of one message, in the order of `Scope.coef`.
SCOPE_FEATURES = (
    "best",  # the best intent's score (0..1)
    "best_logit",  # the same as log-odds: separates 0.95 from 0.999, where the score saturates
    "margin",  # best score minus the second's
    *_TOP,  # the best intent's own features
    "candidates",  # log of the number of candidate intents: a message that touches many is vague
    "off_topic_margin",  # the best score minus the closest off-topic subject's (minus 0 when none is a candidate)
)


@dataclass(frozen=True)
class Scope:
    """show = sigmoid(bias + coef · scope_features) >= threshold, and the best intent's score >= floor.

    Fitted offline by `scripts/fit_match.py` after the intent model (L2 logistic regression, C=1, on
    standardised features, folded back into these raw-feature coefficients): in scope = any dev.tsv-dev3.tsv
    message with a gold intent, and each knowledge-base question matched against a base without its
    fold (weight 0.3); out of scope = dev's `none` messages, the off-topic examples by the same folds
    (weight 0.3), and, weighted 0.1, the even query rows of the public LCQMC set (open-domain
    questions, none of them this shop's business). A message whose closest off-topic subject scores
    at least as well as its best intent is out of scope before this model (`Matcher.rank`).
    `threshold`: the best confident top-1 + top-3 (dev and base folds averaged) among those rejecting
    at least 87% of dev's out-of-scope messages (and `floor` with it, from a few candidates, the
    highest when tied). Never trained at run time; refit whenever `Weights` is refitted.
    `Scope(threshold=0.0)` shows every ranking (evaluation bases, which have no out-of-scope rows).
    """

    coef: tuple[float, ...] = (
        0.2994, 0.6216, -5.1538, 1.6397, 9.9879, 0.4104, 0.9715, 1.0551, 3.3421, -0.0144, -2.0184, -2.2067, 1.2947,
        -8.6276, 0.6717, 8.6264,
    )
    bias: float = -3.9932
    threshold: float = 0.39
    # Whatever the message, nothing is shown when even the best intent is this unlikely: the scope
    # model is linear, and a message like no other can add up to "in scope" from its other features.
    floor: float = 0.0

    def chance(self, features: np.ndarray) -> float:
        """The chance that the message is in scope, from its `scope_features`."""
        z = float(features @ np.asarray(self.coef)) + self.bias
        return float(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


def scope_features(probs: np.ndarray, features: np.ndarray, names: Sequence[str], off_topic: float = 0.0) -> np.ndarray:
    """A message's features (`SCOPE_FEATURES`) from its candidate intents' scores and features
    (the rows of `Matcher.score_features`, columns named by `names`; `probs` must not be empty) and
    the best score of an off-topic subject."""
    order = np.argsort(-probs, kind="stable")[:2]
    best = float(probs[order[0]])
    second = float(probs[order[1]]) if len(order) > 1 else 0.0
    clipped = min(max(best, 1e-6), 1 - 1e-6)
    top = features[order[0]]
    return np.array([best, np.log(clipped / (1 - clipped)), best - second, *(top[names.index(n)] for n in _TOP),
                     np.log(len(probs)), best - off_topic])
