"""`csbot eval` tells the truth: clear errors for bad files and unknown gold ids, n/a where nothing
was counted, every miss with `--misses`, a row per message with `--json`."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from tests.conftest import ROOT

CONFIG = str(ROOT / "config.example.toml")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["eval", "--config", CONFIG, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("content", "error"), [
    (None, "no such file"),
    ("a,b\nx,y\n", "needs a header line with the columns 'text' and 'gold_intent'"),
    ("这款还有货吗\tpresale.stock\n", "needs a header line"),
    ("", "needs a header line"),
    ("text\tgold_intent\n这款还有货吗\n", ":2: a row needs 'text' and 'gold_intent'"),
])
def test_a_missing_or_headerless_file_is_a_clear_error(tmp_path, capsys, content, error):
    path = tmp_path / "set.tsv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"csbot: {path}") and error in err and "Traceback" not in err


def test_an_unknown_gold_intent_is_an_error_naming_the_near_ones(tmp_path, capsys):
    path = tmp_path / "set.tsv"
    path.write_text("text\tgold_intent\n这款还有货吗\tpresale.stok\n在吗\tservice.greeting\n", encoding="utf-8")
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert "'presale.stok' (did you mean presale.stock" in err and "service.greeting" not in err


def test_without_out_of_scope_rows_rejection_is_na_and_misses_are_listed(tmp_path, capsys):
    path = tmp_path / "set.tsv"
    path.write_text("text\tgold_intent\n这款还有货吗\tpresale.stock\n能开发票吗\tpresale.stock\n", encoding="utf-8")
    code, out, err = run(capsys, str(path), "--misses")
    assert code == 0, err
    assert "out-of-scope rejected n/a" in out and "0.000" not in out.split("out-of-scope rejected")[1].split()[0]
    misses = out.split("missed 1 of 2:\n")[1].splitlines()
    assert len(misses) == 1
    text, gold, top = misses[0].split("\t")
    assert (text, gold) == ("能开发票吗", "gold presale.stock")
    assert top.startswith("✓invoice.request ") and top.count(",") == 2  # the top 3, each with a score


def test_an_out_of_scope_message_that_got_a_suggestion_is_a_miss_and_json_has_rows(tmp_path, capsys):
    path = tmp_path / "set.tsv"
    path.write_text("text\tgold_intent\n能开发票吗\tnone\n今天天气真好啊哈哈\tnone\n", encoding="utf-8")
    code, out, _ = run(capsys, str(path), "--json")
    body = json.loads(out)
    assert code == 0 and body["top1"] is None and body["oos_rejected"] == 0.5
    rows = {row["text"]: row for row in body["rows"]}
    assert len(body["rows"]) == 2
    assert rows["能开发票吗"]["missed"] is True and rows["能开发票吗"]["shown"] == ["invoice.request"]
    assert rows["今天天气真好啊哈哈"]["missed"] is False and rows["今天天气真好啊哈哈"]["shown"] == []
    assert all(len(r["top3"]) <= 3 and all(isinstance(s, float) for _, s in r["top3"]) for r in body["rows"])
