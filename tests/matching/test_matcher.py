"""The matcher: bad input, the public API, the fast path against a brute-force reference, and
the held-out accuracy that CI defends."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import fuzz

from bot.matching.evaluate import NONE, evaluate, read_kb_tsv, read_tsv
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

# The README's targets: confident top-1, top-3, out-of-scope rejection on every set, and recall@1 on
# LCQMC's odd query rows. Every floor is the target. A (set, figure) that misses its target is a known
# shortfall: the README gives its figure, and its test is an expected failure that fails loudly
# (strict) once the target is met, so that the marker goes. Nothing lowers a floor below a target.
TARGETS = {"top1": 0.97, "top3": 0.99, "oos_rejected": 0.95}
LCQMC_TARGET = 0.85
# The figures the README publishes, measured for issue 19 with `csbot eval tests/matching/data/FILE`
# (and, for LCQMC, the README's `csbot eval --kb-tsv ...` command). They decide the known shortfalls,
# and are a regression guard as well: with most targets missed, a known shortfall's expected failure
# alone would let a change that breaks matching pass, so no figure may drop more than DRIFT below
# what was measured. Update them (in the README too) when matching changes.
MEASURED = {
    "heldout4.tsv": {"top1": 0.968, "top3": 0.978, "oos_rejected": 0.946},  # held out
    "heldout5.tsv": {"top1": 0.964, "top3": 0.995, "oos_rejected": 0.916},  # held out
    "dev4.tsv": {"top1": 0.963, "top3": 0.979, "oos_rejected": 0.958},  # development sets (see their headers)
    "dev5.tsv": {"top1": 0.964, "top3": 0.978, "oos_rejected": 0.945},
    "dev6.tsv": {"top1": 0.968, "top3": 0.976, "oos_rejected": 0.857},
}
LCQMC_MEASURED = 0.827
DRIFT = 0.01  # one or two messages of a set, as an unrelated edit of the base may move
SHORTFALLS = {(name, k) for name, figures in MEASURED.items() for k, v in figures.items() if v < TARGETS[k]}
LCQMC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "eval" / "lcqmc"


def _shortfall(case: tuple[str, str], measured: float, target: float):
    """A known shortfall's test: expected to fail, and failing loudly once the target is met."""
    why = f"known shortfall: {measured} measured, target {target} (README)"
    return pytest.param(*case, marks=pytest.mark.xfail(strict=True, reason=why))


_reports: dict[str, object] = {}


def _figures(matcher: Matcher, name: str) -> dict[str, float]:
    if name not in _reports:  # one evaluation per set for all its tests
        cases = read_tsv(DATA / name)
        assert sum(NONE in c.gold for c in cases) >= 50
        _reports[name] = evaluate(matcher, cases)
    report = _reports[name]
    return {"top1": report.top1, "top3": report.top3, "oos_rejected": report.oos_rejected}


def test_every_set_of_the_data_folder_has_its_figures():
    fitted_on = ("dev.tsv", "dev2.tsv", "dev3.tsv")  # scripts/fit_match.py's DEV: their figures measure memory
    assert sorted(MEASURED) == sorted(p.name for p in DATA.glob("*.tsv") if p.name not in fitted_on)
    assert all(sorted(figures) == sorted(TARGETS) for figures in MEASURED.values())


@pytest.mark.parametrize("name,figure", [
    _shortfall((name, k), MEASURED[name][k], TARGETS[k]) if (name, k) in SHORTFALLS else (name, k)
    for name in MEASURED for k in TARGETS
])
def test_each_set_meets_each_target(matcher, name, figure):
    got = _figures(matcher, name)[figure]
    assert got >= TARGETS[figure], (name, figure, got)


@pytest.mark.parametrize("name", MEASURED)
def test_no_figure_drops_below_what_the_readme_publishes(matcher, name):
    got = _figures(matcher, name)
    assert all(got[k] >= MEASURED[name][k] - DRIFT for k in TARGETS), (got, MEASURED[name])


@pytest.fixture(scope="module")
def lcqmc_recall_at_1(matcher) -> float:
    """Recall@1 on LCQMC's odd query rows (the half the shipped weights were not fitted on) against
    its own 10,443-question base, as the README's `csbot eval --kb-tsv` command measures it."""
    assert LCQMC.is_dir(), f"the public LCQMC set is expected at {LCQMC} (shared/ beside the repository)"
    public = Matcher.build(matcher.tokenizer, read_kb_tsv(LCQMC / "lcqmc_kb.tsv"), scope=Scope(threshold=0.0))
    queries = read_tsv(LCQMC / "lcqmc_queries.tsv", text_col="query", gold_col="gold_id")
    return evaluate(public, queries[1::2]).top1


@pytest.mark.xfail(LCQMC_MEASURED < LCQMC_TARGET, strict=True,
                   reason=f"known shortfall: {LCQMC_MEASURED} measured, target {LCQMC_TARGET} (README)")
def test_lcqmc_meets_its_target(lcqmc_recall_at_1):
    assert lcqmc_recall_at_1 >= LCQMC_TARGET, lcqmc_recall_at_1


def test_lcqmc_does_not_drop_below_what_the_readme_publishes(lcqmc_recall_at_1):
    assert lcqmc_recall_at_1 >= LCQMC_MEASURED - DRIFT, lcqmc_recall_at_1


def _copy_key(text: str) -> str:
    """A message as the copy check compares it: normalized, then without spaces (normalize turns
    punctuation into spaces and keeps them), so 刚下的单 取消掉 is a copy of 刚下的单取消掉."""
    return "".join(normalize(text).split())


def test_the_evaluation_sets_say_what_they_were_used_for_and_held_out_ones_copy_no_base_question(engine):
    """Every data file opens with `#` lines saying what it was and was not used for; a held-out row
    that repeats a knowledge-base question (or off-topic example) once normalized and stripped of
    spaces and punctuation measures memory, not matching, and has no place there."""
    base = {_copy_key(q) for i in (*engine.kb.matchable, *engine.kb.off_topic) for q in i.questions} - {""}
    for path in sorted(DATA.glob("*.tsv")):
        head = path.read_text(encoding="utf-8").splitlines()
        assert head[0].startswith(f"# {path.name}"), path.name
        header = " ".join(line for line in head if line.startswith("#"))
        if path.name.startswith("dev"):
            assert "Used for" in header and "never published as held-out" in header, path.name
        else:
            assert path.name.startswith("heldout") and "Used as" in header and "Not used for" in header, path.name
            copies = [c.text for c in read_tsv(path) if _copy_key(c.text) in base]
            assert copies == [], (path.name, copies[:5])
