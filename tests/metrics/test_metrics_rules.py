"""The definitions of metrics.md on scripted conversations, with hand-computed expectations (pure)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.clock import PLATFORM_TZ
from bot.conversation import AGENT, BOT, BUYER, Line
from bot.metrics.report import BuyerActivity, OrderFact, Rules, buyer_figures, period_report
from bot.metrics.response import EFFECTIVE, LATE, PENDING, all_responses, effective_reply, percentile, responses

T = datetime(2026, 11, 24, 10, 0, tzinfo=PLATFORM_TZ)
RULES = Rules(accounts={("wangwang", "小店:小美"): "xiaomei", ("wangwang", "小店:阿强"): "aqiang"})
DAY_START, DAY_END = RULES.day_bounds(T.date(), T.date())
MEI, QIANG = "小店:小美", "小店:阿强"


def s(n: float) -> timedelta:
    return timedelta(seconds=n)


def buyer(at, agent=""):
    return Line(BUYER, at, agent)


def agent(at, account=MEI):
    return Line(AGENT, at, account)


def bot(at):
    return Line(BOT, at, "")


def report(*activities, now=T + timedelta(hours=3), start=DAY_START, end=DAY_END):
    return {(r["agent"], r["platform"]): r for r in period_report(activities, start=start, end=end, now=now, rules=RULES).agents()}


def act(*lines, buyer_nick="b1", orders=()):
    return BuyerActivity("wangwang", "demo-tb", buyer_nick, tuple(sorted(lines, key=lambda l: l.sent_at)), tuple(orders))


def test_a_burst_of_buyer_messages_waits_from_the_first():
    lines = [buyer(T), buyer(T + s(10)), buyer(T + s(25)), agent(T + s(40)), buyer(T + s(60)), agent(T + s(150))]
    assert [(r.response_s, r.first) for r in responses(lines)] == [(40.0, True), (90.0, False)]


def test_an_agent_follow_up_without_a_buyer_message_is_no_response():
    lines = [buyer(T), agent(T + s(20)), agent(T + s(30))]
    assert [r.response_s for r in responses(lines)] == [20.0]


def test_a_bot_auto_reply_does_not_stop_the_wait():
    lines = [buyer(T), bot(T + s(2)), buyer(T + s(30)), agent(T + s(75))]
    assert [r.response_s for r in responses(lines)] == [75.0]
    # and an unanswered buyer with only a bot reply got no response at all
    assert responses([buyer(T), bot(T + s(1))]) == []


def test_the_thirty_minute_gap_makes_a_new_conversation_with_its_own_first_response():
    lines = [buyer(T), agent(T + s(30)), buyer(T + timedelta(minutes=31)), agent(T + timedelta(minutes=31, seconds=50))]
    found = all_responses(lines, gap=timedelta(minutes=30))
    assert [(r.response_s, r.first) for r in found] == [(30.0, True), (50.0, True)]
    # a buyer message 29 minutes later is the same conversation: not a first response
    lines[2] = buyer(T + timedelta(minutes=29))
    lines[3] = agent(T + timedelta(minutes=29, seconds=50))
    assert [r.first for r in all_responses(lines, gap=timedelta(minutes=30))] == [True, False]


def test_a_wait_across_midnight_counts_on_the_day_of_its_answer():
    late = datetime(2026, 11, 24, 23, 59, 30, tzinfo=PLATFORM_TZ)
    a = act(buyer(late), agent(late + s(45)))
    nov24 = RULES.day_bounds(late.date(), late.date())
    nov25 = RULES.day_bounds(late.date() + timedelta(days=1), late.date() + timedelta(days=1))
    now = late + timedelta(hours=2)
    on_24 = report(a, start=nov24[0], end=nov24[1], now=now)
    on_25 = report(a, start=nov25[0], end=nov25[1], now=now)
    # the 24th: the buyer consulted (routed nowhere, answered on the 25th), no response that day
    assert on_24 == {}
    assert on_25[("xiaomei", "wangwang")]["responses"] == 1
    assert on_25[("xiaomei", "wangwang")]["avg_response_s"] == 45.0
    # the buyer wrote on the 24th only, but xiaomei answered on the 25th: a consulting buyer of hers then
    assert on_25[("xiaomei", "wangwang")]["consulting_buyers"] == 1


def test_per_agent_average_median_p90_and_thirty_second_rate():
    b1 = act(buyer(T, MEI), agent(T + s(10)), buyer(T + s(100)), agent(T + s(120)))  # 10, 20
    b2 = act(buyer(T, MEI), agent(T + s(40)), buyer_nick="b2")  # 40
    b3 = act(buyer(T, MEI), agent(T + s(130)), buyer_nick="b3")  # 130
    r = report(b1, b2, b3)[("xiaomei", "wangwang")]
    assert r["responses"] == 4
    assert r["avg_response_s"] == 50.0  # (10+20+40+130)/4
    assert r["p50_response_s"] == 30.0  # between 20 and 40
    assert r["p90_response_s"] == 103.0  # 40 + 0.7*(130-40)
    assert r["first_response_avg_s"] == 60.0  # (10+40+130)/3
    assert r["within_30s_rate"] == 0.5  # 10 and 20 of four
    assert (r["consulting_buyers"], r["replied_buyers"], r["reply_rate"]) == (3, 3, 1.0)


def test_an_agent_answering_a_buyer_routed_to_another_agent():
    a = act(buyer(T, MEI), buyer(T + s(5), MEI), agent(T + s(50), QIANG))
    r = report(a)
    mei, qiang = r[("xiaomei", "wangwang")], r[("aqiang", "wangwang")]
    # both count the buyer as consulting; the response (and the reply) is aqiang's
    assert (mei["consulting_buyers"], mei["replied_buyers"], mei["responses"], mei["reply_rate"]) == (1, 0, 0, 0.0)
    assert (qiang["consulting_buyers"], qiang["replied_buyers"], qiang["responses"]) == (1, 1, 1)
    assert qiang["avg_response_s"] == 50.0


def test_an_unanswered_buyer_lowers_the_reply_rate():
    r = report(act(buyer(T, MEI), agent(T + s(10))), act(buyer(T, MEI), buyer_nick="b2"))[("xiaomei", "wangwang")]
    assert (r["consulting_buyers"], r["replied_buyers"], r["reply_rate"]) == (2, 1, 0.5)


WINDOW = (time(8), time(23))
HOUR = timedelta(hours=1)


def at(h, m, sec=0):
    return datetime(2026, 11, 24, h, m, sec, tzinfo=PLATFORM_TZ)


def test_effective_reply_window_edges():
    now = at(23, 59)
    day = at(0, 0).date()
    # 07:59 and 23:01 are outside the window: a buyer writing only then is not counted at all
    assert effective_reply([buyer(at(7, 59))], zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=now) == {}
    assert effective_reply([buyer(at(23, 1))], zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=at(23, 2)) == {}
    # 08:00 is inside; answered at 09:00 exactly is within the hour
    assert effective_reply([buyer(at(8, 0)), agent(at(9, 0))], zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=now) == {day: EFFECTIVE}
    # answered after 61 minutes: late
    assert effective_reply([buyer(at(8, 0)), agent(at(9, 1))], zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=now) == {day: LATE}
    # 22:59 answered at 23:30: effective, although the answer is outside the window
    assert effective_reply([buyer(at(22, 59)), agent(at(23, 30))], zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=now) == {day: EFFECTIVE}
    # every message must be answered: a second one left unanswered past its hour makes the day late
    lines = [buyer(at(10, 0)), agent(at(10, 1)), buyer(at(12, 0))]
    assert effective_reply(lines, zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=at(13, 0)) == {day: LATE}
    assert effective_reply(lines, zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=at(12, 30)) == {day: PENDING}
    # a bot's reply is no answer
    assert effective_reply([buyer(at(10, 0)), bot(at(10, 0, 1))], zone=PLATFORM_TZ, window=WINDOW, within=HOUR, now=now) == {day: LATE}


def test_the_shop_is_flagged_with_100_buyers_and_a_rate_under_half():
    def buyers(n_ok, n_late):
        made = [act(buyer(at(10, 0)), agent(at(10, 5)), buyer_nick=f"ok{i}") for i in range(n_ok)]
        made += [act(buyer(at(10, 0)), buyer_nick=f"late{i}") for i in range(n_late)]
        return made

    def flag(acts):
        [row] = period_report(acts, start=DAY_START, end=DAY_END, now=at(23, 59), rules=RULES).effective_days()
        return row["buyers"], row["rate"], row["flagged"]

    assert flag(buyers(49, 51)) == (100, 0.49, True)
    assert flag(buyers(50, 50)) == (100, 0.5, False)
    assert flag(buyers(10, 89)) == (99, round(10 / 99, 4), False)  # fewer than 100 buyers: never flagged


def order(created, paid, fen=9900, oid="o1"):
    return OrderFact(oid, created, paid, fen)


def test_conversion_within_and_outside_24_hours():
    base = [buyer(T, MEI), agent(T + s(20))]
    inside = act(*base, orders=[order(T + timedelta(hours=23), T + timedelta(hours=23, minutes=5))])
    r = report(inside)[("xiaomei", "wangwang")]
    assert (r["converted_buyers"], r["conversion_rate"], r["sales_fen"], r["sales"], r["avg_order_value"]) == (1, 1.0, 9900, 99.0, 99.0)
    outside = act(*base, orders=[order(T + timedelta(hours=24, seconds=1), T + timedelta(hours=25))])
    r = report(outside)[("xiaomei", "wangwang")]
    assert (r["converted_buyers"], r["conversion_rate"], r["sales_fen"], r["avg_order_value"]) == (0, 0.0, 0, None)
    unpaid = act(*base, orders=[order(T + timedelta(hours=1), None)])
    assert report(unpaid)[("xiaomei", "wangwang")]["converted_buyers"] == 0


def test_a_paid_order_counts_for_the_agent_who_last_responded_before_it_was_created():
    lines = [buyer(T, MEI), agent(T + s(20), MEI), buyer(T + s(60)), agent(T + s(90), QIANG),
             buyer(T + timedelta(hours=2)), agent(T + timedelta(hours=2, seconds=10), MEI)]
    a = act(*lines, orders=[order(T + timedelta(hours=1), T + timedelta(hours=1, minutes=1), 5000, "o1"),
                            order(T + timedelta(hours=3), T + timedelta(hours=3, minutes=1), 3000, "o2")])
    r = report(a)
    assert r[("aqiang", "wangwang")]["sales_fen"] == 5000
    assert r[("xiaomei", "wangwang")]["sales_fen"] == 3000
    assert r[("xiaomei", "wangwang")]["conversion_rate"] == 1.0


def test_removing_a_contribution_undoes_adding_it():
    from bot.metrics.report import Totals

    acts = [act(buyer(T, MEI), agent(T + s(10 * i + 5)), buyer_nick=f"b{i}") for i in range(5)]
    figures = [buyer_figures(a, start=DAY_START, end=DAY_END, now=T + HOUR, rules=RULES) for a in acts]
    totals = Totals(RULES)
    for f in figures:
        totals.add(f)
    expected = totals.agents()
    totals.add(figures[2])
    totals.remove(figures[2])
    assert totals.agents() == expected
    for f in figures:
        totals.remove(f)
    assert totals.agents() == [] and totals.hours() == []


def test_percentile_interpolates():
    assert percentile([], 0.5) is None
    assert percentile([7], 0.9) == 7.0
    assert percentile([10, 20, 30, 40], 0.5) == 25.0
