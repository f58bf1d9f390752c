"""The matcher: bad input, the public API, the fast path against a brute-force reference, and
the held-out accuracy that CI defends."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import fuzz

from bot.matching.evaluate import NONE, evaluate, read_tsv
from bot.matching.index import prepare
from bot.matching.matcher import FEATURES, Match, Matcher, Weights
from bot.matching.normalize import MAX_CHARS
from bot.matching.scope import Scope

HELDOUT = Path(__file__).parent / "data" / "heldout.tsv"


@pytest.fixture(scope="module")
def matcher(engine) -> Matcher:
    return engine.matcher


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "\n\t", "？？？！！", "……。。。", "😊", "👌🌹🔥🔥", "~~~///"])
def test_nothing_to_match_gives_nothing(matcher, text):
    assert matcher.rank(text) == []
    assert matcher.suggest(text) == []


def test_a_message_that_is_only_an_order_number_is_not_confident(matcher):
    assert matcher.suggest("3856120000001234") == []
    assert matcher.suggest("  3856120000001234 ") == []


def test_a_huge_message_is_cut_and_still_answered(matcher):
    text = "在吗？我想问一下这款还有货吗，" * 700  # about 10,000 characters
    assert len(text) >= 10_000
    assert len(prepare(matcher.tokenizer, text).chars) <= MAX_CHARS
    ranked = matcher.rank(text)
    assert ranked and all(0.0 <= m.score <= 1.0 for m in ranked)


def test_a_huge_message_without_spaces_or_meaning(matcher):
    assert isinstance(matcher.suggest("啊" * 10_000 + "a" * 10_000), list)


def test_traditional_characters_match_like_simplified(matcher):
    assert matcher.suggest("這款還有貨嗎")[0].label == "presale.stock"
    assert matcher.rank("這款還有貨嗎")[0].label == matcher.rank("这款还有货吗")[0].label


def test_mixed_chinese_and_english(matcher):
    assert matcher.rank("能发顺丰吗 SF express")[0].label == "presale.courier"
    assert matcher.rank("hello 在吗")[0].label == "service.greeting"


def test_filler_and_emoji_do_not_change_the_answer(matcher):
    plain = matcher.rank("什么时候发货")[0]
    noisy = matcher.rank("亲亲～请问什么时候发货呀？？😊😊")[0]
    assert noisy.label == plain.label == "presale.ship_time"


def test_out_of_scope_chit_chat_and_spam_get_nothing(matcher):
    for text in ("今天天气真不错", "帮我写首诗", "加我微信领红包", "你喜欢吃火锅吗"):
        assert matcher.suggest(text) == [], text


# --- the public API -----------------------------------------------------------------------------

def test_rank_and_suggest_contract(matcher):
    ranked = matcher.rank("怎么退货", limit=5)
    assert 1 <= len(ranked) <= 5
    assert all(isinstance(m, Match) and m.question and m.why for m in ranked)
    assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
    assert ranked[0].label == "aftersale.return"
    shown = matcher.suggest("怎么退货", limit=3)
    assert shown[0] == ranked[0] and shown[0].in_scope >= matcher.scope.threshold
    assert len(shown) <= 3 and all(m.score >= matcher.weights.also for m in shown[1:])


def test_weights_need_one_coefficient_per_feature(matcher):
    with pytest.raises(ValueError):
        Matcher(matcher.tokenizer, matcher.index, weights=Weights(coef=(1.0,)))
    assert len(Weights().coef) == len(FEATURES)


def test_build_over_any_ids(matcher):
    small = Matcher.build(matcher.tokenizer, [("a", "怎么退货"), ("b", "发什么快递"), ("b", "能发顺丰吗")],
                          scope=Scope(threshold=0.0))
    assert small.rank("能不能发顺丰")[0].label == "b"
    assert small.rank("今天天气好") == []


# --- the fast matcher against a brute-force reference ------------------------------------------

def _reference(matcher: Matcher, text: str) -> tuple[str, float, float]:
    """rapidfuzz over every question of the base, no index: the best intent, its score and the
    runner-up intent's score (the `_py` twin of the fast path, slow and obvious)."""
    query = prepare(matcher.tokenizer, text)
    best: dict[str, float] = {}
    for entry in matcher.index.entries:
        score = (fuzz.ratio(query.chars, entry.chars) + fuzz.token_sort_ratio(query.token_text, entry.token_text)) / 200
        best[entry.label] = max(best.get(entry.label, 0.0), score)
    ordered = sorted(best.items(), key=lambda kv: -kv[1])
    return ordered[0][0], ordered[0][1], ordered[1][1]


