#!/usr/bin/env python3
"""Fit the matcher's logistic model (bot/matching/matcher.py `Weights`) offline, and report.

What it learns from (never from the held-out files, which only measure):
- tests/matching/data/dev.tsv, dev2.tsv and dev3.tsv (--dev): buyer messages written for tuning,
  out-of-scope ones included;
- the knowledge base itself, by k-fold: each sample question is matched against a base built
  without its fold, as an unseen buyer wording of its intent (weighted --kb-weight per row, as
  its wordings are tidier than buyers'), and each off-topic example as an out-of-scope message;
- the even query rows of the public LCQMC retrieval set in ../shared/data/eval (question-to-question
  similarity, which a 10k-question base needs), each (query, candidate) row weighted
  --public-weight = 0.1. As before this change, the shipped weights learn a little from it; its
  licence is unknown (see its README), so --public-weight 0 fits without it (LCQMC recall@1 then
  drops from 0.827 to 0.819). The data stays in ../shared; nothing of it is written anywhere.

Each data file's `#` header says what it was and was not used for.

The threshold is the one with the best dev confident top-1 + top-3 among those whose dev
out-of-scope rejection stays at or above --min-oos (0.87: the issue's 0.85 and a margin; dev's
out-of-scope rows include many near-misses such as "银行几点上班", so it is a strict measure). A 5-fold cross-validation on dev (fit and threshold
chosen without the fold) estimates how the fit does on messages it has not seen. The held-out files
and LCQMC's odd query rows are reported, never fitted on.

    .venv/bin/python scripts/fit_match.py            # fit, print Weights(...), dev CV and LCQMC figures
    .venv/bin/python scripts/fit_match.py --measure  # the same, and the held-out files' figures

Paste the printed `Weights` defaults into matcher.py by hand: nothing is trained at run time.

A tuning file whose misses were then written into the knowledge base stops being a fair guide:
the base answers its messages almost by heart (dev CV top-3 1.000), and the threshold chosen on it
comes out too loose. Refit only with a tuning file the base has not learnt from (or a fresh one).
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.matching.engine import build_engine
from bot.matching.evaluate import NONE, Case, evaluate, read_kb_tsv, read_tsv
from bot.matching.matcher import FEATURES, Matcher, Weights
from bot.matching.scope import Scope, scope_features

DATA = ROOT / "tests/matching/data"
DEV = ("dev.tsv", "dev2.tsv", "dev3.tsv")  # the tuning files fitted on (tests/matching/data)
# The held-out sets: measured only (--measure), never fitted on. The other dev*.tsv files are
# development sets that were never fitted on either (dev4 was heldout.tsv, whose even rows this script
# fitted on from 52deb2d to b494fbb; dev5/dev6 were heldout2/heldout3, read into the base's wording):
# they are reported as tuning files left out of the fit, never as held-out. Each header says more.
MEASURED = ("heldout4.tsv", "heldout5.tsv")
FLOORS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # the scope model's candidate floors on the best intent's score


def rows(matcher: Matcher, cases) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per case: the features of its candidate labels, their target (1 for its gold intent, 0 for the
    others and for every label of an out-of-scope message), and which labels are off-topic subjects."""
    out = []
    for case in cases:
        scored = matcher.score_features(case.text)
        labels = [matcher.index.labels[i] for i in scored.label_ids.tolist()]
        off = np.array([label in matcher.off_topic for label in labels], dtype=bool)
        y = np.array([1.0 if label in case.gold and NONE not in case.gold else 0.0 for label in labels])
        out.append((scored.features, y, off))
    return out


