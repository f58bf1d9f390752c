"""Two real `csbot serve` processes on one PostgreSQL: partitions are spread over them and taken over
when one is killed (kill -9), every push is processed exactly once, a buyer's messages end up in
event-time order whichever process received them, and a process started with another partition
count refuses to start. (The bound on the backlog is tested in-process, on both stores.)

With the simulated gateway as a real server, counting every send request it receives: each payment
reminder both processes' scans find due, and each reply queued through either process while both
senders run (the outbox lease), reaches it in exactly one request; a shift change with both running
hands each waiting buyer over once. There the processes run through tests/patched_bot.py, which
holds each claim's transaction open long enough for the other process to claim meanwhile; with a
claim's `FOR UPDATE SKIP LOCKED` removed there too (the mutation), the tests fail, and tests here
assert that they do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest

from bot.clock import SystemClock
from bot.events import AgentMessage, BuyerMessage, OrderCreated
from bot.gateway import PLATFORMS
from tests.conftest import APP_KEYS, ROOT, SECRETS, pg_database
from tests.exactly_once import deliveries, delivered_once
from tests.test_durability import free_port, start_bot

PARTITIONS = 16
SUPERVISOR = "supervisor-token-mp"
BUYERS = 40
PER_BUYER = 12


def write_pg_config(tmp_path: Path, port: int, db_url: str, *, partitions: int = PARTITIONS, name: str = "a",
                    gateway_url: str = "http://127.0.0.1:9", extra: str = "") -> Path:
    """A process's configuration: `gateway_url` where it sends (by default nowhere), `extra` more TOML."""
    platforms = "".join(
        f'[[platforms]]\nname = "{p}"\napp_key = "{APP_KEYS[p]}"\napp_secret = "{SECRETS[p]}"\n'
        f'gateway_url = "{gateway_url}"\n' for p in ("wangwang", "dongdong")
    )
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    path = folder / "csbot.toml"
    path.write_text(
        f'[server]\nport = {port}\n[database]\nurl = "{db_url}"\n[knowledge]\npath = "{ROOT / "knowledge"}"\n'
        f'[processing]\npartitions = {partitions}\nbatch = 20\nlease_heartbeat_seconds = 0.5\n{extra}'
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


# Two processes that send: the simulated gateway (bot/sim/gateway.py) as a real server, which keeps
# every send request it received, and the counts at that receiver (tests/exactly_once.py).

@pytest.fixture
async def sim_gateway(aiohttp_server):
    from bot.sim.gateway import create_gateway_app

    return await aiohttp_server(create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS}))


@contextlib.asynccontextmanager
async def two_processes(tmp_path: Path, pg_url: str, gateway, extra: str = "", patches: str = ""):
    """Two `csbot serve` on `pg_url`, sending to `gateway`, started together (with `patches`, see
    tests/patched_bot.py); their ports. On the way out they are stopped, off this loop (the gateway
    runs on it and must answer a send under way), and neither may have logged an error."""
    ports = [free_port(), free_port()]
    url = str(gateway.make_url("")).rstrip("/")
    configs = [write_pg_config(tmp_path, port, pg_url, name=name, gateway_url=url, extra=extra)
               for port, name in zip(ports, "ab")]
    procs = list(await asyncio.gather(*(start_bot(c, p, log_level="INFO", patches=patches)
                                        for c, p in zip(configs, ports))))
    try:
        yield ports
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        await asyncio.gather(*(asyncio.to_thread(proc.wait, 20) for proc in procs))
    for name in "ab":
        log = (tmp_path / name / "bot.log").read_text()
        assert not re.search(r"\b(ERROR|CRITICAL)\b|Traceback", log), f"process {name} logged an error:\n{log[-3000:]}"


