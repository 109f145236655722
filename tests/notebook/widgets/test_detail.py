"""RunDetailWidget: tabs for params, metrics (sparklines, curves), artifacts, data, cells,
environment, output, traceback, figures and tables; every user string escaped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import pytest
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.notebook.widgets.chart import CHART_MIME, VIEW_MIME, Chart
from nb_mlops.notebook.widgets.detail import RunDetailWidget
from nb_mlops.notebook.widgets.render import WIDGET_VIEW

EVIL = "<img src=x onerror=alert(1)>"


def html_values(widget: widgets.Widget) -> Iterator[str]:
    if isinstance(widget, widgets.HTML):
        yield widget.value
    if isinstance(widget, widgets.Output):
        for out in widget.outputs:
            yield out["data"]["text/html"]
    for child in getattr(widget, "children", ()):
        yield from html_values(child)


def tab(widget: RunDetailWidget, title: str) -> widgets.Widget:
    return widget.tabs.children[widget.tab_titles.index(title)]


@pytest.fixture
def failed_run(ip, ws, project: Path) -> str:
    (project / "data.csv").write_text("id\n1\n")
    (project / "weights.bin").write_bytes(b"w" * 2048)
    cell = (
        f"%%track -n '{EVIL}' --data data.csv --tag owner={EVIL.replace(' ', '_')}\n"
        f"label = {EVIL!r}\n"
        "import pandas as pd, plotly.graph_objects as go\n"
        "for i in range(30):\n"
        "    track.log(loss=1 / (i + 1), acc=i / 30)\n"
        "track.artifact('weights.bin')\n"
        "track.figure(go.Figure(go.Scatter(y=[1, 3, 2])), name='scatter')\n"
        f"track.table(pd.DataFrame({{'text': [{EVIL!r}], 'n': [1]}}), name='preview')\n"
        f"print({EVIL!r})\n"
        f"raise ValueError({EVIL!r})\n"
    )
    with capture_output():
        result = ip.run_cell(cell)
    assert isinstance(result.error_in_exec, ValueError)
    return nm.get_run(EVIL).to_dict()["run_id"]


def test_tabs_of_a_failed_run(failed_run) -> None:
    widget = RunDetailWidget(nm.get_run(failed_run))
    assert "nbm-run-detail" in widget._dom_classes
    assert widget.tab_titles == [
        "overview",
        "metrics",
        "artifacts",
        "data",
        "cells",
        "environment",
        "output",
        "traceback",
        "figures",
        "tables",
    ]
    assert (
        "ValueError" in widget.children[0].value and "nbm-status-failed" in widget.children[0].value
    )
    overview = tab(widget, "overview").value
    assert "label" in overview and "owner" in overview
    assert (
        "weights.bin" in tab(widget, "artifacts").value
        and "2.0 KiB" in tab(widget, "artifacts").value
    )
    assert "data.csv" in tab(widget, "data").value
    assert "track.log(loss=" in tab(widget, "cells").value
    assert "python" in tab(widget, "environment").value
    traceback = tab(widget, "traceback").value
    assert "Traceback" in traceback and "ValueError" in traceback


def test_metrics_have_sparklines_and_small_charts(failed_run) -> None:
    widget = RunDetailWidget(nm.get_run(failed_run))
    metrics = tab(widget, "metrics")
    table = metrics.children[0].value
    assert table.count('class="nbm-spark"') == 2
    assert "30 points" in table
    assert isinstance(widget.curves, Chart) and metrics.children[1] is widget.curves
    spec = widget.curves.spec
    acc, loss = spec["data"]
    assert (acc["name"], loss["name"]) == ("acc", "loss")
    assert acc.get("yaxis", "y") != loss.get("yaxis", "y")  # a chart per metric kind
    assert len(loss["y"]) == 30 and loss["y"][-1] == pytest.approx(1 / 30)
    assert spec["layout"]["width"] == 720  # fixed: a hidden tab has no width to fill
    data = widget.curves.outputs[0]["data"]
    assert CHART_MIME in data and data["text/html"].count("<svg") == 2
    assert "acc, loss: 2 metrics, steps 0–29" in data["text/html"]


def test_figures_and_tables(failed_run) -> None:
    widget = RunDetailWidget(nm.get_run(failed_run))
    figures = tab(widget, "figures")
    (cell,) = figures.children
    assert isinstance(cell, Chart)
    assert cell.spec["data"][0]["type"] == "scatter" and cell.spec["layout"]["width"] == 420
    tables = tab(widget, "tables").value
    assert "preview: 1 rows × 2 columns" in tables
    assert "&lt;img src=x onerror=alert(1)&gt;" in tables


def test_no_user_string_is_raw(failed_run) -> None:
    widget = RunDetailWidget(nm.get_run(failed_run))
    values = list(html_values(widget))
    assert sum("&lt;img src=x onerror=alert(1)&gt;" in v for v in values) >= 5
    for value in values:
        assert EVIL not in value
    bundle = widget._repr_mimebundle_()
    assert bundle[VIEW_MIME]["model_id"] == widget.model_id and WIDGET_VIEW not in bundle
    assert EVIL not in bundle["text/html"] and "nbm-run" in bundle["text/html"]


def test_a_plain_finished_run_has_only_the_tabs_it_needs(ws) -> None:
    with nm.start_run("plain") as run:
        nm.log_param("lr", 0.1)
    widget = RunDetailWidget(nm.get_run(run.run_id))
    assert widget.tab_titles == ["overview", "metrics", "artifacts", "data", "cells", "environment"]
    assert "no metrics" in tab(widget, "metrics").value
    assert widget.curves is None
    assert "no artifacts" in tab(widget, "artifacts").value


def test_html_tabs_show_the_run_details_own_sections(failed_run) -> None:
    detail = nm.get_run(failed_run)
    widget = RunDetailWidget(detail)
    assert widget.tab_titles == detail.sections()
    for title in ("overview", "artifacts", "data", "cells", "environment", "output", "tables"):
        assert tab(widget, title).value == detail.STYLE + detail.section_html(title)
    metrics = tab(widget, "metrics").children[0].value
    assert metrics == detail.STYLE + detail.section_html("metrics")
    assert "<h4>Figures</h4>" in detail.to_html()  # static: inline; the tab: live figures
