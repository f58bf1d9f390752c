"""`csbot pushes failed` and `csbot pushes retry`: the pushes set aside (bot.store.set_aside) and the
consumers' failures on single pushes (bot.store.consumer_failures)."""

from __future__ import annotations

import asyncio
import json

from bot.config import Config, config_dir


def add_parser(sub, config_arg) -> None:
    pushes = sub.add_parser("pushes", help="pushes set aside as failed: list them, process them again")
    pushes_sub = pushes.add_subparsers(dest="pushes_command", required=True, metavar="PUSHES_COMMAND")
    failed = pushes_sub.add_parser("failed", help="the pushes set aside and the consumers' failures, newest first, "
                                                   "with their error")
    config_arg(failed)
    failed.add_argument("--limit", type=int, default=100, help="how many (default 100)")
    failed.add_argument("--json", action="store_true", help="one JSON object")
    retry = pushes_sub.add_parser("retry", help="process pushes set aside again, and replay the consumers that "
                                                 "failed on a push (a running bot picks them up)")
    config_arg(retry)
    retry.add_argument("--consumer", metavar="NAME", help="replay only this consumer's failures (matching, metrics, "
                                                          "reminders, tickets)")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("push_ids", nargs="*", default=[], metavar="PUSH_ID", help="these push ids")
    which.add_argument("--all", action="store_true", help="every push set aside")


async def _with_session(config: Config, work):
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        async with sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def run(args, config: Config) -> int:
    from bot.store import consumer_failures, set_aside

    if args.pushes_command == "failed":
        async def both(session):
            return (await set_aside.listed(session, limit=args.limit),
                    await consumer_failures.listed(session, limit=args.limit))

        rows, failures = asyncio.run(_with_session(config, both))
        items = [set_aside.as_item(r) for r in rows]
        consumer_items = [consumer_failures.as_item(f) for f in failures]
        if args.json:
            print(json.dumps({"items": items, "consumer_failures": consumer_items}, ensure_ascii=False))
        else:
            for i in items:
                print(f"{i['set_aside_at']}  {i['platform']}  {i['push_id']}  after {i['attempts']} tries: {i['error'][:200]}")
            print(f"{len(items)} push(es) set aside")
            for i in consumer_items:
                asked = ", replay asked" if i["replay_asked"] else ""
                print(f"{i['failed_at']}  {i['platform']}  {i['push_id']}  consumer {i['consumer']}, "
                      f"{i['attempts']} tries{asked}: {i['error'][:200]}")
            print(f"{len(consumer_items)} consumer failure(s)")
        return 0
    if not args.all and not args.push_ids:
        print("csbot pushes retry: give PUSH_ID... or --all")
        return 2
    ids = None if args.all else args.push_ids

    n, replays = asyncio.run(_with_session(
        config, lambda session: set_aside.replay(session, push_ids=ids, consumer=args.consumer)))
    print(f"{n} push(es) put back to be processed")
    print(f"{replays} consumer failure(s) to be replayed")
    return 0 if n or replays or args.all else 1
