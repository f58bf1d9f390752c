#!/usr/bin/env python3
"""Fit the matcher's logistic model (bot/matching/matcher.py `Weights`) offline, and report.

The held-out messages are split deterministically: DEV = the even data rows of
tests/matching/data/heldout.tsv (0-based row 0, 2, 4 ...), TEST = the odd rows. Only DEV is used to
fit the coefficients and choose the threshold; TEST is reported, never tuned on.

The ranking also learns from the public LCQMC retrieval set (../shared/data/eval/lcqmc, its even
query rows, each (query, candidate) row weighted --public-weight = 0.05 so that the 340 shop messages
still dominate): it teaches the question-to-question similarity that a 10k-question base needs. Its
odd rows are reported. The data stays in ../shared; nothing of it is written anywhere.

    .venv/bin/python scripts/fit_match.py            # fit, print Weights(...) and DEV/TEST figures

Paste the printed `Weights` defaults into matcher.py by hand: nothing is trained at run time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.matching.engine import build_engine
from bot.matching.evaluate import NONE, evaluate, read_kb_tsv, read_tsv
from bot.matching.matcher import FEATURES, Matcher, Weights

HELDOUT = ROOT / "tests/matching/data/heldout.tsv"


def split(cases):
    return cases[0::2], cases[1::2]


def rows(matcher: Matcher, cases):
    xs, ys, groups = [], [], []
    for g, case in enumerate(cases):
        scored = matcher.score_features(case.text)
        for li, f in zip(scored.label_ids.tolist(), scored.features):
            label = matcher.index.labels[li]
            xs.append(f)
            ys.append(1.0 if label in case.gold and NONE not in case.gold else 0.0)
            groups.append(g)
    return np.array(xs), np.array(ys), np.array(groups)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, c: float, sample_weight: np.ndarray | None = None,
                 iters: int = 60) -> tuple[np.ndarray, float]:
    """L2-regularised, weighted logistic regression by Newton's method (the bias is not penalised)."""
    xb = np.column_stack([x, np.ones(len(x))])
    sw = np.ones(len(y)) if sample_weight is None else sample_weight
    w = np.zeros(xb.shape[1])
    reg = np.eye(xb.shape[1]) / c
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ ((p - y) * sw) + reg @ w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def recall_at_1(matcher: Matcher, cases) -> float:
    hits = 0
    for case in cases:
        ranked = matcher.rank(case.text, limit=1)
        hits += bool(ranked) and ranked[0].label in case.gold
    return hits / len(cases)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    ap.add_argument("--min-oos", type=float, default=0.90, help="DEV out-of-scope rejection the threshold must keep")
    ap.add_argument("--public-weight", type=float, default=0.05, help="weight of each LCQMC row (0: shop messages only)")
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "data" / "eval")
    args = ap.parse_args()
    engine = build_engine(ROOT / "knowledge")
    base = engine.matcher
    dev, test = split(read_tsv(HELDOUT))
    x, y, _ = rows(base, dev)
    weight = np.ones(len(y))
    public = None
    lcqmc = args.eval_dir / "lcqmc"
    if args.public_weight and (lcqmc / "lcqmc_kb.tsv").exists():
        public = Matcher.build(base.tokenizer, read_kb_tsv(lcqmc / "lcqmc_kb.tsv"), weights=Weights(threshold=0.0))
        public_dev, public_test = split(read_tsv(lcqmc / "lcqmc_queries.tsv", text_col="query", gold_col="gold_id"))
        px, py, _ = rows(public, public_dev)
        x, y = np.vstack([x, px]), np.concatenate([y, py])
        weight = np.concatenate([weight, np.full(len(py), args.public_weight)])
    coef, bias = fit_logistic(x, y, c=args.c, sample_weight=weight)
    fitted = Weights(coef=tuple(round(float(v), 3) for v in coef), bias=round(bias, 3), mix=base.weights.mix)
    m = Matcher(base.tokenizer, base.index, weights=fitted)
    # Threshold: the best DEV confident top-1 whose DEV out-of-scope rejection stays >= --min-oos.
    best = None
    for t in np.arange(0.05, 0.96, 0.01):
        mt = Matcher(base.tokenizer, base.index, weights=Weights(**{**fitted.__dict__, "threshold": round(float(t), 2)}))
        r = evaluate(mt, dev)
        key = (r.oos_rejected >= args.min_oos, r.top1 + 0.5 * r.oos_rejected)
        if best is None or key > best[0]:
            best = (key, round(float(t), 2))
    fitted = Weights(**{**fitted.__dict__, "threshold": best[1]})
    m = Matcher(base.tokenizer, base.index, weights=fitted)
    raw = Weights(**{**fitted.__dict__, "threshold": 0.0})
    for name, cases in (("DEV", dev), ("TEST", test)):
        r = evaluate(m, cases)
        r0 = evaluate(Matcher(base.tokenizer, base.index, weights=raw), [c for c in cases if NONE not in c.gold])
        print(f"{name}: n={r.n} confident top-1 {r.top1:.3f} top-3 {r.top3:.3f} MRR {r.mrr:.3f} "
              f"OOS rejected {r.oos_rejected:.3f} wrong-confident {r.false_suggestion_rate:.3f} "
              f"| raw top-1 {r0.top1:.3f} top-3 {r0.top3:.3f}")
        print("   ", "; ".join(f"{g}->{p} x{c}" for g, p, c in r.confusions))
    if public is not None:
        pm = Matcher(public.tokenizer, public.index, weights=Weights(**{**fitted.__dict__, "threshold": 0.0}))
        print(f"LCQMC recall@1: dev (fitted on) {recall_at_1(pm, public_dev):.3f}  test {recall_at_1(pm, public_test):.3f}")
    print("features:", ", ".join(f"{n}={v:+.3f}" for n, v in zip(FEATURES, coef)), f"bias={bias:+.3f}")
    print(f"Weights(coef={fitted.coef}, bias={fitted.bias}, threshold={fitted.threshold})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
