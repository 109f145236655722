"""The scoreboard: a model is its identity; regressions between versions; items side by side."""

from __future__ import annotations

import pytest
from eval_toys import CHOICE_ITEMS, TEXT_ITEMS, Chooser, Parrot

import nb_mlops as nm
from nb_mlops.evals.model import EvalError


def _evals(ws):
    first = nm.evaluate(Chooser(version="v1"), CHOICE_ITEMS, name="mc-v1")
    second = nm.evaluate(Chooser(miss={"q1", "q4"}, version="v2"), CHOICE_ITEMS, name="mc-v2")
    return first, second


def test_same_name_other_version_is_another_row_with_the_change_named(ws):
    first, second = _evals(ws)
    board = nm.eval_scoreboard()
    assert [r["run_id"] for r in board.rows] == [first.run_id, second.run_id]
    assert board.rows[0]["differences"] == []
    assert board.rows[1]["differences"] == ["reported version v1 -> v2"]
    assert board.metrics == ["acc", "acc_norm"]
    text = board.to_text()
    assert "reported version v1 -> v2" in text and "[" in text  # intervals shown
    assert board.to_dict()["rows"][1]["scores"]["acc"]["score"] == pytest.approx(10 / 12)


def test_the_latest_evaluation_of_one_identity_replaces_the_earlier(ws):
    nm.evaluate(Chooser(version="v1"), CHOICE_ITEMS)
    again = nm.evaluate(Chooser(version="v1"), CHOICE_ITEMS)
    board = nm.eval_scoreboard()
    assert [r["run_id"] for r in board.rows] == [again.run_id]
    assert len(nm.eval_scoreboard(latest=False).rows) == 2


def test_regressions_list_items_that_went_from_right_to_wrong(ws):
    first, second = _evals(ws)
    found = nm.eval_regressions(first.run_id, second.run_id)
    assert sorted(r["id"] for r in found.regressed) == ["q1", "q4"]
    assert found.improved == [] and found.common == 12
    assert found.regressed[0]["a"] != found.regressed[0]["b"]
    assert "2 of 12 items went from right to wrong" in found.to_text()
    back = nm.eval_regressions(second.run_id, first.run_id)
    assert len(back.improved) == 2 and not back.regressed


def test_side_by_side_and_escaping(ws):
    evil = [{"id": "<b>x</b>", "prompt": "say: <script>alert(1)</script>", "reference": "<i>"}]
    a = nm.evaluate(Parrot(version="v1"), evil + TEXT_ITEMS, metrics=["exact_match"])
    b = nm.evaluate(Parrot(version="v2"), evil + TEXT_ITEMS, metrics=["exact_match"])
    table = nm.eval_side_by_side(a.run_id, b.run_id)
    frame = table.to_frame()
    assert len(frame) == 5 and frame.columns[-2].endswith(f"[{a.run_id}]")
    markup = table.to_html() + nm.eval_scoreboard().to_html()
    markup += nm.eval_regressions(a.run_id, b.run_id).to_html()
    assert "<script>" not in markup and "&lt;script&gt;" in markup


def test_mixed_tasks_and_non_eval_runs_are_refused(ws):
    a = nm.evaluate(Chooser(), CHOICE_ITEMS)
    b = nm.evaluate(Parrot(), TEXT_ITEMS, metrics=["exact_match"])
    with pytest.raises(EvalError, match="different tasks"):
        nm.eval_regressions(a.run_id, b.run_id)
    with nm.start_run("plain") as run:
        pass
    with pytest.raises(EvalError, match="is not an evaluation"):
        nm.eval_examples(run.run_id)


def test_empty_scoreboard_says_how_to_start(ws):
    assert "nm.evaluate" in nm.eval_scoreboard().to_text()
