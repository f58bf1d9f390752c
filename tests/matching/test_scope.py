"""The in-scope decision (scope.py): what it decides better than one threshold on the best intent's
score, and that it only decides what is shown, never the ranking."""

from __future__ import annotations

import numpy as np
import pytest

from bot.matching.matcher import FEATURES, Matcher
from bot.matching.scope import SCOPE_FEATURES, Scope, scope_features

OLD_THRESHOLD = 0.5  # what decided before: the best intent's score alone


@pytest.fixture(scope="module")
def matcher(engine) -> Matcher:
    return engine.matcher


@pytest.mark.parametrize("text", ["今天几号"])
def test_out_of_scope_is_rejected_although_its_best_intent_scores_high(matcher, text):
    assert matcher.rank(text)[0].score >= OLD_THRESHOLD  # one threshold would have shown it
    assert matcher.suggest(text) == []


@pytest.mark.parametrize(("text", "intent"), [("我的券不见了", "presale.coupon"), ("尺碼表在哪看", "presale.size")])
def test_in_scope_is_shown_although_its_best_intent_scores_low(matcher, text, intent):
    assert matcher.rank(text)[0].score < OLD_THRESHOLD  # one threshold would have hidden it
    assert matcher.suggest(text)[0].label == intent


def with_scope(matcher: Matcher, scope: Scope) -> Matcher:
    return Matcher(matcher.tokenizer, matcher.index, weights=matcher.weights, scope=scope, off_topic=matcher.off_topic)


@pytest.mark.parametrize("text", ["这个月工资还没发", "我的券不见了", "怎么退货", "今天天气真不错"])
def test_scope_decides_what_is_shown_never_the_ranking(matcher, text):
    closed = with_scope(matcher, Scope(threshold=1.01))
    open_ = with_scope(matcher, Scope(threshold=0.0, floor=0.0))
    ranked = [(m.label, m.score) for m in matcher.rank(text)]
    assert [(m.label, m.score) for m in closed.rank(text)] == ranked
    assert [(m.label, m.score) for m in open_.rank(text)] == ranked
    assert closed.suggest(text) == []
    if not matcher.rank(text)[0].off_topic:  # else nothing whatever the scope
        assert [m.label for m in open_.suggest(text)][:1] == [label for label, _ in ranked][:1]


def test_nothing_is_shown_below_the_floor(matcher):
    text = "这个月工资还没发"
    best = matcher.rank(text)[0].score
    below = with_scope(matcher, Scope(threshold=0.0, floor=best + 0.01))
    assert below.suggest(text) == []


def test_one_coefficient_per_scope_feature():
    assert len(Scope().coef) == len(SCOPE_FEATURES)
    probs = np.array([0.2, 0.9, 0.5])
    features = np.arange(3 * len(FEATURES), dtype=np.float64).reshape(3, len(FEATURES))
    x = scope_features(probs, features, FEATURES)
    assert x.shape == (len(SCOPE_FEATURES),)
    assert x[0] == 0.9 and x[2] == pytest.approx(0.4)  # the best, and its margin over the second
    assert x[SCOPE_FEATURES.index("gap")] == features[1, FEATURES.index("gap")]  # the best intent's own features


@pytest.fixture(scope="module")
def bank(engine) -> tuple[Matcher, Matcher]:
    """The default intents without and with one off-topic subject."""
    labelled = [(i.id, q) for i in engine.kb.matchable for q in i.questions]
    examples = [("other.bank", q) for q in ("银行几点上班", "银行周末上班吗", "招商银行几点关门", "银行卡转账多久到账")]
    tokenizer = engine.matcher.tokenizer
    return (Matcher.build(tokenizer, labelled), Matcher.build(tokenizer, labelled + examples, off_topic=frozenset({"other.bank"})))


def test_a_message_closer_to_an_off_topic_subject_gets_nothing(bank):
    without, with_bank = bank
    assert without.suggest("银行几点上班")  # the intents alone mistake it for service.hours
    ranked = with_bank.rank("银行几点上班")
    assert ranked and "other.bank" not in {m.label for m in ranked}  # subjects are never suggested nor ranked
    assert ranked[0].off_topic == "other.bank" and ranked[0].in_scope == 0
    assert with_bank.suggest("银行几点上班") == []
    assert with_bank.suggest("客服几点上班")[0].label == "service.hours"  # the intent itself still answers


def test_a_message_only_an_off_topic_subject_shares_words_with(bank):
    _, with_bank = bank
    assert with_bank.rank("招商") == [] and with_bank.suggest("招商") == []
