"""docs/deploy.md walked as a newcomer would, on PostgreSQL (issue 18): the example configuration copied
and edited as section 1 says, the secrets in an environment file written as section 2 shows them (the
data key and the first admin's hash made with the guide's own commands), the guide's `check-config`
command run through the shell, then the systemd unit's ExecStartPre and ExecStart with that file, and
the first admin logs in on /login in Chromium and reaches /admin.

The guide's paths are moved under tmp_path (/etc/csbot, /var/lib/csbot) and to this checkout
(/opt/csbot); `sudo`, `sudo -u csbot` and `-o csbot` are dropped (the csbot user is the test's own). The commands are taken from the guide's text, so
a guide that stops working fails here."""

from __future__ import annotations

import asyncio
import base64
import configparser
import re
import secrets
import subprocess

import aiohttp
import pytest
from playwright.async_api import expect

from tests.conftest import ROOT, pg_database
from tests.test_durability import free_port

pytestmark = pytest.mark.slow
GUIDE = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
ADMIN_PASSWORD = "a-long-admin-password-7"


def guide_line(pattern: str) -> str:
    """The one line of the guide's code blocks matching `pattern`."""
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S))
    found = [line for line in blocks.splitlines() if re.search(pattern, line)]
    assert len(found) == 1, (pattern, found)
    return found[0]


def env_block() -> list[tuple[str, str]]:
    """The environment file as the guide shows it: (name, value as written)."""
    block = next(b for b in re.findall(r"```sh\n(.*?)```", GUIDE, flags=re.S) if "CSBOT_DATABASE_URL=" in b)
    return [tuple(line.split("=", 1)) for line in block.splitlines() if line and not line.startswith("#")]


class Machine:
    """The guide's paths on this machine."""

    def __init__(self, tmp_path):
        self.etc, self.var = tmp_path / "etc-csbot", tmp_path / "var-lib-csbot"

    def here(self, command: str) -> str:
        command = re.sub(r"\bsudo( -u csbot)? ", "", command).replace("-o csbot ", "")  # csbot: this user
        return (command.replace("/opt/csbot", str(ROOT)).replace("/etc/csbot", str(self.etc))
                .replace("/var/lib/csbot", str(self.var)))

    def sh(self, command: str, *, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", self.here(command)], cwd=ROOT, input=stdin, capture_output=True,
                              text=True, timeout=120)


def edit_config(text: str, port: int) -> str:
    """Section 1's edits: the knowledge folder, the example's [[tokens]] and first admin hash removed.
    Section 5's: the session cookie over https only. The test's own: a free port."""
    text = re.sub(r'(?m)^path = "knowledge".*$', 'path = "/opt/csbot/knowledge"', text)
    text = re.sub(r"(?ms)^\[\[tokens\]\]\n.*?(?=^\[)", "", text)
    text = re.sub(r"(?m)^first_admin_password_hash = .*\n", "", text)
    text = re.sub(r"(?m)^cookie_secure = false", "cookie_secure = true", text)
    return re.sub(r"(?m)^port = 8080", f"port = {port}", text)


def unit_commands() -> tuple[str, str]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "deploy" / "csbot.service").read_text(encoding="utf-8"))
    service = unit["Service"]
    assert service["EnvironmentFile"] == "/etc/csbot/csbot.env"
    return service["ExecStartPre"], service["ExecStart"]


async def healthy(port: int, proc: subprocess.Popen, log) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert proc.poll() is None, log.read_text()[-3000:]
            await asyncio.sleep(0.1)
    raise AssertionError("serve did not become healthy")


