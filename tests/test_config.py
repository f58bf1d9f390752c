"""Configuration: typed and validated at start; a wrong file is exit status 2 with file, key and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "knowledge").mkdir(exist_ok=True)
    path = tmp_path / "csbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[database]
url = "sqlite:///var/x.db"
[[platforms]]
name = "wangwang"
app_key = "demo-tb"
app_secret = "s3cr3t"
"""


def test_the_example_config_loads():
    config = load_config(ROOT / "config.example.toml", environ={})
    assert [p.name for p in config.platforms] == ["wangwang", "dongdong"]
    assert config.reminders.quiet_hours == ("22:00", "08:00")
    assert config.tickets.sla_minutes["P1"] == (60, 1440)


def test_env_overrides_the_database_and_secrets(tmp_path):
    config = load_config(write(tmp_path, GOOD), environ={
        "CSBOT_DATABASE_URL": "postgresql://root@127.0.0.1:5432/test",
        "CSBOT_WANGWANG_APP_SECRET": "from-env",
    })
    assert config.database.url == "postgresql://root@127.0.0.1:5432/test"
    assert config.platform("wangwang").app_secret == "from-env"


@pytest.mark.parametrize(
    ("text", "key", "why"),
    [
        ("[server]\nport = 'eighty'\n", "server.port", "integer"),
        ("[server]\nprot = 8080\n", "server.prot", "unknown key 'prot' at line 2, did you mean 'port'?"),
        ("[database]\nurl = 'mysql://x'\n", "database.url", "sqlite:///"),
        ("[shop]\ntimezone = 'Mars/Olympus'\n", "shop.timezone", "unknown time zone"),
        ("[[platforms]]\nname = 'pinduoduo'\napp_key = 'a'\napp_secret = 'b'\n", "platforms.0.name", "wangwang"),
        ("[[agents]]\nid = 'a'\naccounts = ['qq:123']\n", "agents.0.accounts", "platform:account"),
        ("[[tokens]]\ntoken = 'long-enough-token'\nrole = 'agent'\n", "tokens.0", "needs agent"),
        ("[knowledge]\npath = 'nowhere'\n", "knowledge.path", "is not a folder"),
    ],
)
def test_a_wrong_key_names_the_key_and_what_is_wrong(tmp_path, text, key, why):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text), environ={})
    assert e.value.key == key
    assert why in e.value.why
    assert e.value.file.endswith("csbot.toml")


def test_not_toml_and_no_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\nport=1"), environ={})
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml", environ={})


def test_the_cli_exits_2_with_a_message_and_no_traceback(tmp_path):
    path = write(tmp_path, "[server]\nport = 70000\n")
    result = subprocess.run([sys.executable, "-m", "bot", "serve", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "server.port" in result.stderr and "csbot.toml" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [[], ["serve"], ["simulate"], ["demo"], ["db", "upgrade"], ["check-config"]])
def test_every_subcommand_has_help(args):
    result = subprocess.run([sys.executable, "-m", "bot", *args, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "usage: csbot" in result.stdout


@pytest.mark.parametrize(("file", "text", "says"), [
    ("intents/broken.toml", '[[intent]]\nid = "a.b"\nquestions = [\n', "broken.toml:"),
    ("complaints.toml", "oops = [", "complaints.toml: not valid TOML"),
])
def test_serve_refuses_a_broken_knowledge_base_with_exit_2(tmp_path, file, text, says):
    import shutil

    shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")
    target = tmp_path / "knowledge" / file
    target.write_text((target.read_text(encoding="utf-8") if target.exists() else "") + "\n" + text, encoding="utf-8")
    config = tmp_path / "csbot.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "x.db"}"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "bot", "serve", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr
