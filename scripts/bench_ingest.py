"""`scripts/bench ingest`: durable push intake vs a bare aiohttp handler, driven by wrk, in one run.

What it does, in order:
1. Pre-signs N distinct pushes (wangwang hmac-sha256 and md5, dongdong; chat messages and orders) with a
   timestamp of now, one a line in a file that scripts/bench_ingest.lua replays (never one twice).
2. Starts a bare aiohttp app (this file, `bare-server`): reads the form, answers {"code":0,"msg":"ok"},
   stores nothing. Runs wrk against it.
3. Starts the real bot (`.venv/bin/csbot serve`) on a fresh SQLite file (or a fresh PostgreSQL database
   with --db postgresql://...) and a free port. Runs the same wrk against it.
4. Counts the stored pushes in the database and compares them with the 200 "ok" answers wrk saw.
5. Prints the table, the ratio, the commands and whether the targets were met (it never fails on them).

This is a benchmark, not a test: CI does not run it. See `scripts/bench ingest --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "scripts" / "bench_ingest.lua"
VENV_PY = ROOT / ".venv" / "bin" / "python"
CSBOT = ROOT / ".venv" / "bin" / "csbot"

TARGET_RATE = 4000.0
TARGET_RATIO = 0.25
TARGET_P99_MS = 50.0
# The bot rejects a push signed more than 10 minutes away from its clock: re-sign before that.
RESIGN_AFTER_S = 8 * 60


# ---------------------------------------------------------------------------------------------- pushes

TEXTS = [
    "在吗？这款有现货吗", "什么时候发货呀", "能便宜点吗，买两件", "尺码怎么选，165cm 55kg", "快递用的哪家",
    "可以开发票吗", "收到货有点问题，怎么退", "七天无理由退货吗", "颜色和图片一样吗", "今天下单明天能到吗",
    "亲，优惠券怎么用", "已经付款了，麻烦尽快发货", "物流好几天没动了", "能换个颜色吗", "有没有赠品",
]
AGENT_TEXTS = ["亲，在的哦", "今天下单48小时内发货", "可以的亲，已备注", "亲，建议拍M码", "已为您催促快递"]
TITLES = ["纯棉短袖T恤 白色 M", "加厚保温杯 500ml", "无线蓝牙耳机 降噪版", "儿童防滑运动鞋 32码", "护手霜礼盒 3支装"]


def _event(i: int, run: str, start: datetime, platform: str, shop: str):
    from bot.events import AgentMessage, BuyerMessage, OrderCreated

    at = start - timedelta(seconds=60) + timedelta(microseconds=i * 137)
    buyer = f"{'tb' if platform == 'wangwang' else 'jd'}_buyer_{i % 20000:05d}"
    push_id = f"bench-{run}-{i:07d}"
    kind = i % 20
    if kind in (18, 19):
        return OrderCreated(
            platform=platform, shop=shop, buyer=buyer, push_id=push_id, at=at, order_id=str(9_000_000_000 + i),
            title=TITLES[i % len(TITLES)], amount_fen=1990 + (i % 500) * 100, created_at=at,
            closes_at=at + timedelta(hours=24),
        )
    if kind % 7 == 6:
        agent = "小店:小美" if platform == "wangwang" else "jd_xiaomei"
        return AgentMessage(platform=platform, shop=shop, buyer=buyer, push_id=push_id, at=at,
                            text=AGENT_TEXTS[i % len(AGENT_TEXTS)], agent_account=agent)
    return BuyerMessage(platform=platform, shop=shop, buyer=buyer, push_id=push_id, at=at,
                        text=f"{TEXTS[i % len(TEXTS)]} #{i}", agent_account="")


def _sign_range(job: tuple[int, int, str, str, dict]) -> list[str]:
    """Lines "<platform> <url-encoded signed form>" for pushes lo..hi-1 (run in a worker process)."""
    from bot.gateway import PLATFORMS

    lo, hi, run, now_iso, shops = job
    now = datetime.fromisoformat(now_iso)
    lines = []
    for i in range(lo, hi):
        kind = i % 20
        # 45% wangwang hmac-sha256, 5% wangwang md5, 50% dongdong (md5, JOS).
        platform = "wangwang" if kind < 10 or kind == 18 else "dongdong"
        app_key, secret = shops[platform]
        extra = {"sign_method": "md5"} if kind == 9 else {}
        event = _event(i, run, now, platform, app_key)
        form = PLATFORMS[platform].push_form(event, app_key=app_key, secret=secret, now=now, **extra)
        lines.append(f"{platform} {urlencode(form)}\n")
    return lines


def write_pushes(path: Path, n: int, shops: dict[str, tuple[str, str]]) -> tuple[float, float]:
    """Sign n distinct pushes into `path`; returns (when they were signed, seconds it took)."""
    started = time.monotonic()
    now = datetime.now(UTC)
    run = secrets.token_hex(4)
    step = 10_000
    jobs = [(lo, min(lo + step, n), run, now.isoformat(), shops) for lo in range(0, n, step)]
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 2) as pool, open(path, "w") as f:
        for lines in pool.imap(_sign_range, jobs):
            f.writelines(lines)
    return time.time(), time.monotonic() - started


# ---------------------------------------------------------------------------------------------- bare

def bare_server(port: int) -> None:
    """The baseline: the same Python and aiohttp, a handler that reads the form and stores nothing."""
    from aiohttp import web

    ok = json.dumps({"code": 0, "msg": "ok"})

    async def receive(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=ok, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=65536)
    app.router.add_post("/webhooks/{platform}", receive)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---------------------------------------------------------------------------------------------- config

def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def dump_toml(raw: dict) -> str:
    """Enough TOML for a csbot configuration: scalars, [tables], [[arrays of tables]], inline tables."""
    out = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, (dict, list))]
    out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in raw.items()
            if isinstance(v, list) and not (v and all(isinstance(x, dict) for x in v))]
    for key, value in raw.items():
        if isinstance(value, dict):
            out.append(f"\n[{_toml_key(key)}]")
            out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for item in value:
                out.append(f"\n[[{_toml_key(key)}]]")
                out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(out) + "\n"


def bot_config(path: Path, *, port: int, db_url: str, synchronous: str) -> dict[str, tuple[str, str]]:
    """A configuration for the bench from config.example.toml: new port, database and secrets.

    Returns {platform: (app_key, app_secret)} for signing.
    """
    example = ROOT / "config.example.toml"
    raw = tomllib.loads(example.read_text())
    raw["server"] = {**raw.get("server", {}), "host": "127.0.0.1", "port": port}
    raw["database"] = {**raw.get("database", {}), "url": db_url}
    if db_url.startswith("sqlite"):
        raw["database"]["sqlite_synchronous"] = synchronous
    knowledge = raw.get("knowledge", {}).get("path", "knowledge")
    raw.setdefault("knowledge", {})["path"] = str((example.parent / knowledge).resolve())
    shops = {}
    for platform in raw.get("platforms", []):
        platform["app_secret"] = f"bench-{platform['name']}-{secrets.token_hex(8)}"
        shops[platform["name"]] = (platform["app_key"], platform["app_secret"])
    if set(shops) != {"wangwang", "dongdong"}:
        sys.exit("bench: config.example.toml must configure both platforms")
    path.write_text(dump_toml(raw))
    return shops


# ---------------------------------------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, proc: subprocess.Popen, log: Path, *, within_s: float = 90.0) -> None:
    deadline = time.monotonic() + within_s
    url = f"http://127.0.0.1:{port}/healthz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"bench: the server exited with {proc.returncode} before it was healthy; see {log}:\n"
                     + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    stop(proc)
    sys.exit(f"bench: {url} not healthy within {within_s:.0f} s; see {log}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores, from /proc/stat."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def machine_busy(seconds: float = 1.0) -> float:
    """How many cores' worth of CPU the machine used over `seconds` (before the bench starts anything)."""
    b0, _ = busy_cpu()
    time.sleep(seconds)
    b1, _ = busy_cpu()
    return (b1 - b0) / seconds


