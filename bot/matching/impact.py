"""What an edit of the knowledge base does to the matcher: the held-out evaluation of the proposed
base next to the current one (top-1, top-3, out-of-scope rejection per set) and the confusions that
change. Pure, but slow (a few seconds): callers run it in a thread."""

from __future__ import annotations

import glob
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.matching.evaluate import NONE, Case, EvalFileError, evaluate, read_tsv
from bot.matching.matcher import Matcher


@dataclass(frozen=True)
class HeldOut:
    name: str  # the file's name
    cases: tuple[Case, ...]


def load_sets(patterns: Sequence[str], *, base: Path | None = None) -> list[HeldOut]:
    """Every file the glob patterns name (relative ones against `base`), in name order; unreadable
    files are skipped (the impact then says which sets it measured)."""
    found: dict[str, Path] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() or base is None else str(base / pattern)
        for path in glob.glob(full):
            found.setdefault(Path(path).name, Path(path))
    sets = []
    for name in sorted(found):
        try:
            sets.append(HeldOut(name, tuple(read_tsv(found[name]))))
        except EvalFileError:
            continue
    return sets


def measure(matcher: Matcher, sets: Sequence[HeldOut]) -> dict:
    """Per set: n, top1, top3, oos_rejected (None without out-of-scope rows); and the confusions
    (gold → what was shown first, `none` for nothing) over all sets."""
    out, confusions = [], Counter()
    for held in sets:
        report = evaluate(matcher, held.cases)
        out.append({"set": held.name, "n": report.n, "top1": round(report.top1, 4), "top3": round(report.top3, 4),
                    "oos_rejected": round(report.oos_rejected, 4) if report.oos else None})
        for row in report.misses:
            confusions[f"{row['gold']}→{row['shown'][0] if row['shown'] else NONE}"] += 1
    return {"sets": out, "confusions": dict(confusions)}


def compare(before: dict, after: dict, *, margin: float) -> dict:
    """The two measurements side by side; `needs_confirm` when a set's top-1 or out-of-scope
    rejection drops by more than `margin`."""
    rows, drops = [], []
    previous = {s["set"]: s for s in before["sets"]}
    for now in after["sets"]:
        then = previous.get(now["set"])
        if then is None:
            continue
        rows.append({"set": now["set"], "n": now["n"], "before": then, "after": now})
        for figure in ("top1", "oos_rejected"):
            if then[figure] is not None and now[figure] is not None and then[figure] - now[figure] > margin:
                drops.append({"set": now["set"], "figure": figure, "before": then[figure], "after": now[figure]})
    pairs = set(before["confusions"]) | set(after["confusions"])
    changed = sorted(
        ({"pair": p, "before": before["confusions"].get(p, 0), "after": after["confusions"].get(p, 0)}
         for p in pairs if before["confusions"].get(p, 0) != after["confusions"].get(p, 0)),
        key=lambda c: (-abs(c["after"] - c["before"]), c["pair"]))
    return {"sets": rows, "confusions_changed": changed[:20], "drops": drops, "margin": margin,
            "needs_confirm": bool(drops)}
