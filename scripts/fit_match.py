#!/usr/bin/env python3
"""Fit the matcher's logistic model (bot/matching/matcher.py `Weights`) offline, and report.

What it learns from (never from the held-out files, which only measure):
- tests/matching/data/dev.tsv: buyer messages written for tuning, out-of-scope ones included;
- the knowledge base itself, by k-fold: each sample question is matched against a base built
  without its fold, as an unseen buyer wording of its intent (weighted --kb-weight per row, as
  its wordings are tidier than buyers' and it has no out-of-scope messages);
- the even query rows of the public LCQMC retrieval set in ../shared/data/eval (question-to-question
  similarity, which a 10k-question base needs), each (query, candidate) row weighted
  --public-weight = 0.1. As before this change, the shipped weights learn a little from it; its
  licence is unknown (see its README), so --public-weight 0 fits without it (LCQMC recall@1 then
  drops from 0.827 to 0.819). The data stays in ../shared; nothing of it is written anywhere.

The threshold is the one with the best dev confident top-1 + top-3 among those whose dev
out-of-scope rejection stays at or above --min-oos (0.87: the issue's 0.85 and a margin; dev's
out-of-scope rows include many near-misses such as "银行几点上班", so it is a strict measure). A 5-fold cross-validation on dev (fit and threshold
chosen without the fold) estimates how the fit does on messages it has not seen. The held-out files
and LCQMC are reported, never fitted on.

    .venv/bin/python scripts/fit_match.py            # fit, print Weights(...), dev CV and LCQMC figures
    .venv/bin/python scripts/fit_match.py --measure  # the same, and the held-out files' figures

Paste the printed `Weights` defaults into matcher.py by hand: nothing is trained at run time.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.matching.engine import build_engine
from bot.matching.evaluate import NONE, Case, evaluate, read_kb_tsv, read_tsv
from bot.matching.matcher import FEATURES, Matcher, Weights

DATA = ROOT / "tests/matching/data"
DEV = DATA / "dev.tsv"
MEASURED = ("heldout.tsv", "heldout2.tsv", "heldout3.tsv")  # reported only


def rows(matcher: Matcher, cases) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per case: the features of its candidate intents, and 1 for its gold intent, 0 for the others."""
    out = []
    for case in cases:
        scored = matcher.score_features(case.text)
        labels = [matcher.index.labels[i] for i in scored.label_ids.tolist()]
        y = np.array([1.0 if label in case.gold and NONE not in case.gold else 0.0 for label in labels])
        out.append((scored.features, y))
    return out


def kb_folds(engine, *, folds: int, seed: int = 1) -> tuple[list[Case], list[tuple[np.ndarray, np.ndarray]]]:
    """Each sample question as a message, against a matcher built without its fold."""
    labelled = [(intent.id, q) for intent in engine.kb.matchable for q in intent.questions]
    keywords = {intent.id: intent.keywords for intent in engine.kb.matchable}
    order = list(range(len(labelled)))
    random.Random(seed).shuffle(order)
    cases, out = [], []
    for f in range(folds):
        held = set(order[f::folds])
        matcher = Matcher.build(engine.matcher.tokenizer, [r for i, r in enumerate(labelled) if i not in held],
                                weights=engine.matcher.weights, keywords=keywords)
        fold_cases = [Case(labelled[i][1], frozenset([labelled[i][0]])) for i in sorted(held)]
        cases += fold_cases
        out += rows(matcher, fold_cases)
    return cases, out


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


def fit(parts: list[tuple[list[tuple[np.ndarray, np.ndarray]], float]], *, c: float) -> tuple[np.ndarray, float]:
    """Fit on several row sets, each with its per-row weight."""
    xs, ys, ws = [], [], []
    for data, weight in parts:
        for x, y in data:
            if len(y):
                xs.append(x)
                ys.append(y)
                ws.append(np.full(len(y), weight))
    return fit_logistic(np.vstack(xs), np.concatenate(ys), c=c, sample_weight=np.concatenate(ws))


def shown(features: np.ndarray, coef: np.ndarray, bias: float, *, threshold: float, also: float) -> np.ndarray:
    """Positions of the candidates `Matcher.suggest` would show (best first)."""
    if not len(features):
        return np.zeros(0, dtype=np.int64)
    p = 1 / (1 + np.exp(-np.clip(features @ coef + bias, -30, 30)))
    top = np.argsort(-p, kind="stable")[:3]
    if p[top[0]] < threshold:
        return top[:0]
    return np.r_[top[:1], top[1:][p[top[1:]] >= also]]


def score(data, cases, coef, bias, *, threshold: float, also: float) -> dict[str, float]:
    """Confident top-1, top-3 and out-of-scope rejection from cached features (as `evaluate` counts)."""
    h1 = h3 = n = oos = rejected = 0
    for (x, y), case in zip(data, cases):
        picked = shown(x, coef, bias, threshold=threshold, also=also)
        if NONE in case.gold:
            oos += 1
            rejected += not len(picked)
            continue
        n += 1
        h1 += bool(len(picked)) and y[picked[0]] == 1
        h3 += bool(len(picked)) and bool(y[picked].any())
    return {"top1": h1 / max(n, 1), "top3": h3 / max(n, 1), "oos": rejected / max(oos, 1), "n": n, "n_oos": oos}


