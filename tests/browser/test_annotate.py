"""The annotation widget in a real JupyterLab 4 and a real Notebook 7, in Chromium, keyboard only.

The notebook makes a rating task (3 items, fluency and helpfulness on 1-5) and a pairwise task
(3 items) for rater "alice" with `nm.annotate`, whose sessions show as AnnotatorWidgets. Then,
with keys only (after a click on the prompt text gives the widget the focus): 4 5 Enter rates
item 1, S skips item 2, 2 3 Enter rates item 3 and ArrowLeft goes back to it; A and T choose on
two pairwise items. The labels file on disk (`.nbmlops/annotations/<task>/labels/alice.jsonl`,
written by the kernel) must hold exactly these labels with a positive time, the skip, and
pairwise choices that map the pressed screen side through the stored `shown` layout. The keys
must not reach JupyterLab's command-mode shortcuts (1-6 = heading, A/B = insert a cell, Enter =
edit): the cells are the same after the keys. Then the kernel restarts and the cells run again:
each widget opens where alice stopped, with her earlier labels counted, and B (typed on a Korean
layout: "ㅠ") finishes the pairwise task. A control shows the cell check is live: B pressed on
a cell, outside the widget, does insert a cell.
Screenshots: test-artifacts/screenshots/{lab,notebook7}-annotate-*.png.
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EVIL = "<img src=x onerror=alert(1)>"
RATER = "alice"
WIDGET_S = 60


SETUP = """\
%load_ext nb_mlops
import nb_mlops as nm
from nb_mlops.evals.annotate import Criterion"""

# The sessions are shown the way a user shows them: `%load_ext nb_mlops` makes a displayed
# AnnotationSession an AnnotatorWidget.
RATING = f"""\
items = [
    {{"id": "r1", "prompt": "Say hello " + {EVIL!r}, "response": "Hello!", "context": "greeting"}},
    {{"id": "r2", "prompt": "Count to three", "response": "one two three"}},
    {{"id": "r3", "prompt": "Name a colour", "response": "blue\\n" * 80}},
]
criteria = [Criterion("fluency", description="reads well"), Criterion("helpfulness")]
nm.annotate("rate", items, rater={RATER!r}, criteria=criteria)"""

PAIRWISE = f"""\
pairs = [
    {{"id": f"p{{i}}", "prompt": f"question {{i}}", "response_a": f"alpha answer {{i}}",
      "response_b": f"beta answer {{i}}", "model_a": "alpha", "model_b": "beta"}}
    for i in range(1, 4)
]
nm.annotate("pair", pairs, rater={RATER!r}, seed=1)"""


CELLS = [("setup", SETUP), ("rating", RATING), ("pairwise", PAIRWISE)]


@pytest.fixture(scope="module", params=["lab", "notebook7"])
def ui(request, open_notebook):
    server = request.getfixturevalue(f"{request.param}_server")
    name = f"annotate-{server.label}.ipynb"
    title = "# nb-mlops annotation (written by tests/browser)"
    write = request.getfixturevalue("notebook_writer")
    with open_notebook(server, name, kind=lambda path: write(path, CELLS, title)) as ui:
        yield ui


# ------------------------------------------------------------------------------ helpers
def annotator(ui, key: str):
    """The annotation widget in a cell's output, once it is drawn."""
    root = ui.output(key).locator(".nbm-annotator")
    ui.visible(root, f"the annotation widget in the {key} cell", WIDGET_S)
    return root.first


def labels(ui, task: str) -> list[dict]:
    """alice's label lines of `task`, as the kernel wrote them into the notebook's store."""
    path = ui.nb.path.parent / ".nbmlops" / "annotations" / task / "labels" / f"{RATER}.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def progress(root) -> str:
    return root.locator(".nbm-annotator-progress").inner_text()


def wait_progress(ui, root, text: str) -> None:
    ui.wait_until(lambda: text in progress(root), f"progress {text!r} (shown: {progress(root)!r})")


def cells(ui) -> list[str]:
    """Each cell's kind, as the notebook's DOM shows it."""
    return ui.page.eval_on_selector_all(
        ".jp-Notebook .jp-Cell",
        "els => els.map(e => e.classList.contains('jp-MarkdownCell') ? 'markdown'"
        " : e.classList.contains('jp-CodeCell') ? 'code' : 'other')",
    )


def focus_in(root) -> bool:
    """Whether the focus is in the annotation widget (on it or on one of its buttons)."""
    return root.evaluate("el => el.contains(document.activeElement)")


def keys(ui, root, *pressed: str) -> None:
    """Give the widget the focus by clicking its prompt text, then press the keys."""
    root.locator(".nbm-annotator-prompt").first.click()
    ui.wait_until(lambda: focus_in(root), "the annotation widget did not take the focus")
    for key in pressed:
        ui.page.keyboard.press(key)


def assert_notebook_untouched(ui, before: list[str]) -> None:
    after = cells(ui)
    assert after == before, f"the keys reached the notebook's shortcuts: cells {before} -> {after}"
    edit = ui.page.evaluate("() => !!document.querySelector('.jp-Notebook.jp-mod-editMode')")
    assert not edit, "a key put the notebook in edit mode"