async def post_pushes(ports: list[int], events) -> None:
    """Each event as its platform's signed push, to the two processes in turn, all at once: each must be
    answered 200 at the first try (nothing retried, nothing skipped)."""
    now = SystemClock().now()

    async def post(session, n, event):
        form = PLATFORMS[event.platform].push_form(event, app_key=APP_KEYS[event.platform],
                                                   secret=SECRETS[event.platform], now=now)
        async with session.post(f"http://127.0.0.1:{ports[n % 2]}/webhooks/{event.platform}", data=form) as resp:
            return resp.status, await resp.text()

    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(post(session, n, e) for n, e in enumerate(events)))
    assert [a for a in answers if a[0] != 200] == []


async def labelled(port: int, name: str) -> dict[str, float]:
    """A counter of one process's /metrics by its labels, e.g. {'kind="reply"': 3.0}."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    return {m.group(1): float(m.group(2)) for m in re.finditer(rf"(?m)^{name}{{(.*)}} ([0-9.e+-]+)$", text)}


async def outbox_settled(pg_url: str, kind: str, n: int) -> None:
    """Wait until the outbox holds `n` messages of `kind`, all sent; then a few more rounds of both
    processes' senders and scans (a late second send would show at the receiver)."""
    async def settled():
        rows = await fetch(pg_url, f"SELECT state, count(*) AS n FROM outbox WHERE kind = '{kind}' GROUP BY state")
        return {r["state"]: r["n"] for r in rows} == {"sent": n}
    await until(settled, within_s=30, what=f"{n} {kind} messages sent")
    await asyncio.sleep(2.5)


REMINDERS = ('[reminders]\noffsets_minutes = [15]\nbefore_close_minutes = 0\nmax_per_buyer_per_day = 1\n'
             'quiet_hours = ["00:00", "00:00"]\nscan_seconds = 1\n')
ORDERS = 30
# Each claim that got rows holds its transaction open 1.5 s: the other process's next scan or send
# round (every second) claims meanwhile, for certain (tests/patched_bot.py).
HOLD_CLAIMS = "hold:bot.store.reminders:claim_due,hold:bot.store.outbox:claim_due"


async def two_processes_remind(tmp_path, pg_url, gateway, patches: str) -> None:
    """Unpaid orders created 16 minutes ago, pushed over HTTP to both processes: the first reminder
    (15 minutes) is due at once, and both processes' APScheduler scans (every second) find it due.
    Each reminder is decided by one process and reaches the gateway in exactly one request."""
    created = SystemClock().now() - timedelta(minutes=16)
    orders = [OrderCreated(platform=p, shop=APP_KEYS[p], buyer=f"rb{i}", push_id=f"ro{i}", at=created,
                           order_id=f"R{i}", title="羊毛围巾", amount_fen=9900, created_at=created,
                           closes_at=created + timedelta(hours=24))
              for i, p in ((i, "wangwang" if i % 2 else "dongdong") for i in range(ORDERS))]
    expected = [f"remind:{o.platform}:{o.order_id}:1" for o in orders]
    async with two_processes(tmp_path, pg_url, gateway, REMINDERS, patches) as ports:
        await post_pushes(ports, orders)
        await outbox_settled(pg_url, "reminder", ORDERS)
        await delivered_once(gateway, expected)  # accepted once and requested once, each; nothing else
        rows = await fetch(pg_url, "SELECT state, count(*) AS n, count(DISTINCT order_pk) AS orders "
                                   "FROM reminders GROUP BY state")
        states = [(r["state"], r["n"], r["orders"]) for r in rows]
        assert states == [("sent", ORDERS, ORDERS)], f"each reminder decided by one process, sent: {states}"
        # What each process says it did adds up to one per reminder, too.
        decided = [sum(n for k, n in (await labelled(p, "csbot_reminders_total")).items() if 'outcome="sent"' in k)
                   for p in ports]
        assert sum(decided) == ORDERS, f"each reminder decided by one process; by process a, b: {decided}"
        sent = [(await labelled(p, "csbot_outbox_sent_total")).get('kind="reminder"', 0) for p in ports]
        assert sum(sent) == ORDERS, f"sent by process a, b: {sent}"


async def test_two_processes_send_each_reminder_once_at_the_receiver(tmp_path, pg_url, sim_gateway):
    await two_processes_remind(tmp_path, pg_url, sim_gateway, HOLD_CLAIMS)


