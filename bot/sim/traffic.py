"""The demo shop's traffic: seeded buyers, agents, orders and complaints, pushed at the bot.

Two halves. `plan()` is pure and seeded: it says which pushes happen, when (seconds after the
start), for which buyer, with which text and which injected faults; the same seed gives the same
plan. `drive()` plays a plan in real time and delivers each push the way gateway.md says a gateway
does (sign, POST, retry on no answer or 5xx), counting the answers in a `Report`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import random
import time
import tomllib
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bot.clock import Clock, SystemClock
from bot.config import Config, resolve_path
from bot.events import AgentMessage, BuyerMessage, Event, OrderClosed, OrderCreated, OrderPaid
from bot.gateway import PLATFORMS
from bot.matching.engine import shop_values
from bot.matching.kb import fill

log = logging.getLogger(__name__)

FAULTS = ("bad_sign", "stale", "duplicate", "out_of_order")
REJECTING_FAULTS = frozenset({"bad_sign", "stale"})  # the bot must answer these 401
STALE_BY = timedelta(minutes=15)  # beyond the 10-minute replay window
MAX_HOLD_S = 5.0  # an out-of-order push is held back 1-5 s
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0)
ANSWER_TIMEOUT_S = 3.0
# How long an unpaid order stays open: Taobao's timeout_action_time, JD's paymentDeadline.
CLOSES_AFTER = {"wangwang": timedelta(minutes=30), "dongdong": timedelta(hours=24)}


# --- the demo shops and what their buyers say ------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """A demo shop on one platform, with the agent accounts (子账号 / waiterPin) that answer in it."""

    platform: str
    app_key: str
    app_secret: str
    seller_nick: str
    agents: tuple[str, ...]


def shops_from_config(config: Config) -> list[Shop]:
    """One shop per configured platform; its agents are the `[[agents]]` accounts on that platform.

    "wangwang:示例小店:小美" is the account "示例小店:小美" on wangwang. A platform with no agent
    account gets a made-up one, because an agent message must name its agent.
    """
    shops = []
    for p in config.platforms:
        prefix = p.name + ":"
        agents = tuple(acc.removeprefix(prefix) for a in config.agents for acc in a.accounts if acc.startswith(prefix))
        fallback = f"{config.shop.name}:客服" if p.name == "wangwang" else "jd_kefu"
        shops.append(Shop(p.name, p.app_key, p.app_secret, config.shop.name, agents or (fallback,)))
    return shops


@dataclass(frozen=True)
class Questions:
    """What buyers say: the knowledge base's questions, its complaints, and chit-chat it can't answer."""

    asks: tuple[str, ...]
    complaints: tuple[str, ...]
    # question -> the knowledge base's reply to it, which simulated agents often send as is or edit
    answers: Mapping[str, str] = field(default_factory=dict)
    chit_chat: tuple[str, ...] = (
        "今天天气不错", "你们老板是谁", "你是机器人吗", "哈哈哈哈", "你们公司在哪里",
        "能交个朋友吗", "推荐个好看的电影", "你吃饭了吗", "周末有什么好玩的",
    )


# Used when the knowledge base has none of a kind, so that the simulator still runs on an empty one.
FALLBACK_ASKS = ("这款还有货吗", "什么时候发货", "包邮吗", "可以便宜点吗", "尺码偏大还是偏小")
FALLBACK_COMPLAINTS = ("我要投诉", "你们客服态度太差了", "不解决就给差评")


def load_questions(folder: Path, *, values: Mapping[str, object] | None = None) -> Questions:
    """Questions of every `[[intent]]` in `folder/intents/*.toml` (or `folder/*.toml`), in file order,
    and the first general reply of each, filled with `values`.

    Template intents (`template = true`) are skipped; `complaint.*` intents are the complaints.
    """
    intents = folder / "intents" if (folder / "intents").is_dir() else folder
    asks: list[str] = []
    complaints: list[str] = []
    answers: dict[str, str] = {}
    for path in sorted(intents.glob("*.toml")):
        with open(path, "rb") as f:
            for intent in tomllib.load(f).get("intent", []):
                if intent.get("template"):
                    continue
                target = complaints if str(intent.get("id", "")).startswith("complaint.") else asks
                questions = [q for q in intent.get("questions", []) if isinstance(q, str) and q]
                target.extend(questions)
                general = [r["text"] for r in intent.get("reply", []) if isinstance(r, dict) and not r.get("platform")]
                if general and isinstance(general[0], str):
                    answers.update((q, fill(general[0].strip(), values or {})) for q in questions)
    return Questions(asks=tuple(asks) or FALLBACK_ASKS, complaints=tuple(complaints) or FALLBACK_COMPLAINTS,
                     answers=answers)


def questions_from_config(config: Config) -> Questions:
    return load_questions(resolve_path(config, config.knowledge.path), values=shop_values(config.shop))


# Simplified -> traditional, for the buyers who type in traditional characters.
TRADITIONAL = str.maketrans("这还货吗发么号码买卖谢质运费应换时间", "這還貨嗎發麼號碼買賣謝質運費應換時間")
OPENERS = ("亲，", "请问", "在吗？", "你好，", "亲亲，")
CLOSERS = ("呢", "啊", "😊", "？", "？？", "~")


def vary(text: str, rng: random.Random, *, order_number: str) -> str:
    """A buyer's own wording of `text`: filler, a few traditional characters, an order number.

    >>> vary("这款还有货吗", random.Random(8), order_number="3856120000001234")
    '你好，這款還有貨吗~'
    """
    if rng.random() < 0.3:
        text = rng.choice(OPENERS) + text
    if rng.random() < 0.25:
        text += rng.choice(CLOSERS)
    if rng.random() < 0.15:
        text = "".join(c.translate(TRADITIONAL) if rng.random() < 0.7 else c for c in text)
    if rng.random() < 0.1:
        text += f" 订单号{order_number}"
    return text


AGENT_REPLIES = (
    "亲，您好，这边帮您查一下哦～", "亲，有现货的，今天下单明天发货哦", "好的亲，已经帮您备注了",
    "抱歉让您久等了，我来帮您处理", "亲，尺码可以参考详情页的尺码表哦", "亲，这边已经帮您申请了，请耐心等待～",
    "亲，我们是正品保证的，请放心购买", "亲，还有其他可以帮您的吗？",
)
BUYER_FOLLOW_UPS = ("好的谢谢", "知道了", "那我再看看", "好的", "行吧", "谢谢亲")
BUYER_THANKS = frozenset({"好的谢谢", "知道了", "好的", "谢谢亲", "行吧"})  # the matcher's service.thanks
AGENT_CLOSINGS = ("好的亲，有需要随时找我哦～", "好嘞，您慢慢看，有问题随时联系～", "不客气亲，祝您购物愉快～")
SERIOUS_WORDS = ("12315", "工商", "消协", "媒体", "曝光", "法院", "起诉", "律师", "报警", "监管")
PRODUCTS = (
    ("纯棉短袖T恤 白色 L", 5900), ("加绒连帽卫衣 黑色 XL", 12900), ("轻便跑步鞋 42码", 29900),
    ("不锈钢保温杯 500ml", 6800), ("无线蓝牙耳机", 19900), ("儿童羽绒服 110cm", 25900),
)
NICK_WORDS = ("小鱼儿", "糖糖", "大白", "橙子", "木木", "兔兔", "小熊", "阿杰", "晴天", "豆豆", "可乐", "喵喵")
CANCEL_REASONS = ("不想买了", "拍错了", "信息填写错误，重新拍")
TIMEOUT_REASON = {"wangwang": "超时未付款，交易自动关闭", "dongdong": "超时未支付"}


# --- the plan: pure and seeded -----------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPush:
    """One push of the plan. Its event time is whenever it is generated: `offset_s` after the start."""

    offset_s: float
    platform: str
    shop: str  # app_key
    buyer: str
    kind: str  # buyer_message, agent_message, order_created, order_paid, order_closed
    push_id: str = ""
    text: str = ""
    agent_account: str = ""
    order_id: str = ""
    title: str = ""
    amount_fen: int = 0
    close_reason: str = ""
    faults: frozenset[str] = frozenset()
    hold_s: float = 0.0  # out_of_order: delivered this long after it is generated


def plan(
    shops: Sequence[Shop], *, seed: int, rate: float, questions: Questions,
    faults: Mapping[str, float] | None = None, run: int = 0,
) -> Iterator[PlannedPush]:
    """The endless traffic of `shops` at `rate` pushes per second on average, in offset order.

    The same arguments give the same pushes. `run` (0-9999) only goes into push and order ids, so
    that two runs against one database don't collide. Faults come from a random stream of their own,
    so turning them on or off leaves the traffic itself unchanged.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    if not shops:
        raise ValueError("no shops: configure at least one [[platforms]]")
    planner = _Planner(shops, rng=random.Random(seed), questions=questions, run=run)
    return _with_faults(planner.pushes(rate), dict(faults or {}), random.Random(f"{seed}/faults"))