def kb_folds(engine, *, folds: int, seed: int = 1) -> tuple[list[Case], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Each sample question (and off-topic example) as a message, against a matcher built without its fold."""
    off_topic = frozenset(topic.id for topic in engine.kb.off_topic)
    labelled = [(intent.id, q) for intent in (*engine.kb.matchable, *engine.kb.off_topic) for q in intent.questions]
    keywords = {intent.id: intent.keywords for intent in engine.kb.matchable}
    order = list(range(len(labelled)))
    random.Random(seed).shuffle(order)
    cases, out = [], []
    for f in range(folds):
        held = set(order[f::folds])
        matcher = Matcher.build(engine.matcher.tokenizer, [r for i, r in enumerate(labelled) if i not in held],
                                weights=engine.matcher.weights, keywords=keywords, off_topic=off_topic)
        fold_cases = [Case(labelled[i][1], frozenset([NONE if labelled[i][0] in off_topic else labelled[i][0]]))
                      for i in sorted(held)]
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


def fit(parts: list[tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], float]], *, c: float) -> tuple[np.ndarray, float]:
    """Fit on several row sets, each with its per-row weight. The intent model says how well a message
    fits an intent's questions: it learns from the intents' rows only, and scores off-topic subjects'
    examples the same way (one of them fitting better than any intent is what puts a message off topic)."""
    xs, ys, ws = [], [], []
    for data, weight in parts:
        for x, y, off in data:
            if (~off).any():
                xs.append(x[~off])
                ys.append(y[~off])
                ws.append(np.full(int((~off).sum()), weight))
    return fit_logistic(np.vstack(xs), np.concatenate(ys), c=c, sample_weight=np.concatenate(ws))


@dataclass(frozen=True)
class Message:
    """One case as the scope model sees it, under one intent model."""

    # SCOPE_FEATURES; None when no intent shares a word with the message, or an off-topic subject outranks them
    features: np.ndarray | None
    in_scope: bool
    first: bool  # the gold intent is ranked first
    among: bool  # the gold intent is among what would be shown: the best, and runners-up scoring >= `also`


def messages(data, cases, coef: np.ndarray, bias: float, *, also: float) -> list[Message]:
    """As `Matcher.rank` and `shown` see each case: the intents ranked without the off-topic subjects,
    and never shown when one of those outranks the best intent."""
    out = []
    for (x, y, off), case in zip(data, cases):
        in_scope = NONE not in case.gold
        p = 1 / (1 + np.exp(-np.clip(x @ coef + bias, -30, 30)))
        off_score = float(p[off].max()) if off.any() else 0.0
        x, y, p = x[~off], y[~off], p[~off]
        if not len(x) or off_score >= p.max():
            out.append(Message(None, in_scope, False, False))
            continue
        top = np.argsort(-p, kind="stable")[:3]
        picked = np.r_[top[:1], top[1:][p[top[1:]] >= also]]
        out.append(Message(scope_features(p, x, FEATURES, off_score), in_scope, bool(y[top[0]]), bool(y[picked].any())))
    return out


def fit_scope(parts: list[tuple[list[Message], float]], *, c: float) -> tuple[np.ndarray, float]:
    """The scope model (in scope = 1) on standardised features, returned for the raw features."""
    xs, ys, ws = [], [], []
    for data, weight in parts:
        for m in data:
            if m.features is not None:
                xs.append(m.features)
                ys.append(float(m.in_scope))
                ws.append(weight)
    x = np.vstack(xs)
    mean, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    coef, bias = fit_logistic((x - mean) / sd, np.array(ys), c=c, sample_weight=np.array(ws))
    return coef / sd, bias - float((mean / sd) @ coef)


def chances(msgs: list[Message], coef: np.ndarray, bias: float) -> np.ndarray:
    """Each message's chance of being in scope (-1 for a message without candidates: never shown)."""
    return np.array([-1.0 if m.features is None else Scope(tuple(coef), bias).chance(m.features) for m in msgs])


def score(msgs: list[Message], chance: np.ndarray, *, threshold: float, floor: float) -> dict[str, float]:
    """Confident top-1, top-3 and out-of-scope rejection, as `evaluate` counts them."""
    best = np.array([-1.0 if m.features is None else m.features[0] for m in msgs])
    show = (chance >= threshold) & (best >= floor)
    in_scope = np.array([m.in_scope for m in msgs], dtype=bool)
    first = np.array([m.first for m in msgs], dtype=bool)
    among = np.array([m.among for m in msgs], dtype=bool)
    n, oos = int(in_scope.sum()), int((~in_scope).sum())
    return {"top1": (show & first & in_scope).sum() / max(n, 1), "top3": (show & among & in_scope).sum() / max(n, 1),
            "oos": (~show & ~in_scope).sum() / max(oos, 1), "n": n, "n_oos": oos}


def pick_threshold(dev: list[Message], kb: list[Message], coef, bias, *, min_oos: float) -> tuple[float, float]:
    """The (threshold, floor) with the best top-1 + top-3 (dev and the base's folds averaged) among those
    keeping dev's rejection >= `min_oos`."""
    dev_chance, kb_chance = chances(dev, coef, bias), chances(kb, coef, bias)
    best = None
    for t in np.arange(0.05, 0.951, 0.01):
        for floor in FLOORS:
            d = score(dev, dev_chance, threshold=float(t), floor=floor)
            k = score(kb, kb_chance, threshold=float(t), floor=floor)
            key = (d["oos"] >= min_oos, d["top1"] + d["top3"] + k["top1"] + k["top3"], floor, -t)
            if best is None or key > best[0]:
                best = (key, (round(float(t), 2), floor))
    return best[1]


def recall_at_1(matcher: Matcher, cases) -> float:
    hits = 0
    for case in cases:
        ranked = matcher.rank(case.text, limit=1)
        hits += bool(ranked) and ranked[0].label in case.gold
    return hits / len(cases)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength (both models)")
    ap.add_argument("--min-oos", type=float, default=0.87, help="dev out-of-scope rejection the threshold must keep")
    ap.add_argument("--kb-weight", type=float, default=0.3, help="weight of each knowledge-base k-fold row")
    ap.add_argument("--kb-folds", type=int, default=5)
    ap.add_argument("--public-weight", type=float, default=0.1,
                    help="weight of each LCQMC row in both fits (0: fit without it, as its licence is unknown)")
    ap.add_argument("--eval-dir", type=Path, default=ROOT.parent / "shared" / "data" / "eval")
    ap.add_argument("--dev", nargs="+", default=DEV, help="tuning files to fit on (never a held-out file)")
    ap.add_argument("--measure", action="store_true", help="also report the held-out files (a measure, never a target)")
    args = ap.parse_args()
    if any(name in MEASURED for name in args.dev):
        ap.error("held-out files only measure: never fit on them")
    engine = build_engine(ROOT / "knowledge")
    base = engine.matcher
    also = base.weights.also
    dev_cases = [case for name in args.dev for case in read_tsv(DATA / name)]
    dev = rows(base, dev_cases)
    kb_cases, kb = kb_folds(engine, folds=args.kb_folds)
    parts = [(dev, 1.0), (kb, args.kb_weight)]
    lcqmc = args.eval_dir / "lcqmc"
    public = public_test = None
    # LCQMC's queries against this shop's base: open-domain questions, out of scope for the scope model.
    oos_fit = oos_test = oos_fit_cases = oos_test_cases = []
    if (lcqmc / "lcqmc_kb.tsv").exists():
        public = Matcher.build(base.tokenizer, read_kb_tsv(lcqmc / "lcqmc_kb.tsv"), scope=Scope(threshold=0.0))
        queries = read_tsv(lcqmc / "lcqmc_queries.tsv", text_col="query", gold_col="gold_id")
        public_test = queries
        oos_test_cases = [Case(q.text, frozenset([NONE])) for q in queries[1::2]]
        oos_test = rows(base, oos_test_cases)
        if args.public_weight:
            parts.append((rows(public, queries[0::2]), args.public_weight))
            public_test = queries[1::2]
            oos_fit_cases = [Case(q.text, frozenset([NONE])) for q in queries[0::2]]
            oos_fit = rows(base, oos_fit_cases)

    def fit_both(dev_idx: list[int], kb_idx: list[int]):
        """Both models from dev's rows `dev_idx` and the base's k-fold rows `kb_idx` (the intent model
        learns from all of the base's rows, as each row is already matched against a base without it)."""
        coef, bias = fit([([dev[i] for i in dev_idx], 1.0), *parts[1:]], c=args.c)
        dev_m = messages([dev[i] for i in dev_idx], [dev_cases[i] for i in dev_idx], coef, bias, also=also)
        kb_m = messages([kb[i] for i in kb_idx], [kb_cases[i] for i in kb_idx], coef, bias, also=also)
        scope_parts = [(dev_m, 1.0), (kb_m, args.kb_weight)]
        if oos_fit:
            scope_parts.append((messages(oos_fit, oos_fit_cases, coef, bias, also=also), args.public_weight))
        s_coef, s_bias = fit_scope(scope_parts, c=args.c)
        threshold, floor = pick_threshold(dev_m, kb_m, s_coef, s_bias, min_oos=args.min_oos)
        return coef, bias, s_coef, s_bias, threshold, floor

    # Cross-validation on dev (and on the base's k-fold rows for the scope model): how both fits and the
    # threshold do on messages left out of all three.
    folds = 5
    totals = {name: {"top1": 0.0, "top3": 0.0, "oos": 0.0, "n": 0, "n_oos": 0} for name in ("dev", "kb")}
    for f in range(folds):
        coef, bias, s_coef, s_bias, t, floor = fit_both([i for i in range(len(dev)) if i % folds != f],
                                                 [i for i in range(len(kb)) if i % folds != f])
        for name, data, cases in (("dev", dev, dev_cases), ("kb", kb, kb_cases)):
            test = [i for i in range(len(data)) if i % folds == f]
            m = messages([data[i] for i in test], [cases[i] for i in test], coef, bias, also=also)
            r = score(m, chances(m, s_coef, s_bias), threshold=t, floor=floor)
            cv = totals[name]
            for k in ("top1", "top3"):
                cv[k] += r[k] * r["n"]
            cv["oos"] += r["oos"] * r["n_oos"]
            cv["n"] += r["n"]
            cv["n_oos"] += r["n_oos"]

    coef, bias, s_coef, s_bias, threshold, floor = fit_both(list(range(len(dev))), list(range(len(kb))))
    fitted = Weights(coef=tuple(round(float(v), 3) for v in coef), bias=round(bias, 3), mix=base.weights.mix, also=also)
    scope = Scope(coef=tuple(round(float(v), 4) for v in s_coef), bias=round(s_bias, 4), threshold=threshold, floor=floor)
    m = Matcher(base.tokenizer, base.index, weights=fitted, scope=scope, off_topic=base.off_topic)
    cv = totals["dev"]
    print(f"dev 5-fold CV (never fitted on the fold): top-1 {cv['top1'] / cv['n']:.3f} top-3 {cv['top3'] / cv['n']:.3f} "
          f"OOS rejected {cv['oos'] / cv['n_oos']:.3f}")
    cv = totals["kb"]
    print(f"knowledge base {args.kb_folds}-fold, scope model CV: top-1 {cv['top1'] / cv['n']:.3f} top-3 {cv['top3'] / cv['n']:.3f}")
    tuning = sorted(p.name for p in DATA.glob("dev*.tsv") if p.name not in args.dev)  # tuning files left out of this fit
    measured = [("dev (fitted on)", dev_cases), *((f, read_tsv(DATA / f)) for f in tuning),
                *((f, read_tsv(DATA / f)) for f in MEASURED if args.measure and (DATA / f).exists())]
    for name, cases in measured:
        r = evaluate(m, cases)
        print(f"{name}: n={r.n} confident top-1 {r.top1:.3f} top-3 {r.top3:.3f} MRR {r.mrr:.3f} "
              f"OOS rejected {r.oos_rejected:.3f} wrong-confident {r.false_suggestion_rate:.3f}")
    if oos_test:
        r = score(messages(oos_test, oos_test_cases, coef, bias, also=also),
                  chances(messages(oos_test, oos_test_cases, coef, bias, also=also), s_coef, s_bias), threshold=threshold,
                  floor=floor)
        print(f"LCQMC odd queries against this base, all out of scope (not fitted on): rejected {r['oos']:.3f}")
    if public is not None:
        pm = Matcher(public.tokenizer, public.index, weights=fitted, scope=Scope(threshold=0.0))
        print(f"LCQMC recall@1 ({'odd rows' if args.public_weight else 'all rows, not fitted on'}): "
              f"{recall_at_1(pm, public_test):.3f}")
    print("features:", ", ".join(f"{n}={v:+.3f}" for n, v in zip(FEATURES, coef)), f"bias={bias:+.3f}")
    print(f"Weights(coef={fitted.coef}, bias={fitted.bias})")
    print(f"Scope(coef={scope.coef}, bias={scope.bias}, threshold={scope.threshold}, floor={scope.floor})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
