"""The widgets in a real JupyterLab 4 and a real Notebook 7, in Chromium: runs comparison,
data diff, run detail, and the model registry's view.

Each front end's server serves a temporary project; the module opens the widgets notebook (see
conftest.write_widgets_notebook), runs all cells from the Run menu and then looks at the page.
Notebook 7 renders notebooks with JupyterLab's components, so the same selectors apply to both.
Screenshots: test-artifacts/screenshots/lab-*.png and notebook7-*.png.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module", params=["lab", "notebook7"])
def ui(request: pytest.FixtureRequest):
    """The executed widgets notebook, open in JupyterLab and then in Notebook 7."""
    return request.getfixturevalue(f"{request.param}_ui")


def test_runs_table_lists_every_run(ui):
    out = ui.output("runs")
    table = ui.visible(out.locator(".nbm-runs-table"), "the runs table (.nbm-runs-table)")
    text = table.first.inner_text()
    for name in ui.nb.run_names:
        assert name in text, f"run {name!r} missing from the runs table:\n{text}"
    store = ui.nb.path.parent / ".nbmlops"
    assert (store / "runs").is_dir() and any((store / "runs").iterdir()), (
        f"the kernel did not record its runs in the notebook folder's store {store}"
    )
    ui.screenshot("runs", out)


def test_curves_are_plotly_figures(ui):
    figure = ui.visible(ui.curves_locator("runs"), "a plotly figure in .nbm-curves")
    curves = ui.curves("runs")
    assert curves["plots"] >= 1, curves
    assert any(curves["traces"]), f"the curves draw no trace: {curves}"
    assert any(p for paths in curves["paths"] for p in paths), f"no line drawn: {curves}"
    ui.screenshot("curves", figure.first)


def test_selecting_a_run_changes_the_curves(ui):
    out = ui.output("runs")
    ui.visible(ui.curves_locator("runs"), "a plotly figure in .nbm-curves")
    boxes = ui.select_boxes("runs")
    count = boxes.count()
    assert count >= len(ui.nb.run_names), f"{count} .nbm-select checkboxes"
    before = ui.curves("runs")
    # Unselected runs first; a run with no points of the metric shown changes nothing, so try
    # the next box when one leaves the curves as they were.
    order = sorted(range(count), key=lambda i: boxes.nth(i).is_checked())
    for i in order:
        box, was = boxes.nth(i), boxes.nth(i).is_checked()
        box.click()
        try:
            after = ui.wait_until(
                lambda: (c := ui.curves("runs"))["traces"] != before["traces"] and c,
                "the curves did not change",
                timeout_s=10,
            )
            break
        except AssertionError:
            box.click()
            ui.wait_until(lambda b=box, w=was: b.is_checked() == w, "checkbox restored")
    else:
        raise AssertionError(f"no .nbm-select checkbox changed the curves: {before['traces']}")
    assert after["paths"] != before["paths"], "the traces changed but the lines drawn did not"
    n_before, n_after = sum(map(len, before["traces"])), sum(map(len, after["traces"]))
    assert n_before != n_after, (before["traces"], after["traces"])
    ui.screenshot("runs-selected", out)

    box.click()  # and back: the same runs are drawn again (maybe in another order)
    drawn = [sorted(t) for t in before["traces"]]
    ui.wait_until(
        lambda: [sorted(t) for t in ui.curves("runs")["traces"]] == drawn,
        "clicking the checkbox again did not bring the same curves back",
    )


def test_data_diff_shows_added_removed_and_changed_rows(ui):
    out = ui.output("diff")
    ui.visible(out.locator(".nbm-datadiff"), "the data diff (.nbm-datadiff)")
    for kind, text in (("added", "great"), ("removed", "bad"), ("changed", "fine")):
        rows = ui.visible(out.locator(f".nbm-row-{kind}"), f"a .nbm-row-{kind} row")
        texts = rows.all_inner_texts()
        assert any(text in t for t in texts), f".nbm-row-{kind} rows: {texts}"
    changed = out.locator(".nbm-row-changed").first.inner_text()
    assert "→" in changed, f"a changed row shows old → new: {changed!r}"
    ui.screenshot("diff", out)


def test_run_detail_shows_params_and_metrics(ui):
    out = ui.output("show")
    detail = ui.visible(out.locator(".nbm-run-detail"), "the run detail (.nbm-run-detail)")
    text = detail.first.inner_text()
    for expected in ("fast", "finished", "lr", "0.05"):
        assert expected in text, f"{expected!r} missing from the run detail:\n{text}"
    tab = out.locator(".lm-TabBar-tab", has_text="metrics")
    if tab.count():  # a tabbed detail: open its metrics tab
        tab.first.click()
    ui.wait_until(
        lambda: all(m in detail.first.inner_text() for m in ("loss", "accuracy")),
        "the run detail shows no loss and accuracy metrics",
    )
    ui.screenshot("run-detail", out)


def test_malicious_run_name_shows_as_text(ui):
    name = ui.nb.malicious
    table = ui.visible(ui.output("runs").locator(".nbm-runs-table"), "the runs table")
    assert name in table.first.inner_text()
    out = ui.output("show_malicious")
    detail = ui.visible(out.locator(".nbm-run-detail"), "the run detail of the malicious run")
    assert name in detail.first.inner_text()
    page = ui.page
    assert page.locator('img[src="x"]').count() == 0, "a run name became an <img> element"
    assert page.locator("img[onerror]").count() == 0, "a run name became an <img> element"
    assert ui.alerts() == [], f"a dialog fired: {ui.alerts()}"
    ui.screenshot("run-detail-malicious", out)


def test_model_registry_view_shows_versions_aliases_and_charts(ui):
    out = ui.output("models")
    view = ui.visible(out.locator(".nbm-registry"), "the model view (.nbm-registry)")
    text = view.first.inner_text()
    for expected in ("clf: 3 versions", "@production", "metrics.loss", "metrics.accuracy"):
        assert expected in text, f"{expected!r} missing from the model view:\n{text}"
    for run in ("fast", "medium", "slow"):
        assert run in text, f"run {run!r} missing from the model view"
    assert ui.nb.malicious in text  # a description and a why, shown as text
    charts = view.first.locator(".nbm-charts svg")
    assert charts.count() == 2, "one chart per metric across the versions"
    assert charts.first.locator("polyline, path").count() > 0, "the chart draws no line"
    assert ui.page.locator('img[src="x"]').count() == 0, "a description became an <img> element"
    assert ui.alerts() == [], f"a dialog fired: {ui.alerts()}"
    ui.screenshot("models", out)


def test_scoreboard_names_the_change_and_lists_the_regressions(ui):
    out = ui.output("board")
    view = ui.visible(out.locator(".nbm-scoreboard-widget"), "the scoreboard widget")
    text = view.first.inner_text()
    assert "reported version echo-1 -> echo-2" in text, text[:600]
    # 31 items (conftest.EVAL_ITEMS), two of them wrong in echo-2
    assert "2 of 31 items went from right to wrong" in text, text[:600]
    assert "word3" in text and "word7" in text
    assert ui.nb.malicious in text  # an item's prompt, shown as text
    assert ui.page.locator('img[src="x"]').count() == 0, "an item became an <img> element"
    ui.screenshot("scoreboard", out)
    before = view.first.locator("select").first
    options = before.locator("option").all_inner_texts()
    assert len(options) == 2 and "echo-2" in options[1], options
    before.select_option(index=1)  # before = after: nothing to compare
    ui.wait_until(
        lambda: "pick two different evaluations" in view.first.inner_text(),
        "choosing the same evaluation twice did not clear the comparison",
    )
    before.select_option(index=0)
    ui.wait_until(
        lambda: "went from right to wrong" in view.first.inner_text(),
        "choosing the first evaluation again did not bring the regressions back",
    )
    assert ui.alerts() == [], f"a dialog fired: {ui.alerts()}"


def test_leaderboard_draws_ratings_intervals_and_win_rates(ui):
    out = ui.output("leaderboard")
    view = ui.visible(out.locator(".nbm-leaderboard-widget"), "the leaderboard widget")
    text = view.first.inner_text()
    assert "alpha" in text and "gamma" in text and "rank" in text, text[:600]
    assert ui.nb.malicious in text  # a model name, shown as text
    assert ui.page.locator('img[src="x"]').count() == 0, "a model name became an <img> element"
    for selector in (".nbm-leaderboard-intervals", ".nbm-leaderboard-heatmap"):
        chart = ui.visible(
            out.locator(f"{selector} .js-plotly-plot, {selector}.js-plotly-plot"),
            f"a plotly chart in {selector}",
        )
        assert chart.first.locator(".main-svg").count() >= 1, f"{selector} is not drawn"
    ui.screenshot("leaderboard", out)
