#!/usr/bin/env python3
"""Benchmark of the reply matcher against two baselines, in one run (`scripts/bench match`).

First, the bot's own path on the shop's base (knowledge/): build_engine, then matcher.suggest as the
matching consumer calls it (ranking and the out-of-scope decision), cold and warm, on heldout5's messages.

Systems compared on the public sets (ranking only: there is no scope model fitted for those bases):
  ours    bot.matching Matcher (BM25 candidates → rapidfuzz → calibrated intent score)
  bm25s   BM25 (the bm25s package) over plain jieba tokens          (pip install -e '.[bench]')
  wratio  brute force: rapidfuzz process.extract(WRatio) over every question

Knowledge bases of 1k, 10k and 100k questions are built from the public evaluation sets in
../shared/data/eval (lcqmc + atec): their KB questions with their ids, shuffled with a fixed seed,
then, past their ~19k questions, the other sentences of their pair files as distractors (any
sentence equal to a query is left out). Each (system, size) runs in its own child process pinned
to one core, so build time, latency and peak RSS are its own. Recall@1 per size counts the queries
whose gold question is in that KB; the public-set recall@1 uses each set's own KB and all its queries
(any id of `gold_id` counts), as `csbot eval --kb-tsv` does, and for LCQMC also its odd query rows
alone (the shipped weights were fitted on the even ones). Every system, the brute-force baseline
included, is timed and scored on the same messages and the same number of them. Wall time and CPU
time are printed in separate, labelled columns, and the ratios are of CPU time to CPU time only.

    .venv/bin/python scripts/bench_match.py                  # everything (a few minutes)
    .venv/bin/python scripts/bench_match.py --sizes 1000 10000 --systems ours bm25s
    .venv/bin/python scripts/bench_match.py --json            # one JSON object at the end

Nothing here is imported by the bot; the data never leaves ../shared (its licence is unknown).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "data" / "eval"
SETS = ("lcqmc", "atec")
SYSTEMS = ("ours", "bm25s", "wratio")
SEED = 20261125


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_set(name: str, eval_dir: Path) -> tuple[list[tuple[str, str]], list[tuple[str, frozenset[str]]]]:
    """(id, question) rows of the set's KB, and (query, gold ids) rows."""
    kb = [(r["id"], r["question"]) for r in _rows(eval_dir / name / f"{name}_kb.tsv")]
    queries = [(r["query"], frozenset(r["gold_id"].split("|"))) for r in _rows(eval_dir / name / f"{name}_queries.tsv")]
    return kb, queries


def build_pool(eval_dir: Path, size: int) -> tuple[list[tuple[str, str]], list[tuple[str, frozenset[str]]]]:
    """A KB of `size` questions and every query of both sets (gold may be outside the KB)."""
    kb: list[tuple[str, str]] = []
    queries: list[tuple[str, frozenset[str]]] = []
    for name in SETS:
        k, q = load_set(name, eval_dir)
        kb += k
        queries += q
    rng = random.Random(SEED)
    rng.shuffle(kb)
    if size > len(kb):
        seen = {q for _, q in kb} | {text for text, _ in queries}
        extra: list[str] = []
        for name in SETS:
            for r in _rows(eval_dir / name / f"{name}_pairs.tsv"):
                for s in (r["sentence1"], r["sentence2"]):
                    if s and s not in seen:
                        seen.add(s)
                        extra.append(s)
        rng.shuffle(extra)
        kb += [(f"distractor-{i:06d}", s) for i, s in enumerate(extra[: size - len(kb)])]
    return kb[:size], queries


# --- the three systems: build(rows) once, then top(text) -> best id or None ----------------------

class Ours:
    def __init__(self) -> None:
        from bot.matching.kb import load_valid
        from bot.matching.tokenizer import Tokenizer

        kb = load_valid(ROOT / "knowledge")
        self.tokenizer = Tokenizer(userdict=kb.userdict, synonyms=kb.synonyms)

    def build(self, rows: list[tuple[str, str]]) -> None:
        from bot.matching.matcher import Matcher

        self.matcher = Matcher.build(self.tokenizer, rows)  # only `rank` is measured: no out-of-scope decision

    def top(self, text: str) -> str | None:
        ranked = self.matcher.rank(text, limit=1)
        return ranked[0].label if ranked else None


class Bm25s:
    def __init__(self) -> None:
        import jieba

        self.jieba = jieba.Tokenizer()
        self.jieba.initialize()

    def _tokens(self, text: str) -> list[str]:
        return [w for w in self.jieba.lcut(text) if w.strip()]

    def build(self, rows: list[tuple[str, str]]) -> None:
        import bm25s

        self.ids = [i for i, _ in rows]
        self.retriever = bm25s.BM25()
        self.retriever.index([self._tokens(q) for _, q in rows], show_progress=False)
        self.vocab = self.retriever.vocab_dict

    def top(self, text: str) -> str | None:
        tokens = [t for t in self._tokens(text) if t in self.vocab]
        if not tokens:
            return None
        docs, scores = self.retriever.retrieve([tokens], k=1, show_progress=False, n_threads=1)
        return self.ids[int(docs[0][0])] if scores[0][0] > 0 else None