def test_the_index_never_loses_what_brute_force_is_sure_of(matcher):
    messages = [c.text for c in read_tsv(HELDOUT)][::3]
    messages += [q + "呀" for i in matcher.index.entries[::7] for q in [i.question]]
    checked = 0
    for text in messages:
        label, score, runner_up = _reference(matcher, text)
        if score < 0.75 or score - runner_up < 0.15 or label in matcher.off_topic:
            continue  # brute force is not sure either, or it is sure of a subject never ranked
        checked += 1
        assert label in [m.label for m in matcher.rank(text, limit=3)], text
    assert checked >= 50


# --- held-out accuracy: the floor CI defends -----------------------------------------------------

# Reached on the odd data rows of heldout.tsv with the shipped Weights, Scope and knowledge/ (top-1 0.957,
# top-3 0.979, out-of-scope rejected 0.950; before the off-topic subjects 0.925 / 0.950 / 0.917; never
# fitted on: scripts/fit_match.py learns from dev*.tsv and the base itself), minus a margin for
# harmless drift. A change that breaks matching fails here; raise these when matching improves.
FLOOR = {"top1": 0.94, "top3": 0.965, "oos_rejected": 0.925}


def test_heldout_test_split_stays_above_the_floor(matcher):
    test_split = read_tsv(HELDOUT)[1::2]
    assert sum(NONE in c.gold for c in test_split) >= 50
    report = evaluate(matcher, test_split)
    got = {"top1": report.top1, "top3": report.top3, "oos_rejected": report.oos_rejected}
    assert all(got[k] >= v for k, v in FLOOR.items()), got


# Reached on heldout2.tsv, written apart from the knowledge base and never tuned on (top-1 0.968,
# top-3 0.980, out-of-scope rejected 0.950; before the off-topic subjects 0.948 / 0.960 / 0.887),
# minus a margin of about 0.01; raise these when matching improves.
FLOOR2 = {"top1": 0.955, "top3": 0.97, "oos_rejected": 0.925}


def test_the_fresh_heldout_set_stays_above_its_floor(matcher):
    report = evaluate(matcher, read_tsv(HELDOUT.with_name("heldout2.tsv")))
    got = {"top1": report.top1, "top3": report.top3, "oos_rejected": report.oos_rejected}
    assert all(got[k] >= v for k, v in FLOOR2.items()), got


# Reached on heldout3.tsv (380 messages, 60 out of scope, written with dev.tsv before any tuning and
# never tuned on: top-1 0.975, top-3 0.981, out-of-scope rejected 0.867; before the off-topic subjects
# 0.963 / 0.969 / 0.833), minus a margin.
FLOOR3 = {"top1": 0.96, "top3": 0.97, "oos_rejected": 0.835}


def test_the_third_heldout_set_stays_above_its_floor(matcher):
    report = evaluate(matcher, read_tsv(HELDOUT.with_name("heldout3.tsv")))
    got = {"top1": report.top1, "top3": report.top3, "oos_rejected": report.oos_rejected}
    assert all(got[k] >= v for k, v in FLOOR3.items()), got


# Reached on heldout4.tsv (400 messages, 80 out of scope), written from intents.md alone by someone who
# saw neither the knowledge base nor any other data file, after the off-topic subjects, and measured
# once, never tuned on: top-1 0.972, top-3 0.981, out-of-scope rejected 0.950. Minus a margin.
FLOOR4 = {"top1": 0.96, "top3": 0.97, "oos_rejected": 0.925}


def test_the_sealed_heldout_set_stays_above_its_floor(matcher):
    report = evaluate(matcher, read_tsv(HELDOUT.with_name("heldout4.tsv")))
    got = {"top1": report.top1, "top3": report.top3, "oos_rejected": report.oos_rejected}
    assert all(got[k] >= v for k, v in FLOOR4.items()), got
