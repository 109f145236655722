"""The widgets in a real JupyterLab 4, in Chromium: runs comparison, data diff, run detail.

One JupyterLab serves a temporary project; the module opens the widgets notebook (see
conftest.write_widgets_notebook), runs all cells from the Run menu and then looks at the page.
Screenshots: test-artifacts/screenshots/lab-*.png.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_runs_table_lists_every_run(lab_ui):
    out = lab_ui.output("runs")
    table = lab_ui.visible(out.locator(".nbm-runs-table"), "the runs table (.nbm-runs-table)")
    text = table.first.inner_text()
    for name in lab_ui.nb.run_names:
        assert name in text, f"run {name!r} missing from the runs table:\n{text}"
    assert (lab_ui.server.root / ".nbmlops").is_dir(), "the kernel did not use the test's store"
    lab_ui.screenshot("runs", out)


def test_curves_are_plotly_figures(lab_ui):
    figure = lab_ui.visible(lab_ui.curves_locator("runs"), "a plotly figure in .nbm-curves")
    curves = lab_ui.curves("runs")
    assert curves["plots"] >= 1, curves
    assert any(curves["traces"]), f"the curves draw no trace: {curves}"
    assert any(p for paths in curves["paths"] for p in paths), f"no line drawn: {curves}"
    lab_ui.screenshot("curves", figure.first)


def test_selecting_a_run_changes_the_curves(lab_ui):
    out = lab_ui.output("runs")
    lab_ui.visible(lab_ui.curves_locator("runs"), "a plotly figure in .nbm-curves")
    boxes = lab_ui.select_boxes("runs")
    count = boxes.count()
    assert count >= len(lab_ui.nb.run_names), f"{count} .nbm-select checkboxes"
    before = lab_ui.curves("runs")
    # Unselected runs first; a run with no points of the metric shown changes nothing, so try
    # the next box when one leaves the curves as they were.
    order = sorted(range(count), key=lambda i: boxes.nth(i).is_checked())
    for i in order:
        box, was = boxes.nth(i), boxes.nth(i).is_checked()
        box.click()
        try:
            after = lab_ui.wait_until(
                lambda: (c := lab_ui.curves("runs"))["traces"] != before["traces"] and c,
                "the curves did not change",
                timeout_s=10,
            )
            break
        except AssertionError:
            box.click()
            lab_ui.wait_until(lambda b=box, w=was: b.is_checked() == w, "checkbox restored")
    else:
        raise AssertionError(f"no .nbm-select checkbox changed the curves: {before['traces']}")
    assert after["paths"] != before["paths"], "the traces changed but the lines drawn did not"
    n_before, n_after = sum(map(len, before["traces"])), sum(map(len, after["traces"]))
    assert n_before != n_after, (before["traces"], after["traces"])
    lab_ui.screenshot("runs-selected", out)

    box.click()  # and back: the same runs are drawn again (maybe in another order)
    drawn = [sorted(t) for t in before["traces"]]
    lab_ui.wait_until(
        lambda: [sorted(t) for t in lab_ui.curves("runs")["traces"]] == drawn,
        "clicking the checkbox again did not bring the same curves back",
    )


def test_data_diff_shows_added_removed_and_changed_rows(lab_ui):
    out = lab_ui.output("diff")
    lab_ui.visible(out.locator(".nbm-datadiff"), "the data diff (.nbm-datadiff)")
    for kind, text in (("added", "great"), ("removed", "bad"), ("changed", "fine")):
        rows = lab_ui.visible(out.locator(f".nbm-row-{kind}"), f"a .nbm-row-{kind} row")
        texts = rows.all_inner_texts()
        assert any(text in t for t in texts), f".nbm-row-{kind} rows: {texts}"
    changed = out.locator(".nbm-row-changed").first.inner_text()
    assert "→" in changed, f"a changed row shows old → new: {changed!r}"
    lab_ui.screenshot("diff", out)


def test_run_detail_shows_params_and_metrics(lab_ui):
    out = lab_ui.output("show")
    detail = lab_ui.visible(out.locator(".nbm-run-detail"), "the run detail (.nbm-run-detail)")
    text = detail.first.inner_text()
    for expected in ("fast", "finished", "lr", "0.05"):
        assert expected in text, f"{expected!r} missing from the run detail:\n{text}"
    tab = out.locator(".lm-TabBar-tab", has_text="metrics")
    if tab.count():  # a tabbed detail: open its metrics tab
        tab.first.click()
    lab_ui.wait_until(
        lambda: all(m in detail.first.inner_text() for m in ("loss", "accuracy")),
        "the run detail shows no loss and accuracy metrics",
    )
    lab_ui.screenshot("run-detail", out)


def test_malicious_run_name_shows_as_text(lab_ui):
    name = lab_ui.nb.malicious
    table = lab_ui.visible(lab_ui.output("runs").locator(".nbm-runs-table"), "the runs table")
    assert name in table.first.inner_text()
    out = lab_ui.output("show_malicious")
    detail = lab_ui.visible(out.locator(".nbm-run-detail"), "the run detail of the malicious run")
    assert name in detail.first.inner_text()
    page = lab_ui.page
    assert page.locator('img[src="x"]').count() == 0, "a run name became an <img> element"
    assert page.locator("img[onerror]").count() == 0, "a run name became an <img> element"
    assert lab_ui.alerts() == [], f"a dialog fired: {lab_ui.alerts()}"
    lab_ui.screenshot("run-detail-malicious", out)
