"""The matcher: bad input, the public API, the fast path against a brute-force reference, and
the held-out accuracy that CI defends."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import fuzz

from bot.matching.evaluate import NONE, evaluate, read_tsv
from bot.matching.index import prepare
from bot.matching.matcher import FEATURES, Match, Matcher, Weights
from bot.matching.normalize import MAX_CHARS, normalize
from bot.matching.scope import Scope

DATA = Path(__file__).parent / "data"


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
    messages = [c.text for c in read_tsv(DATA / "dev4.tsv")][::3]
    messages += [q + "呀" for i in matcher.index.entries[::7] for q in [i.question]]
    checked = 0
    for text in messages:
        label, score, runner_up = _reference(matcher, text)
        if score < 0.75 or score - runner_up < 0.15 or label in matcher.off_topic:
            continue  # brute force is not sure either, or it is sure of a subject never ranked
        checked += 1
        assert label in [m.label for m in matcher.rank(text, limit=3)], text
    assert checked >= 50


# --- accuracy: the floors CI defends -------------------------------------------------------------

# The README's targets: confident top-1, top-3, out-of-scope rejection. No floor may sit below them; a
# set that misses one is listed in SHORTFALLS (the README says so, with the figure), and its test is
# an expected failure that fails loudly (strict) once the target is met, so that the entry goes.
TARGETS = {"top1": 0.90, "top3": 0.97, "oos_rejected": 0.85}
# Per set, the floor on each figure: the target, or higher where the set reached well above it (its
# figure measured with `csbot eval tests/matching/data/FILE`, minus about 0.01 for harmless drift), so
# that a change that breaks matching fails here. Raise them when matching improves.
# Measured for issue 19 (top-1 / top-3 / out-of-scope rejected):
#   heldout2.tsv 0.964 / 0.978 / 0.945   heldout3.tsv 0.968 / 0.976 / 0.857   heldout4.tsv 0.968 / 0.978 / 0.946
#   dev4.tsv (a development set, once heldout.tsv: see its header) 0.963 / 0.979 / 0.958
# heldout5.tsv, written for issue 16 and measured once on 2026-12-06: 0.964 / 0.995 / 0.916
FLOORS = {
    "heldout2.tsv": {"top1": 0.95, "top3": 0.97, "oos_rejected": 0.93},
    "heldout3.tsv": {"top1": 0.955, "top3": 0.97, "oos_rejected": 0.85},
    "heldout4.tsv": {"top1": 0.955, "top3": 0.97, "oos_rejected": 0.93},
    "dev4.tsv": {"top1": 0.95, "top3": 0.97, "oos_rejected": 0.94},
    "heldout5.tsv": {"top1": 0.955, "top3": 0.985, "oos_rejected": 0.90},
}
SHORTFALLS: dict[str, str] = {}  # file -> why (the README's figure); none today


def test_no_floor_sits_below_a_target():
    assert all(floors[k] >= TARGETS[k] for floors in FLOORS.values() for k in TARGETS), FLOORS


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=SHORTFALLS[name])) if name in SHORTFALLS
    else name for name in FLOORS
])
def test_each_set_stays_at_or_above_its_floors(matcher, name):
    cases = read_tsv(DATA / name)
    assert sum(NONE in c.gold for c in cases) >= 50
    report = evaluate(matcher, cases)
    got = {"top1": report.top1, "top3": report.top3, "oos_rejected": report.oos_rejected}
    assert all(got[k] >= v for k, v in FLOORS[name].items()), got


def test_the_evaluation_sets_say_what_they_were_used_for_and_held_out_ones_copy_no_base_question(engine):
    """Every data file opens with `#` lines saying what it was and was not used for; a held-out row
    that repeats a knowledge-base question (or off-topic example) word for word, once normalized,
    measures memory, not matching, and has no place there."""
    base = {normalize(q) for i in (*engine.kb.matchable, *engine.kb.off_topic) for q in i.questions}
    for path in sorted(DATA.glob("*.tsv")):
        head = path.read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith(f"# {path.name}"), path.name
        if path.name.startswith("heldout"):
            copies = [c.text for c in read_tsv(path) if normalize(c.text) in base]
            assert copies == [], (path.name, copies[:5])
