"""ScoreboardWidget: the board, before/after pickers, regressions, paged items, static fallback."""

from __future__ import annotations

import pytest
from eval_toys import CHOICE_ITEMS, Chooser

import nb_mlops as nm
from nb_mlops.notebook.widgets.chart import VIEW_MIME
from nb_mlops.notebook.widgets.render import domain_bundle
from nb_mlops.notebook.widgets.scoreboard import PAGE, ScoreboardWidget

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def board(ws):
    items = [dict(item, question=f"{item['question']} {EVIL}") for item in CHOICE_ITEMS]
    items += [
        {
            "id": f"z{i}",
            "question": f"question {i}",
            "choices": ["red", "green", "blue"],
            "answer": 0,
        }
        for i in range(30)
    ]
    nm.evaluate(Chooser(version="v1"), items, name="v1")
    nm.evaluate(Chooser(miss={"q1", "q2"}, version="v2"), items, name="v2")
    return nm.eval_scoreboard()


def test_default_pair_is_the_changed_model_and_shows_its_regressions(board):
    widget = ScoreboardWidget(board)
    assert widget.before.value == board.rows[0]["run_id"]
    assert widget.after.value == board.rows[1]["run_id"]
    assert "2 of 42 items went from right to wrong" in widget.detail.value
    assert "reported version v1 -&gt; v2" in widget.table.value
    assert EVIL not in widget.detail.value + widget.items.value + widget.table.value


def test_items_are_paged(board):
    widget = ScoreboardWidget(board)
    assert widget.page_label.value == f"items 1-{PAGE} of 42"
    assert widget.prev_button.disabled
    widget.go_to(5)
    assert widget.page == 2 and widget.page_label.value == f"items {2 * PAGE + 1}-42 of 42"
    assert widget.next_button.disabled
    widget.after.value = widget.before.value
    assert "pick two different evaluations" in widget.detail.value and widget.items.value == ""


def test_bundle_carries_the_view_and_the_escaped_static_board(board):
    bundle = domain_bundle(board)
    assert VIEW_MIME in bundle
    assert "reported version v1 -&gt; v2" in bundle["text/html"]
    assert EVIL not in bundle["text/html"]
    assert "v1 -> v2" in bundle["text/plain"]


def test_a_board_of_one_shows_its_items(ws):
    nm.evaluate(Chooser(), CHOICE_ITEMS)
    widget = ScoreboardWidget(nm.eval_scoreboard())
    assert widget.view.value == "items"
    assert widget.pickers.layout.display == "none"
    assert widget.page_label.value == f"items 1-{len(CHOICE_ITEMS)} of {len(CHOICE_ITEMS)}"


def test_an_empty_board_is_only_the_table(ws):
    widget = ScoreboardWidget(nm.eval_scoreboard())
    assert widget.children == (widget.table,)


def test_items_view_shows_a_judges_rationale_escaped(ws):
    from nb_mlops.evals.judge import Judge

    def grader(prompt: str, **options: object) -> str:
        return f"Too vague {EVIL}.\nRating: [[3]]"

    nm.judge(Judge(grader), [{"id": "1", "question": "q?", "answer": "a", "model": "m"}])
    widget = ScoreboardWidget(nm.eval_scoreboard())
    assert widget.view.value == "items"
    assert "Too vague &lt;img" in widget.items.value and EVIL not in widget.items.value
    assert "rationale" in widget.items.value