async def test_with_the_reminder_claims_lock_removed_two_processes_fail_the_test(tmp_path, pg_url, sim_gateway):
    """The mutation, in the real processes: the scan's claim without `FOR UPDATE SKIP LOCKED`. Both
    processes decide the same reminders: the second finds the buyer reminded today (by the first) and
    marks them skipped, or counts them sent again (the outbox's key still keeps the buyer from
    getting two)."""
    with pytest.raises(AssertionError, match="each reminder decided by one process"):
        await two_processes_remind(tmp_path, pg_url, sim_gateway, HOLD_CLAIMS + ",unlock:bot.store.reminders:claim_due")


async def test_with_the_outbox_claims_lock_removed_two_processes_fail_the_reminder_test(tmp_path, pg_url, sim_gateway):
    """The mutation on the sending side: both processes' senders send the same reminders; the gateway
    accepts each once (same key) but counts two requests."""
    with pytest.raises(AssertionError, match="more means a second sender"):
        await two_processes_remind(tmp_path, pg_url, sim_gateway, HOLD_CLAIMS + ",unlock:bot.store.outbox:claim_due")


REPLIES_PER_BUYER = 3
REPLY_BUYERS = 16


async def two_processes_reply(tmp_path, pg_url, gateway, patches: str) -> None:
    """The outbox lease: replies queued through the API of both processes, while both senders run (each
    woken by its own replies, and polling for the other's) and the gateway answers slowly; each reply
    reaches the gateway in exactly one request."""
    now = SystemClock().now()
    messages = [BuyerMessage(platform=p, shop=APP_KEYS[p], buyer=f"ob{i}", push_id=f"om{i}",
                             at=now - timedelta(seconds=30), text="有货吗", agent_account="")
                for i, p in ((i, "wangwang" if i % 2 else "dongdong") for i in range(REPLY_BUYERS))]
    async with two_processes(tmp_path, pg_url, gateway, patches=patches) as ports:
        await post_pushes(ports, messages)

        async def conversations():
            rows = await fetch(pg_url, "SELECT id FROM conversations ORDER BY id")
            return len(rows) == REPLY_BUYERS and [r["id"] for r in rows]
        ids = await until(conversations, within_s=20, what="a conversation for each buyer")
        async with aiohttp.ClientSession() as session:
            await session.post(gateway.make_url("/faults"), json={"stall_seconds": 0.03})

            async def reply(n: int, conversation_id: int) -> int:
                async with session.post(f"http://127.0.0.1:{ports[n % 2]}/api/conversations/{conversation_id}/reply",
                                        headers={"Authorization": f"Bearer {SUPERVISOR}"},
                                        json={"text": "亲，有货的，今天下单明天发货", "client_msg_id": f"r{n}"}) as resp:
                    return resp.status
            replies = [(n, ids[n % REPLY_BUYERS]) for n in range(REPLY_BUYERS * REPLIES_PER_BUYER)]
            statuses = await asyncio.gather(*(reply(n, cid) for n, cid in replies))
        assert statuses == [202] * len(replies)
        await outbox_settled(pg_url, "reply", len(replies))
        # The supervisor's token replies in its own key space: scoped_key(...) = agent:supervisor:<key>.
        await delivered_once(gateway, [f"agent:supervisor:r{n}" for n, _ in replies])
        sent = [(await labelled(p, "csbot_outbox_sent_total")).get('kind="reply"', 0) for p in ports]
        assert sum(sent) == len(replies), f"sent by process a, b: {sent}"


async def test_replies_queued_through_both_processes_are_each_delivered_once(tmp_path, pg_url, sim_gateway):
    await two_processes_reply(tmp_path, pg_url, sim_gateway, "hold:bot.store.outbox:claim_due")


async def test_with_the_outbox_claims_lock_removed_two_processes_fail_the_reply_test(tmp_path, pg_url, sim_gateway):
    with pytest.raises(AssertionError, match="more means a second sender"):
        await two_processes_reply(tmp_path, pg_url, sim_gateway,
                                  "hold:bot.store.outbox:claim_due,unlock:bot.store.outbox:claim_due")


