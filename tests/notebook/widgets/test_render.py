"""Display integration: domain results show as widgets with a static fallback; unload cleans up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_env
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.notebook.widgets import render
from nb_mlops.notebook.widgets.chart import VIEW_MIME
from nb_mlops.notebook.widgets.render import DOMAIN_TYPES, WIDGET_VIEW, StaticFallback

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def widgets_on(ip):
    ip.run_line_magic("config", "TrackMagics.widgets = 'on'")
    yield ip
    ip.run_line_magic("config", "TrackMagics.widgets = 'auto'")


def shown(ip, obj) -> dict:
    data, _ = ip.display_formatter.format(obj)
    return data


def our_printers(ip) -> list:
    fmt = ip.display_formatter.mimebundle_formatter
    deferred = [k for k, v in fmt.deferred_printers.items() if isinstance(v, render.Printers)]
    typed = [t for t, v in fmt.type_printers.items() if isinstance(v, render.Printers)]
    return deferred + typed


@pytest.fixture
def results(ws, project: Path) -> dict:
    with nm.start_run(EVIL) as run:
        nm.log_metric("loss", 0.5)
        nm.log_metric("loss", 0.25)
    (project / "d.csv").write_text("id,v\n1,a\n")
    nm.snapshot("d.csv")
    (project / "d.csv").write_text(f"id,v\n1,{EVIL}\n")
    return {
        "runs": nm.api.run_table(),
        "compare": nm.compare(),
        "detail": nm.get_run(run.run_id),
        "diff": nm.diff("d.csv", 1, "workspace", key="id"),
    }


@pytest.mark.parametrize(
    ("kind", "css"),
    [
        ("runs", "<svg"),  # the comparison's static view: the runs table and SVG curves
        ("compare", "<svg"),
        ("detail", "nbm-run"),
        ("diff", "<tr class='nbm-row-changed'"),  # rows classed as in the widget
    ],
)
def test_results_display_as_widget_plus_a_static_view(widgets_on, results, kind, css) -> None:
    obj = results[kind]
    data = shown(widgets_on, obj)
    assert set(data) == {VIEW_MIME, "text/html", "text/plain"}  # no widget view at the top
    view = data[VIEW_MIME]
    assert view["model_id"] and (view["version_major"], view["version_minor"]) == (2, 0)
    assert css in data["text/html"]
    assert EVIL not in data["text/html"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in data["text/html"]
    if kind in ("compare", "detail"):
        assert data["text/html"] == obj._repr_html_()
        assert data["text/plain"] == str(obj)


def test_runs_show_the_comparison_widget_over_those_runs(results) -> None:
    from nb_mlops.notebook.widgets.compare import RunComparisonWidget

    widget = render.widget_for(results["runs"])
    assert isinstance(widget, RunComparisonWidget)
    assert widget.table.visible_ids == [d["run_id"] for d in results["runs"].runs]
    assert widget.selected == widget.table.visible_ids[:5]


def test_magic_results_display_as_widgets(widgets_on, results) -> None:
    with capture_output():
        result = widgets_on.run_cell("%track diff d.csv 1 workspace --key id")
    widgets_on.user_ns["nm_result"] = result.result
    with capture_output() as cap:
        widgets_on.run_cell("from IPython.display import display\ndisplay(nm_result)")
    (out,) = cap.outputs
    assert VIEW_MIME in out.data and "nbm-datadiff" in out.data["text/html"]
    assert WIDGET_VIEW not in out.data
    assert EVIL not in out.data["text/html"]


@pytest.fixture
def html_on(ip, monkeypatch):
    """A terminal shell computes text/plain only; a kernel also computes text/html."""
    monkeypatch.setattr(ip.display_formatter.formatters["text/html"], "enabled", True)
    return ip


def test_no_widgets_outside_a_kernel_by_default(html_on, results) -> None:
    data = shown(html_on, results["compare"])
    assert VIEW_MIME not in data and WIDGET_VIEW not in data
    assert "nbm-compare" in data["text/html"]


def test_a_widget_that_fails_leaves_the_static_view(
    widgets_on, html_on, results, monkeypatch, caplog
) -> None:
    def boom(obj):
        raise RuntimeError("no front end today")

    monkeypatch.setattr(render, "widget_for", boom)
    data = shown(widgets_on, results["detail"])
    assert VIEW_MIME not in data
    assert data["text/html"] == results["detail"]._repr_html_()
    assert "no front end today" in caplog.text


def test_unload_removes_the_printers_and_restores_earlier_ones(ws) -> None:
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    fmt = shell.display_formatter.mimebundle_formatter
    theirs = lambda obj: {"text/plain": "theirs"}  # noqa: E731
    fmt.for_type_by_name("nb_mlops.data.diff", "DataDiff", theirs)
    try:
        before_types = dict(fmt.type_printers)
        shell.run_line_magic("load_ext", "nb_mlops")
        assert set(DOMAIN_TYPES) <= {
            k for k, v in fmt.deferred_printers.items() if isinstance(v, render.Printers)
        }
        shown(shell, nm.compare())  # moves the Comparison printer into type_printers
        assert our_printers(shell)
        shell.run_line_magic("unload_ext", "nb_mlops")
        assert our_printers(shell) == []
        assert fmt.deferred_printers[("nb_mlops.data.diff", "DataDiff")] is theirs
        assert dict(fmt.type_printers) == before_types
    finally:
        fmt.deferred_printers.pop(("nb_mlops.data.diff", "DataDiff"), None)


def test_a_broken_fallback_is_an_escaped_note(caplog) -> None:
    import ipywidgets as widgets

    class Broken(StaticFallback, widgets.HTML):
        def _fallback_html(self) -> str:
            raise ValueError(EVIL)

    bundle = Broken("x")._repr_mimebundle_()
    assert VIEW_MIME in bundle and WIDGET_VIEW not in bundle
    assert EVIL not in bundle["text/html"] and "no static view" in bundle["text/html"]
    assert bundle["text/plain"] == "<Broken>"


def test_widget_for_unknown_objects() -> None:
    with pytest.raises(TypeError, match="no widget for a int"):
        render.widget_for(3)


def test_the_package_exports_load_lazily() -> None:
    import nb_mlops.notebook.widgets as w

    assert w.TableWidget.__name__ == "TableWidget"
    assert w.LiveChart.__name__ == "LiveChart"
    with pytest.raises(AttributeError):
        _ = w.Nothing


# Builds every widget over the store the test made (one run with a plotly and a matplotlib
# figure), in a fresh interpreter: the modules it imported are what a notebook pays for.
_BUILD_EVERY_WIDGET = """
import json, sys
import nb_mlops as nm
from nb_mlops.notebook.widgets.compare import RunComparisonWidget
from nb_mlops.notebook.widgets.curves import CurvesWidget
from nb_mlops.notebook.widgets.datadiff import DataDiffWidget
from nb_mlops.notebook.widgets.detail import RunDetailWidget
from nb_mlops.notebook.widgets.live import LiveChart

