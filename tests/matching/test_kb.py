"""The knowledge base loader and `csbot kb lint`: each kind of problem, with its file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.matching.kb import KnowledgeBaseError, fill, load, load_valid
from bot.matching.lint import lint

ROOT = Path(__file__).resolve().parents[2]
# The intents ../shared/spec/intents.md requires of the default knowledge base, with exactly these ids.
REQUIRED = [
    "presale.stock", "presale.size", "presale.authenticity", "presale.spec", "presale.bargain",
    "presale.coupon", "presale.promotion", "presale.gift", "presale.price_protect", "presale.ship_time",
    "presale.courier", "presale.shipping_fee", "presale.delivery_area", "payment.methods", "payment.installment",
    "payment.failed", "order.change_address", "order.cancel", "order.urge_ship", "order.tracking",
    "order.not_received", "order.merge", "aftersale.return", "aftersale.exchange", "aftersale.refund_progress",
    "aftersale.quality", "aftersale.damaged", "aftersale.wrong_item", "aftersale.return_fee", "aftersale.warranty",
    "invoice.request", "service.human", "service.greeting", "service.thanks", "service.hours",
    "member.points", "complaint.service", "complaint.bad_review", "complaint.regulator", "reminder.opt_out",
]

QUESTIONS = ", ".join(f'"问题{i}号怎么弄"' for i in range(12))


def base(tmp_path: Path, *files: str) -> Path:
    folder = tmp_path / "kb"
    (folder / "intents").mkdir(parents=True)
    for n, text in enumerate(files):
        (folder / "intents" / f"f{n}.toml").write_text(text, encoding="utf-8")
    return folder


def intent(id_: str, *, questions: str = QUESTIONS, reply: str = "亲，好的") -> str:
    return f'[[intent]]\nid = "{id_}"\ntitle = "t"\nquestions = [{questions}]\n[[intent.reply]]\ntext = "{reply}"\n'


def test_the_default_knowledge_base_covers_every_required_intent_and_lints_clean():
    assert len(REQUIRED) == 40
    kb = load_valid(ROOT / "knowledge")
    assert set(REQUIRED) <= set(kb.by_id)
    assert lint(ROOT / "knowledge") == []
    for intent_ in kb.matchable:
        assert len(intent_.questions) >= 12, intent_.id
        assert intent_.reply(None).text


def test_a_syntax_error_names_file_and_line(tmp_path):
    folder = base(tmp_path, '[[intent]]\nid = "a.b"\nquestions = [\n  "x",\n  oops\n]\n')
    _, problems = load(folder)
    assert len(problems) == 1
    assert problems[0].file.endswith("f0.toml") and problems[0].line == 5
    assert "not valid TOML" in problems[0].message


def test_a_duplicate_id_points_at_both(tmp_path):
    folder = base(tmp_path, intent("presale.stock"), "\n\n" + intent("presale.stock"))
    with pytest.raises(KnowledgeBaseError) as e:
        load_valid(folder)
    [problem] = e.value.problems
    assert "duplicate intent id 'presale.stock'" in problem.message and "f0.toml:2" in problem.message
    assert problem.file.endswith("f1.toml") and problem.line == 4


def test_a_duplicate_id_in_the_same_file_is_reported_at_the_duplicates_own_line(tmp_path):
    folder = base(tmp_path, intent("presale.stock") + "\n" + intent("presale.other") + "\n" + intent("presale.stock"))
    _, problems = load(folder)
    [problem] = problems
    assert problem.message.startswith("duplicate intent id 'presale.stock' (first at ")
    assert problem.message.endswith("f0.toml:2)")
    assert problem.line == 2 + 2 * 7, problems  # each intent() is 6 lines, plus the blank between


def test_a_duplicate_topic_id_is_reported_at_its_own_line(tmp_path):
    folder = off_topic(base(tmp_path, intent("a.one")),
                       '[[topic]]\nid = "other.bank"\nquestions = ["银行"]\n\n[[topic]]\nid = "other.bank"\n'
                       'questions = ["银行几点"]\n')
    _, problems = load(folder)
    assert [(p.line, p.message) for p in problems] == [(6, "duplicate topic id 'other.bank'")]


@pytest.mark.parametrize("title", ['title = ""', 'title = "   "', ""])
def test_an_empty_or_missing_title_is_an_error(tmp_path, title):
    text = intent("a.b").replace('title = "t"', title)
    _, problems = load(base(tmp_path, text))
    assert [(p.line, p.message) for p in problems] == [(2, "intent a.b: title must not be empty")]


def test_the_minimum_number_of_questions_is_the_one_the_knowledge_readme_states(tmp_path):
    import re as re_
    from bot.matching.kb import MIN_QUESTIONS
    readme = (ROOT / "knowledge" / "README.md").read_text(encoding="utf-8")
    stated = re_.search(r"sample questions, at least (\d+)", readme)
    assert stated and int(stated.group(1)) == MIN_QUESTIONS
    few = ", ".join(f'"问题{i}号怎么弄"' for i in range(MIN_QUESTIONS - 1))
    _, problems = load(base(tmp_path, intent("a.few", questions=few)))
    assert [p.message for p in problems] == [
        f"intent a.few: {MIN_QUESTIONS - 1} sample questions; at least {MIN_QUESTIONS} are needed"]


def test_intents_that_are_not_tables_are_an_error(tmp_path):
    folder = base(tmp_path, '\nintent = ["a.b", "a.c"]\n')
    with pytest.raises(KnowledgeBaseError) as e:
        load_valid(folder)
    assert [(p.line, p.message) for p in e.value.problems] == [(2, "intent must be an array of tables: [[intent]]")]


def test_an_unknown_placeholder_is_an_error(tmp_path):
    folder = base(tmp_path, intent("a.b", reply="亲，{buyer}，您的{coupon_code}"))
    with pytest.raises(KnowledgeBaseError, match=r"unknown placeholders \['coupon_code'\]"):
        load_valid(folder)


def test_an_empty_intent_and_too_few_questions(tmp_path):
    folder = base(tmp_path, '[[intent]]\nid = "a.empty"\n', intent("a.few", questions='"一", "二"'))
    _, problems = load(folder)
    messages = [p.message for p in problems]
    assert "intent a.empty: 0 sample questions; at least 12 are needed" in messages
    assert "intent a.empty: no reply" in messages
    assert "intent a.few: 2 sample questions; at least 12 are needed" in messages


def test_a_question_in_two_intents_is_a_conflict(tmp_path):
    folder = base(tmp_path, intent("a.one"), intent("a.two", questions=QUESTIONS.replace("问题0号", "问题零号")
                                                  .replace('"问题1号怎么弄"', '"問題1號怎麼弄？"')))
    problems = lint(folder)
    assert any("nearly the same" in p.message and "a.one" in p.message for p in problems)
    assert load_valid(folder)  # a conflict is a warning: the base still loads


def test_fill_never_leaves_a_raw_placeholder():
    assert fill("亲，{buyer}，订单{order_id}的{item}还未付款", {"buyer": "小鱼"}) == "亲，小鱼，订单您的订单的您拍下的宝贝还未付款"
    assert "{" not in fill("{amount}元，{close_time}关闭", {})


def test_lint_command_exit_status(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "bot", "kb", "lint", "--config", str(ROOT / "config.example.toml")],
                        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = base(tmp_path, intent("a.b", reply="{nope}"))
    shutil.copy(ROOT / "knowledge" / "synonyms.toml", bad)
    failed = subprocess.run([sys.executable, "-m", "bot", "kb", "lint", "--config", str(ROOT / "config.example.toml"),
                             "--path", str(bad)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert failed.returncode == 1
    assert "f0.toml:2: error: intent a.b: unknown placeholders ['nope']" in failed.stdout


def test_replies_that_break_the_compliance_rules_are_errors_or_warnings(tmp_path):
    """kb lint checks the base's own replies with the guard: a blocking rule is an error (and the
    command exits 1), a warning rule a warning, a clean reply nothing; each names file, line and rule."""
    folder = base(tmp_path, intent("a.clean") + "\n" + intent("a.wechat", reply="亲，加我 微 信 abc123 便宜点")
                  + "\n" + intent("a.promise", reply="亲，百分百正品哦"))
    shutil.copytree(ROOT / "knowledge" / "rules", folder / "rules")
    shutil.copy(ROOT / "knowledge" / "synonyms.toml", folder)
    found = [(p.line, p.severity, p.message) for p in lint(folder) if "breaks rule" in p.message]
    assert found == [
        (9, "error", "intent a.wechat: reply breaks rule contact.wechat (不得引导买家添加微信等站外联系方式) at '微 信'"),
        (16, "warning", "intent a.promise: reply breaks rule promise.absolute "
                        "(绝对化承诺（最、第一、百分百）可能违反广告法，请确认后再发) at '百分百'"),
    ]
    failed = subprocess.run([sys.executable, "-m", "bot", "kb", "lint", "--config", str(ROOT / "config.example.toml"),
                             "--path", str(folder)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert failed.returncode == 1
    assert "f0.toml:9: error: intent a.wechat: reply breaks rule contact.wechat" in failed.stdout


def test_try_command_shows_tokens_and_ranking():
    result = subprocess.run([sys.executable, "-m", "bot", "kb", "try", "這款還有貨嗎", "--config",
                             str(ROOT / "config.example.toml")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "normalized: 这款还有货吗" in result.stdout
    assert "presale.stock" in result.stdout.splitlines()[2]


def off_topic(folder: Path, text: str) -> Path:
    (folder / "off_topic.toml").write_text(text, encoding="utf-8")
    return folder


def test_off_topic_subjects_load_apart_from_the_intents(tmp_path):
    folder = off_topic(base(tmp_path, intent("a.b")), '[[topic]]\nid = "other.bank"\ntitle = "银行"\n'
                                                     'questions = ["银行几点上班", "信用卡分期手续费"]\n')
    kb = load_valid(folder)
    assert [t.id for t in kb.off_topic] == ["other.bank"] and kb.off_topic[0].questions == ("银行几点上班", "信用卡分期手续费")
    assert "other.bank" not in kb.by_id and [i.id for i in kb.intents] == ["a.b"]  # never a reply to send


@pytest.mark.parametrize(("text", "message"), [
    ('[[topic]]\nid = "other.bank"\nquestions = [\n  "x",\n  oops\n]\n', "not valid TOML"),
    ('[[topic]]\nid = "Bank"\nquestions = ["银行几点上班"]\n', "topic id 'Bank' must look like group.name"),
    ('[[topic]]\nid = "other.bank"\nquestions = []\n', "topic other.bank: no example messages"),
    ('[[topic]]\nid = "other.bank"\nquestions = "银行"\n', "topic other.bank: questions must be a list of strings"),
    ('[[topic]]\nid = "other.bank"\nquestions = ["银行"]\n[[topic]]\nid = "other.bank"\nquestions = ["银行"]\n',
     "duplicate topic id 'other.bank'"),
    ('[[topic]]\nid = "a.b"\nquestions = ["银行几点上班"]\n', "off-topic id 'a.b' is already an intent's"),
    ('[[topic]]\nid = "other.bank"\nquestions = ["银行"]\nreply = "x"\n', "topic other.bank: unknown keys ['reply']"),
    ('topic = ["银行几点上班"]\n', "topic must be an array of tables: [[topic]]"),
])
def test_a_bad_off_topic_file_is_rejected_with_its_line(tmp_path, text, message):
    folder = off_topic(base(tmp_path, intent("a.b")), text)
    with pytest.raises(KnowledgeBaseError) as e:
        load_valid(folder)
    assert any(message in p.message and p.file.endswith("off_topic.toml") for p in e.value.problems), e.value.problems


def test_an_off_topic_example_like_an_intents_question_is_a_conflict(tmp_path):
    folder = off_topic(base(tmp_path, intent("a.one")), '[[topic]]\nid = "other.x"\nquestions = ["问题3号怎么弄？"]\n'
                                                         '[[topic]]\nid = "other.y"\nquestions = ["问题3号怎么弄"]\n')
    problems = lint(folder)
    assert sum("nearly the same" in p.message for p in problems) == 2  # each subject against the intent, not each other
    assert all("other.x" in p.message or "other.y" in p.message for p in problems)
