"""Staff accounts (issue 18): login with a password, the session cookie and its CSRF token, the lockout,
API tokens made on /admin, agents and shifts changed without a restart, and every refused credential
answered 401 with one message."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.config import TokenConfig
from bot.staff.passwords import hash_password
from bot.store.tables import StaffSession
from bot.web import keys
from bot.web.auth import CSRF_HEADER, REFUSED
from bot.events import AgentMessage
from tests.conftest import ROOT, START, buyer_message, make_config, push_and_process

ADMIN_PASSWORD = "first-admin-pw"
ADMIN_HASH = hash_password(ADMIN_PASSWORD)  # once: Argon2 is slow on purpose


def staff_config(db_url: str, **staff):
    return make_config(db_url, staff={"first_admin": "boss", "first_admin_password_hash": ADMIN_HASH,
                                      "failures_per_account": 3, "failures_per_address": 6, "lockout_minutes": 10,
                                      **staff})


@pytest.fixture
async def bot(aiohttp_client, make_app, clock, db_url):
    return await aiohttp_client(make_app(staff_config(db_url), clock))


async def login(client, user: str, password: str) -> tuple[int, dict]:
    resp = await client.post("/api/login", json={"user": user, "password": password})
    return resp.status, await resp.json()


def csrf(client) -> dict:
    return {CSRF_HEADER: client.session.cookie_jar.filter_cookies(client.make_url("/"))["csbot_csrf"].value}


async def add_agent(bot, user="xiaoli", **fields) -> None:
    body = {"user": user, "password": "xiaoli-pw-1", "role": "agent", "name": "小丽",
            "accounts": ["wangwang:小店:小丽"], "groups": ["aftersale"], **fields}
    resp = await bot.post("/api/admin/users", json=body, headers=csrf(bot))
    assert resp.status == 201, await resp.text()


async def test_the_first_admin_logs_in_with_the_seeded_password(bot):
    resp = await bot.post("/api/login", json={"user": "boss", "password": ADMIN_PASSWORD, "next": "//evil.example"})
    assert resp.status == 200
    body = await resp.json()
    assert (body["role"], body["next"]) == ("admin", "/admin")  # another site is never a place to go next
    cookies = resp.headers.getall("Set-Cookie")
    session = next(c for c in cookies if c.startswith("csbot_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Path=/" in session
    assert "HttpOnly" not in next(c for c in cookies if c.startswith("csbot_csrf="))
    me = await (await bot.get("/api/me")).json()
    assert (me["role"], me["user"]) == ("admin", "boss")
    # Only the token's digest is stored.
    value = bot.session.cookie_jar.filter_cookies(bot.make_url("/"))["csbot_session"].value
    async with bot.app[keys.DB]() as s:
        digests = (await s.scalars(sa.select(StaffSession.digest))).all()
    assert len(digests) == 1 and value not in digests[0] and len(digests[0]) == 64


async def test_wrong_password_unknown_user_and_disabled_account_get_the_same_401(bot):
    await login(bot, "boss", ADMIN_PASSWORD)
    await add_agent(bot)
    resp = await bot.put("/api/admin/users/xiaoli", json={"disabled": True}, headers=csrf(bot))
    assert resp.status == 200
    bot.session.cookie_jar.clear()
    answers = [await login(bot, "boss", "wrong-password"), await login(bot, "nobody", ADMIN_PASSWORD),
               await login(bot, "xiaoli", "xiaoli-pw-1")]
    assert answers == [(401, {"error": "unauthorized", "message": REFUSED})] * 3


async def test_a_state_change_with_the_cookie_needs_the_csrf_token(bot):
    await login(bot, "boss", ADMIN_PASSWORD)
    resp = await bot.post("/api/admin/tokens", json={"role": "supervisor", "expires_days": 1})
    assert (resp.status, (await resp.json())["error"]) == (403, "csrf_missing")
    wrong = await bot.post("/api/admin/tokens", json={"role": "supervisor", "expires_days": 1},
                           headers={CSRF_HEADER: "0" * 64})
    assert wrong.status == 403
    assert (await bot.get("/api/admin/tokens")).status == 200  # reading needs none
    ok = await bot.post("/api/admin/tokens", json={"role": "supervisor", "expires_days": 1}, headers=csrf(bot))
    assert ok.status == 201
    assert (await bot.post("/api/logout")).status == 403  # logging out is a change too


async def test_failed_logins_lock_the_account_then_the_lockout_ends(bot, clock):
    for _ in range(3):
        assert (await login(bot, "boss", "wrong-password"))[0] == 401
    resp = await bot.post("/api/login", json={"user": "boss", "password": ADMIN_PASSWORD})
    assert (resp.status, (await resp.json())["error"]) == (429, "locked_out")  # even the right password
    assert int(resp.headers["Retry-After"]) == 600
    clock.advance(minutes=9)
    resp = await bot.post("/api/login", json={"user": "boss", "password": ADMIN_PASSWORD})
    assert (resp.status, resp.headers["Retry-After"]) == (429, "60")
    clock.advance(minutes=1, seconds=1)
    assert (await login(bot, "boss", ADMIN_PASSWORD))[0] == 200


async def test_failed_logins_from_one_address_lock_every_user_name(bot, clock):
    for i in range(6):  # a different name each time: the per-account count never reaches 3
        assert (await login(bot, f"guess{i}", "wrong-password"))[0] == 401
    resp = await bot.post("/api/login", json={"user": "boss", "password": ADMIN_PASSWORD})
    assert resp.status == 429
    clock.advance(minutes=10, seconds=1)
    assert (await login(bot, "boss", ADMIN_PASSWORD))[0] == 200


async def test_behind_a_trusted_proxy_the_lockout_is_per_forwarded_client(aiohttp_client, make_app, clock, db_url):
    """Behind nginx every request comes from 127.0.0.1: without trusting it, one guesser would lock
    every staff member out; with it, the guesser alone is locked out, and a forged header is ignored."""
    config = staff_config(db_url)
    bot = await aiohttp_client(make_app(config.model_copy(update={"server": config.server.model_copy(
        update={"trusted_proxies": ("127.0.0.1",)})}), clock))

    async def attempt(forwarded: str, user: str, password: str) -> int:
        resp = await bot.post("/api/login", json={"user": user, "password": password},
                              headers={"X-Forwarded-For": forwarded})
        return resp.status

    for i in range(6):  # per address: 6 (staff_config), from the guesser, whatever they forge on the left
        assert await attempt(f"10.9.9.{i}, 203.0.113.66", f"guess{i}", "wrong-password") == 401
    assert await attempt("203.0.113.66", "boss", ADMIN_PASSWORD) == 429
    assert await attempt("198.51.100.20", "boss", ADMIN_PASSWORD) == 200  # the shop's own staff still log in


async def test_admin_tokens_are_shown_once_and_expire_or_are_revoked(bot, clock):
    await login(bot, "boss", ADMIN_PASSWORD)
    made = [await (await bot.post("/api/admin/tokens", json={"label": f"t{i}", "role": "agent", "agent": "xiaomei",
                                                             "expires_days": days}, headers=csrf(bot))).json()
            for i, days in enumerate((1, 30))]
    listed = await (await bot.get("/api/admin/tokens")).json()
    assert all("token" not in t for t in listed["items"]) and len(listed["items"]) == 2
    bot.session.cookie_jar.clear()

    async def me(token):
        resp = await bot.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        return resp.status, await resp.json()

    status, body = await me(made[0]["token"])
    assert (status, body["role"], body["agent"]) == (200, "agent", "xiaomei")
    assert set(body["accounts"]) == {"wangwang:小店:小美", "dongdong:jd_xiaomei"}
    await login(bot, "boss", ADMIN_PASSWORD)
    assert (await bot.post(f"/api/admin/tokens/{made[1]['id']}/revoke", headers=csrf(bot))).status == 200
    bot.session.cookie_jar.clear()
    clock.advance(days=1, seconds=1)
    refused = (401, {"error": "unauthorized", "message": REFUSED})
    assert await me(made[0]["token"]) == refused  # expired
    assert await me(made[1]["token"]) == refused  # revoked
    assert await me("never-made-token") == refused  # unknown
    assert (await bot.get("/api/me", headers={"Authorization": "Bearer supervisor-token"})).status == 200  # the file's


async def test_a_disabled_agents_tokens_stop_working_and_work_again_when_enabled(bot):
    await login(bot, "boss", ADMIN_PASSWORD)
    await add_agent(bot)
    made = await (await bot.post("/api/admin/tokens", json={"label": "xiaoli's script", "role": "agent",
                                                            "agent": "xiaoli", "expires_days": 30},
                                 headers=csrf(bot))).json()
    headers = {"Authorization": f"Bearer {made['token']}"}

    async def status() -> tuple[int, int]:
        async with bot.session.get(bot.make_url("/api/me"), headers=headers, cookies={}) as me, \
                bot.session.get(bot.make_url("/api/conversations"), headers=headers, cookies={}) as conversations:
            return me.status, conversations.status

    assert await status() == (200, 200)
    assert (await bot.put("/api/admin/users/xiaoli", json={"disabled": True}, headers=csrf(bot))).status == 200
    assert await status() == (401, 401)
    assert (await bot.put("/api/admin/users/xiaoli", json={"disabled": False}, headers=csrf(bot))).status == 200
    assert await status() == (200, 200)


@pytest.mark.parametrize("body, status, error", [
    ({"role": "agent", "expires_days": 1}, 400, "unknown_agent"),
    ({"role": "agent", "agent": {}, "expires_days": 1}, 400, "bad_request"),  # was a 500 (unhashable)
    ({"role": "agent", "agent": "xiaomei", "expires_days": 0}, 400, "bad_request"),
    ({"role": "agent", "agent": "xiaomei", "expires_days": 1000}, 400, "bad_request"),
    ({"role": "root", "expires_days": 1}, 400, "bad_request"),
])
async def test_bad_token_requests_are_refused(aiohttp_client, make_app, clock, sqlite_url, body, status, error):
    bot = await aiohttp_client(make_app(staff_config(sqlite_url), clock))
    await login(bot, "boss", ADMIN_PASSWORD)
    resp = await bot.post("/api/admin/tokens", json=body, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (status, error)


async def test_only_admins_reach_admin(bot):
    for token in ("supervisor-token", "agent-xiaomei-token"):
        assert (await bot.get("/api/admin/staff", headers={"Authorization": f"Bearer {token}"})).status == 403
    assert (await bot.get("/api/admin/staff")).status == 401


async def test_an_agent_added_on_admin_works_at_once_and_the_file_wins(bot):
    await login(bot, "boss", ADMIN_PASSWORD)
    await add_agent(bot)
    # The file declares xiaomei: her name, accounts and groups are read-only here.
    resp = await bot.post("/api/admin/users", json={"user": "xiaomei", "password": "xiaomei-pw-1", "role": "agent",
                                                    "accounts": ["wangwang:小店:别的"]}, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (409, "declared_in_file")
    resp = await bot.post("/api/admin/users", json={"user": "xiaomei", "password": "xiaomei-pw-1", "role": "agent"},
                          headers=csrf(bot))
    assert resp.status == 201
    resp = await bot.put("/api/admin/users/xiaomei", json={"accounts": []}, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (409, "declared_in_file")
    # An account that already belongs to another agent is refused, and nothing changes.
    resp = await bot.put("/api/admin/users/xiaoli", json={"accounts": ["dongdong:jd_aqiang"]}, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (422, "invalid_roster")
    staff = await (await bot.get("/api/admin/staff")).json()
    assert {a["id"]: a["declared_in_file"] for a in staff["agents"]} == {"xiaomei": True, "aqiang": True, "xiaoli": False}
    assert next(u for u in staff["users"] if u["user"] == "xiaoli")["accounts"] == ["wangwang:小店:小丽"]

    bot.session.cookie_jar.clear()
    assert (await login(bot, "xiaoli", "xiaoli-pw-1"))[0] == 200
    me = await (await bot.get("/api/me")).json()
    assert (me["agent"], me["name"], me["accounts"]) == ("xiaoli", "小丽", ["wangwang:小店:小丽"])
    # Her colleagues can transfer buyers to her: she is in the roster without a restart.
    colleagues = await (await bot.get("/api/colleagues", headers={"Authorization": "Bearer agent-xiaomei-token"})).json()
    assert "xiaoli" in {c["id"] for c in colleagues["items"]}


async def agent_rows(bot) -> dict:
    resp = await bot.get("/api/metrics/agents", params={"from": "2026-11-24", "to": "2026-11-24"},
                         headers={"Authorization": "Bearer supervisor-token"})
    assert resp.status == 200, await resp.text()
    return {r["agent"]: r["responses"] for r in (await resp.json())["items"]}


async def test_an_account_given_or_moved_on_admin_counts_for_its_agent_at_once(bot):
    li = "小店:小丽"
    question = buyer_message(buyer="b1", at=START, agent=li)
    answer = AgentMessage(platform="wangwang", shop=question.shop, buyer="b1", push_id="b1-answer",
                          at=START + timedelta(seconds=40), text="亲，在的", agent_account=li)
    await push_and_process(bot, question, answer)
    figures, board = bot.app[keys.METRICS], bot.app[keys.BOARD]
    await figures.refresh()
    assert await agent_rows(bot) == {li: 1}  # an account of nobody's counts under its own name
    assert {r["agent"] for r in board.agents()} == {li}

    await login(bot, "boss", ADMIN_PASSWORD)
    await add_agent(bot)  # xiaoli, with the account wangwang:小店:小丽
    await figures.refresh()
    assert await agent_rows(bot) == {"xiaoli": 1}
    assert {r["agent"] for r in board.agents()} == {"xiaoli"}

    resp = await bot.put("/api/admin/users/xiaoli", json={"accounts": []}, headers=csrf(bot))
    assert resp.status == 200, await resp.text()
    await add_agent(bot, "xiaohong", name="小红", accounts=["wangwang:小店:小丽"])
    await figures.refresh()
    assert await agent_rows(bot) == {"xiaohong": 1}
    assert [(r["agent"], r["name"]) for r in board.agents()] == [("xiaohong", "小红")]


async def test_shifts_are_edited_on_admin_except_the_files(aiohttp_client, make_app, clock, sqlite_url):
    config = staff_config(sqlite_url)
    config = make_config(sqlite_url, staff=config.staff.model_dump(),
                         shifts=[{"name": "早班", "start": "08:00", "end": "17:00", "agents": ["xiaomei"]}])
    bot = await aiohttp_client(make_app(config, clock))
    await login(bot, "boss", ADMIN_PASSWORD)
    resp = await bot.put("/api/admin/shifts/早班", json={"start": "09:00", "end": "18:00", "agents": []}, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (409, "declared_in_file")
    resp = await bot.put("/api/admin/shifts/晚班", json={"start": "17:00", "end": "24:00", "agents": ["nobody"]},
                         headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (400, "unknown_agent")
    resp = await bot.put("/api/admin/shifts/晚班", json={"start": "25:00", "end": "24:00", "agents": []}, headers=csrf(bot))
    assert resp.status == 400
    resp = await bot.put("/api/admin/shifts/晚班", json={"start": "17:00", "end": "24:00", "agents": ["aqiang"]},
                         headers=csrf(bot))
    assert resp.status == 200
    live = bot.app[keys.CONFIG]
    assert [(s.name, s.agents) for s in live.shifts] == [("早班", ("xiaomei",)), ("晚班", ("aqiang",))]
    # The ticket assignment took the new shift without a restart.
    assert bot.app[keys.TICKET_ASSIGNMENT].shifts["aqiang"] == (("17:00", "24:00"),)
    assert (await bot.delete("/api/admin/shifts/晚班", headers=csrf(bot))).status == 200
    assert [s.name for s in bot.app[keys.CONFIG].shifts] == ["早班"]


async def test_logout_and_disabling_end_the_sessions_and_their_streams(aiohttp_client, make_app, clock, sqlite_url):
    app = make_app(staff_config(sqlite_url), clock)
    admin = await aiohttp_client(app)
    await login(admin, "boss", ADMIN_PASSWORD)
    await add_agent(admin)
    import aiohttp

    agent = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        resp = await agent.post(admin.make_url("/api/login"), json={"user": "xiaoli", "password": "xiaoli-pw-1"})
        assert resp.status == 200
        stream = await agent.get(admin.make_url("/api/console/stream"))
        assert stream.status == 200
        assert b"event: hello" in await stream.content.readuntil(b"}\n\n")
        resp = await admin.put("/api/admin/users/xiaoli", json={"disabled": True}, headers=csrf(admin))
        assert resp.status == 200
        async with asyncio.timeout(5):  # the stream ends at once, not at its next keepalive
            await stream.read()
        assert (await agent.get(admin.make_url("/api/me"))).status == 401
        # Logout ends the admin's own session and stream the same way.
        own = await admin.get("/api/board/stream")
        assert own.status == 200
        assert (await admin.post("/api/logout", headers=csrf(admin))).status == 200
        async with asyncio.timeout(5):
            await own.read()
        assert (await admin.get("/api/me")).status == 401
    finally:
        await agent.close()


def test_serve_without_a_configuration_refuses_to_start():
    env = {k: v for k, v in __import__("os").environ.items() if k != "CSBOT_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], capture_output=True, text=True, timeout=60,
                            env=env, cwd=ROOT)
    assert result.returncode == 2
    assert "needs a configuration" in result.stderr and "--config" in result.stderr


def test_hash_password_prints_an_argon2_hash_that_checks():
    from bot.staff.passwords import verify

    result = subprocess.run([sys.executable, "-m", "bot", "hash-password", "--stdin"], input="a long password\n",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$") and verify(hashed, "a long password") and not verify(hashed, "a long passwor")
    short = subprocess.run([sys.executable, "-m", "bot", "hash-password", "--stdin"], input="short\n",
                           capture_output=True, text=True, timeout=60)
    assert short.returncode == 2


async def test_another_process_ends_the_stream_and_takes_up_the_roster(aiohttp_client, make_app, clock, db_url,
                                                                       monkeypatch):
    """Two bots on one database: a logout through one ends the session's stream on the other at its next
    keepalive, and an agent added through one is in service on the other after its poll."""
    from bot.web import sse

    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.1)  # the keepalive, not the clock, paces this check
    first = await aiohttp_client(make_app(staff_config(db_url), clock))
    second = await aiohttp_client(make_app(staff_config(db_url), clock))
    await login(first, "boss", ADMIN_PASSWORD)
    cookie = first.session.cookie_jar.filter_cookies(first.make_url("/"))["csbot_session"].value
    stream = await second.get("/api/board/stream", cookies={"csbot_session": cookie})
    assert stream.status == 200
    await add_agent(first)
    assert await second.app[keys.ROSTER].refresh()
    assert "xiaoli" in {a.id for a in second.app[keys.CONFIG].agents}
    assert not await second.app[keys.ROSTER].refresh()  # nothing new since
    assert (await first.post("/api/logout", headers=csrf(first))).status == 200
    async with asyncio.timeout(5):
        await stream.read()


@pytest.mark.parametrize("send", [
    {"data": "user=boss&password=x"},  # a form, as another site could post
    {"data": '{"user": "boss", "password": "x"}'},  # JSON, not sent as JSON
    {"json": {"user": "", "password": "x"}},
    {"json": {"user": "boss"}},
    {"json": ["boss", "x"]},
])
async def test_malformed_logins_are_refused(aiohttp_client, make_app, clock, sqlite_url, send):
    bot = await aiohttp_client(make_app(staff_config(sqlite_url), clock))
    resp = await bot.post("/api/login", **send)
    assert (resp.status, (await resp.json())["error"]) == (400, "bad_request")


async def test_a_session_expires_and_a_new_password_ends_it(bot, clock):
    await login(bot, "boss", ADMIN_PASSWORD)
    await add_agent(bot)
    bot_jar = bot.session.cookie_jar
    bot_jar.clear()
    assert (await login(bot, "xiaoli", "xiaoli-pw-1"))[0] == 200
    agent_cookie = bot_jar.filter_cookies(bot.make_url("/"))["csbot_session"].value
    clock.advance(hours=11, minutes=59)
    assert (await bot.get("/api/me")).status == 200
    clock.advance(minutes=2)  # staff.session_hours = 12
    resp = await bot.get("/api/me")
    assert (resp.status, (await resp.json())["message"]) == (401, REFUSED)
    # A new password set by an admin ends the sessions made with the old one.
    assert (await login(bot, "xiaoli", "xiaoli-pw-1"))[0] == 200
    bot_jar.clear()
    await login(bot, "boss", ADMIN_PASSWORD)
    resp = await bot.put("/api/admin/users/xiaoli", json={"password": "xiaoli-pw-2"}, headers=csrf(bot))
    assert resp.status == 200
    bot_jar.clear()
    assert (await bot.get("/api/me", cookies={"csbot_session": agent_cookie})).status == 401
    assert (await login(bot, "xiaoli", "xiaoli-pw-1"))[0] == 401
    assert (await login(bot, "xiaoli", "xiaoli-pw-2"))[0] == 200


@pytest.mark.parametrize("change, status, error", [
    ({"disabled": True}, 409, "own_account"),
    ({"role": "agent"}, 409, "own_account"),
    ({"password": "short"}, 400, "weak_password"),
    ({"disabled": "yes"}, 400, "bad_request"),
    ({"role": "root"}, 400, "bad_request"),
])
async def test_bad_user_changes_are_refused(aiohttp_client, make_app, clock, sqlite_url, change, status, error):
    bot = await aiohttp_client(make_app(staff_config(sqlite_url), clock))
    await login(bot, "boss", ADMIN_PASSWORD)
    resp = await bot.put("/api/admin/users/boss", json=change, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (status, error)
    assert (await bot.get("/api/me")).status == 200  # still the admin, still logged in


@pytest.mark.parametrize("body, status, error", [
    ({"user": "has space", "password": "long-enough"}, 400, "bad_request"),
    ({"user": "newbie", "password": "short"}, 400, "weak_password"),
    ({"user": "newbie", "password": "long-enough", "accounts": ["taobao:x"]}, 422, "invalid_roster"),
    ({"user": "newbie", "password": "long-enough", "accounts": ["wangwang:小店:小美"]}, 422, "invalid_roster"),
    ({"user": "boss", "password": "long-enough"}, 409, "user_exists"),
])
async def test_bad_new_users_are_refused(aiohttp_client, make_app, clock, sqlite_url, body, status, error):
    bot = await aiohttp_client(make_app(staff_config(sqlite_url), clock))
    await login(bot, "boss", ADMIN_PASSWORD)
    resp = await bot.post("/api/admin/users", json=body, headers=csrf(bot))
    assert (resp.status, (await resp.json())["error"]) == (status, error)
    staff = await (await bot.get("/api/admin/staff")).json()
    assert [u["user"] for u in staff["users"]] == ["boss"]


async def test_a_file_token_given_as_its_sha256_works_until_its_last_day(aiohttp_client, make_app, clock, tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    printed = subprocess.run([sys.executable, "-m", "bot", "new-token"], capture_output=True, text=True, check=True,
                             cwd=ROOT, timeout=60).stdout
    token = printed.splitlines()[0].rsplit(" ", 1)[1]
    sha256 = printed.split('sha256 = "')[1].split('"')[0]
    assert token not in printed.split("\n", 1)[1]  # the lines for the file hold only its hash
    last_day = clock.now().date()
    config = make_config(f"sqlite:///{tmp_path / 'bot.db'}")
    config = config.model_copy(update={"tokens": (*config.tokens, TokenConfig(sha256=sha256, role="supervisor",
                                                                               expires=last_day))})
    bot = await aiohttp_client(make_app(config, clock))

    async def me() -> int:
        return (await bot.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status

    assert await me() == 200
    assert (await bot.get("/api/me", headers={"Authorization": f"Bearer {sha256}"})).status == 401  # the hash is no token
    clock.advance(days=1)  # past the end of its last day in the shop's time zone (START is 10:00 there)
    assert await me() == 401