def pick_threshold(data, cases, coef, bias, *, min_oos: float, also: float) -> float:
    best = None
    for t in np.arange(0.05, 0.951, 0.01):
        r = score(data, cases, coef, bias, threshold=float(t), also=also)
        key = (r["oos"] >= min_oos, r["top1"] + r["top3"], -t)
        if best is None or key > best[0]:
            best = (key, round(float(t), 2))
    return best[1]


def recall_at_1(matcher: Matcher, cases) -> float:
    hits = 0
    for case in cases:
        ranked = matcher.rank(case.text, limit=1)
        hits += bool(ranked) and ranked[0].label in case.gold
    return hits / len(cases)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    ap.add_argument("--min-oos", type=float, default=0.87, help="dev out-of-scope rejection the threshold must keep")
    ap.add_argument("--kb-weight", type=float, default=0.3, help="weight of each knowledge-base k-fold row")
    ap.add_argument("--kb-folds", type=int, default=5)
    ap.add_argument("--public-weight", type=float, default=0.1,
                    help="weight of each LCQMC row in the fit (0: fit without it, as its licence is unknown)")
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "data" / "eval")
    ap.add_argument("--measure", action="store_true", help="also report the held-out files (a measure, never a target)")
    args = ap.parse_args()
    engine = build_engine(ROOT / "knowledge")
    base = engine.matcher
    also = base.weights.also
    dev_cases = read_tsv(DEV)
    dev = rows(base, dev_cases)
    kb_cases, kb = kb_folds(engine, folds=args.kb_folds)
    parts = [(dev, 1.0), (kb, args.kb_weight)]
    lcqmc = args.eval_dir / "lcqmc"
    public = public_test = None
    if (lcqmc / "lcqmc_kb.tsv").exists():
        public = Matcher.build(base.tokenizer, read_kb_tsv(lcqmc / "lcqmc_kb.tsv"), weights=Weights(threshold=0.0))
        queries = read_tsv(lcqmc / "lcqmc_queries.tsv", text_col="query", gold_col="gold_id")
        public_test = queries
        if args.public_weight:
            parts.append((rows(public, queries[0::2]), args.public_weight))
            public_test = queries[1::2]

    # Cross-validation on dev: how the fit and its threshold do on dev messages left out of both.
    folds, cv = 5, {"top1": 0.0, "top3": 0.0, "oos": 0.0, "n": 0, "n_oos": 0}
    for f in range(folds):
        train = [i for i in range(len(dev)) if i % folds != f]
        test = [i for i in range(len(dev)) if i % folds == f]
        coef, bias = fit([([dev[i] for i in train], 1.0), *parts[1:]], c=args.c)
        t = pick_threshold([dev[i] for i in train], [dev_cases[i] for i in train], coef, bias, min_oos=args.min_oos, also=also)
        r = score([dev[i] for i in test], [dev_cases[i] for i in test], coef, bias, threshold=t, also=also)
        for k in ("top1", "top3"):
            cv[k] += r[k] * r["n"]
        cv["oos"] += r["oos"] * r["n_oos"]
        cv["n"] += r["n"]
        cv["n_oos"] += r["n_oos"]

    coef, bias = fit(parts, c=args.c)
    threshold = pick_threshold(dev, dev_cases, coef, bias, min_oos=args.min_oos, also=also)
    fitted = Weights(coef=tuple(round(float(v), 3) for v in coef), bias=round(bias, 3), mix=base.weights.mix,
                     threshold=threshold, also=also)
    m = Matcher(base.tokenizer, base.index, weights=fitted)
    print(f"dev 5-fold CV (never fitted on the fold): top-1 {cv['top1'] / cv['n']:.3f} top-3 {cv['top3'] / cv['n']:.3f} "
          f"OOS rejected {cv['oos'] / cv['n_oos']:.3f}")
    r = score(kb, kb_cases, coef, bias, threshold=threshold, also=also)
    print(f"knowledge base {args.kb_folds}-fold (fitted on): top-1 {r['top1']:.3f} top-3 {r['top3']:.3f}")
    for name, cases in (("dev (fitted on)", dev_cases), *((f, read_tsv(DATA / f)) for f in MEASURED if args.measure and (DATA / f).exists())):
        r = evaluate(m, cases)
        print(f"{name}: n={r.n} confident top-1 {r.top1:.3f} top-3 {r.top3:.3f} MRR {r.mrr:.3f} "
              f"OOS rejected {r.oos_rejected:.3f} wrong-confident {r.false_suggestion_rate:.3f}")
    if public is not None:
        pm = Matcher(public.tokenizer, public.index, weights=Weights(**{**fitted.__dict__, "threshold": 0.0}))
        print(f"LCQMC recall@1 ({'odd rows' if args.public_weight else 'all rows, not fitted on'}): "
              f"{recall_at_1(pm, public_test):.3f}")
    print("features:", ", ".join(f"{n}={v:+.3f}" for n, v in zip(FEATURES, coef)), f"bias={bias:+.3f}")
    print(f"Weights(coef={fitted.coef}, bias={fitted.bias}, threshold={fitted.threshold})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
