"""Two real `csbot serve` processes on one PostgreSQL: partitions are spread over them and taken over
when one is killed (kill -9), every push is processed exactly once, a buyer's messages end up in
event-time order whichever process received them, and a process started with another partition
count refuses to start. (The bound on the backlog is tested in-process, on both stores.)"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta, timezone
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.clock import SystemClock
from bot.events import AgentMessage, BuyerMessage
from bot.gateway import PLATFORMS
from tests.conftest import APP_KEYS, ROOT, SECRETS, pg_database
from tests.test_durability import free_port, start_bot

PARTITIONS = 16
SUPERVISOR = "supervisor-token-mp"
BUYERS = 40
PER_BUYER = 12


def write_pg_config(tmp_path: Path, port: int, db_url: str, *, partitions: int = PARTITIONS, name: str = "a") -> Path:
    platforms = "".join(
        f'[[platforms]]\nname = "{p}"\napp_key = "{APP_KEYS[p]}"\napp_secret = "{SECRETS[p]}"\n'
        f'gateway_url = "http://127.0.0.1:9"\n' for p in ("wangwang", "dongdong")
    )
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    path = folder / "csbot.toml"
    path.write_text(
        f'[server]\nport = {port}\n[database]\nurl = "{db_url}"\n[knowledge]\npath = "{ROOT / "knowledge"}"\n'
        f'[processing]\npartitions = {partitions}\nbatch = 20\nlease_heartbeat_seconds = 0.5\n'
        f'[[tokens]]\ntoken = "{SUPERVISOR}"\nrole = "supervisor"\n{platforms}',
        encoding="utf-8")
    return path


async def metrics(port: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"(?m)^(csbot_[a-z_]+) ([0-9.e+-]+)$", text)}


async def until(probe, *, within_s: float, what: str):
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.1)


def shuffled_pushes() -> list[tuple[str, BuyerMessage]]:
    """Every buyer's messages a few seconds apart, delivered shuffled (out of event-time order)."""
    now = SystemClock().now()
    events = []
    for b in range(BUYERS):
        platform = "wangwang" if b % 2 else "dongdong"
        for i in range(PER_BUYER):
            events.append(BuyerMessage(platform=platform, shop=APP_KEYS[platform], buyer=f"mp{b}", push_id=f"mp{b}-{i}",
                                       at=now - timedelta(seconds=200 - 10 * i), text=f"第{i}条 有货吗", agent_account=""))
    random.Random(5).shuffle(events)
    return [(e.platform, e) for e in events]


async def deliver(ports: list[int], pushes, *, kill=None) -> set[str]:
    """POST each push to one of the processes in turn; the push ids answered 200. `kill` is
    (after how many 200s, the process to kill -9)."""
    ok: set[str] = set()
    now = SystemClock().now()
    async with aiohttp.ClientSession() as session:
        for n, (platform, event) in enumerate(pushes):
            port = ports[n % len(ports)]
            form = PLATFORMS[platform].push_form(event, app_key=APP_KEYS[platform], secret=SECRETS[platform], now=now)
            for _ in range(20):  # the gateway retries what got no 200
                try:
                    async with session.post(f"http://127.0.0.1:{port}/webhooks/{platform}", data=form) as resp:
                        if resp.status == 200:
                            ok.add(event.push_id)
                            break
                except aiohttp.ClientError:
                    pass
                port = ports[(ports.index(port) + 1) % len(ports)]  # that process is gone: the other one
            if kill is not None and len(ok) == kill[0]:
                os.kill(kill[1].pid, signal.SIGKILL)
    return ok


async def fetch(db_url: str, sql: str) -> list:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
async def pg_url():
    async with pg_database() as url:
        yield url