async def test_kill_9_of_the_sending_process_the_other_sends_the_rest_each_once(tmp_path, pg_url, aiohttp_server):
    """Two processes, reminders due, a slow gateway: the process sending them (almost always; the
    checks hold whichever it is) is killed (kill -9) in the middle; the survivor sends the rest once
    the killed process's lease is over. At the receiver each
    reminder is accepted once; what the killed process had recorded as sent is never tried again, and
    nothing is tried more than twice (once by each process: what was in flight at the kill)."""
    from bot.sim.gateway import create_gateway_app
    from tests.reminders.test_reminder_kill import slow_sends

    gateway_app = create_gateway_app({p: {APP_KEYS[p]: SECRETS[p]} for p in SECRETS})
    slow_sends(gateway_app)  # one send at a time, 80 ms each
    gateway = await aiohttp_server(gateway_app)
    created = SystemClock().now() - timedelta(minutes=16)
    orders = [OrderCreated(platform=p, shop=APP_KEYS[p], buyer=f"kb{i}", push_id=f"ko{i}", at=created,
                           order_id=f"K{i}", title="羊毛围巾", amount_fen=9900, created_at=created,
                           closes_at=created + timedelta(hours=24))
              for i, p in ((i, "wangwang" if i % 2 else "dongdong") for i in range(ORDERS))]
    expected = [f"remind:{o.platform}:{o.order_id}:1" for o in orders]
    ports = [free_port(), free_port()]
    url = str(gateway.make_url("")).rstrip("/")
    configs = [write_pg_config(tmp_path, port, pg_url, name=name, gateway_url=url, extra=REMINDERS)
               for port, name in zip(ports, "ab")]
    procs = list(await asyncio.gather(*(start_bot(c, p) for c, p in zip(configs, ports))))
    try:
        await post_pushes(ports, orders)

        async def sending():
            """Once the sending is well under way, the process that decided (most of) the reminders: it
            queued them and woke its own sender, which took them all (the sender records its batch
            when every answer is in, so its sent count cannot tell)."""
            received = [d for d in (await deliveries(gateway)).values() if d.accepted]
            if len(received) < 4:
                return None
            decided = [sum(n for k, n in (await labelled(p, "csbot_reminders_total")).items() if 'outcome="sent"' in k)
                       for p in ports]
            return [decided.index(max(decided))]
        [victim] = await until(sending, within_s=30, what="reminders being sent")
        survivor = ports[1 - victim]
        os.kill(procs[victim].pid, signal.SIGKILL)
        await asyncio.to_thread(procs[victim].wait, 10)
        rows = await fetch(pg_url, "SELECT client_msg_id, state FROM outbox WHERE kind = 'reminder'")
        recorded = {r["client_msg_id"] for r in rows if r["state"] == "sent"}
        assert len(rows) == ORDERS and len(recorded) < ORDERS, f"the kill came after the sending: {len(recorded)}"
        # The killed process had leased what it was sending for 60 s: as if that had run out.
        await fetch(pg_url, "UPDATE outbox SET leased_until = NULL WHERE state = 'pending'")
        await outbox_settled(pg_url, "reminder", ORDERS)

        got = await deliveries(gateway)
        accepted = {k: d.accepted for k, d in got.items()}
        assert accepted == {k: 1 for k in expected}, f"each reminder must reach the buyer once: {accepted}"
        assert all(got[k].attempts == 1 for k in recorded), {k: got[k] for k in recorded if got[k].attempts != 1}
        assert all(1 <= d.attempts <= 2 for d in got.values()), got
        states = await fetch(pg_url, "SELECT state, count(*) AS n FROM reminders GROUP BY state")
        assert [(r["state"], r["n"]) for r in states] == [("sent", ORDERS)]
        by_survivor = (await labelled(survivor, "csbot_outbox_sent_total")).get('kind="reminder"', 0)
        assert by_survivor >= ORDERS - len(recorded), "the survivor sent what the killed process had not"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        await asyncio.gather(*(asyncio.to_thread(proc.wait, 20) for proc in procs))


