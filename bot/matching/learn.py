"""Learning from unanswered questions: buyer messages that got no confident suggestion, grouped by
similarity with the matcher's own normalisation and tokens; per group its size, examples, the
intents it came closest to, and what agents replied instead (the most common wordings). Pure."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rapidfuzz import fuzz, process

from bot.clock import iso
from bot.matching.matcher import Matcher
from bot.matching.normalize import normalize

SIMILAR = 72  # token_set_ratio of two messages' tokens: at or above it, the same question


@dataclass(frozen=True)
class Unanswered:
    message_id: int
    text: str
    at: datetime
    reply: str | None = None  # what the agent answered next in the conversation, if anything


@dataclass
class Group:
    key: str
    messages: list[Unanswered] = field(default_factory=list)
    closest_intents: list[dict] = field(default_factory=list)  # intent, score (mean of the best), count
    agent_replies: list[dict] = field(default_factory=list)  # text, count

    @property
    def size(self) -> int:
        return len(self.messages)

    def as_dict(self, *, titles: dict[str, str], examples: int = 5) -> dict:
        texts = list(dict.fromkeys(m.text for m in self.messages))
        return {
            "key": self.key, "size": self.size, "examples": texts[:examples],
            "messages": [{"id": m.message_id, "text": m.text, "at": iso(m.at)} for m in self.messages],
            "closest_intents": [{**c, "title": titles.get(c["intent"], c["intent"])} for c in self.closest_intents],
            "agent_replies": self.agent_replies,
        }


def group(messages: Sequence[Unanswered], matcher: Matcher, *, similar: int = SIMILAR) -> list[Group]:
    """Groups, largest first; each message in the first group whose first message it resembles."""
    tokenizer = matcher.tokenizer
    groups: list[Group] = []
    heads: list[str] = []  # each group's first message, as tokens joined by spaces
    for message in sorted(messages, key=lambda m: (m.at, m.message_id)):
        norm = normalize(message.text)
        tokens = " ".join(tokenizer.tokens(norm)) or norm
        if not tokens.strip():
            continue
        best = process.extractOne(tokens, heads, scorer=fuzz.token_set_ratio, score_cutoff=similar) if heads else None
        if best is None:
            groups.append(Group(key=hashlib.sha1(tokens.encode()).hexdigest()[:12]))
            heads.append(tokens)
            groups[-1].messages.append(message)
        else:
            groups[best[2]].messages.append(message)
    for g in groups:
        _describe(g, matcher)
    return sorted(groups, key=lambda g: (-g.size, g.messages[0].at, g.key))


def _describe(g: Group, matcher: Matcher) -> None:
    scores: dict[str, list[float]] = defaultdict(list)
    first: Counter[str] = Counter()
    for m in g.messages:
        ranked = matcher.rank(m.text, limit=3)
        for rank, match in enumerate(ranked):
            scores[match.label].append(match.score)
            first[match.label] += rank == 0
    # count: the group's messages this intent ranked first for; score: its mean score where it ranked
    g.closest_intents = sorted(
        ({"intent": label, "count": first[label], "score": round(sum(s) / len(s), 3)} for label, s in scores.items()),
        key=lambda c: (-c["count"], -c["score"], c["intent"]))[:3]
    wordings: Counter[str] = Counter()
    wording: dict[str, str] = {}
    for m in g.messages:
        if m.reply and m.reply.strip():
            said = normalize(m.reply).replace(" ", "")
            wordings[said] += 1
            wording.setdefault(said, m.reply.strip())
    g.agent_replies = [{"text": wording[w], "count": n} for w, n in wordings.most_common(3)]


def parse_days(first: str | None, last: str | None, *, today: date) -> tuple[date, date]:
    """from/to as dates (days inclusive; one left out means the other, both: the last 7 days).

    >>> parse_days("2026-11-01", "2026-11-03", today=date(2026, 11, 25))
    (datetime.date(2026, 11, 1), datetime.date(2026, 11, 3))
    >>> parse_days(None, None, today=date(2026, 11, 25))
    (datetime.date(2026, 11, 19), datetime.date(2026, 11, 25))
    """
    def day(name: str, text: str) -> date:
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name} must be a date YYYY-MM-DD, not {text[:40]!r}") from None

    start = day("from", first) if first else None
    end = day("to", last) if last else None
    if start is None and end is None:
        start, end = today - timedelta(days=6), today
    start, end = start or end, end or start
    if start > end:
        raise ValueError(f"from ({start}) is after to ({end})")
    if (end - start).days > 366:
        raise ValueError("the period is more than a year")
    return start, end
