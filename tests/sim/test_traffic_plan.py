"""The traffic plan, pure and seeded: determinism, rate, faults, buyers, agents, orders, wording."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest

from bot.gateway import PLATFORMS
from bot.sim import traffic
from bot.sim.traffic import (
    AGENT_REPLIES, Counts, PlannedPush, Questions, Report, Shop, event_of, load_questions, plan, shops_from_config,
)
from tests.conftest import ROOT, START, make_config

SHOPS = shops_from_config(make_config("sqlite:///unused.db"))
QUESTIONS = Questions(asks=("这款还有货吗", "什么时候发货", "包邮吗", "尺码偏大吗"), complaints=("我要投诉", "差评"))
FAULTS = {"bad_sign": 0.05, "stale": 0.02, "duplicate": 0.1, "out_of_order": 0.1}


def take(n: int, **options) -> list[PlannedPush]:
    options = {"seed": 1, "rate": 10.0, "questions": QUESTIONS, **options}
    return list(itertools.islice(plan(SHOPS, **options), n))


def test_the_same_seed_gives_the_same_plan():
    assert take(500, seed=7, faults=FAULTS) == take(500, seed=7, faults=FAULTS)


def test_another_seed_gives_another_plan():
    assert take(200, seed=7) != take(200, seed=8)


def test_faults_leave_the_traffic_itself_unchanged():
    plain, faulty = take(500), take(500, faults=FAULTS)
    strip = [(p.offset_s, p.buyer, p.kind, p.text, p.push_id) for p in plain]
    assert strip == [(p.offset_s, p.buyer, p.kind, p.text, p.push_id) for p in faulty]
    assert all(not p.faults and not p.hold_s for p in plain)


def test_pushes_come_in_time_order_at_the_requested_rate():
    pushes = take(4000, rate=20.0)
    offsets = [p.offset_s for p in pushes]
    assert offsets == sorted(offsets)
    assert len(pushes) / offsets[-1] == pytest.approx(20.0, rel=0.1)


def test_fault_counts_follow_their_probabilities():
    n = 5000
    pushes = take(n, faults=FAULTS)
    for name, p in FAULTS.items():
        count = sum(name in push.faults for push in pushes)
        sigma = (n * p * (1 - p)) ** 0.5
        assert abs(count - n * p) < 4 * sigma, (name, count)


def test_a_fault_at_probability_one_hits_every_push_and_zero_none():
    pushes = take(300, faults={"duplicate": 1.0, "stale": 0.0})
    assert all(p.faults == {"duplicate"} for p in pushes)


def test_out_of_order_pushes_are_held_1_to_5_s_and_past_the_buyers_next_push():
    pushes = take(3000, faults={"out_of_order": 0.3})
    held = [(i, p) for i, p in enumerate(pushes) if "out_of_order" in p.faults]
    assert held and all(1.0 <= p.hold_s <= traffic.MAX_HOLD_S for _, p in held)
    assert all(p.hold_s == 0 for p in pushes if "out_of_order" not in p.faults)
    overtaken = 0
    for i, p in held:
        following = next((q for q in pushes[i + 1:] if (q.platform, q.buyer) == (p.platform, p.buyer)), None)
        if following and following.offset_s - p.offset_s < traffic.MAX_HOLD_S - 0.25:
            assert p.offset_s + p.hold_s > following.offset_s
            overtaken += 1
    assert overtaken > 0


def test_ids_are_unique_and_carry_the_run_number():
    pushes = take(2000, run=42)
    assert len({p.push_id for p in pushes}) == len(pushes)
    assert all(p.push_id.startswith("sim0042-") for p in pushes)
    orders = [p for p in pushes if p.kind == "order_created"]
    assert len({(p.platform, p.order_id) for p in orders}) == len(orders)
    for p in orders:
        assert p.order_id.isdigit() and len(p.order_id) == (16 if p.platform == "wangwang" else 14)


def test_every_kind_of_push_occurs_on_both_platforms():
    pushes = take(3000)
    kinds = {(p.platform, p.kind) for p in pushes}
    for platform in ("wangwang", "dongdong"):
        for kind in ("buyer_message", "agent_message", "order_created", "order_paid", "order_closed"):
            assert (platform, kind) in kinds


def test_buyers_look_like_their_platforms_nicks():
    pushes = take(1000)
    assert all(p.buyer.startswith("tb_") for p in pushes if p.platform == "wangwang")
    assert all(p.buyer.startswith("jd_") and len(p.buyer) == 9 for p in pushes if p.platform == "dongdong")


def test_agents_answer_their_own_buyers_and_come_from_the_shop():
    pushes = take(3000)
    agents = {s.platform: set(s.agents) for s in SHOPS}
    assigned: dict[tuple[str, str], str] = {}
    for p in pushes:
        if p.kind == "buyer_message":
            assert p.agent_account in agents[p.platform] | {""}
            if p.agent_account:
                assigned[(p.platform, p.buyer)] = p.agent_account
        elif p.kind == "agent_message":
            assert p.agent_account in agents[p.platform]
            # An agent answers a buyer who wrote before (the first message may name no agent yet).
            assert (p.platform, p.buyer) in assigned or any(
                q.kind == "buyer_message" and q.buyer == p.buyer for q in pushes if q.offset_s < p.offset_s)


def test_payments_and_closes_follow_their_order():
    pushes = take(3000)
    created = {(p.platform, p.order_id): p.offset_s for p in pushes if p.kind == "order_created"}
    later = [p for p in pushes if p.kind in ("order_paid", "order_closed")]
    assert later
    for p in later:
        assert created[(p.platform, p.order_id)] < p.offset_s


def test_buyers_ask_the_knowledge_base_and_complain_and_chat():
    texts = " ".join(p.text for p in take(3000) if p.kind == "buyer_message")
    assert "包邮吗" in texts and "我要投诉" in texts
    assert any(chat in texts for chat in QUESTIONS.chit_chat)


def test_the_shops_come_from_the_config_without_the_platform_prefix():
    assert {s.platform: s.agents for s in SHOPS} == {
        "wangwang": ("小店:小美", "小店:阿强"), "dongdong": ("jd_xiaomei", "jd_aqiang"),
    }
    assert {s.platform: s.app_key for s in SHOPS} == {"wangwang": "demo-tb", "dongdong": "demo-jd"}


def test_orders_close_after_30_minutes_on_wangwang_and_24_hours_on_dongdong():
    for platform, after in (("wangwang", timedelta(minutes=30)), ("dongdong", timedelta(hours=24))):
        push = PlannedPush(0.0, platform, "shop", "b", "order_created", push_id="p", order_id="1", amount_fen=100)
        event = event_of(push, START)
        assert (event.at, event.created_at, event.closes_at) == (START, START, START + after)


def test_every_planned_push_makes_a_form_its_adapter_accepts():
    secrets = {s.platform: s.app_secret for s in SHOPS}
    for push in take(1500, faults=FAULTS):
        adapter = PLATFORMS[push.platform]
        form = adapter.push_form(event_of(push, START), app_key=push.shop, secret=secrets[push.platform], now=START)
        adapter.verify(form, secrets[push.platform], now=START)
        parsed = adapter.parse_push(form)
        assert (parsed.push_id, parsed.event.buyer) == (push.push_id, push.buyer)


def test_wording_varies_with_filler_traditional_characters_and_order_numbers():
    variants = {traffic.vary("这款还有货吗", random.Random(i), order_number="3856120000001234") for i in range(300)}
    assert "这款还有货吗" in variants
    assert any("還" in v or "貨" in v for v in variants)
    assert any("订单号3856120000001234" in v for v in variants)
    assert any(v.startswith(traffic.OPENERS) for v in variants)
    assert all("款" in v and "有" in v for v in variants)  # the question itself stays


def test_questions_skip_templates_and_set_complaints_apart(tmp_path):
    (tmp_path / "intents").mkdir()
    (tmp_path / "intents" / "a.toml").write_text(
        '[[intent]]\nid = "presale.stock"\nquestions = ["有货吗", "还有吗"]\n'
        '[[intent]]\nid = "reminder.unpaid"\ntemplate = true\nquestions = ["模板"]\n'
        '[[intent]]\nid = "complaint.service"\nquestions = ["我要投诉"]\n', encoding="utf-8")
    q = load_questions(tmp_path)
    assert (q.asks, q.complaints) == (("有货吗", "还有吗"), ("我要投诉",))


def test_an_empty_knowledge_base_falls_back_to_built_in_questions(tmp_path):
    q = load_questions(tmp_path)
    assert (q.asks, q.complaints) == (traffic.FALLBACK_ASKS, traffic.FALLBACK_COMPLAINTS)


def test_the_project_knowledge_base_has_questions_and_complaints():
    q = load_questions(ROOT / "knowledge")
    assert len(q.asks) > 20 and q.complaints != traffic.FALLBACK_COMPLAINTS


def test_the_report_totals_the_platforms():
    report = Report()
    report.of("wangwang").delivered = 3
    report.of("wangwang").rejected[401] = 1
    report.of("dongdong").delivered = 2
    report.of("dongdong").faults["stale"] = 1
    total = report.total()
    assert (total.delivered, total.rejected[401], total.faults["stale"]) == (5, 1, 1)
    text = report.format()
    assert text.splitlines()[0].split() == ["traffic", "report", "wangwang", "dongdong", "total"]
    assert "delivered (200 ok)" in text and "rejected 401" in text
    assert Counts().in_flight == 0


def test_simulated_agents_often_send_the_scripted_reply_as_is_or_edited():
    questions = Questions(asks=("包邮吗",), complaints=("我要投诉",), answers={"包邮吗": "亲，全国大部分地区包邮哦～偏远地区除外"})
    shops = [Shop("wangwang", "demo-tb", "s", "小店", ("小店:小美",))]
    answers = [p.text for p in itertools.islice(plan(shops, seed=3, rate=50, questions=questions), 3000)
               if p.kind == "agent_message" and p.text != "" and p.buyer]
    scripted = "亲，全国大部分地区包邮哦～偏远地区除外"
    assert answers.count(scripted) > 0
    assert any(a.endswith("有问题随时找我哦") and a.startswith(scripted[:8]) for a in answers)
    assert any(a in AGENT_REPLIES for a in answers)


def test_a_normal_day_most_answers_within_a_minute_few_complaints_few_left_waiting():
    """An hour of the demo shop at 2 pushes/s: agents answer like a team on a normal day."""
    questions = load_questions(ROOT / "knowledge")
    pushes = list(itertools.takewhile(lambda p: p.offset_s < 3600,
                                      plan(SHOPS, seed=1, rate=2.0, questions=questions)))
    waiting_since: dict[tuple[str, str], float] = {}
    delays, buyers, complaints, sessions = [], set(), 0, 0
    for p in pushes:
        key = (p.platform, p.buyer)
        if p.kind == "buyer_message":
            buyers.add(key)
            complaints += p.text in questions.complaints
            if p.text in traffic.BUYER_THANKS:
                continue  # closes the chat: no answer expected (the board lists it apart, 已致谢)
            if key not in waiting_since:
                sessions += 1
            waiting_since.setdefault(key, p.offset_s)
        elif p.kind == "agent_message" and key in waiting_since:
            delays.append(p.offset_s - waiting_since.pop(key))
    within = sum(1 for d in delays if 20 <= d <= 60) / len(delays)
    slow = sum(1 for d in delays if d > 180) / len(delays)
    assert within > 0.6, within
    assert slow < 0.05, slow
    assert complaints / sessions < 0.05, (complaints, sessions)
    # Left waiting after the hour (leaving out the last 5 minutes, and thanks that need no answer).
    left = [k for k, since in waiting_since.items() if since < 3300]
    assert len(left) / len(buyers) < 0.05, (len(left), len(buyers))
