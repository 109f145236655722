"""AnnotatorWidget driven from Python: keys (the buttons the front end's keys.ts clicks), skip,
back, pairwise sides, resume, several raters, escaping and the static fallback."""

from __future__ import annotations

import json

import pytest

from nb_mlops.evals.annotate import AnnotationSession, AnnotationTask, Criterion
from nb_mlops.evals.model import EvalError
from nb_mlops.notebook.widgets.annotate import (
    ACTIVE_CLASS,
    KEY_CLASS,
    ROOT_CLASS,
    AnnotatorWidget,
    classes,
    value_keys,
)
from nb_mlops.notebook.widgets.chart import VIEW_MIME
from nb_mlops.notebook.widgets.render import widget_for

EVIL = "<img src=x onerror=alert(1)>"


class Clock:
    """A clock the test moves by hand: seconds per item are known exactly."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(AnnotatorWidget, "clock", staticmethod(fake))
    return fake


@pytest.fixture
def rating(ws) -> AnnotationTask:
    items = [
        {"id": "q1", "prompt": f"first {EVIL}", "response": f"answer {EVIL}", "context": EVIL},
        {"id": "q2", "prompt": "second", "response": "answer two"},
        {"id": "q3", "prompt": "third", "response": "answer three\n" * 200},
    ]
    criteria = [Criterion("fluency", description=EVIL), Criterion("helpfulness")]
    return AnnotationTask.open(ws, "rate", items, criteria=criteria)


@pytest.fixture
def pairwise(ws) -> AnnotationTask:
    items = [
        {
            "id": f"p{i}",
            "prompt": f"prompt {i}",
            "response_a": f"alpha {i}",
            "response_b": f"beta {i}",
        }
        for i in range(6)
    ]
    return AnnotationTask.open(ws, "pair", items, seed=3)


def widget(task: AnnotationTask, rater: str = "alice") -> AnnotatorWidget:
    return AnnotatorWidget(AnnotationSession(task, rater))


def stored(task: AnnotationTask, rater: str = "alice") -> list[dict]:
    """The rater's label lines as written on disk."""
    path = task.folder / "labels" / f"{rater}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_digit_keys_rate_the_active_criterion_and_enter_submits(rating, clock):
    w = widget(rating)
    assert ROOT_CLASS in classes(w)
    assert w.item_id == "q1" and w.active == 0
    assert ACTIVE_CLASS in classes(w.rows[0]) and ACTIVE_CLASS not in classes(w.rows[1])
    # only the active row's buttons answer the digits
    assert [KEY_CLASS + "4" in classes(b) for b in w.rows[0].buttons] == [0, 0, 0, 1, 0]
    assert not any(KEY_CLASS + "4" in classes(b) for b in w.rows[1].buttons)
    assert w.submit_button.disabled and not w.press("enter")
    clock.now += 7.5
    assert w.press("4") and w.values == {"fluency": 4} and w.active == 1
    assert w.rows[0].buttons[3].button_style == "info"
    assert [KEY_CLASS + "5" in classes(b) for b in w.rows[1].buttons] == [0, 0, 0, 0, 1]
    assert w.press("5") and w.values == {"fluency": 4, "helpfulness": 5}
    assert not w.submit_button.disabled
    assert w.press("enter")
    (line,) = stored(rating)
    assert line["item"] == "q1" and line["values"] == {"fluency": 4, "helpfulness": 5}
    assert line["seconds"] == 7.5 and line["skipped"] is False and line["rater"] == "alice"
    assert w.item_id == "q2" and w.values == {} and w.active == 0
    assert "item 2 of 3 · 1 labelled · 0 skipped" in w.counts.value
    assert (w.bar.value, w.bar.max) == (1, 3)


