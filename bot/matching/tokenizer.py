"""jieba segmentation with the knowledge base's user dictionary and synonym groups.

Uses its own `jieba.Tokenizer`, never the global `jieba.dt`; loading takes about half a second,
so it is built once (in a thread) and swapped in whole on reload.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import jieba

# Words too common in buyers' questions to tell one intent from another.
STOPWORDS = frozenset("的 了 是 我 你 您 他 她 这 那 个 这个 那个 一下 下 就 都 也 还 又 和 跟 在 吗 么 么样 呀 吧 着 过 给 把 被 让 要 会 能 可以 有没有 一个 什么".split())

log = logging.getLogger(__name__)


class Tokenizer:
    def __init__(self, *, userdict: Path | None = None, synonyms: Iterable[tuple[str, ...]] = ()) -> None:
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        if userdict is not None:
            self._jieba.load_userdict(str(userdict))
        self._canonical: dict[str, str] = {}
        for group in synonyms:
            for word in group:
                self._canonical[word] = group[0]
                if len(word) > 1:
                    self._jieba.add_word(word, freq=2000)

    def canonical(self, word: str) -> str:
        return self._canonical.get(word, word)

    def words(self, normalized: str) -> list[str]:
        """All segments, synonyms mapped to their group's first word (stopwords kept)."""
        canonical = self._canonical.get
        return [canonical(w, w) for w in self._jieba.lcut(normalized, HMM=True) if w.strip()]

    def tokens(self, normalized: str) -> list[str]:
        """The segments that carry meaning: `words` without stopwords."""
        return [w for w in self.words(normalized) if w not in STOPWORDS]
