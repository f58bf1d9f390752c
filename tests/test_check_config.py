"""`csbot check-config` checks what `serve` would meet, and an unknown key is named with its line and
the nearest known key (exit 2), by check-config and by serve alike. Real files, a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_DSN, ROOT


def csbot(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)


def write(folder: Path, text: str, *, knowledge: Path = ROOT / "knowledge") -> Path:
    path = folder / "csbot.toml"
    path.write_text(f'[knowledge]\npath = "{knowledge}"\n' + text, encoding="utf-8")
    return path


OWN = """
[database]
url = "sqlite:///{db}"
[[platforms]]
name = "wangwang"
app_key = "shop-tb"
app_secret = "a-real-secret-of-this-shop"
[[tokens]]
token = "a-real-supervisor-token-xyz"
role = "supervisor"
"""


def test_a_config_of_its_own_is_ok(tmp_path):
    result = csbot("check-config", "--config", str(write(tmp_path, OWN.format(db=tmp_path / "csbot.db"))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "database: ok" in result.stdout and "knowledge base: ok" in result.stdout
    assert result.stdout.rstrip().endswith(": ok") and result.stderr == ""  # no INFO noise
    assert not (tmp_path / "csbot.db").exists()  # checking creates nothing


def test_the_example_is_flagged_for_its_demo_secrets_and_tokens():
    result = csbot("check-config", "--config", "config.example.toml")
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if line.startswith("secrets:"))
    assert "platforms.wangwang.app_secret" in line and "platforms.dongdong.app_secret" in line
    assert "tokens.3 (admin)" in line
    assert "not ready: secrets" in result.stdout


def test_a_missing_database_folder_is_fine_because_serve_creates_it(tmp_path):
    result = csbot("check-config", "--config", str(write(tmp_path, OWN.format(db=tmp_path / "var" / "new" / "csbot.db"))))
    assert "database: ok" in result.stdout, result.stdout
    assert not (tmp_path / "var").exists()  # checking creates nothing


def test_a_database_path_that_cannot_be_created_is_a_failed_check(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    result = csbot("check-config", "--config", str(write(tmp_path, OWN.format(db=tmp_path / "afile" / "csbot.db"))))
    assert result.returncode == 1
    assert "database: " in result.stdout and "is not a folder" in result.stdout


def test_an_unreachable_postgresql_is_a_failed_check(tmp_path):
    port = _closed_port()
    text = OWN.replace('url = "sqlite:///{db}"', f'url = "postgresql://root@127.0.0.1:{port}/csbot"')
    result = csbot("check-config", "--config", str(write(tmp_path, text)))
    assert result.returncode == 1
    assert "database: cannot connect" in result.stdout


@pytest.mark.postgres
def test_a_reachable_postgresql_and_a_missing_database_on_it(tmp_path):
    if not PG_DSN:
        pytest.skip("needs CSBOT_TEST_PG_DSN")
    ok = csbot("check-config", "--config", str(write(tmp_path, OWN.replace('"sqlite:///{db}"', f'"{PG_DSN}"'))))
    assert ok.returncode == 0 and "database: ok" in ok.stdout, ok.stdout + ok.stderr
    missing = PG_DSN.rsplit("/", 1)[0] + "/csbot_no_such_database"
    bad = csbot("check-config", "--config", str(write(tmp_path, OWN.replace('"sqlite:///{db}"', f'"{missing}"'))))
    assert bad.returncode == 1 and "csbot_no_such_database" in bad.stdout


def test_a_knowledge_base_that_does_not_load_is_a_failed_check(tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    (knowledge / "intents" / "broken.toml").write_text('[[intent]]\nid = "a.b"\nquestions = [\n', encoding="utf-8")
    result = csbot("check-config", "--config", str(write(tmp_path, OWN.format(db=tmp_path / "c.db"), knowledge=knowledge)))
    assert result.returncode == 1
    assert "knowledge base: " in result.stdout and "broken.toml" in result.stdout


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_an_unknown_key_is_exit_2_with_its_line_and_the_nearest_key(tmp_path, command):
    text = OWN.format(db=tmp_path / "c.db").replace('app_secret = "a-real', 'app_secrt = "a-real')
    result = csbot(command, "--config", str(write(tmp_path, text)))
    assert result.returncode == 2
    # [knowledge] takes 2 lines, OWN starts with an empty one: app_secrt is on line 9.
    assert "platforms.0.app_secrt: unknown key 'app_secrt' at line 9, did you mean 'app_secret'?" in result.stderr
    assert "Extra inputs" not in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_section_is_named_with_its_line(tmp_path):
    result = csbot("check-config", "--config", str(write(tmp_path, "[servr]\nport = 1\n")))
    assert result.returncode == 2
    assert "unknown key 'servr' at line 3, did you mean 'server'?" in result.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_demo_admin_password_is_flagged_however_it_was_hashed(tmp_path):
    from bot.staff import passwords

    for admin_hash in (passwords.hash_password("demo-admin"), passwords.hash_password("a-password-of-our-own")):
        config = OWN.format(db=tmp_path / "csbot.db") + f'[staff]\nfirst_admin = "boss"\nfirst_admin_password_hash = "{admin_hash}"\n'
        result = csbot("check-config", "--config", str(write(tmp_path, config)))
        flagged = "staff.first_admin_password_hash" in result.stdout
        assert (flagged, result.returncode) == ((True, 1) if passwords.verify(admin_hash, "demo-admin") else (False, 0))
    example = csbot("check-config", "--config", "config.example.toml")
    assert "staff.first_admin_password_hash (the password is the example's 'demo-admin')" in example.stdout


def test_a_data_key_that_cannot_open_the_database_is_a_failed_check(tmp_path):
    """As serve would refuse to start: check-config says so first (ExecStartPre), and changes nothing."""
    import asyncio
    import base64

    from bot.store import sealed
    from bot.store.db import async_url, create_engine, migrate

    key = base64.b64encode(os.urandom(32)).decode()
    db = tmp_path / "csbot.db"

    async def sealed_database() -> None:
        engine = create_engine(async_url(f"sqlite:///{db}"))
        await migrate(engine)
        async with engine.begin() as conn:
            await sealed.register_current(conn, sealed.Keyring(sealed.parse_key(key, name="k")))
        await engine.dispose()

    asyncio.run(sealed_database())
    before = db.read_bytes()
    config = str(write(tmp_path, OWN.format(db=db)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    run = lambda **extra: subprocess.run([sys.executable, "-m", "bot", "check-config", "--config", config],  # noqa: E731
                                         capture_output=True, text=True, timeout=120, cwd=ROOT, env={**env, **extra})
    without = run()
    assert without.returncode == 1 and "database: " in without.stdout and "CSBOT_DATA_KEY" in without.stdout
    other = run(CSBOT_DATA_KEY=base64.b64encode(os.urandom(32)).decode())
    assert other.returncode == 1 and "not ready: database" in other.stdout
    assert run(CSBOT_DATA_KEY=key).returncode == 0
    assert db.read_bytes() == before
