"""The retrieval index: BM25 candidates per question and evidence per label."""

from __future__ import annotations

import numpy as np
import pytest

from bot.matching import index as index_module
from bot.matching.index import Index, prepare, terms
from bot.matching.tokenizer import Tokenizer

QUESTIONS = [
    ("stock", "这款还有货吗"), ("stock", "什么时候补货"), ("stock", "黑色L码有吗"),
    ("courier", "发什么快递"), ("courier", "能发顺丰吗"),
    ("refund", "退款什么时候到账"), ("refund", "钱怎么还没退回来"),
]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def index(tokenizer) -> Index:
    return Index([prepare(tokenizer, q, label) for label, q in QUESTIONS])


def test_terms_are_tokens_and_bigrams():
    assert terms(("顺丰",), "发顺丰") == ["顺丰", "#发顺", "#顺丰"]
    assert terms((), "在") == ["#在"]
    assert terms((), "") == []


def test_candidates_share_a_term_and_come_best_first(index, tokenizer):
    found = index.candidates(prepare(tokenizer, "能不能发顺丰"), limit=10)
    assert found and index.entries[found[0][0]].question == "能发顺丰吗"
    coverages = [c for _, c in found]
    assert coverages == sorted(coverages, reverse=True)
    assert all(0.0 < c <= 1.0 for c in coverages)


def test_candidates_respect_the_limit(index, tokenizer):
    assert len(index.candidates(prepare(tokenizer, "什么时候有货 退款 快递"), limit=2)) == 2


def test_nothing_in_common_gives_no_candidates(index, tokenizer):
    assert index.candidates(prepare(tokenizer, "今天天气好热"), limit=10) == []
    assert index.candidates(prepare(tokenizer, ""), limit=10) == []


def test_an_empty_index(tokenizer):
    empty = Index([])
    assert len(empty) == 0
    assert empty.candidates(prepare(tokenizer, "有货吗"), limit=5) == []


def test_labels_pool_their_questions(index, tokenizer):
    assert index.labels == ("stock", "courier", "refund")
    query = prepare(tokenizer, "还有货吗 什么时候补货")
    ev = index.evidence(query, np.arange(len(index.labels)))
    stock, courier = 0, 1
    # Both words of the message are somewhere in the stock questions, in no single one of them.
    assert ev.token_cover[stock] == pytest.approx(1.0)
    assert ev.bm25[stock] > ev.bm25[courier]
    assert ev.token_cover[courier] < 0.5
    assert ev.known == pytest.approx(1.0)


def test_words_no_question_has_lower_the_coverage(index, tokenizer):
    all_labels = np.arange(len(index.labels))
    plain = index.evidence(prepare(tokenizer, "什么时候补货"), all_labels)
    chatty = index.evidence(prepare(tokenizer, "什么时候补货 明天北京下雨吗 高铁"), all_labels)
    assert chatty.known < plain.known
    assert chatty.token_cover[0] < plain.token_cover[0]


def test_common_terms_only_rescore_candidates(tokenizer, monkeypatch):
    """With the common-term cut-off forced low (it is fixed when the index is built), the best
    candidate and its coverage do not change."""
    rows = [(f"l{i}", q) for i, q in enumerate(["怎么退货", "退货运费谁出", "怎么退款", "怎么换货", "什么时候发货",
                                                  "怎么取消订单", "怎么改地址", "退货地址在哪"] * 3)]
    entries = [prepare(tokenizer, q, label) for label, q in rows]
    query = prepare(tokenizer, "退货地址是哪里")
    full = Index(entries).candidates(query, limit=5)
    monkeypatch.setattr(index_module, "COMMON_MIN", 2)
    monkeypatch.setattr(index_module, "COMMON_SHARE", 0.0)
    pruned_index = Index(entries)
    assert pruned_index._common_row  # the cut-off does make some terms common here
    pruned = pruned_index.candidates(query, limit=5)
    assert pruned[0][0] in {i for i, c in full if c == full[0][1]}
    assert pruned[0][1] == pytest.approx(full[0][1])


def test_keywords_join_a_labels_vocabulary_but_are_never_candidates(tokenizer):
    entries = [prepare(tokenizer, q, label) for label, q in QUESTIONS]
    plain = Index(entries)
    with_words = Index(entries, keywords={"stock": [prepare(tokenizer, "断货", "stock")], "nobody": []})
    query = prepare(tokenizer, "断货了吗")
    labels = np.arange(len(plain.labels))
    stock = plain.labels.index("stock")
    assert with_words.evidence(query, labels).token_cover[stock] > plain.evidence(query, labels).token_cover[stock]
    assert len(with_words) == len(plain)
    assert [with_words.entries[i].label for i, _ in with_words.candidates(query, limit=5)] == \
           [plain.entries[i].label for i, _ in plain.candidates(query, limit=5)]