async def test_a_newcomer_follows_the_guide_to_a_staff_login_on_postgresql(tmp_path, page):
    machine, port = Machine(tmp_path), free_port()
    # 1. Install: the folders, the example configuration copied, then edited.
    folders = machine.sh(guide_line(r"install -d .*/etc/csbot$"))
    assert folders.returncode == 0 and machine.etc.is_dir() and machine.var.is_dir(), folders.stderr
    copied = machine.sh(guide_line(r"cp config\.example\.toml /etc/csbot/csbot\.toml"))
    assert copied.returncode == 0, copied.stderr
    config = machine.etc / "csbot.toml"
    config.write_text(machine.here(edit_config(config.read_text(encoding="utf-8"), port)), encoding="utf-8")
    assert '[knowledge] path = "/opt/csbot/knowledge"' in GUIDE and "[[tokens]]" in GUIDE and "first_admin_password_hash" in GUIDE and "cookie_secure = true" in GUIDE

    # 2. Secrets: the data key and the admin's hash made with the guide's commands.
    made = machine.sh(guide_line(r"python -c .*urandom\(32\)"))
    assert made.returncode == 0, made.stderr
    data_key = made.stdout.strip()
    assert len(base64.b64decode(data_key)) == 32
    hashed = machine.sh(guide_line(r"csbot hash-password$") + " --stdin", stdin=ADMIN_PASSWORD + "\n")
    assert hashed.returncode == 0 and hashed.stdout.startswith("$argon2id$"), hashed.stderr

    async with pg_database() as db_url:  # 3. The database: a new, empty one (createdb)
        values = {
            "CSBOT_DATABASE_URL": db_url,
            "CSBOT_WANGWANG_APP_SECRET": secrets.token_urlsafe(24),
            "CSBOT_DONGDONG_APP_SECRET": secrets.token_urlsafe(24),
            "CSBOT_METRICS_TOKEN": secrets.token_urlsafe(24),
            "CSBOT_DATA_KEY": data_key,
            "CSBOT_FIRST_ADMIN_PASSWORD_HASH": hashed.stdout.strip(),
        }
        shown = env_block()
        assert [name for name, _ in shown] == list(values)
        assert all(re.fullmatch(r"'[^']*'", written) for _, written in shown), "the guide quotes every value"
        made_env = machine.sh(guide_line(r"install .*csbot\.env").split(" && ")[0])  # the editor: written below
        assert made_env.returncode == 0, made_env.stderr
        env_file = machine.etc / "csbot.env"
        env_file.write_text("".join(f"{name}='{value}'\n" for name, value in values.items()), encoding="utf-8")
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"

        checked = machine.sh(guide_line(r"check-config --config"))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "database: ok" in checked.stdout and "secrets: ok" in checked.stdout

        # 4. The service, as systemd would run it: the environment file, then ExecStartPre and ExecStart.
        pre, start = unit_commands()
        with_env = "set -a; . /etc/csbot/csbot.env; set +a; exec "
        assert machine.sh(with_env + pre).returncode == 0
        log = tmp_path / "journal.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(["sh", "-c", machine.here(with_env + start)], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=out)
        try:
            await healthy(port, proc, log)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    assert resp.status == 401
                bearer = {"Authorization": f"Bearer {values['CSBOT_METRICS_TOKEN']}"}
                async with http.get(f"http://127.0.0.1:{port}/metrics", headers=bearer) as resp:
                    assert resp.status == 200 and "csbot_build_info" in await resp.text()

            # 5. Log in as the first admin with the password that was hashed.
            admin = re.search(r'(?m)^first_admin = "([^"]+)"', config.read_text(encoding="utf-8")).group(1)
            assert f"log in as `{admin}`" in GUIDE
            base = f"http://localhost:{port}"  # a secure context for Chromium, as https would be
            await page.goto(base + "/login")
            await page.fill("#user", admin)
            await page.fill("#password", "the-demo-password-is-gone")
            await page.click("#login-submit")
            await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
            await page.fill("#password", ADMIN_PASSWORD)
            await page.click("#login-submit")
            await expect(page).to_have_url(base + "/admin")
            await expect(page.locator(f"#users tbody tr[data-user={admin}]")).to_be_visible()
            cookies = await page.context.cookies()
            assert any(c["secure"] and c["httpOnly"] for c in cookies), cookies
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        journal = log.read_text(encoding="utf-8")
        assert journal.lstrip().startswith("{"), journal[:300]  # --log-format json: one object per line
        for value in (values["CSBOT_DATA_KEY"], values["CSBOT_WANGWANG_APP_SECRET"], ADMIN_PASSWORD):
            assert value not in journal