def run_wrk(port: int, pushes: Path, args: argparse.Namespace, server_pid: int) -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.concurrency}", f"-d{args.duration}s", "--timeout", "5s",
           "-s", str(LUA), f"http://127.0.0.1:{port}", "--", str(pushes), str(args.threads)]
    server_cpu = cpu_seconds(server_pid)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine = busy_cpu()[0]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    machine = busy_cpu()[0] - machine
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = cpu_seconds(server_pid) - server_cpu
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        sys.exit(f"bench: wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    seconds = result["duration_us"] / 1e6
    result.update(
        cmd=shlex.join(cmd), port=port, seconds=seconds, rps=result["requests"] / seconds, ok_rps=result["ok"] / seconds,
        p50_ms=result["lat_p50_us"] / 1000, p99_ms=result["lat_p99_us"] / 1000,
        p999_ms=result["lat_p999_us"] / 1000, max_ms=result["lat_max_us"] / 1000,
        server_cpu=server_cpu / wall,
        wrk_cpu=((after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)) / wall,
        machine_cpu=machine / wall,
        stdout=done.stdout,
    )
    return result


# ---------------------------------------------------------------------------------------------- database

def stored_counts(db_url: str) -> tuple[int, int]:
    """(stored pushes, processed pushes) in the bench database."""
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=30)
        try:
            total, processed = conn.execute(
                "SELECT count(*), count(processed_at) FROM pushes").fetchone()
        finally:
            conn.close()
        return total, processed

    async def count() -> tuple[int, int]:
        import asyncpg

        conn = await asyncpg.connect(_plain_pg(db_url))
        try:
            row = await conn.fetchrow("SELECT count(*), count(processed_at) FROM pushes")
        finally:
            await conn.close()
        return row[0], row[1]

    return asyncio.run(count())


