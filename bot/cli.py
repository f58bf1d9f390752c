"""`csbot` and its subcommands. Exit status: 0 fine, 1 a check failed, 2 bad configuration or usage."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from zoneinfo import ZoneInfo

from bot import logs
from bot.config import Config, ConfigError, load_config

log = logging.getLogger(__name__)
DEFAULT_CONFIG = "config.example.toml"


# Commands that run the bot log their work at INFO; the others (reports, checks, kb ...) print what was
# asked and log only warnings, unless --log-level says otherwise.
SERVICES = ("serve", "demo", "simulate")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    """--config, and the log options, which every subcommand also takes after its name."""
    parser.add_argument(
        "--config", default=os.environ.get("CSBOT_CONFIG", DEFAULT_CONFIG),
        help="TOML configuration file (default: $CSBOT_CONFIG or config.example.toml)",
    )
    _log_args(parser, default=argparse.SUPPRESS)  # after the subcommand: overrides one given before it


def _log_args(parser: argparse.ArgumentParser, *, default) -> None:
    parser.add_argument("--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"), default=default,
                        help="DEBUG, INFO, WARNING, ERROR (default: INFO for serve, demo and simulate, else WARNING)")
    parser.add_argument("--log-format", choices=logs.FORMATS, default=default,
                        help="text (default) or json: one JSON object per line")


def _required_config_arg(parser: argparse.ArgumentParser) -> None:
    """`serve` never falls back to the demo file, whose secrets and tokens are public."""
    parser.add_argument("--config", default=os.environ.get("CSBOT_CONFIG"),
                        help="TOML configuration file (default: $CSBOT_CONFIG; required)")
    _log_args(parser, default=argparse.SUPPRESS)  # after the subcommand: overrides one given before it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csbot", description="Customer-service assistant bot for Wangwang and Dongdong shops.")
    _log_args(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the bot alone (webhooks, API, pages)")
    _required_config_arg(serve)

    hash_password = sub.add_parser("hash-password", help="read a password (twice, not echoed) and print its Argon2 "
                                                         "hash, for staff.first_admin_password_hash")
    hash_password.add_argument("--stdin", action="store_true", help="read the password from the first line of stdin")

    sub.add_parser("new-token", help="make an API token for a program: prints it once, and the lines for the "
                                      "file's [[tokens]] (its SHA-256, so the file never holds it)")

    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    _config_arg(check)

    from bot.store import commands as db_commands

    db_commands.add_parser(sub, _config_arg)

    kb = sub.add_parser("kb", help="the knowledge base: lint, try a message")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    lint = kb_sub.add_parser("lint", help="check the knowledge base; exit 1 when anything is wrong")
    _config_arg(lint)
    lint.add_argument("--path", help="the knowledge folder (default: knowledge.path of the config)")
    stats = kb_sub.add_parser("stats", help="the intents whose suggestions agents edit or ignore most, with what they wrote")
    _config_arg(stats)
    stats.add_argument("--limit", type=int, default=10, help="how many intents (default 10)")
    learn = kb_sub.add_parser("learn", help="buyer messages that got no confident suggestion, grouped, with what agents replied")
    _config_arg(learn)
    learn.add_argument("--from", dest="first", help="first day YYYY-MM-DD (shop time; default: 6 days before --to)")
    learn.add_argument("--to", dest="last", help="last day YYYY-MM-DD, inclusive (default: today)")
    learn.add_argument("--limit", type=int, default=20, help="how many groups (default 20)")
    learn.add_argument("--json", action="store_true", help="print the groups as JSON, as GET /api/kb/learn does")
    try_ = kb_sub.add_parser("try", help="show how a message is normalized, tokenized and matched")
    _config_arg(try_)
    try_.add_argument("text")

    evaluate = sub.add_parser("eval", help="evaluate the matcher on labelled messages (text<TAB>gold_intent)")
    _config_arg(evaluate)
    evaluate.add_argument("file", nargs="?", help="TSV with text and gold_intent columns ('none': no suggestion expected)")
    evaluate.add_argument("--kb-tsv", help="evaluate on a knowledge base built from this TSV (id, question)")
    evaluate.add_argument("--queries", help="with --kb-tsv: TSV of query and gold_id")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object (with a row per message)")
    evaluate.add_argument("--misses", action="store_true",
                          help="also list every missed message with its gold and the top 3 with scores")

    sim = sub.add_parser("simulate", help="run the simulated gateway and drive traffic at a running bot")
    _config_arg(sim)
    sim.add_argument("--bot-url", default=None, help="the bot's base URL (default: from [server] of the config)")
    _traffic_args(sim, rate=20.0, duration=60.0)

    from bot.metrics import commands as metrics_commands

    metrics_commands.add_parser(sub, _config_arg)
    _config_arg(sub.choices["report"])
    sub.choices["report"].add_argument(
        "subject", nargs="?", choices=("agents", "tickets", "reminders", "scorecard"), default="agents",
        help="agents (default): the per-agent figures; tickets: the complaint tickets opened in the period; "
             "reminders: payment reminders sent, recovered orders and sales, skips by reason; "
             "scorecard: each agent's 10-point card for --month, with commission")
    sub.choices["report"].add_argument("--month", default=None, help="scorecard: the month, YYYY-MM (shop time)")
    from bot.reminders import commands as reminder_commands

    reminder_commands.add_parser(sub, _config_arg)
    from bot import pushes_commands

    pushes_commands.add_parser(sub, _config_arg)

    demo = sub.add_parser("demo", help="the bot, the simulator and the demo shop together, on SQLite")
    _config_arg(demo)
    _traffic_args(demo, rate=2.0, duration=0.0)
    return parser


def _traffic_args(parser: argparse.ArgumentParser, *, rate: float, duration: float) -> None:
    parser.add_argument("--rate", type=float, default=rate, help=f"pushes per second (default {rate})")
    parser.add_argument("--duration", type=float, default=duration, help=f"seconds, 0 for until Ctrl+C (default {duration:g})")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same traffic (default 1)")
    parser.add_argument("--faults", default="", help="comma-separated name=probability: bad_sign, stale, duplicate, out_of_order (e.g. duplicate=0.1,stale=0.02)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command in SERVICES else "WARNING")
    log_format = args.log_format or "text"
    logs.setup(level, format=log_format)
    if args.command == "hash-password":
        return hash_password(stdin=args.stdin)
    if args.command == "new-token":
        from bot.staff import secrets

        token = secrets.new_token()
        print(f"token (give it to the program; it is not shown again): {token}")
        print(f'[[tokens]]\nsha256 = "{secrets.digest(token)}"\nrole = "supervisor"  # or agent (with agent = "<id>"), admin'
              '\n# expires = 2027-12-31  # optional: its last day')
        return 0
    if args.config is None:
        print(f"csbot: {args.command} needs a configuration: --config FILE or CSBOT_CONFIG=FILE "
              f"({DEFAULT_CONFIG} is the demo's, with public secrets and tokens: copy and edit it)", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"csbot: configuration error: {e.file}: {e.key}: {e.why}", file=sys.stderr)
        return 2
    logs.setup(level, format=log_format, zone=ZoneInfo(config.shop.timezone))  # times in the shop's zone from here
    from bot.store import sealed

    try:  # every command that reads or writes buyer text uses the key from the environment
        sealed.use(sealed.Keyring.from_environ(os.environ))
    except sealed.DataKeyError as e:
        print(f"csbot: {e}", file=sys.stderr)
        return 2
    try:
        if args.command == "check-config":
            from bot.check import check_config

            return check_config(config)
        if args.command == "serve":
            return serve(config)
        if args.command == "db":
            from bot.store import commands as db_commands

            return db_commands.run(args, config)
        if args.command in ("report", "metrics"):
            # The figures count the agents added on /admin as the server does.
            config = asyncio.run(_roster_in_service(config))
        if args.command == "report" and args.subject == "reminders":
            from bot.reminders import commands as reminder_commands

            return reminder_commands.report(args, config)
        if args.command == "reminders":
            from bot.reminders import commands as reminder_commands

            return reminder_commands.preview(args, config, render=reminder_render(config))
        if args.command == "pushes":
            from bot import pushes_commands

            return pushes_commands.run(args, config)
        if args.command == "report" and args.subject == "scorecard":
            from bot.reports import commands as report_commands

            return report_commands.run(args, config)
        if args.command == "report" and args.subject == "tickets":
            from bot.tickets import commands as ticket_commands

            return ticket_commands.run(args, config)
        if args.command == "report":
            from bot.metrics import commands as metrics_commands

            return metrics_commands.run(args, config)
        if args.command == "metrics":
            from bot.metrics import commands as metrics_commands

            return metrics_commands.rebuild(args, config)
        if args.command in ("kb", "eval"):
            from bot.matching import commands

            return commands.run(args, config)
        if args.command in ("simulate", "demo"):
            from bot.sim import run as sim_run

            try:
                faults = sim_run.parse_faults(args.faults)
            except ValueError as e:
                print(f"csbot: --faults: {e}", file=sys.stderr)
                return 2
            if args.command == "simulate":
                return asyncio.run(sim_run.simulate(config, bot_url=args.bot_url, rate=args.rate,
                                                    duration=args.duration, seed=args.seed, faults=faults))
            return asyncio.run(sim_run.demo(config, rate=args.rate, duration=args.duration,
                                            seed=args.seed, faults=faults))
    except KeyboardInterrupt:
        return 0
    return 2


def hash_password(*, stdin: bool) -> int:
    import getpass

    from bot.staff.passwords import hash_password as argon2_hash

    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("csbot: the two passwords differ", file=sys.stderr)
            return 2
    try:
        print(argon2_hash(password))
    except ValueError as e:
        print(f"csbot: {e}", file=sys.stderr)
        return 2
    return 0


def reminder_render(config: Config):
    """The reminder templates of the knowledge base, filled and checked by the compliance guard."""
    from bot.config import resolve_path
    from bot.guard import load_rules
    from bot.matching.engine import shop_values
    from bot.matching.kb import fill, load_valid

    folder = resolve_path(config, config.knowledge.path)
    kb, guard = load_valid(folder), load_rules(folder)

    def render(intent_id: str, platform: str, values) -> str | None:
        text = fill(kb.by_id[intent_id].reply(platform).text, {**shop_values(config.shop), **values})
        return None if guard.blocking(text) else text

    return render


def serve(config: Config) -> int:
    from bot.app import create_app
    from bot.config import resolve_path
    from bot.matching.engine import build_engine
    from bot.matching.kb import KnowledgeBaseError
    from bot.tickets.detect import RulesError

    # The knowledge base and rules are checked before the server starts: a bad file is a clear
    # message and exit status 2, like a bad configuration, never a traceback at start-up.
    try:
        engine = build_engine(resolve_path(config, config.knowledge.path))
        app = create_app(config, engine=engine)
    except (KnowledgeBaseError, RulesError) as e:
        print(f"csbot: the knowledge base cannot be used:\n{e}", file=sys.stderr)
        return 2
    from bot.store.sealed import DataKeyError
    from bot.store.settings import PartitionMismatch
    from bot.web.serving import serve_forever

    def started() -> None:
        print(f"csbot serving on http://{config.server.host}:{config.server.port}", flush=True)

    try:
        asyncio.run(serve_forever(app, config.server, on_started=started))
    except (PartitionMismatch, DataKeyError) as e:
        print(f"csbot: cannot start: {e}", file=sys.stderr)
        return 2
    return 0


async def _roster_in_service(config: Config) -> Config:
    from bot.config import config_dir
    from bot.store import staff as staff_store
    from bot.store.db import async_url, create_engine, migrate, sessionmaker

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        await migrate(engine)
        async with sessionmaker(engine)() as session:
            return await staff_store.roster_of(session, config)
    finally:
        await engine.dispose()

