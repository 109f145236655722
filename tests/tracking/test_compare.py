"""Comparing runs: which runs, what differs, curves read once, static views, API/command/CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import cli, sanitized

import nb_mlops as nm
from nb_mlops import api
from nb_mlops.commands import parse_line
from nb_mlops.errors import FilterSyntaxError, RunNotFound
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import compare as compare_module
from nb_mlops.tracking.compare import Comparison, compare
from nb_mlops.tracking.run import NonFiniteMetricWarning
from nb_mlops.tracking.views import STATUS_COLORS

EVIL = "<img src=x onerror=alert(1)>"


def make_runs() -> dict[str, str]:
    """Three runs (rf, rf-deep, gbm); returns name -> run_id."""
    ids = {}
    with nm.start_run("rf") as r:
        nm.log_params({"model": "rf", "depth": 8, "seed": 0})
        for i in range(4):
            nm.log_metrics({"loss": 1 / (i + 1), "acc": 0.5 + i / 10})
    ids["rf"] = r.run_id
    with nm.start_run("rf-deep") as r:
        nm.log_params({"model": "rf", "depth": 16, "seed": 0})
        for i in range(3):
            nm.log_metrics({"loss": 2 / (i + 1), "acc": 0.85})
    ids["rf-deep"] = r.run_id
    with nm.start_run("gbm") as r:
        nm.log_params({"model": "gbm", "seed": 0, "lr": 0.1})
        nm.log_metric("acc", 0.8)
    ids["gbm"] = r.run_id
    return ids


def test_compare_all_runs_selects_the_five_newest(ws: Workspace) -> None:
    ids = [nm.start_run(f"r{i}").__enter__() for i in range(7)]
    for run in ids:
        run.end()
    comp = compare(ws)
    assert comp.run_ids() == [r.run_id for r in reversed(ids)]  # newest first
    assert comp.selected == comp.run_ids()[:5]
    assert isinstance(api.compare(), Comparison) and nm.compare is api.compare


def test_compare_by_reference_selects_the_runs_named(ws: Workspace) -> None:
    ids = make_runs()
    comp = compare(ws, ["gbm", ids["rf"][:5], ids["rf"], "rf-deep"])
    assert comp.selected == [ids["gbm"], ids["rf"], ids["rf-deep"]]  # as named, once each
    assert comp.run_ids() == [ids["gbm"], ids["rf-deep"], ids["rf"]]  # only those, newest first
    with pytest.raises(RunNotFound, match="nope"):
        compare(ws, ["nope"])


def test_compare_by_filter_and_both(ws: Workspace) -> None:
    ids = make_runs()
    comp = compare(ws, filter="params.model = 'rf'")
    assert comp.run_ids() == [ids["rf-deep"], ids["rf"]]
    assert comp.selected == comp.run_ids() and comp.filter == "params.model = 'rf'"
    both = compare(ws, ["gbm"], filter="params.depth > 10")
    assert set(both.run_ids()) == {ids["gbm"], ids["rf-deep"]}
    assert both.selected == [ids["gbm"]]
    assert compare(ws, filter="params.model = 'xgb'").runs == []
    with pytest.raises(FilterSyntaxError):
        compare(ws, filter="params.model ==")


def test_params_and_metrics_are_sorted_unions(ws: Workspace) -> None:
    make_runs()
    comp = compare(ws)
    assert comp.params() == ["depth", "lr", "model", "seed"]
    assert comp.metrics() == ["acc", "loss"]


def test_differing_shows_only_what_differs_and_missing_differs(ws: Workspace) -> None:
    ids = make_runs()
    comp = compare(ws)
    rf, deep, gbm = ids["rf"], ids["rf-deep"], ids["gbm"]
    diff = comp.differing([rf, deep])
    assert diff["params"] == {"depth": {rf: 8, deep: 16}}  # model and seed are the same
    assert diff["metrics"] == {
        "loss": {rf: pytest.approx(0.25), deep: pytest.approx(2 / 3)},
        "acc": {rf: 0.8, deep: 0.85},
    }
    assert comp.differing([rf, gbm])["metrics"] == {"loss": {rf: 0.25, gbm: None}}  # acc same
    three = comp.differing([rf, deep, gbm])
    assert three["params"]["lr"] == {rf: None, deep: None, gbm: 0.1}  # missing counts
    assert set(three["params"]) == {"depth", "lr", "model"}
    assert comp.differing([rf]) == {"params": {}, "metrics": {}}
    assert comp.differing([rf, rf]) == {"params": {}, "metrics": {}}
    with pytest.raises(RunNotFound):
        comp.differing([rf, "zzzzzzzz"])


def test_differing_treats_nan_as_equal_and_compares_nested_values(ws: Workspace) -> None:
    for name in ("a", "b"):
        with pytest.warns(NonFiniteMetricWarning), nm.start_run(name):
            nm.log_params({"layers": [64, 32], "opt": {"lr": 0.1}})
            nm.log_metric("loss", math.nan)
    comp = compare(ws)
    assert comp.differing(comp.run_ids()) == {"params": {}, "metrics": {}}


def test_series_are_sorted_by_step_and_empty_when_missing(ws: Workspace) -> None:
    with nm.start_run("steps") as run:
        nm.log_metric("loss", 0.5, step=10)
        nm.log_metric("loss", 0.9, step=0)
        nm.log_metric("loss", 0.7, step=5)
    comp = compare(ws)
    steps, values, times = comp.series(run.run_id, "loss")
    assert list(steps) == [0, 5, 10] and list(values) == [0.9, 0.7, 0.5]
    assert times.dtype == np.float64 and len(times) == 3 and times.min() > 1e9
    s, v, t = comp.series(run.run_id, "accuracy")
    assert len(s) == len(v) == len(t) == 0
    with pytest.raises(ValueError):
        values[0] = 1.0  # shared with the cache: read-only
    with pytest.raises(RunNotFound, match="not in this comparison"):
        comp.series("zzzzzzzz", "loss")


def test_series_are_read_once_per_run(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = make_runs()
    calls: list[str] = []
    real = compare_module.load_run_columns

    def counting(ws: Workspace, doc: dict) -> dict:
        calls.append(doc["run_id"])
        return real(ws, doc)

    monkeypatch.setattr(compare_module, "load_run_columns", counting)
    comp = compare(ws)
    first = comp.series(ids["rf"], "loss")
    comp.series(ids["rf"], "acc")
    again = comp.series(ids["rf"], "loss")
    assert len(calls) == 1 and again[1] is first[1]
    comp.series(ids["gbm"], "acc")
    assert len(calls) == 2
    comp.invalidate(ids["rf"])
    comp.series(ids["rf"], "loss")
    assert len(calls) == 3


def test_a_run_active_here_is_flushed_and_reread_as_it_grows(ws: Workspace) -> None:
    with nm.start_run("live") as run:
        nm.log_metric("loss", 1.0)
        comp = compare(ws)
        assert comp.doc(run.run_id)["status"] == "running"
        assert list(comp.series(run.run_id, "loss")[1]) == [1.0]  # buffered point flushed
        nm.log_metric("loss", 0.5)
        assert list(comp.series(run.run_id, "loss")[1]) == [1.0, 0.5]
        assert comp.doc(run.run_id)["metrics"] == {"loss": 1.0}  # as of compare()


def test_data_versions_figures_and_tables(ws: Workspace, project: Path) -> None:
    (project / "data.csv").write_text("a,b\n1,2\n")
    nm.snapshot("data.csv", "v1")
    with nm.start_run("with-data", data=["data.csv"]) as run:
        run.table({"x": [1, 2]}, "preds")
        run.figure(_plotly(), "curve")
    with nm.start_run("no-data") as other:
        pass
    comp = compare(ws)
    versions = comp.data_versions([run.run_id, other.run_id])
    (item,) = versions[run.run_id]
    assert item["path"] == "data.csv" and item["version"] == 1 and len(item["md5"]) == 32
    assert versions[other.run_id] == []
    assert [f["name"] for f in comp.figures(run.run_id)] == ["curve"]
    assert [t["name"] for t in comp.tables(run.run_id)] == ["preds"]
    assert comp.figures(other.run_id) == comp.tables(other.run_id) == []


def _plotly():
    import plotly.graph_objects as go

    return go.Figure(go.Scatter(y=[1, 2]))


def test_to_dict_is_json(ws: Workspace) -> None:
    ids = make_runs()
    comp = compare(ws, ["rf", "rf-deep"])
    d = json.loads(json.dumps(comp.to_dict()))
    assert [r["run_id"] for r in d["runs"]] == [ids["rf-deep"], ids["rf"]]
    row = d["runs"][1]
    assert row["name"] == "rf" and row["status"] == "finished"
    assert row["params"] == {"model": "rf", "depth": 8, "seed": 0}
    assert row["metrics"]["loss"] == pytest.approx(0.25)
    assert d["selected"] == [ids["rf"], ids["rf-deep"]]
    assert d["differing"]["params"] == {"depth": {ids["rf"]: 8, ids["rf-deep"]: 16}}
    assert d["data_versions"] == {ids["rf"]: [], ids["rf-deep"]: []}


def test_static_views_escape_names_and_show_differences_and_curves(ws: Workspace) -> None:
    with nm.start_run(EVIL) as evil:
        nm.log_params({"note": EVIL, "depth": 1})
        for i in range(3):
            nm.log_metric(EVIL, i * 1.5)
    with pytest.raises(RuntimeError), nm.start_run("broken"):
        nm.log_params({"depth": 2})
        nm.log_metric(EVIL, 0.5)
        raise RuntimeError("boom")
    comp = compare(ws)
    page = comp._repr_html_()
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert STATUS_COLORS["failed"] in page and STATUS_COLORS["finished"] in page
    assert "Differing among the selected runs" in page and "params.depth" in page
    assert page.count('class="nbm-chart"') == 1  # one chart: one metric
    assert page.count("<polyline") == 1 and "<circle" in page  # 3 points, and a lone one
    text = str(comp)
    assert EVIL in text and "broken" in text and "params.depth" in text
    assert "2 runs, 2 selected" in text
    assert evil.run_id in text and repr(comp) == text


def test_static_views_of_nothing_and_of_identical_runs(ws: Workspace) -> None:
    assert "no runs to compare" in str(compare(ws))
    assert "no runs to compare" in compare(ws)._repr_html_()
    for name in ("x", "y"):
        with nm.start_run(name):
            nm.log_param("p", 1)
    comp = compare(ws)
    assert "same params and metrics" in str(comp)
    assert "same params and metrics" in comp._repr_html_()


def test_static_view_shows_figures_of_the_selected_runs(ws: Workspace) -> None:
    for name in ("a", "b"):
        with nm.start_run(name) as run:
            run.figure(_plotly(), "curve")
    page = compare(ws)._repr_html_()
    assert "Figures of the selected runs" in page
    assert page.count("plotly figure curve (interactive in the widget)") == 2


def test_compare_command_in_the_magic_table(ws: Workspace) -> None:
    ids = make_runs()
    cmd, args = parse_line("compare rf gbm")
    result = cmd.handler(args, None)
    assert isinstance(result, Comparison)
    assert result.selected == [ids["rf"], ids["gbm"]]
    cmd, args = parse_line("compare --filter \"params.model = 'rf'\"")
    assert set(cmd.handler(args, None).run_ids()) == {ids["rf"], ids["rf-deep"]}
    cmd, args = parse_line("compare")
    assert len(cmd.handler(args, None).runs) == 3


@pytest.mark.slow
def test_compare_from_the_cli(ws: Workspace, project: Path) -> None:
    ids = make_runs()
    out = cli(project, "compare", "rf", "gbm", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["selected"] == [ids["rf"], ids["gbm"]]
    assert set(data["differing"]["params"]) == {"depth", "lr", "model"}
    text = cli(project, "compare", "--filter", "params.model = 'rf'")
    assert text.returncode == 0, text.stderr
    assert "rf-deep" in text.stdout and "gbm" not in text.stdout
    bad = cli(project, "compare", "nope")
    assert bad.returncode == 1 and "nope" in bad.stderr


# --------------------------------------------------------------- bounded, plain, fixed colours
def test_static_view_is_bounded_to_a_hundred_runs(ws: Workspace) -> None:
    for i in range(103):
        with nm.start_run(f"run-{i}"):
            nm.log_metric("acc", i / 100)
    comp = compare(ws)
    page = comp.to_html()
    table = page[page.index("<table") : page.index("</table>")]
    assert table.count("<tr>") == 100 + 1
    assert "3 more runs — <code>nm.runs()</code> has them all" in page
    assert "103 runs, 5 selected (✓)" in sanitized(page)
    assert table.count("<td>✓</td>") == 5  # the selection is a mark, not a background
    text = comp.to_text()
    assert "3 more runs — `nm.runs()` has them all" in text
    assert len(text.splitlines()) < 110


def test_static_view_reads_without_styles_or_svg(ws: Workspace) -> None:
    ids = make_runs()
    comp = compare(ws)
    comp.selected = [ids["gbm"], ids["rf"]]
    text = sanitized(comp.to_html())
    assert "✓ " + ids["rf"] + " rf finished" in text
    assert ids["rf-deep"] + " rf-deep finished" in text  # not selected: no mark
    caption = "acc by step, last values: gbm ({}) 0.8; rf ({}) 0.8".format(ids["gbm"], ids["rf"])
    assert caption in text  # the chart's numbers survive without its SVG
    assert f"loss by step, last values: rf ({ids['rf']}) 0.25" in text
    assert "Differing among the selected runs" in text and "params.depth" in text


def test_static_charts_keep_each_runs_colour_whatever_the_selection(ws: Workspace) -> None:
    from nb_mlops.svgchart import PALETTE

    ids = make_runs()
    order = compare(ws).run_ids()  # newest first: gbm, rf-deep, rf
    assert order == [ids["gbm"], ids["rf-deep"], ids["rf"]]

    def series_colors(selected: list[str]) -> list[str]:
        comp = compare(ws)
        comp.selected = selected
        page = comp.to_html()
        chart = page[page.index("<svg") : page.index("</svg>")]  # acc: every run has it
        return re.findall(r'<polyline [^>]*stroke="([^"]+)"', chart)

    assert series_colors([ids["rf"], ids["rf-deep"]]) == [PALETTE[2], PALETTE[1]]
    assert series_colors([ids["rf-deep"], ids["rf"]]) == [PALETTE[1], PALETTE[2]]
    comp = compare(ws)
    assert [comp.color(r) for r in order] == list(PALETTE[:3])