def _plain_pg(url: str) -> str:
    return re.sub(r"^postgres(ql)?(\+asyncpg)?://", "postgresql://", url)


def create_pg_database(admin_url: str) -> str:
    import asyncpg

    name = f"csbot_bench_{secrets.token_hex(6)}"

    async def create() -> None:
        conn = await asyncpg.connect(_plain_pg(admin_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return _plain_pg(admin_url).rsplit("/", 1)[0] + "/" + name


def drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(_plain_pg(admin_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


# ---------------------------------------------------------------------------------------------- ingest

def ingest(args: argparse.Namespace) -> int:
    if not shutil.which("wrk"):
        sys.exit("bench: wrk is not installed (scripts/bench installs it: apt-get install -y wrk)")
    if args.concurrency < args.threads:
        sys.exit("bench: --concurrency must be at least --threads")
    invocation = "scripts/bench ingest" + ("" if not args.argv else " " + shlex.join(args.argv))
    work = Path(tempfile.mkdtemp(prefix="csbot-bench-"))
    port_bare, port_bot = free_port(), free_port()
    pg = args.db.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://"))
    db_url = create_pg_database(args.db) if pg else f"sqlite:///{work / 'csbot.db'}"
    db_label = "postgresql" if pg else f"sqlite, synchronous={args.sqlite_synchronous}"
    config = work / "bench.toml"
    shops = bot_config(config, port=port_bot, db_url=db_url, synchronous=args.sqlite_synchronous)
    pushes = work / "pushes.txt"
    n = args.pushes or max(200_000, 20_000 * args.duration)
    print(f"bench: signing {n:,} distinct pushes (45% wangwang hmac-sha256, 5% wangwang md5, 50% dongdong;"
          f" 90% chat, 10% orders) ...", flush=True)
    signed_at, took = write_pushes(pushes, n, shops)
    print(f"bench: signed in {took:.1f} s, {pushes.stat().st_size / n:.0f} bytes a push; work folder {work}",
          flush=True)
    idle_busy = machine_busy()
    if idle_busy > 0.25:
        print(f"bench: WARNING: the machine is already busy ({idle_busy:.0%} of a core in use before the bench);"
              f" the figures will be disturbed", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    results: dict[str, dict] = {}
    try:
        # 1. The bare handler.
        bare_log = work / "bare.log"
        with open(bare_log, "w") as log:
            bare = subprocess.Popen([str(VENV_PY), __file__, "bare-server", "--port", str(port_bare)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            wait_healthy(port_bare, bare, bare_log)
            print(f"bench: bare aiohttp handler (pid {bare.pid}) on :{port_bare}, wrk for {args.duration} s ...",
                  flush=True)
            results["bare"] = run_wrk(port_bare, pushes, args, bare.pid)
        finally:
            stop(bare)

        # 2. The bot, durable path.
        if time.time() - signed_at + args.duration + 30 > RESIGN_AFTER_S:
            print("bench: re-signing the pushes (their timestamps would leave the 10-minute window) ...",
                  flush=True)
            signed_at, _ = write_pushes(pushes, n, shops)
        bot_log = work / "bot.log"
        bot_cmd = [str(CSBOT), "--log-level", args.bot_log_level, "serve", "--config", str(config)]
        if args.bot_command:
            bot_cmd = [x.replace("{config}", str(config)).replace("{log_level}", args.bot_log_level)
                       for x in shlex.split(args.bot_command)]
        with open(bot_log, "w") as log:
            bot = subprocess.Popen(bot_cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        try:
            wait_healthy(port_bot, bot, bot_log)
            print(f"bench: csbot serve (pid {bot.pid}) on :{port_bot}, {db_label}, wrk for {args.duration} s ...",
                  flush=True)
            results["bot"] = run_wrk(port_bot, pushes, args, bot.pid)
            time.sleep(1.0)  # the commits of the requests wrk left in flight at its end
            stored, processed = stored_counts(db_url)
        finally:
            stop(bot)
        stored_after_stop, _ = stored_counts(db_url)
    finally:
        if pg and not args.keep:
            drop_pg_database(args.db, db_url)
        if not args.keep:
            pushes.unlink(missing_ok=True)

    report(args, invocation, results, db_label=db_label, stored=stored, processed=processed,
           stored_after_stop=stored_after_stop, bot_cmd=bot_cmd, work=work, n=n)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(args, invocation, results, *, db_label, stored, processed, stored_after_stop, bot_cmd, work, n) -> None:
    bare, bot = results["bare"], results["bot"]
    ratio = bot["ok_rps"] / bare["rps"] if bare["rps"] else 0.0
    print()
    print(f"scripts/bench ingest: wrk -t{args.threads} -c{args.concurrency} -d{args.duration}s, "
          f"{os.cpu_count()} cores, one server process each, same run")
    print()
    header = f"{'path':<48} {'pushes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} {'max ms':>7} " \
             f"{'srv CPU':>7} {'wrk CPU':>7} {'other':>6}"
    print(header)
    print("-" * len(header))
    for label, r, rate in (("bare aiohttp handler (reads form, no store)", bare, bare["rps"]),
                           (f"durable: {'--bot-command' if args.bot_command else 'csbot serve'} ({db_label})",
                            bot, bot["ok_rps"])):
        other = max(0.0, r["machine_cpu"] - r["server_cpu"] - r["wrk_cpu"])
        print(f"{label:<48} {rate:>9,.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['p999_ms']:>7.2f} "
              f"{r['max_ms']:>7.1f} {r['server_cpu']:>6.0%} {r['wrk_cpu']:>6.0%} {other:>6.0%}")
    print("(CPU columns: share of one core during the wrk run; 'other' is everything else on the machine,"
          " which should be near 0%)")
    worst_other = max(max(0.0, r["machine_cpu"] - r["server_cpu"] - r["wrk_cpu"]) for r in (bare, bot))
    if worst_other > 0.25:
        print(f"WARNING: other processes used {worst_other:.0%} of a core during a run: the figures are disturbed")
    print()
    print(f"ratio durable/bare: {ratio:.3f}")
    print()
    print(f"durable answers: {bot['requests']:,} requests; 200 ok {bot['ok']:,}, 200 duplicate {bot['duplicate']:,}, "
          f"4xx {bot['status_4xx']:,}, 5xx {bot['status_5xx']:,}, other {bot['other_2xx'] + bot['status_other']:,}; "
          f"socket errors connect/read/write/timeout "
          f"{bot['err_connect']}/{bot['err_read']}/{bot['err_write']}/{bot['err_timeout']}")
    print(f"bare answers:    {bare['requests']:,} requests; 200 {bare['ok'] + bare['duplicate']:,}, "
          f"non-200 {bare['other_2xx'] + bare['status_4xx'] + bare['status_5xx'] + bare['status_other']:,}")
    if bot["wraps"]:
        print(f"WARNING: wrk used up the {n:,} pushes and started over ({bot['wraps']} wraps): "
              f"raise --pushes; the repeats were answered 'duplicate'")
    print(f"stored pushes in the database 1 s after wrk ended: {stored:,} (wrk saw {bot['ok']:,} 'ok'; "
          f"difference {stored - bot['ok']:+,}, at most the {args.concurrency} requests in flight when wrk stopped); "
          f"after the bot stopped: {stored_after_stop:,}")
    if stored < bot["ok"]:
        print("WARNING: fewer stored pushes than 200 'ok' answers: a 200 was given for a push that is not stored")
    print(f"processed by the bot's background processor by then: {processed:,} of {stored:,} "
          f"({processed / stored:.0%})" if stored else "processed: 0")
    print()
    print("targets (printed, not enforced):")
    checks = [
        (f"durable pushes/s >= {TARGET_RATE:,.0f}", bot["ok_rps"] >= TARGET_RATE, f"{bot['ok_rps']:,.0f}"),
        (f"durable/bare >= {TARGET_RATIO}", ratio >= TARGET_RATIO, f"{ratio:.3f}"),
        (f"durable p99 < {TARGET_P99_MS:.0f} ms", bot["p99_ms"] < TARGET_P99_MS, f"{bot['p99_ms']:.1f} ms"),
        ("no 5xx, no 4xx, no 'duplicate' answers", not (bot["status_5xx"] or bot["status_4xx"] or bot["duplicate"]),
         f"{bot['status_5xx']}/{bot['status_4xx']}/{bot['duplicate']}"),
        ("every 200 'ok' is stored", stored >= bot["ok"], f"{stored:,} >= {bot['ok']:,}"),
    ]
    for what, met, value in checks:
        print(f"  [{'met' if met else 'NOT met'}] {what}: {value}")
    print()
    print("commands:")
    print(f"  {invocation}")
    print(f"  bare: {VENV_PY.relative_to(ROOT)} scripts/bench_ingest.py bare-server --port {bare['port']}")
    print(f"        {bare['cmd']}")
    print(f"  bot:  {shlex.join(str(x) for x in bot_cmd)}")
    print(f"        {bot['cmd']}")
    if args.keep:
        print(f"  kept: {work} (bot.log, bare.log, bench.toml, pushes.txt, csbot.db)")
    else:
        print(f"  ({work} with the config, pushes and database is removed; --keep keeps it)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="pushes/s and p50/p99 of the durable push path vs a bare aiohttp handler")
    ing.add_argument("--concurrency", "-c", type=int, default=64, help="open connections (default 64)")
    ing.add_argument("--duration", "-d", type=int, default=10, help="seconds of each wrk run (default 10)")
    ing.add_argument("--threads", "-t", type=int, default=1,
                     help="wrk threads (default 1: on 2 cores one wrk thread leaves the other core to the server)")
    ing.add_argument("--pushes", type=int, default=0,
                     help="distinct pushes to sign (default max(200000, 20000 x duration))")
    ing.add_argument("--db", default="sqlite",
                     help="sqlite (default: a fresh temp file) or a PostgreSQL URL, in which a fresh database is "
                          "created for the run, e.g. postgresql://root@127.0.0.1:5432/test")
    ing.add_argument("--sqlite-synchronous", choices=["FULL", "NORMAL"], default="FULL",
                     help="[database] sqlite_synchronous of the bot (default FULL, as config.example.toml)")
    ing.add_argument("--bot-log-level", default="INFO", help="the bot's --log-level (default INFO, as in production)")
    ing.add_argument("--bot-command", default="",
                     help="run this instead of csbot serve, to measure a prototype ({config} and {log_level} "
                          "are replaced), e.g. '.venv/bin/python /tmp/patched_serve.py --config {config}'")
    ing.add_argument("--keep", action="store_true", help="keep the work folder (logs, config, pushes, database)")
    bare = sub.add_parser("bare-server", help=argparse.SUPPRESS)
    bare.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "bare-server":
        bare_server(args.port)
        return 0
    args.argv = argv[1:]
    sys.path.insert(0, str(ROOT))
    return ingest(args)


if __name__ == "__main__":
    sys.exit(main())
