"""RunComparisonWidget: the table drives curves, parcoords, what differs, data versions, figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import plotly.graph_objects as go
import pytest

import nb_mlops as nm
from nb_mlops.notebook.widgets.chart import CHART_MIME, VIEW_MIME, Chart
from nb_mlops.notebook.widgets.compare import RunComparisonWidget, parcoords_dimensions
from nb_mlops.notebook.widgets.render import WIDGET_VIEW

EVIL = "<img src=x onerror=alert(1)>"


def html_values(widget: widgets.Widget) -> Iterator[str]:
    """The value of every HTML widget, and the HTML of every output, under `widget`."""
    if isinstance(widget, (widgets.HTML, widgets.HTMLMath)):
        yield widget.value
    if isinstance(widget, widgets.Output):
        for out in widget.outputs:
            yield out["data"]["text/html"]
    for child in getattr(widget, "children", ()):
        yield from html_values(child)


def traces_of(widget: RunComparisonWidget) -> list[str]:
    """Run ids that have curves drawn, in order (each once, whatever the charts)."""
    return list(dict.fromkeys(t["meta"] for t in widget.curves.traces if "meta" in t))


@pytest.fixture
def runs(ws, project: Path) -> dict[str, str]:
    """Three runs over two dataset versions; the evil-named one has figures."""
    (project / "data.csv").write_text("id,x\n1,2\n")
    nm.snapshot("data.csv")
    ids = {}
    specs = [
        ("rf", {"model": "rf", "depth": 4, "note": "same"}, 0.8),
        ("gbm", {"model": "gbm", "depth": 8, "note": "same"}, 0.9),
    ]
    for name, params, acc in specs:
        with nm.start_run(name, params=params, data=["data.csv"]) as run:
            for step in range(20):
                nm.log_metric("loss", 1.0 / (step + 1) + acc, step=step)
            nm.log_metric("acc", acc)
        ids[name] = run.run_id
    (project / "data.csv").write_text("id,x\n1,3\n2,4\n")
    nm.snapshot("data.csv")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with nm.start_run(
        EVIL, params={"model": EVIL, "depth": 6, "note": "same"}, data=["data.csv"]
    ) as run:
        for step in range(20):
            nm.log_metric("loss", 2.0 / (step + 1), step=step)
        nm.log_metric("acc", 0.7)
        run.figure(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), name="bars")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        run.figure(fig, name="line")
        plt.close(fig)
    ids[EVIL] = run.run_id
    return ids


def test_table_lists_every_run_with_params_metrics_and_status(runs) -> None:
    widget = RunComparisonWidget(nm.compare())
    table = widget.table
    assert set(table.visible_ids) == set(runs.values())
    assert {"params.model", "params.depth", "metrics.acc", "metrics.loss", "status"} <= set(
        table.columns
    )
    assert "nbm-runs-table" in table.html.value and "nbm-status-finished" in table.html.value
    assert "nbm-compare" in widget._dom_classes


def test_named_runs_start_selected_and_drive_the_curves(runs) -> None:
    comparison = nm.compare(runs["rf"], runs["gbm"])
    widget = RunComparisonWidget(comparison)
    assert widget.selected == [runs["rf"], runs["gbm"]]
    assert widget.curves.panel_metrics() == ["acc", "loss"]  # a small chart each
    widget.curves.metric.value = "loss"
    assert traces_of(widget) == [runs["rf"], runs["gbm"]]


def test_ticking_a_box_updates_every_view(runs) -> None:
    widget = RunComparisonWidget(nm.compare())
    widget.select([runs["rf"]])
    widget.curves.metric.value = "loss"
    assert traces_of(widget) == [runs["rf"]]
    assert "select two or more runs" in widget.differs.value
    box = next(b for b in widget.table._check_box.children[1:] if b.description == runs["gbm"])
    box.value = True
    assert widget.selected == [runs["rf"], runs["gbm"]]
    assert widget.comparison.selected == widget.selected
    assert traces_of(widget) == [runs["rf"], runs["gbm"]]
    differs = widget.differs.value
    assert "params.model" in differs and "params.depth" in differs and "metrics.acc" in differs
    assert "params.note" not in differs  # the same for both: not shown
    assert "data.csv" in widget.data_versions.value
    box.value = False
    assert traces_of(widget) == [runs["rf"]]


def test_data_versions_mark_runs_that_read_other_versions(runs) -> None:
    widget = RunComparisonWidget(nm.compare(runs["rf"], runs[EVIL]))
    value = widget.data_versions.value
    assert value.count("data.csv") == 2
    assert "<td>1</td>" in value and "<td>2</td>" in value
    assert "background:rgba(255,193,7" in value
    only_one = RunComparisonWidget(nm.compare(runs["rf"], runs["gbm"]))
    assert "background" not in only_one.data_versions.value.split("<tbody>")[1]


def test_parcoords_numeric_and_categorical_params_against_a_metric(runs) -> None:
    comparison = nm.compare()
    dims, scores = parcoords_dimensions(comparison, comparison.run_ids(), "acc")
    labels = [d["label"] for d in dims]
    assert labels == ["params.depth", "params.model", "metrics.acc"]  # note never varies
    model = dims[1]
    assert model["ticktext"] == sorted(["gbm", "rf", "&lt;img src=x onerror=alert(1)&gt;"])
    assert sorted(scores) == [0.7, 0.8, 0.9]
    widget = RunComparisonWidget(comparison)
    widget.parcoords_metric.value = "acc"
    (trace,) = widget.parcoords.spec["data"]
    assert trace["type"] == "parcoords"
    assert [d["label"] for d in trace["dimensions"]] == labels
    assert trace["line"]["color"] == trace["dimensions"][-1]["values"]
    data = widget.parcoords.outputs[0]["data"]
    assert CHART_MIME in data and "parallel coordinates of 3 runs" in data["text/html"]


def test_parcoords_only_when_three_runs_differ(runs) -> None:
    widget = RunComparisonWidget(nm.compare())
    widget.select([runs["rf"], runs["gbm"]])
    widget.parcoords_metric.value = "acc"
    assert len(widget.parcoords.spec["data"][0]["dimensions"][-1]["values"]) == 3
    widget.parcoords_scope.value = "selected"  # two runs: a note, no chart
    assert widget.parcoords.spec is None
    (out,) = widget.parcoords.outputs
    assert CHART_MIME not in out["data"]
    assert "at least 3 runs that differ (2 here)" in out["data"]["text/html"]
    widget.select([runs["rf"]])  # one run: no param varies
    assert "varies" in widget.parcoords.text


def test_the_text_filter_narrows_the_curves_and_the_parcoords(runs) -> None:
    widget = RunComparisonWidget(nm.compare())
    widget.select([runs["rf"], runs["gbm"], runs[EVIL]])
    widget.parcoords_metric.value = "acc"
    assert set(traces_of(widget)) == {runs["rf"], runs["gbm"], runs[EVIL]}
    widget.table.filter.value = "gbm"
    assert widget.table.visible == [runs["gbm"]]
    assert traces_of(widget) == [runs["gbm"]]  # still selected, but filtered out of the charts
    assert widget.selected == [runs["rf"], runs["gbm"], runs[EVIL]]
    assert widget.parcoords.spec is None  # one run left in scope
    widget.table.filter.value = ""
    assert set(traces_of(widget)) == {runs["rf"], runs["gbm"], runs[EVIL]}
    assert widget.parcoords.spec is not None


def test_colours_follow_the_runs_not_the_selection(runs) -> None:
    widget = RunComparisonWidget(nm.compare())
    widget.curves.metric.value = "loss"

    def colours() -> dict[str, str]:
        return {t["meta"]: t["line"]["color"] for t in widget.curves.traces}

    widget.select([runs["rf"], runs["gbm"], runs[EVIL]])
    before = colours()
    widget.select([runs[EVIL], runs["gbm"]])
    assert colours() == {r: before[r] for r in (runs[EVIL], runs["gbm"])}
    assert len(set(before.values())) == 3


def test_figures_of_the_selected_runs_side_by_side(runs) -> None:
    widget = RunComparisonWidget(nm.compare(runs[EVIL], runs["rf"]))
    rows = widget.figures.children
    assert rows, "the evil run's figures are shown"
    cells = [cell for row in rows[1:] for cell in row.children]
    assert all(isinstance(c, Chart) for c in cells)  # one widget per figure
    plotly = [c for c in cells if c.spec is not None]
    assert len(plotly) == 1 and plotly[0].spec["data"][0]["type"] == "bar"
    assert "template" not in plotly[0].spec["layout"]  # the front end themes it
    assert plotly[0].spec["layout"]["colorway"][0] == "#636efa"  # plotly.py's trace colours
    assert plotly[0].spec["layout"]["width"] == 380
    svg = [c for c in cells if c.spec is None and "<svg" in c.outputs[-1]["data"]["text/html"]]
    assert len(svg) == 1
    assert all(EVIL not in c.outputs[0]["data"]["text/html"] for c in cells)  # captions
    widget.select([runs["rf"]])
    assert widget.figures.children == ()
    widget.select([runs[EVIL]])
    assert widget.figures.children[1].children[0] is plotly[0]  # kept, not rebuilt


def test_no_user_string_is_raw_in_any_html(runs) -> None:
    widget = RunComparisonWidget(nm.compare(runs[EVIL], runs["rf"]))
    widget.table.filter.value = "onerror"
    values = list(html_values(widget))
    assert any("&lt;img src=x onerror=alert(1)&gt;" in v for v in values)
    for value in values:
        assert EVIL not in value
    assert all(EVIL not in t["name"] for t in widget.curves.traces)
    bundle = widget._repr_mimebundle_()
    assert EVIL not in bundle["text/html"]  # text/plain is text, shown as is


def test_bundle_is_the_widget_plus_the_comparisons_static_view(runs) -> None:
    comparison = nm.compare(runs["rf"], runs["gbm"])
    widget = RunComparisonWidget(comparison)
    bundle = widget._repr_mimebundle_()
    view = {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    assert bundle[VIEW_MIME] == view
    assert WIDGET_VIEW not in bundle
    assert bundle["text/html"] == comparison._repr_html_()
    assert bundle["text/plain"] == str(comparison)


def test_an_empty_comparison_builds(ws) -> None:
    widget = RunComparisonWidget(nm.compare())
    assert widget.table.visible == []
    assert widget.curves.traces == []
    assert widget.parcoords.text == "no metrics to plot"
