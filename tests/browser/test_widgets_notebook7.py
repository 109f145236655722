"""The widgets in a real Notebook 7, in Chromium: runs comparison, data diff, run detail.

One `jupyter notebook` server serves a temporary project; the module opens the widgets notebook
(see conftest.write_widgets_notebook) at /notebooks/NAME.ipynb, runs all cells from the Run menu
and then looks at the page. Notebook 7 renders notebooks with JupyterLab's components, so the
same selectors apply. Screenshots: test-artifacts/screenshots/notebook7-*.png.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_runs_table_lists_every_run(notebook7_ui):
    out = notebook7_ui.output("runs")
    table = notebook7_ui.visible(out.locator(".nbm-runs-table"), "the runs table (.nbm-runs-table)")
    text = table.first.inner_text()
    for name in notebook7_ui.nb.run_names:
        assert name in text, f"run {name!r} missing from the runs table:\n{text}"
    assert (notebook7_ui.server.root / ".nbmlops").is_dir(), (
        "the kernel did not use the test's store"
    )
    notebook7_ui.screenshot("runs", out)


def test_curves_are_plotly_figures(notebook7_ui):
    figure = notebook7_ui.visible(
        notebook7_ui.curves_locator("runs"), "a plotly figure in .nbm-curves"
    )
    curves = notebook7_ui.curves("runs")
    assert curves["plots"] >= 1, curves
    assert any(curves["traces"]), f"the curves draw no trace: {curves}"
    assert any(p for paths in curves["paths"] for p in paths), f"no line drawn: {curves}"
    notebook7_ui.screenshot("curves", figure.first)


def test_selecting_a_run_changes_the_curves(notebook7_ui):
    out = notebook7_ui.output("runs")
    notebook7_ui.visible(notebook7_ui.curves_locator("runs"), "a plotly figure in .nbm-curves")
    boxes = notebook7_ui.select_boxes("runs")
    count = boxes.count()
    assert count >= len(notebook7_ui.nb.run_names), f"{count} .nbm-select checkboxes"
    before = notebook7_ui.curves("runs")
    # Unselected runs first; a run with no points of the metric shown changes nothing, so try
    # the next box when one leaves the curves as they were.
    order = sorted(range(count), key=lambda i: boxes.nth(i).is_checked())
    for i in order:
        box, was = boxes.nth(i), boxes.nth(i).is_checked()
        box.click()
        try:
            after = notebook7_ui.wait_until(
                lambda: (c := notebook7_ui.curves("runs"))["traces"] != before["traces"] and c,
                "the curves did not change",
                timeout_s=10,
            )
            break
        except AssertionError:
            box.click()
            notebook7_ui.wait_until(lambda b=box, w=was: b.is_checked() == w, "checkbox restored")
    else:
        raise AssertionError(f"no .nbm-select checkbox changed the curves: {before['traces']}")
    assert after["paths"] != before["paths"], "the traces changed but the lines drawn did not"
    n_before, n_after = sum(map(len, before["traces"])), sum(map(len, after["traces"]))
    assert n_before != n_after, (before["traces"], after["traces"])
    notebook7_ui.screenshot("runs-selected", out)

    box.click()  # and back: the same runs are drawn again (maybe in another order)
    drawn = [sorted(t) for t in before["traces"]]
    notebook7_ui.wait_until(
        lambda: [sorted(t) for t in notebook7_ui.curves("runs")["traces"]] == drawn,
        "clicking the checkbox again did not bring the same curves back",
    )


def test_data_diff_shows_added_removed_and_changed_rows(notebook7_ui):
    out = notebook7_ui.output("diff")
    notebook7_ui.visible(out.locator(".nbm-datadiff"), "the data diff (.nbm-datadiff)")
    for kind, text in (("added", "great"), ("removed", "bad"), ("changed", "fine")):
        rows = notebook7_ui.visible(out.locator(f".nbm-row-{kind}"), f"a .nbm-row-{kind} row")
        texts = rows.all_inner_texts()
        assert any(text in t for t in texts), f".nbm-row-{kind} rows: {texts}"
    changed = out.locator(".nbm-row-changed").first.inner_text()
    assert "→" in changed, f"a changed row shows old → new: {changed!r}"
    notebook7_ui.screenshot("diff", out)


def test_run_detail_shows_params_and_metrics(notebook7_ui):
    out = notebook7_ui.output("show")
    detail = notebook7_ui.visible(
        out.locator(".nbm-run-detail"), "the run detail (.nbm-run-detail)"
    )
    text = detail.first.inner_text()
    for expected in ("fast", "finished", "lr", "0.05"):
        assert expected in text, f"{expected!r} missing from the run detail:\n{text}"
    tab = out.locator(".lm-TabBar-tab", has_text="metrics")
    if tab.count():  # a tabbed detail: open its metrics tab
        tab.first.click()
    notebook7_ui.wait_until(
        lambda: all(m in detail.first.inner_text() for m in ("loss", "accuracy")),
        "the run detail shows no loss and accuracy metrics",
    )
    notebook7_ui.screenshot("run-detail", out)


def test_malicious_run_name_shows_as_text(notebook7_ui):
    name = notebook7_ui.nb.malicious
    table = notebook7_ui.visible(
        notebook7_ui.output("runs").locator(".nbm-runs-table"), "the runs table"
    )
    assert name in table.first.inner_text()
    out = notebook7_ui.output("show_malicious")
    detail = notebook7_ui.visible(
        out.locator(".nbm-run-detail"), "the run detail of the malicious run"
    )
    assert name in detail.first.inner_text()
    page = notebook7_ui.page
    assert page.locator('img[src="x"]').count() == 0, "a run name became an <img> element"
    assert page.locator("img[onerror]").count() == 0, "a run name became an <img> element"
    assert notebook7_ui.alerts() == [], f"a dialog fired: {notebook7_ui.alerts()}"
    notebook7_ui.screenshot("run-detail-malicious", out)