# ------------------------------------------------------------------------------ tests
def test_rating_with_keys_only(ui):
    root = annotator(ui, "rating")
    assert "item 1 of 3 · 0 labelled · 0 skipped" in progress(root)
    legend = root.locator(".nbm-annotator-legend").inner_text()
    assert "Enter submit" in legend and "S skip" in legend, legend
    assert ui.page.locator("img[src=x]").count() == 0 and not ui.alerts()
    assert EVIL in root.locator(".nbm-annotator-prompt").inner_text()
    before = cells(ui)
    assert before.count("markdown") == 1, before

    keys(ui, root, "4")
    # the kernel's answer marks fluency 4 and moves the digit keys to helpfulness
    active = root.locator(".nbm-annotator-criterion.nbm-active")
    ui.wait_until(lambda: "helpfulness" in active.inner_text(), "helpfulness did not become active")
    ui.screenshot("annotate-rating", root)
    ui.page.keyboard.press("5")
    ui.page.keyboard.press("Enter")
    wait_progress(ui, root, "item 2 of 3 · 1 labelled · 0 skipped")
    ui.page.keyboard.press("s")
    wait_progress(ui, root, "item 3 of 3 · 1 labelled · 1 skipped")
    ui.page.keyboard.press("2")
    ui.page.keyboard.press("3")  # typed at once: held back until the answer to 2 is in
    ui.page.keyboard.press("Enter")
    done = root.locator(".nbm-annotator-done")
    ui.wait_until(
        lambda: "all 3 items done: 2 labelled, 1 skipped" in done.inner_text(),
        "the done message",
    )
    assert focus_in(root), "the widget lost the focus"
    ui.screenshot("annotate-rating-done", root)

    stored = labels(ui, "rate")
    assert [(x["item"], x["values"], x["skipped"]) for x in stored] == [
        ("r1", {"fluency": 4, "helpfulness": 5}, False),
        ("r2", {}, True),
        ("r3", {"fluency": 2, "helpfulness": 3}, False),
    ], stored
    assert all(x["seconds"] > 0 for x in stored), stored
    assert stored[0]["seconds"] < 120 and all(x["shown"] is None for x in stored)

    ui.page.keyboard.press("ArrowLeft")  # back to item 3, alice's answer selected
    wait_progress(ui, root, "item 3 of 3 · 2 labelled · 1 skipped")
    chosen = root.locator(".nbm-annotator-value.nbm-selected")
    ui.wait_until(lambda: chosen.all_inner_texts() == ["2", "3"], "item 3's saved values")
    assert "you labelled this item" in root.locator(".nbm-annotator-note").inner_text()
    assert len(labels(ui, "rate")) == 3  # looking back changes nothing
    assert_notebook_untouched(ui, before)


def test_pairwise_choices_map_through_the_shown_sides(ui):
    root = annotator(ui, "pairwise")
    before = cells(ui)
    assert "item 1 of 3 · 0 labelled" in progress(root)
    left = root.locator(".nbm-annotator-side-a").inner_text()
    right = root.locator(".nbm-annotator-side-b").inner_text()
    screen = ("a" if "alpha answer 1" in left else "b", "a" if "alpha answer 1" in right else "b")
    assert sorted(screen) == ["a", "b"], (left, right)
    ui.screenshot("annotate-pairwise", root)

    keys(ui, root, "a")  # A is better: the response shown on the left
    wait_progress(ui, root, "item 2 of 3 · 1 labelled")
    ui.page.keyboard.press("t")
    wait_progress(ui, root, "item 3 of 3 · 2 labelled")

    stored = labels(ui, "pair")
    assert [x["item"] for x in stored] == ["p1", "p2"], stored
    first, second = stored
    assert tuple(first["shown"]) == screen, (first, screen)  # the layout alice saw
    assert first["values"] == {"choice": first["shown"][0]}  # left side -> its response
    assert second["values"] == {"choice": "tie"} and sorted(second["shown"]) == ["a", "b"]
    assert all(x["seconds"] > 0 and not x["skipped"] for x in stored), stored
    assert_notebook_untouched(ui, before)


def test_a_restarted_kernel_resumes_where_the_rater_stopped(ui):
    before = cells(ui)
    ui.page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.restart()"
    )
    ui.wait_kernel_idle(WIDGET_S)
    for key in ("setup", "rating", "pairwise"):
        ui.run_cell(key)
    prompt = ui.cell("setup").locator(".jp-InputArea-prompt").inner_text()
    assert re.fullmatch(r"\[1\]:", prompt.strip()), f"the kernel did not restart: {prompt!r}"

    rating = annotator(ui, "rating")
    done = rating.locator(".nbm-annotator-done")
    ui.wait_until(lambda: "2 labelled, 1 skipped" in done.inner_text(), "rating resumed as done")
    pair = annotator(ui, "pairwise")
    wait_progress(ui, pair, "item 3 of 3 · 2 labelled · 0 skipped")
    ui.screenshot("annotate-resumed", pair)

    # B as a Korean keyboard types it ("ㅠ" on the B key): the key's place names it
    keys(ui, pair)
    ui.page.evaluate(
        """() => document.activeElement.dispatchEvent(new KeyboardEvent('keydown',
            {key: 'ㅠ', code: 'KeyB', bubbles: true, cancelable: true}))"""
    )
    pair_done = pair.locator(".nbm-annotator-done")
    ui.wait_until(lambda: "all 3 items labelled" in pair_done.inner_text(), "pairwise done")
    stored = labels(ui, "pair")
    assert [x["item"] for x in stored] == ["p1", "p2", "p3"], stored
    third = stored[-1]
    assert third["values"] == {"choice": third["shown"][1]}  # B is better: the right side
    assert_notebook_untouched(ui, before)
    ui.screenshot("annotate-pairwise-done", pair)


def test_control_a_key_outside_the_widget_reaches_the_notebook(ui):
    """The check above is live: B pressed on a cell (not in the widget) inserts a cell below."""
    before = cells(ui)
    ui.page.locator(".jp-Notebook .jp-MarkdownCell").first.click()
    ui.page.keyboard.press("Escape")
    ui.page.keyboard.press("b")
    ui.wait_until(lambda: len(cells(ui)) == len(before) + 1, "B outside the widget added no cell")
