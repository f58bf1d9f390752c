"""`csbot check-config`: what `serve` would meet, checked without serving. The file is valid (or
loading it already said why, exit 2); then the database answers and the data key opens it, the
knowledge base and the complaint rules load, and no secret, token or password is still the example's. Exit 1 when one of them fails."""

from __future__ import annotations

import asyncio
import os
import tomllib
from pathlib import Path

from bot.config import Config, config_dir, resolve_path
from bot.staff import passwords

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
CONNECT_TIMEOUT_S = 10.0
DEMO_ADMIN_PASSWORD = "demo-admin"  # config.example.toml's, said there in a comment


def check_config(config: Config, *, example: Path = EXAMPLE) -> int:
    results = [("database", database_problem(config)), ("knowledge base", knowledge_problem(config)),
               ("secrets", demo_values_problem(config, example))]
    for what, problem in results:
        print(f"{what}: {problem or 'ok'}")
    failed = [what for what, problem in results if problem]
    print(f"{config.source}: {'not ready: ' + ', '.join(failed) if failed else 'ok'}")
    return 1 if failed else 0


def database_problem(config: Config) -> str | None:
    """SQLite: the file, or the folder serve would create it in, may be written; PostgreSQL: a
    connection is made and answers."""
    url = config.database.url
    if url.startswith("sqlite:///"):
        path = resolve_path(config, url.removeprefix("sqlite:///"))
        # serve creates the file and any missing folders: the nearest folder that exists must be writable
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is not a folder: the SQLite file {path} cannot be created"
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
            return f"{path} cannot be written by this user"
        return asyncio.run(_open_problem(config)) if path.exists() else None
    return asyncio.run(_open_problem(config))


async def _open_problem(config: Config) -> str | None:
    """The database answers, and the data key in the environment opens what it holds (serve refuses
    to start otherwise). Reads only."""
    import sqlalchemy as sa

    from bot.store import sealed
    from bot.store.db import async_url, create_engine

    engine = create_engine(async_url(config.database.url, base=config_dir(config)))
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
            await sealed.check_keys(conn, sealed.current())
    except TimeoutError:
        return f"no answer from the database within {CONNECT_TIMEOUT_S:g} s"
    except sealed.DataKeyError as e:
        return str(e)
    except Exception as e:  # the driver's own error says best what is wrong (refused, auth, no such database)
        return f"cannot connect: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    finally:
        await engine.dispose()
    return None


def knowledge_problem(config: Config) -> str | None:
    """The knowledge base and the complaint rules loaded as serve loads them."""
    from bot.guard import GuardError, load_rules
    from bot.matching.kb import KnowledgeBaseError, load_valid
    from bot.tickets.detect import RulesError, load_rules as load_complaint_rules

    folder = resolve_path(config, config.knowledge.path)
    try:
        kb = load_valid(folder)
        load_rules(folder)
        complaints = folder / config.tickets.rules_file
        if complaints.exists():
            load_complaint_rules(complaints)
    except (KnowledgeBaseError, GuardError, RulesError) as e:
        return f"{folder} cannot be used:\n{e}"
    if not kb.intents:
        return f"{folder} has no intents"
    return None


def demo_values_problem(config: Config, example: Path) -> str | None:
    """Platform secrets, API tokens and the first admin's password that are still the example file's:
    anyone who read it knows them."""
    try:
        demo = tomllib.loads(example.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        demo = {}
    secrets = {p.get("app_secret") for p in demo.get("platforms", [])}
    tokens = {t.get("token") for t in demo.get("tokens", [])}
    found = [f"platforms.{p.name}.app_secret" for p in config.platforms
             if p.app_secret in secrets or p.app_secret.startswith("change-me")]
    found += [f"tokens.{i} ({t.role})" for i, t in enumerate(config.tokens) if t.token in tokens]
    admin_hash = config.staff.first_admin_password_hash
    if admin_hash and (admin_hash == demo.get("staff", {}).get("first_admin_password_hash")
                       or passwords.verify(admin_hash, DEMO_ADMIN_PASSWORD)):
        found.append(f"staff.first_admin_password_hash (the password is the example's {DEMO_ADMIN_PASSWORD!r})")
    if not found:
        return None
    return ("still the example's (set real ones, e.g. CSBOT_<PLATFORM>_APP_SECRET in the environment): "
            + ", ".join(found))
