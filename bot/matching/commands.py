"""The matcher's commands: `csbot kb lint`, `csbot kb try`, `csbot eval`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, time, timedelta

from bot.clock import Clock, SystemClock
from bot.config import Config, config_dir, resolve_path
from bot.store import feedback
from bot.store.db import async_url, create_engine, migrate, sessionmaker
from bot.matching.engine import build_engine
from bot.matching.evaluate import Case, EvalFileError, evaluate, read_kb_tsv, read_tsv, unknown_golds
from bot.matching.kb import KnowledgeBaseError
from bot.matching.lint import lint
from bot.matching.matcher import Matcher
from bot.matching.scope import Scope
from bot.matching.normalize import normalize
from bot.matching.tokenizer import Tokenizer
from bot.privacy import mask, mask_strings


def run(args: argparse.Namespace, config: Config, *, clock: Clock | None = None) -> int:
    """`clock`: what "today" is for `kb learn` without --from/--to (the system's unless a test injects one)."""
    folder = resolve_path(config, getattr(args, "path", None) or config.knowledge.path)
    if args.command == "kb" and args.kb_command == "lint":
        problems = lint(folder)
        for p in problems:
            print(p)
        print(f"{folder}: {len(problems)} problem(s)" if problems else f"{folder}: ok")
        return 1 if problems else 0
    if args.command == "kb" and args.kb_command == "stats":
        return asyncio.run(_stats(config, args.limit))
    if args.command == "kb" and args.kb_command == "learn":
        return _learn(config, folder, args, clock or SystemClock())
    try:
        engine = build_engine(folder)
    except KnowledgeBaseError as e:
        print(f"csbot: the knowledge base has errors:\n{e}", file=sys.stderr)
        return 1
    if args.command == "kb":
        return _try(engine, args.text)
    return _eval(engine, args)


async def _stats(config: Config, limit: int) -> int:
    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        async with sessionmaker(engine)() as session:
            uses = await feedback.by_intent(session)
    finally:
        await engine.dispose()
    if not uses:
        print("no replies recorded yet")
        return 0
    print(f"{'intent':<28} {'shown':>5} {'used':>5} {'edited':>6} {'ignored':>7} {'rewritten':>9}")
    for use in uses[:limit]:
        print(f"{use.intent:<28} {use.shown:>5} {use.used:>5} {use.edited:>6} {use.ignored:>7} {use.rewritten_share:>9.0%}")
        for example in use.examples:
            print(f"    agents wrote: {mask(example)[:80]}")
    return 0


def _learn(config: Config, folder, args: argparse.Namespace, clock: Clock) -> int:
    """`csbot kb learn --from DAY --to DAY`: the groups GET /api/kb/learn answers, in the terminal, with
    buyers' phone numbers, ID numbers and addresses masked as there."""
    from bot.clock import shop_zone
    from bot.matching import learn

    zone = shop_zone(config.shop.timezone)
    try:
        first, last = learn.parse_days(args.first, args.last, today=clock.now().astimezone(zone).date())
    except ValueError as e:
        print(f"csbot: {e}", file=sys.stderr)
        return 2
    try:
        engine = build_engine(folder)
    except KnowledgeBaseError as e:
        print(f"csbot: the knowledge base has errors:\n{e}", file=sys.stderr)
        return 1
    start = datetime.combine(first, time.min, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=zone)
    rows = asyncio.run(_unanswered(config, start, end))
    groups = learn.group([learn.Unanswered(*row) for row in rows], engine.matcher)
    titles = {i.id: i.title for i in (*engine.kb.intents, *engine.kb.off_topic)}
    items = mask_strings([g.as_dict(titles=titles) for g in groups[:args.limit]])
    if args.json:
        print(json.dumps({"from": first.isoformat(), "to": last.isoformat(), "items": items, "total": len(groups)},
                         ensure_ascii=False))
        return 0
    print(f"{first} to {last}: {len(rows)} buyer message(s) without a confident suggestion, {len(groups)} group(s)")
    for n, item in enumerate(items, 1):
        print(f"\n{n}. {item['size']} message(s): " + " / ".join(item["examples"]))
        if item["closest_intents"]:
            print("   closest: " + ", ".join(f"{c['intent']} ({c['title']}) {c['score']:.2f}"
                                           for c in item["closest_intents"]))
        for reply in item["agent_replies"]:
            print(f"   agents replied ×{reply['count']}: {reply['text'][:80]}")
    return 0


async def _unanswered(config: Config, start, end) -> list:
    from bot.store import learning

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        async with sessionmaker(engine)() as session:
            return await learning.unanswered(session, start=start, end=end)
    finally:
        await engine.dispose()


def _try(engine, text: str) -> int:
    tokenizer = engine.matcher.tokenizer
    norm = normalize(text)
    print(f"normalized: {norm}")
    print(f"tokens:     {' / '.join(tokenizer.tokens(norm))}")
    ranked = engine.matcher.rank(text, limit=5)
    if not ranked:
        print("no candidate shares a word with this message")
    shown = {m.label for m in engine.matcher.shown(ranked)}
    for m in ranked:
        mark = "✓" if m.label in shown else " "
        print(f"{mark} {m.score:.3f} {m.label:<28} {engine.kb.by_id[m.label].title}  ← {m.question!r}  [{m.why}]")
    if ranked and ranked[0].off_topic:
        topic = next(t for t in engine.kb.off_topic if t.id == ranked[0].off_topic)
        print(f"off topic: closer to {topic.id} ({topic.title}, off_topic.toml) than to any intent: nothing is shown")
    elif ranked:
        scope = engine.matcher.scope
        print(f"in scope: {ranked[0].in_scope:.3f} (suggestions are shown from {scope.threshold}: the best, with "
              f"the runners-up scoring at least {engine.matcher.weights.also}; ✓ marks what is shown)")
    return 0


def _eval(engine, args: argparse.Namespace) -> int:
    if args.kb_tsv:
        if not args.queries:
            print("csbot: --kb-tsv needs --queries", file=sys.stderr)
            return 2
        tokenizer: Tokenizer = engine.matcher.tokenizer
        try:
            rows = read_kb_tsv(args.kb_tsv)
            cases = [Case(c.text, c.gold) for c in read_tsv(args.queries, text_col="query", gold_col="gold_id")]
        except EvalFileError as e:
            print(f"csbot: {e}", file=sys.stderr)
            return 2
        # Public sets have no out-of-scope rows: every query's best candidate is what counts.
        matcher = Matcher.build(tokenizer, rows, scope=Scope(threshold=0.0))
        known = {label for label, _ in rows}
    elif args.file:
        try:
            cases = read_tsv(args.file)
        except EvalFileError as e:
            print(f"csbot: {e}", file=sys.stderr)
            return 2
        matcher, known = engine.matcher, set(engine.kb.by_id) | {t.id for t in engine.kb.off_topic}
    else:
        print("csbot: eval needs FILE.tsv, or --kb-tsv KB.tsv --queries Q.tsv", file=sys.stderr)
        return 2
    unknown = unknown_golds(cases, known)
    if unknown:
        print(f"csbot: {args.file or args.queries}: gold intents that the knowledge base does not have:", file=sys.stderr)
        for gold, near in unknown.items():
            print(f"  {gold!r}" + (f" (did you mean {', '.join(near)}?)" if near else " (no similar id)"),
                  file=sys.stderr)
        return 2
    report = evaluate(matcher, cases)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print(report.format())
        if args.misses:
            print(report.format_misses())
    return 0