def test_skip_stores_a_skip_and_moves_on(rating, clock):
    w = widget(rating)
    clock.now += 2
    assert w.press("s")
    (line,) = stored(rating)
    assert line["item"] == "q1" and line["skipped"] is True and line["values"] == {}
    assert line["seconds"] == 2.0
    assert w.item_id == "q2"
    assert "item 2 of 3 · 0 labelled · 1 skipped" in w.counts.value
    assert rating.next_item("alice") == "q2"


def test_back_shows_the_saved_answer_and_a_correction_replaces_it(rating, clock):
    w = widget(rating)
    assert w.back_button.disabled and not w.press("arrowleft")
    w.choose("fluency", 2)
    w.choose("helpfulness", 3)
    w.submit()
    assert w.item_id == "q2"
    assert w.press("arrowleft") and w.item_id == "q1"
    assert w.values == {"fluency": 2, "helpfulness": 3}
    assert "you labelled this item" in w.note.value
    w.rows[1].buttons[0].click()  # the mouse: helpfulness = 1
    w.submit()
    assert [lb.values for lb in rating.labels("alice")] == [{"fluency": 2, "helpfulness": 1}]
    assert len(stored(rating)) == 2  # both lines kept; the later one is in force
    assert w.item_id == "q2"


def test_clicking_a_criterion_name_makes_it_active(rating):
    w = widget(rating)
    w.rows[1].name_button.click()
    assert w.active == 1 and w.press("3") and w.values == {"helpfulness": 3}
    assert w.active == 0  # the criterion still without a value


def test_choosing_a_value_off_the_scale_or_an_unknown_criterion_fails(rating):
    w = widget(rating)
    with pytest.raises(EvalError, match="fluency: 7 is not on the scale"):
        w.choose("fluency", 7)
    with pytest.raises(EvalError, match=r"has no criterion 'tone' \(fluency, helpfulness\)"):
        w.choose("tone", 1)
    assert w.values == {}


def test_done_says_all_items_labelled_and_back_still_corrects(rating):
    w = widget(rating)
    for _ in range(3):
        w.press("5")
        w.press("5")
        w.press("enter")
    assert w.item_id is None
    assert "all 3 items labelled" in w.done.value
    assert w.item_box.layout.display == "none" and w.done.layout.display is None
    assert w.skip_button.disabled and w.submit_button.disabled
    assert w.skip_button.layout.display == "none"
    assert not w.press("5") and not w.press("s")
    assert w.press("arrowleft") and w.item_id == "q3"


def test_done_with_skips_counts_them(rating):
    w = widget(rating)
    w.press("s")
    w.press("s")
    w.press("1")
    w.press("1")
    w.press("enter")
    assert "all 3 items done: 1 labelled, 2 skipped" in w.done.value


def test_resume_opens_at_the_first_unlabelled_item_with_the_earlier_progress(rating):
    first = widget(rating)
    first.press("3")
    first.press("3")
    first.press("enter")
    first.press("s")
    again = widget(rating)  # a new kernel: a new session on the same store
    assert again.item_id == "q3"
    assert "item 3 of 3 · 1 labelled · 1 skipped" in again.counts.value
    assert again.bar.value == 2


def test_each_rater_labels_under_their_own_name(rating):
    alice, bob = widget(rating, "alice"), widget(rating, "bob")
    alice.press("1")
    alice.press("2")
    alice.press("enter")
    assert bob.item_id == "q1" and "bob" in bob.header.value
    bob.press("5")
    bob.press("4")
    bob.press("enter")
    assert rating.raters() == ["alice", "bob"]
    assert stored(rating, "alice")[0]["values"] == {"fluency": 1, "helpfulness": 2}
    assert stored(rating, "bob")[0]["values"] == {"fluency": 5, "helpfulness": 4}