comparison = nm.compare()
built = [RunComparisonWidget(comparison), CurvesWidget(comparison)]
run_id = comparison.run_ids()[0]
built.append(RunDetailWidget(nm.get_run(run_id)))
built.append(DataDiffWidget(nm.diff("d.csv", 1, "workspace", key="id")))
with nm.start_run("live") as run:
    live = LiveChart(run, show=lambda obj: None)
    run.log(loss=1.0)
    run.log(loss=0.5)
    live.poll()
bundles = [w._repr_mimebundle_() for w in built] + [live._repr_mimebundle_()]
figures = [c for row in built[0].figures.children[1:] for c in row.children]
print(json.dumps({
    "plotly": sorted(m for m in sys.modules if m.split(".")[0] == "plotly"),
    "figure_specs": [c.spec["data"][0]["type"] for c in figures if c.spec],
    "bundles": [sorted(b) for b in bundles],
}))
"""


def test_no_widget_imports_plotly(ws, project: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    with nm.start_run("figures") as run:
        nm.log_metric("loss", 1.0)
        nm.log_metric("loss", 0.5)
        run.figure(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), name="bars")
        fig, ax = plt.subplots()
        ax.plot([1, 2])
        run.figure(fig, name="line")
        plt.close(fig)
    (project / "d.csv").write_text("id,v\n1,a\n")
    nm.snapshot("d.csv")
    (project / "d.csv").write_text("id,v\n1,b\n")
    out = subprocess.run(
        [sys.executable, "-c", _BUILD_EVERY_WIDGET],
        cwd=project,
        env=run_env(project),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["plotly"] == []
    assert found["figure_specs"] == ["bar"]  # the stored plotly figure, drawn from its JSON
    views = [b for b in found["bundles"] if VIEW_MIME in b]
    assert len(views) == 4 and all(WIDGET_VIEW not in b for b in found["bundles"])


class Wire:
    """Every comm message the widgets send, as bytes of JSON (and binary buffers)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.opens = 0

    def comm(self, *args, **kwargs):
        from comm import DummyComm

        wire = self

        class Recording(DummyComm):
            def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
                wire.opens += msg_type == "comm_open"
                wire.bytes += len(json.dumps(data, default=str))
                wire.bytes += sum(len(b) for b in buffers or ())

        return Recording(*args, **kwargs)


def test_track_runs_over_5_runs_costs_at_most_300_kb(widgets_on, ws, monkeypatch) -> None:
    import comm
    import ipywidgets as widgets

    for i in range(5):
        with nm.start_run(f"run-{i}", params={"lr": 0.1 * (i + 1), "depth": i}) as run:
            for step in range(100):
                run.log(loss=1 / (step + 1) + i / 10, acc=step / 100, lr=0.1 / (step + 1))
    wire = Wire()
    monkeypatch.setattr(comm, "create_comm", wire.comm)
    before = set(widgets.Widget.get_manager_state()["state"])
    with capture_output():
        table = widgets_on.run_line_magic("track", "runs")
    bundle = shown(widgets_on, table)
    state = widgets.Widget.get_manager_state()["state"]
    made = {k: v for k, v in state.items() if k not in before}
    total = wire.bytes + len(json.dumps(bundle))
    assert VIEW_MIME in bundle
    assert total <= 300_000  # the budget (plotly FigureWidgets: 10 MB)
    assert len(json.dumps(made)) <= 300_000  # what a saved notebook keeps of them
    assert wire.opens == len(made) <= 200  # widgets, not hundreds