async def test_kill_9_of_one_of_two_processes_hands_its_partitions_over_and_each_push_is_processed_once(tmp_path, pg_url):
    ports = [free_port(), free_port()]
    procs = [await start_bot(write_pg_config(tmp_path, ports[0], pg_url, name="a"), ports[0])]
    procs.append(await start_bot(write_pg_config(tmp_path, ports[1], pg_url, name="b"), ports[1]))
    try:
        async def spread():
            held = [(await metrics(p))["csbot_partitions_held"] for p in ports]
            return sum(held) == PARTITIONS and min(held) > 0 and held
        held = await until(spread, within_s=15, what="the partitions spread over both processes")
        assert max(held) - min(held) <= 1

        pushes = shuffled_pushes()
        ok = await deliver(ports, pushes, kill=(len(pushes) // 2, procs[0]))
        procs[0].wait(timeout=10)
        assert procs[0].returncode == -signal.SIGKILL
        assert len(ok) == len(pushes), "every push got a 200 from one process or the other"

        async def taken_over():
            return (await metrics(ports[1]))["csbot_partitions_held"] == PARTITIONS
        await until(taken_over, within_s=10, what="the survivor holds every partition")

        async def drained():
            rows = await fetch(pg_url, "SELECT count(*) AS n FROM pushes WHERE processed_at IS NULL")
            return rows[0]["n"] == 0
        await until(drained, within_s=60, what="every push processed")

        messages = await fetch(pg_url, "SELECT push_id, conversation_id, sent_at FROM messages")
        assert Counter(m["push_id"] for m in messages) == Counter(e.push_id for _, e in pushes), \
            "each push processed exactly once"
        failed = await fetch(pg_url, "SELECT push_id, last_error FROM pushes WHERE last_error IS NOT NULL")
        assert failed == []
        # All of a buyer's messages are minutes apart: one conversation each, from the first to the last.
        conversations = await fetch(pg_url, "SELECT b.nick, c.started_at, c.last_message_at, c.waiting_since "
                                            "FROM conversations c JOIN buyers b ON b.id = c.buyer_id")
        assert len(conversations) == BUYERS
        by_buyer = {}
        for _, e in pushes:  # as stored: naive UTC, to the millisecond the platforms send
            at = e.at.astimezone(timezone.utc).replace(tzinfo=None)
            by_buyer.setdefault(e.buyer, []).append(at.replace(microsecond=at.microsecond // 1000 * 1000))
        for c in conversations:
            times = by_buyer[c["nick"]]
            assert (c["started_at"], c["last_message_at"], c["waiting_since"]) == (min(times), max(times), min(times))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)


async def test_a_process_with_another_partition_count_refuses_to_start(tmp_path, pg_url):
    port = free_port()
    proc = await start_bot(write_pg_config(tmp_path, port, pg_url, partitions=PARTITIONS, name="a"), port)
    proc.terminate()
    proc.wait(timeout=20)
    other = write_pg_config(tmp_path, free_port(), pg_url, partitions=PARTITIONS * 2, name="b")
    run = subprocess.run([sys.executable, "-m", "bot", "--log-level", "WARNING", "serve", "--config", str(other)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert f"processing.partitions is {PARTITIONS * 2}" in run.stderr
    assert f"partitioned by {PARTITIONS}" in run.stderr
    rows = await fetch(pg_url, "SELECT value FROM settings WHERE key = 'partitions'")
    assert [r["value"] for r in rows] == [str(PARTITIONS)]


async def read_event(resp) -> tuple[int | None, str, dict]:
    import json

    while True:
        raw = (await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)).decode()
        fields = dict(line.split(": ", 1) for line in raw.strip().split("\n") if ": " in line)
        if "event" in fields:
            return (int(fields["id"]) if "id" in fields else None), fields["event"], json.loads(fields["data"])


async def test_a_board_viewer_that_moves_to_the_other_process_after_a_kill_gets_each_change_once(tmp_path, pg_url):
    ports = [free_port(), free_port()]
    procs = [await start_bot(write_pg_config(tmp_path, ports[0], pg_url, name="a"), ports[0])]
    procs.append(await start_bot(write_pg_config(tmp_path, ports[1], pg_url, name="b"), ports[1]))
    now = SystemClock().now()

    def message(buyer: str, n: int) -> tuple[str, BuyerMessage]:
        return "wangwang", BuyerMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer=buyer,
                                        push_id=f"{buyer}-{n}", at=now + timedelta(seconds=n), text="在吗", agent_account="")
    try:
        async with aiohttp.ClientSession() as session:
            stream = f"http://127.0.0.1:{ports[0]}/api/board/stream?token={SUPERVISOR}"
            async with session.get(stream) as resp:
                await read_event(resp)  # the snapshot
                first = [message(f"v{i}", i) for i in range(1, 5)]
                assert len(await deliver(ports, first)) == 4

                async def processed():
                    return (await fetch(pg_url, "SELECT count(*) AS n FROM changes"))[0]["n"] == 4
                await until(processed, within_s=20, what="the first four processed")
                rows = await fetch(pg_url, "SELECT max(id) AS n FROM changes")
                last_change = rows[0]["n"]
                waiting: dict[str, int] = {}
                seen_at = None
                while seen_at is None or seen_at < last_change or len(waiting) < 4:
                    seen_at, kind, data = await read_event(resp)
                    for row in data.get("waiting_upsert", data.get("waiting", [])):
                        waiting[row["buyer"]] = row["conversation_id"]
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait(timeout=10)

            # On the survivor only: v1 is answered, v5 and v6 write; v2-v4 do not change.
            answer = AgentMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer="v1", push_id="v1-answer",
                                  at=now + timedelta(seconds=10), text="亲，在的", agent_account="小店:小美")
            later = [("wangwang", answer), message("v5", 11), message("v6", 12)]
            assert len(await deliver([ports[1]], later)) == 3

            async def resumed():
                stream = f"http://127.0.0.1:{ports[1]}/api/board/stream?token={SUPERVISOR}"
                async with session.get(stream, headers={"Last-Event-ID": str(seen_at)}) as resp:
                    position, kind, data = await read_event(resp)
                upserts = sorted(row["buyer"] for row in data.get("waiting_upsert", []))
                return upserts == ["v5", "v6"] and (position, kind, data)
            position, kind, data = await until(resumed, within_s=15, what="the survivor's board shows v5 and v6")
            assert kind == "update" and data["resumed"] and position > seen_at
            assert data["waiting_remove"] == [waiting["v1"]], "v1 answered: removed, once"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)


async def leases_in_pg(db_url: str) -> dict[str, int]:
    """Partition leases each connection's process really holds, by application name (csbot/<pid>)."""
    from bot.leases import LEASE_NS

    rows = await fetch(db_url, "SELECT a.application_name AS app, count(*) AS n FROM pg_locks l "
                               "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                               f"AND l.objsubid = 2 AND l.classid::int = {LEASE_NS} GROUP BY a.application_name")
    return {r["app"]: r["n"] for r in rows}


async def test_a_process_that_loses_its_database_connections_mid_batch_gives_its_leases_up_and_comes_back(tmp_path, pg_url):
    ports = [free_port(), free_port()]
    procs = [await start_bot(write_pg_config(tmp_path, ports[0], pg_url, name="a"), ports[0])]
    procs.append(await start_bot(write_pg_config(tmp_path, ports[1], pg_url, name="b"), ports[1]))
    apps = [f"csbot/{p.pid}" for p in procs]
    try:
        async def spread():
            held = [(await metrics(p))["csbot_partitions_held"] for p in ports]
            return sum(held) == PARTITIONS and min(held) > 0 and held
        await until(spread, within_s=15, what="the partitions spread over both processes")

        cut = asyncio.Event()

        async def cut_a_off():
            """Once the pushes flow, the server closes every connection of process a, its lease
            connection and the pool's connections in the middle of their transactions, four times."""
            await cut.wait()
            for _ in range(4):
                rows = await fetch(pg_url, "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
                                           f"WHERE application_name = '{apps[0]}'")
                assert rows and all(r["done"] for r in rows)
                await asyncio.sleep(0.3)

        pushes = shuffled_pushes()
        first, rest = pushes[: len(pushes) // 3], pushes[len(pushes) // 3:]
        ok = await deliver(ports, first)
        cut.set()
        ok |= (await asyncio.gather(deliver(ports, rest), cut_a_off()))[0]
        assert len(ok) == len(pushes), "every push got a 200 from one process or the other"

        log_a = (tmp_path / "a" / "bot.log").read_text()
        assert "lease connection lost; leases given up" in log_a

        async def back():
            """Process a holds leases again, and what each process says it holds is what it holds."""
            said = {apps[i]: (await metrics(p))["csbot_partitions_held"] for i, p in enumerate(ports)}
            return all(said.values()) and said == await leases_in_pg(pg_url) and said
        said = await until(back, within_s=15, what="process a takes its share of the partitions back")
        assert sum(said.values()) == PARTITIONS

        async def drained():
            rows = await fetch(pg_url, "SELECT count(*) AS n FROM pushes WHERE processed_at IS NULL")
            return rows[0]["n"] == 0
        await until(drained, within_s=60, what="every push processed")
        messages = await fetch(pg_url, "SELECT push_id FROM messages")
        assert Counter(m["push_id"] for m in messages) == Counter(e.push_id for _, e in pushes), \
            "each push processed exactly once"
        assert await fetch(pg_url, "SELECT push_id FROM pushes WHERE last_error IS NOT NULL") == []

        # ... and process a processes again: a buyer of one of its partitions is processed by it.
        before = (await metrics(ports[0]))["csbot_pushes_processed_total"]
        more = [("wangwang", BuyerMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer=f"after{i}",
                                          push_id=f"after{i}", at=SystemClock().now(), text="还在吗", agent_account=""))
                for i in range(20)]
        assert len(await deliver(ports, more)) == 20

        async def a_processes():
            return (await metrics(ports[0]))["csbot_pushes_processed_total"] > before
        await until(a_processes, within_s=15, what="process a processes pushes again")
        assert procs[0].poll() is None and procs[1].poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