HANDOVER_BUYERS = 12


def shift_toml(change: datetime) -> str:
    """小美 works the hour up to `change` (shop time), 阿强 the hour from it."""
    zone = ZoneInfo("Asia/Shanghai")  # the default [shop] timezone
    hhmm = [(change + timedelta(hours=h)).astimezone(zone).strftime("%H:%M") for h in (-1, 0, 1)]
    return ('[[agents]]\nid = "xiaomei"\nname = "小美"\naccounts = ["wangwang:小店:小美"]\n'
            '[[agents]]\nid = "aqiang"\nname = "阿强"\naccounts = ["wangwang:小店:阿强"]\n'
            f'[[shifts]]\nname = "早班"\nstart = "{hhmm[0]}"\nend = "{hhmm[1]}"\nagents = ["xiaomei"]\n'
            f'[[shifts]]\nname = "晚班"\nstart = "{hhmm[1]}"\nend = "{hhmm[2]}"\nagents = ["aqiang"]\n')


async def test_a_shift_change_with_two_processes_running_hands_each_buyer_over_once(tmp_path, pg_url, sim_gateway):
    """Buyers routed to 小美 wait when her shift ends, on the next whole minute (at least 25 s ahead,
    so both processes are up and the buyers stored before it). Both processes' boards see the change
    and hand over: each buyer is handed over once, to 阿强, and the processes' own counts of the
    handovers they stored add up to one each."""
    now = SystemClock().now()
    change = (now + timedelta(seconds=25 + 60)).replace(second=0, microsecond=0)
    messages = [BuyerMessage(platform="wangwang", shop=APP_KEYS["wangwang"], buyer=f"hb{i}", push_id=f"hm{i}",
                             at=now - timedelta(seconds=60 - i), text="在吗", agent_account="小店:小美")
                for i in range(HANDOVER_BUYERS)]
    async with two_processes(tmp_path, pg_url, sim_gateway, shift_toml(change)) as ports:
        await post_pushes(ports, messages)

        async def waiting():
            rows = await fetch(pg_url, "SELECT count(*) AS n FROM conversations "
                                       "WHERE waiting_since IS NOT NULL AND agent_account = '小店:小美'")
            return rows[0]["n"] == HANDOVER_BUYERS
        await until(waiting, within_s=20, what="every buyer waiting for 小美")
        assert SystemClock().now() < change - timedelta(seconds=2), "set up too slowly: the shift changed meanwhile"
        assert await fetch(pg_url, "SELECT id FROM handovers") == []

        async def handed_over():
            return (await fetch(pg_url, "SELECT count(*) AS n FROM handovers"))[0]["n"] >= HANDOVER_BUYERS
        await until(handed_over, within_s=(change - SystemClock().now()).total_seconds() + 15,
                    what="the buyers handed over at the shift change")
        await asyncio.sleep(2)  # more rounds of both boards: a second handover would show

        rows = await fetch(pg_url, "SELECT conversation_id, from_agent, to_agent, shift_change_at FROM handovers")
        assert len(rows) == HANDOVER_BUYERS == len({r["conversation_id"] for r in rows}), "each buyer once"
        at = change.astimezone(timezone.utc).replace(tzinfo=None)
        assert {(r["from_agent"], r["to_agent"], r["shift_change_at"]) for r in rows} == {("xiaomei", "aqiang", at)}
        # Both boards show them.
        async with aiohttp.ClientSession() as session:
            for port in ports:
                async with session.get(f"http://127.0.0.1:{port}/api/board/stream?token={SUPERVISOR}") as resp:
                    _, kind, data = await read_event(resp)
                assert kind == "snapshot" and len(data["handovers"]) == HANDOVER_BUYERS
    # Each process logs how many handovers it stored: together, one per buyer.
    logged = [int(n) for name in "ab" for n in
              re.findall(r"handover at=\S+ buyers=(\d+)", (tmp_path / name / "bot.log").read_text())]
    assert sum(logged) == HANDOVER_BUYERS, logged