class _Planner:
    """Sessions of buyers, each a short script of pushes, interleaved into one stream.

    Pushes come at the moments of a Poisson process at the requested rate. Each moment goes to the
    earliest follow-up that is due (an agent's answer, a payment); when none is due, a new buyer
    session starts. So the rate holds from the first second, and follow-ups come no earlier than
    planned.
    """

    def __init__(self, shops: Sequence[Shop], *, rng: random.Random, questions: Questions, run: int) -> None:
        self._shops = tuple(shops)
        self._rng = rng
        self._questions = questions
        self._run = run
        self._due: list[tuple[float, int, PlannedPush]] = []  # (not before, tie-break, push)
        self._ties = itertools.count()
        self._push_numbers = itertools.count(1)
        self._order_numbers = itertools.count(1)
        self._buyers: list[tuple[Shop, str]] = []
        self._busy_until: dict[tuple[str, str], float] = {}

    def pushes(self, rate: float) -> Iterator[PlannedPush]:
        now = 0.0
        while True:
            now += self._rng.expovariate(rate)
            if not self._due or self._due[0][0] > now:
                self._schedule(self._session(now))
            _, _, push = heapq.heappop(self._due)
            yield replace(push, offset_s=now, push_id=f"sim{self._run:04d}-{next(self._push_numbers):07d}")

    def _schedule(self, pushes: list[PlannedPush]) -> None:
        for push in pushes:
            heapq.heappush(self._due, (push.offset_s, next(self._ties), push))

    def _session(self, start: float) -> list[PlannedPush]:
        shop, buyer = self._buyer(start)
        # A normal day: complaints are a few in a hundred sessions, and few of them threaten a regulator.
        kind = self._rng.choices(("question", "chit_chat", "complaint", "order"), weights=(60, 8, 2, 30))[0]
        if kind == "order":
            self._busy_until[(shop.platform, buyer)] = start + 60  # not straight into another session
            return self._order(shop, buyer, start)
        q = self._questions
        if kind == "question":
            texts = self._rng.sample(q.asks, k=min(len(q.asks), self._burst_size()))
        elif kind == "complaint":
            texts = [self._complaint()]
        else:
            texts = [self._rng.choice(q.chit_chat)]
        pushes = self._chat(shop, buyer, start, texts)
        self._busy_until[(shop.platform, buyer)] = pushes[-1].offset_s
        if kind == "question" and pushes[-1].kind == "agent_message" and self._rng.random() < 0.25:
            pushes += self._order(shop, buyer, pushes[-1].offset_s + self._rng.uniform(20, 120))
        return pushes

    def _buyer(self, now: float) -> tuple[Shop, str]:
        """A returning buyer who is not in a conversation now, or (mostly) a new one."""
        idle = [b for b in self._buyers if self._busy_until.get((b[0].platform, b[1]), 0.0) < now]
        if idle and (self._rng.random() < 0.3 or len(self._buyers) >= 500):
            return self._rng.choice(idle)
        shop = self._rng.choice(self._shops)
        nick = self._new_nick(shop.platform)
        while (shop.platform, nick) in self._busy_until:
            nick = self._new_nick(shop.platform)
        self._busy_until[(shop.platform, nick)] = now
        self._buyers.append((shop, nick))
        return shop, nick

    def _new_nick(self, platform: str) -> str:
        """Taobao nicks like "tb_小鱼儿88", JD pins like "jd_4f2a91"."""
        if platform == "dongdong":
            return f"jd_{self._rng.getrandbits(24):06x}"
        return f"tb_{self._rng.choice(NICK_WORDS)}{self._rng.randint(1, 999)}"

    def _burst_size(self) -> int:
        return self._rng.choices((1, 2, 3), weights=(60, 30, 10))[0]

    def _complaint(self) -> str:
        """A complaint; one in ten a serious one (a regulator, the media, a court: P1)."""
        serious = [c for c in self._questions.complaints if any(w in c for w in SERIOUS_WORDS)]
        usual = [c for c in self._questions.complaints if c not in serious] or serious
        return self._rng.choice(serious if serious and self._rng.random() < 0.1 else usual)

    def _answer_delay(self) -> float | None:
        """Seconds until the agent answers, as a team on a normal day: most within 20-60, some
        quicker, a few slow (60-180), very few never (None)."""
        roll = self._rng.random()
        if roll < 0.15:
            return self._rng.uniform(5, 20)
        if roll < 0.85:
            return self._rng.uniform(20, 60)
        if roll < 0.98:
            return self._rng.uniform(60, 180)
        return None

    def _chat(self, shop: Shop, buyer: str, start: float, texts: Sequence[str]) -> list[PlannedPush]:
        """A burst of buyer messages, seconds apart, then maybe the assigned agent's answer."""
        agent = self._rng.choice(shop.agents)
        base = PlannedPush(offset_s=start, platform=shop.platform, shop=shop.app_key, buyer=buyer, kind="buyer_message")
        pushes, at = [], start
        for i, text in enumerate(texts):
            at += self._rng.uniform(1, 4) if i else 0.0
            # Before the platform routes a new buyer to an agent, the message names none.
            routed = "" if i == 0 and self._rng.random() < 0.3 else agent
            wording = vary(text, self._rng, order_number=self._order_number(shop.platform))
            pushes.append(replace(base, offset_s=at, text=wording, agent_account=routed))
        delay = self._answer_delay()
        if delay is not None:
            at += delay
            pushes.append(replace(base, offset_s=at, kind="agent_message", agent_account=agent,
                                  text=self._answer(texts[-1])))
            if self._rng.random() < 0.3:
                at += self._rng.uniform(5, 30)
                follow_up = self._rng.choice(BUYER_FOLLOW_UPS)
                pushes.append(replace(base, offset_s=at, agent_account=agent, text=follow_up))
                # A thanks needs no answer; anything else gets a short closing word from the agent.
                if follow_up not in BUYER_THANKS:
                    at += self._rng.uniform(10, 40)
                    pushes.append(replace(base, offset_s=at, kind="agent_message", agent_account=agent,
                                          text=self._rng.choice(AGENT_CLOSINGS)))
        return pushes

    def _answer(self, question: str) -> str:
        """Agents send the scripted reply as is (half the time), shortened with a word of their own,
        or something of their own: what `csbot kb stats` learns from."""
        scripted = self._questions.answers.get(question)
        roll = self._rng.random()
        if scripted and roll < 0.5:
            return scripted
        if scripted and roll < 0.7:
            return scripted[: max(8, len(scripted) * 2 // 3)] + "，有问题随时找我哦"
        return self._rng.choice(AGENT_REPLIES)

    def _order(self, shop: Shop, buyer: str, start: float) -> list[PlannedPush]:
        """An order, then paid (60%), cancelled by the buyer (15%), or left unpaid until it times out."""
        title, price_fen = self._rng.choice(PRODUCTS)
        created = PlannedPush(
            offset_s=start, platform=shop.platform, shop=shop.app_key, buyer=buyer, kind="order_created",
            order_id=self._order_number(shop.platform), title=title,
            amount_fen=price_fen * self._rng.choice((1, 1, 1, 2, 3)),
        )
        roll = self._rng.random()
        if roll < 0.6:
            then = replace(created, offset_s=start + self._rng.uniform(5, 120), kind="order_paid")
        elif roll < 0.75:
            then = replace(created, offset_s=start + self._rng.uniform(30, 300), kind="order_closed",
                           close_reason=self._rng.choice(CANCEL_REASONS))
        else:
            timeout_s = CLOSES_AFTER[shop.platform].total_seconds()
            then = replace(created, offset_s=start + timeout_s, kind="order_closed",
                           close_reason=TIMEOUT_REASON[shop.platform])
        return [created, then]

    def _order_number(self, platform: str) -> str:
        """Taobao tids are 16 digits ("3856120000001234"), JD order ids 14 ("28765000012345")."""
        n = next(self._order_numbers)
        if platform == "dongdong":
            return f"28765{self._run:04d}{n % 100_000:05d}"
        return f"385612{self._run:04d}{n % 1_000_000:06d}"


def _with_faults(pushes: Iterator[PlannedPush], faults: dict[str, float], rng: random.Random) -> Iterator[PlannedPush]:
    """Draw each push's faults. A window of the next few seconds lets an out-of-order push be held
    until after the buyer's next push, when that one comes within the hold."""
    window: deque[PlannedPush] = deque()
    for push in pushes:
        window.append(push)
        while window[-1].offset_s - window[0].offset_s > MAX_HOLD_S:
            first = window.popleft()
            yield _draw_faults(first, window, faults, rng)
    while window:  # a finite stream: the rest
        first = window.popleft()
        yield _draw_faults(first, window, faults, rng)


def _draw_faults(push: PlannedPush, later: Iterable[PlannedPush], faults: Mapping[str, float],
                 rng: random.Random) -> PlannedPush:
    # One draw per fault name, whatever the probabilities: the stream stays aligned across settings.
    drawn = frozenset(name for name in FAULTS if rng.random() < faults.get(name, 0.0))
    hold = rng.uniform(1.0, MAX_HOLD_S)
    if "out_of_order" not in drawn:
        return replace(push, faults=drawn)
    gap = next((p.offset_s - push.offset_s for p in later if (p.platform, p.buyer) == (push.platform, push.buyer)), None)
    if gap is not None and gap + 0.25 < MAX_HOLD_S:
        hold = max(hold, gap + 0.25)  # land after the buyer's next push
    return replace(push, faults=drawn, hold_s=hold)


def event_of(push: PlannedPush, at: datetime) -> Event:
    """The bot's event for a planned push generated at `at` (its event time)."""
    common = dict(platform=push.platform, shop=push.shop, buyer=push.buyer, push_id=push.push_id, at=at)
    if push.kind == "buyer_message":
        return BuyerMessage(**common, text=push.text, agent_account=push.agent_account)
    if push.kind == "agent_message":
        return AgentMessage(**common, text=push.text, agent_account=push.agent_account)
    if push.kind == "order_created":
        return OrderCreated(**common, order_id=push.order_id, title=push.title, amount_fen=push.amount_fen,
                            created_at=at, closes_at=at + CLOSES_AFTER[push.platform])
    if push.kind == "order_paid":
        return OrderPaid(**common, order_id=push.order_id, paid_at=at, amount_fen=push.amount_fen)
    if push.kind == "order_closed":
        return OrderClosed(**common, order_id=push.order_id, reason=push.close_reason)
    raise ValueError(f"unknown push kind {push.kind!r}")


# --- the report --------------------------------------------------------------------------------


@dataclass
class Counts:
    """What happened to the pushes of one platform. Every copy ends in exactly one of
    delivered, duplicates, rejected, failed, or is still in flight; a held push isn't a copy yet."""

    pushes: int = 0  # generated
    copies: int = 0  # deliveries started: a duplicated push is delivered twice
    delivered: int = 0  # 200 ok
    duplicates: int = 0  # 200 duplicate
    rejected: Counter[int] = field(default_factory=Counter)  # by status: 400, 401, 413 ...
    failed: int = 0  # no 200 or 4xx after every retry
    in_flight: int = 0  # copies started and not finished (after a cancel: unfinished)
    held: int = 0  # out-of-order pushes waiting to be sent (after a cancel: never sent)
    retried: int = 0  # retry attempts
    unexpected: int = 0  # answers other than the fault called for
    faults: Counter[str] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Report:
    """Counts per platform, and which pushes the bot answered 200 or refused (for tests)."""

    platforms: dict[str, Counts] = field(default_factory=dict)
    accepted: set[tuple[str, str]] = field(default_factory=set)  # (platform, push_id) answered 200
    refused: set[tuple[str, str]] = field(default_factory=set)  # (platform, push_id) answered 4xx

    def of(self, platform: str) -> Counts:
        return self.platforms.setdefault(platform, Counts())

    def total(self) -> Counts:
        total = Counts()
        for counts in self.platforms.values():
            total.add(counts)
        return total

    def format(self) -> str:
        known = list(PLATFORMS)
        platforms = sorted(self.platforms, key=lambda p: (known.index(p) if p in known else len(known), p))
        columns = [*platforms, "total"]
        counts = [*(self.platforms[p] for p in platforms), self.total()]
        statuses = sorted(set().union(*(c.rejected for c in counts)))
        rows: list[tuple[str, list[int]]] = [
            ("pushes", [c.pushes for c in counts]),
            ("copies sent", [c.copies for c in counts]),
            ("delivered (200 ok)", [c.delivered for c in counts]),
            ("duplicates (200 duplicate)", [c.duplicates for c in counts]),
            *((f"rejected {s}", [c.rejected[s] for c in counts]) for s in statuses),
            ("failed (gave up)", [c.failed for c in counts]),
            ("retried (attempts)", [c.retried for c in counts]),
            ("unfinished (cancelled)", [c.in_flight + c.held for c in counts]),
            ("unexpected answers", [c.unexpected for c in counts]),
            *((f"fault {name}", [c.faults[name] for c in counts]) for name in FAULTS),
        ]
        width = max(len(label) for label, _ in rows)
        lines = ["traffic report".ljust(width) + "".join(f"{c:>10}" for c in columns)]
        lines += [label.ljust(width) + "".join(f"{n:>10}" for n in values) for label, values in rows]
        return "\n".join(lines)


# --- delivery: real time, real HTTP ------------------------------------------------------------


class Deliverer:
    """Delivers one planned push to the bot as gateway.md's gateway does, and counts the outcome.

    No answer within `answer_timeout_s`, or a 5xx, is retried after each of `retry_delays_s`,
    with the same form re-signed at a fresh timestamp (the sender's clock at sending).
    """

    def __init__(
        self, http: aiohttp.ClientSession, *, bot_url: str, shops: Mapping[str, Shop], clock: Clock,
        report: Report, retry_delays_s: Sequence[float] = RETRY_DELAYS_S, answer_timeout_s: float = ANSWER_TIMEOUT_S,
    ) -> None:
        self._http = http
        self._bot_url = bot_url.rstrip("/")
        self._shops = shops
        self._clock = clock
        self._report = report
        self._retry_delays_s = tuple(retry_delays_s)
        self._timeout = aiohttp.ClientTimeout(total=answer_timeout_s)

    async def deliver(self, push: PlannedPush, event: Event) -> None:
        copies = 2 if "duplicate" in push.faults else 1
        for copy in range(copies):
            await self._deliver_copy(push, event, copy=copy)

    async def _deliver_copy(self, push: PlannedPush, event: Event, *, copy: int) -> None:
        counts = self._report.of(push.platform)
        counts.copies += 1
        counts.in_flight += 1  # until an outcome is counted; a cancel leaves it there, as unfinished
        # What the bot should say to a good push: "ok" the first time, "duplicate" once it may have stored it.
        expected = {"duplicate"} if copy else {"ok"}
        for attempt, delay in enumerate((0.0, *self._retry_delays_s)):
            if attempt:
                counts.retried += 1
                await asyncio.sleep(delay)
            answer = await self._post(push, event)
            if answer is None or answer[0] >= 500:
                expected.add("duplicate")  # the bot may have committed it and failed to answer
                continue
            counts.in_flight -= 1
            self._record(push, counts, answer, expected=expected)
            return
        counts.in_flight -= 1
        counts.failed += 1
        log.warning("push failed platform=%s push_id=%s attempts=%d", push.platform, push.push_id,
                    len(self._retry_delays_s) + 1)

    async def _post(self, push: PlannedPush, event: Event) -> tuple[int, str] | None:
        """The bot's (status, msg), or None when it gave no answer in time."""
        body = urlencode(self._form(push, event)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        try:
            async with self._http.post(f"{self._bot_url}/webhooks/{push.platform}", data=body, headers=headers,
                                       timeout=self._timeout) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as e:
            log.debug("no answer platform=%s push_id=%s error=%r", push.platform, push.push_id, e)
            return None
        try:
            msg = str(json.loads(text).get("msg", ""))
        except (ValueError, AttributeError):
            msg = text[:80]
        return resp.status, msg

    def _form(self, push: PlannedPush, event: Event) -> dict[str, str]:
        shop = self._shops[push.platform]
        secret = "not-" + shop.app_secret if "bad_sign" in push.faults else shop.app_secret
        now = self._clock.now() - (STALE_BY if "stale" in push.faults else timedelta(0))
        return PLATFORMS[push.platform].push_form(event, app_key=shop.app_key, secret=secret, now=now,
                                                  seller_nick=shop.seller_nick)

    def _record(self, push: PlannedPush, counts: Counts, answer: tuple[int, str], *, expected: set[str]) -> None:
        status, msg = answer
        key = (push.platform, push.push_id)
        if status == 200:
            self._report.accepted.add(key)
            if msg == "duplicate":
                counts.duplicates += 1
            else:
                counts.delivered += 1
        else:
            self._report.refused.add(key)
            counts.rejected[status] += 1
        as_expected = status == 401 if push.faults & REJECTING_FAULTS else status == 200 and msg in expected
        if not as_expected:
            counts.unexpected += 1
            log.warning("unexpected answer platform=%s push_id=%s faults=%s status=%d msg=%s",
                        push.platform, push.push_id, ",".join(sorted(push.faults)) or "-", status, msg)


async def drive(
    pushes: Iterable[PlannedPush], *, shops: Sequence[Shop], bot_url: str, duration_s: float,
    clock: Clock | None = None, report: Report | None = None, retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    answer_timeout_s: float = ANSWER_TIMEOUT_S,
) -> Report:
    """Play `pushes` in real time against the bot at `bot_url`; returns the report when done.

    Stops generating at `duration_s` (0: never; cancel it), then releases the held-back pushes and
    waits for every delivery, retries included. Pass your own `report` to read it after a cancel.
    """
    clock = clock or SystemClock()
    report = report if report is not None else Report()
    release = asyncio.Event()  # set at the end: held-back pushes go at once
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession() as http:
        deliverer = Deliverer(http, bot_url=bot_url, shops={s.platform: s for s in shops}, clock=clock,
                              report=report, retry_delays_s=retry_delays_s, answer_timeout_s=answer_timeout_s)
        try:
            await _generate(pushes, deliverer, report, clock=clock, duration_s=duration_s, release=release, tasks=tasks)
            release.set()
            while tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return report


async def _generate(
    pushes: Iterable[PlannedPush], deliverer: Deliverer, report: Report, *, clock: Clock, duration_s: float,
    release: asyncio.Event, tasks: set[asyncio.Task[None]],
) -> None:
    started = time.monotonic()
    for push in pushes:
        if duration_s and push.offset_s >= duration_s:
            return
        await asyncio.sleep(max(0.0, started + push.offset_s - time.monotonic()))
        event = event_of(push, clock.now())  # event time: the moment the push is generated
        counts = report.of(push.platform)
        counts.pushes += 1
        counts.faults.update(push.faults)
        task = asyncio.create_task(_deliver_after_hold(deliverer, push, event, release, counts))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def _deliver_after_hold(
    deliverer: Deliverer, push: PlannedPush, event: Event, release: asyncio.Event, counts: Counts,
) -> None:
    if push.hold_s:
        counts.held += 1  # a cancel leaves it counted: never sent
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(push.hold_s):  # not wait_for: see bot/rounds.py
                await release.wait()
        counts.held -= 1
    await deliverer.deliver(push, event)