class WRatio:
    def __init__(self) -> None:
        from rapidfuzz import utils

        self.process = utils.default_process

    def build(self, rows: list[tuple[str, str]]) -> None:
        self.ids = [i for i, _ in rows]
        self.choices = [self.process(q) for _, q in rows]

    def top(self, text: str) -> str | None:
        from rapidfuzz import fuzz, process

        found = process.extract(self.process(text), self.choices, scorer=fuzz.WRatio, processor=None, limit=1)
        return self.ids[found[0][2]] if found else None


def make(system: str):
    return {"ours": Ours, "bm25s": Bm25s, "wratio": WRatio}[system]()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _recall(sut, queries) -> tuple[float, int]:
    hits = sum(sut.top(text) in gold for text, gold in queries)
    return (hits / len(queries) if queries else 0.0), len(queries)


def child_size(system: str, size: int, messages: int, recall_limit: int, eval_dir: Path) -> dict:
    """One (system, KB size): build, latency over `messages` queries, recall@1 over in-KB queries."""
    _pin_one_core()
    rows, queries = build_pool(eval_dir, size)
    sut = make(system)
    started = time.perf_counter()
    sut.build(rows)
    build_s = time.perf_counter() - started
    sample = queries[:: max(1, len(queries) // messages)][:messages]
    for text, _ in sample[:5]:  # warm-up
        sut.top(text)
    times, cpu = [], []
    for text, _ in sample:
        c0, t0 = time.process_time(), time.perf_counter()
        sut.top(text)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    ids = {i for i, _ in rows}
    in_kb = [(t, g) for t, g in queries if g & ids]
    in_kb = in_kb[:: max(1, len(in_kb) // recall_limit)][:recall_limit] if recall_limit else in_kb
    recall, n = _recall(sut, in_kb)
    return {
        "system": system, "size": len(rows), "build_s": round(build_s, 3), "messages": len(times),
        "p50_ms": round(_percentile(times, 0.5), 3), "p99_ms": round(_percentile(times, 0.99), 3),
        "msgs_per_s": round(len(times) / (sum(times) / 1000), 1) if times else 0.0,
        "cpu_p50_ms": round(_percentile(cpu, 0.5), 3), "cpu_p99_ms": round(_percentile(cpu, 0.99), 3),
        "cpu_msgs_per_s": round(len(cpu) / (sum(cpu) / 1000), 1) if sum(cpu) else 0.0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "recall1": round(recall, 4), "recall_n": n,
    }


def child_shop(messages: int) -> dict:
    """The bot's own path on the shop's own base: `build_engine(knowledge/)` as `csbot serve` loads it,
    then `matcher.suggest(text, limit=3)` as the matching consumer calls it (ranking, the out-of-scope
    decision, the runners-up), on the held-out messages. The first call is timed alone (cold: jieba's
    caches and the index's first touch), the rest are warm."""
    _pin_one_core()
    from bot.matching.engine import build_engine

    started = time.perf_counter()
    engine = build_engine(ROOT / "knowledge")
    build_s = time.perf_counter() - started
    texts = [line.split("\t")[0] for line in (ROOT / "tests" / "matching" / "data" / "heldout5.tsv")
             .read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")][1:]
    texts = texts[:messages]  # each once: the matcher keeps recent answers, and a repeat would be a cache hit
    c0, t0 = time.process_time(), time.perf_counter()
    engine.matcher.suggest(texts[0], limit=3)
    cold_ms, cold_cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
    times, cpu = [], []
    for text in texts[1:]:
        c0, t0 = time.process_time(), time.perf_counter()
        engine.matcher.suggest(text, limit=3)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {"system": "bot", "questions": sum(len(i.questions) for i in engine.kb.intents),
            "build_s": round(build_s, 3), "cold_ms": round(cold_ms, 3), "cold_cpu_ms": round(cold_cpu_ms, 3),
            "messages": len(times), "p50_ms": round(_percentile(times, 0.5), 3), "p99_ms": round(_percentile(times, 0.99), 3),
            "cpu_p50_ms": round(_percentile(cpu, 0.5), 3), "cpu_p99_ms": round(_percentile(cpu, 0.99), 3),
            "cpu_msgs_per_s": round(len(cpu) / (sum(cpu) / 1000), 1) if sum(cpu) else 0.0}


def child_public(system: str, name: str, limit: int, eval_dir: Path) -> dict:
    """Recall@1 on one public set with its own KB (every `len/limit`-th query when limited)."""
    _pin_one_core()
    kb, queries = load_set(name, eval_dir)
    if limit and limit < len(queries):
        queries = queries[:: len(queries) // limit][:limit]
    sut = make(system)
    sut.build(kb)
    recall, n = _recall(sut, queries)
    result = {"system": system, "set": name, "recall1": round(recall, 4), "n": n}
    if name == "lcqmc" and not limit:  # the odd rows: the half the shipped weights were not fitted on
        result["recall1_odd"] = round(_recall(sut, queries[1::2])[0], 4)
    return result


def _run_child(args: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description="matcher benchmark: ours vs bm25s vs brute-force WRatio")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    ap.add_argument("--messages", type=int, default=1000, help="messages timed per (system, size), the same for all")
    ap.add_argument("--recall-limit", type=int, default=1000, help="in-KB queries scored per size (0: all)")
    ap.add_argument("--public-limit", type=int, default=0, help="queries per public set (0: all 3,000)")
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        sys.path.insert(0, str(ROOT))
        kind, system, what, limit, *rest = args.child
        if kind == "shop":
            result = child_shop(int(limit))
        elif kind == "size":
            result = child_size(system, int(what), int(rest[0]), int(limit), args.eval_dir)
        else:
            result = child_public(system, what, int(limit), args.eval_dir)
        print(json.dumps(result))
        return 0

    command = shlex.join([os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]])
    print(f"$ {command}")
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; every child pinned to one core; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    shop = _run_child(["--child", "shop", "bot", "-", str(args.messages)])
    print(f"the bot's own path: build_engine(knowledge/, {shop['questions']} questions) {shop['build_s']:.2f} s, then matcher.suggest(limit=3) on "
          f"heldout5's messages: cold (first call) wall {shop['cold_ms']:.1f} ms, CPU {shop['cold_cpu_ms']:.1f} ms; "
          f"warm ({shop['messages']}): wall p50 {shop['p50_ms']:.3f} ms, p99 {shop['p99_ms']:.3f} ms; CPU p50 "
          f"{shop['cpu_p50_ms']:.3f} ms, p99 {shop['cpu_p99_ms']:.3f} ms, {shop['cpu_msgs_per_s']:.0f} msg/s\n", flush=True)
    sized = []
    for size in args.sizes:
        for system in args.systems:  # the same messages and counts for every system
            messages, limit = args.messages, args.recall_limit
            r = _run_child(["--eval-dir", str(args.eval_dir), "--child", "size", system, str(size), str(limit), str(messages)])
            r["requested"] = size
            sized.append(r)
            print(f"  {system:<7} {r['size']:>7,} q  build {r['build_s']:7.2f} s  wall: p50 {r['p50_ms']:8.3f} ms  "
                  f"p99 {r['p99_ms']:8.3f} ms  {r['msgs_per_s']:9.1f} msg/s  (CPU: p99 {r['cpu_p99_ms']:.3f} ms, "
                  f"{r['cpu_msgs_per_s']:.1f} msg/s)  RSS {r['peak_rss_mb']:7.1f} MB  "
                  f"recall@1 {r['recall1']:.3f} (n={r['recall_n']})", flush=True)
    public = []
    for name in SETS:
        for system in args.systems:
            public.append(_run_child(["--eval-dir", str(args.eval_dir), "--child", "public", system, name,
                                      str(args.public_limit)]))

    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (wall times suffer when the "
          "machine is shared; the CPU columns count only the CPU time of the child process)")
    print(f"\nlatency and throughput (one core, {args.messages} messages per system; wall = elapsed time, CPU = the "
          "child's CPU time; ×: CPU msg/s over the baseline's CPU msg/s)")
    print(f"{'size':>8} {'system':<7} {'build s':>8} {'wall p50':>8} {'wall p99':>8} {'wall msg/s':>10} {'CPU p50':>8} "
          f"{'CPU p99':>8} {'CPU msg/s':>10} {'RSS MB':>8} {'R@1':>6} {'CPU×bm25s':>9} {'CPU×wratio':>10}")
    for size in args.sizes:
        row = {r["system"]: r for r in sized if r["requested"] == size}
        for system, r in row.items():
            ratios = []
            for base in ("bm25s", "wratio"):
                b = row.get(base)
                ratios.append(f"{r['cpu_msgs_per_s'] / b['cpu_msgs_per_s']:.1f}×" if b and b["cpu_msgs_per_s"] else "-")
            print(f"{r['size']:>8,} {system:<7} {r['build_s']:>8.2f} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
                  f"{r['msgs_per_s']:>10.1f} {r['cpu_p50_ms']:>8.3f} {r['cpu_p99_ms']:>8.3f} {r['cpu_msgs_per_s']:>10.1f} "
                  f"{r['peak_rss_mb']:>8.1f} {r['recall1']:>6.3f} {ratios[0]:>9} {ratios[1]:>10}")
    print("\nrecall@1 on the public sets (each with its own KB)")
    for name in SETS:
        row = {r["system"]: r for r in public if r["set"] == name}
        parts = [f"{s} {r['recall1']:.3f} (n={r['n']}" + (f"; odd rows {r['recall1_odd']:.3f}" if "recall1_odd" in r else "")
                 + ")" for s, r in row.items()]
        ours = row.get("ours")
        deltas = [f"ours − {b} {ours['recall1'] - row[b]['recall1']:+.3f}" for b in ("bm25s", "wratio") if ours and b in row]
        print(f"  {name:<6} " + "  ".join(parts) + ("   [" + ", ".join(deltas) + "]" if deltas else ""))
    if args.json:
        print(json.dumps({"command": command, "shop": shop, "sizes": sized, "public": public}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