def test_pairwise_keys_map_the_screen_side_to_the_response(pairwise, clock):
    w = widget(pairwise)
    assert w.submit_button.layout.display == "none"
    pressed = {"p0": "a", "p1": "b", "p2": "t"}
    layouts = {}
    for item, key in pressed.items():
        assert w.item_id == item
        sides = pairwise.sides(item, "alice")
        layouts[item] = sides
        left, right = sides
        assert (f"alpha {item[1]}" if left == "a" else f"beta {item[1]}") in w.left.value
        assert (f"alpha {item[1]}" if right == "a" else f"beta {item[1]}") in w.right.value
        clock.now += 1
        assert w.press(key)
    lines = {line["item"]: line for line in stored(pairwise)}
    for item, key in pressed.items():
        left, right = layouts[item]
        want = {"a": left, "b": right, "t": "tie"}[key]
        assert lines[item]["values"] == {"choice": want}, item
        assert tuple(lines[item]["shown"]) == layouts[item]
        assert lines[item]["seconds"] == 1.0
    # the seed draws both layouts among six items (the sides are not always a-left)
    assert {pairwise.sides(f"p{i}", "alice") for i in range(6)} == {("a", "b"), ("b", "a")}


def test_pairwise_back_marks_the_saved_side_and_skip_keeps_the_layout(pairwise):
    w = widget(pairwise)
    w.choose_side("right")
    w.back()
    assert w.item_id == "p0"
    assert w.pair_buttons["right"].button_style == "info"
    assert w.pair_buttons["left"].button_style == ""
    w.press("s")
    line = stored(pairwise)[-1]
    assert line["skipped"] is True and tuple(line["shown"]) == pairwise.sides("p0", "alice")
    with pytest.raises(EvalError, match="side is left, right or tie"):
        w.choose_side("up")


def test_user_text_is_escaped_and_long_text_scrolls(rating):
    w = widget(rating)
    shown = w.prompt.value + w.response.value + w.header.value + w.counts.value
    assert EVIL not in shown and "&lt;img src=x" in shown
    assert "<details>" in w.prompt.value  # the context, folded
    assert "overflow:auto" in w.response.value
    assert w.rows[0].name_button.tooltip == EVIL  # a tooltip is text, never HTML
    assert "keys" in w.legend.value and "1-5" in w.legend.value


def test_a_failed_save_says_why_and_keeps_the_item(rating, monkeypatch):
    w = widget(rating)
    w.press("4")
    w.press("4")

    def refuse(*args, **kwargs):
        raise EvalError(f"disk full {EVIL}")

    monkeypatch.setattr(rating, "record", refuse)
    w.press("enter")
    assert w.item_id == "q1" and w.values == {"fluency": 4, "helpfulness": 4}
    assert "disk full &lt;img" in w.message.value


def test_bundle_has_the_view_and_the_sessions_static_html(rating):
    w = widget(rating)
    w.press("4")
    w.press("4")
    w.press("enter")
    bundle = w._repr_mimebundle_()
    assert bundle[VIEW_MIME]["model_id"] == w.model_id
    assert "1 of 3 labelled" in bundle["text/html"] and "1 of 3 labelled" in bundle["text/plain"]


def test_a_displayed_session_becomes_the_widget(rating):
    shown = widget_for(AnnotationSession(rating, "carol"))
    assert isinstance(shown, AnnotatorWidget) and shown.rater == "carol"
    assert shown.item_id == "q1"


def test_value_keys_follow_digits_or_positions():
    assert value_keys((1, 2, 3, 4, 5)) == ["1", "2", "3", "4", "5"]
    assert value_keys((0, 1, 2)) == ["0", "1", "2"]
    assert value_keys(("bad", "ok", "good")) == ["1", "2", "3"]
    assert value_keys(tuple(range(1, 12))) == [str(i) for i in range(1, 10)] + [None, None]


def test_a_word_scale_answers_to_positions(ws):
    items = [{"id": "x", "prompt": "p", "response": "r"}]
    task = AnnotationTask.open(
        ws, "words", items, criteria=[Criterion("tone", ("rude", "neutral", "kind"), "nominal")]
    )
    w = widget(task)
    assert w.press("3") and w.values == {"tone": "kind"}
    assert w.press("enter") and stored(task)[0]["values"] == {"tone": "kind"}
