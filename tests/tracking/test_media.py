"""Figures and tables stored with a run, and how the run detail shows them."""

from __future__ import annotations

import json
import sys

import pandas as pd
import plotly.graph_objects as go
import pytest

import nb_mlops as nm
from nb_mlops.errors import NbMlopsError
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking.media import figure_html, load_figure, load_table, table_html

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def mpl_figure(title: str = "loss") -> object:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1.0, 0.5, 0.25])
    ax.set_title(title)
    return fig


def run_doc(ws: Workspace, run_id: str) -> dict:
    return ws.catalog.get("runs", run_id)


def test_matplotlib_figure_is_stored_as_svg_and_png(ws: Workspace) -> None:
    with nm.start_run("figs") as run:
        rec = run.figure(mpl_figure())
    assert rec["name"] == "figure-1" and rec["kind"] == "matplotlib"
    assert set(rec) == {"name", "kind", "svg", "png"}
    svg = load_figure(ws, rec)
    assert isinstance(svg, str) and "<svg" in svg
    assert ws.objects.read_bytes(rec["png"]).startswith(b"\x89PNG")
    doc = run_doc(ws, run.run_id)
    assert doc["figures"] == [rec]
    assert {rec["svg"], rec["png"]} <= set(doc["refs"])


def test_plotly_figure_round_trips(ws: Workspace) -> None:
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3.0, 1.0, 2.0], name="acc"))
    with nm.start_run("plotly") as run:
        rec = run.figure(fig, name="curve")
    assert rec == {"name": "curve", "kind": "plotly", "json": rec["json"]}
    back = load_figure(ws, rec)
    assert isinstance(back, go.Figure)
    assert back.to_dict() == go.Figure(fig).to_dict()
    assert json.loads(ws.objects.read_bytes(rec["json"]))["data"][0]["name"] == "acc"


def test_axes_are_taken_for_their_figure(ws: Workspace) -> None:
    fig = mpl_figure()
    with nm.start_run("axes") as run:
        rec = run.figure(fig.axes[0], "from-axes")
    assert rec["kind"] == "matplotlib"


def test_names_default_and_the_same_name_replaces(ws: Workspace) -> None:
    with nm.start_run("names") as run:
        first = run.figure(mpl_figure("one"), name="curve")
        run.figure(go.Figure())
        run.figure(go.Figure(go.Bar(y=[1])))
        replaced = run.figure(mpl_figure("two"), name="curve")
        doc = run_doc(ws, run.run_id)
        assert [f["name"] for f in doc["figures"]] == ["figure-2", "figure-3", "curve"]
        assert doc["figures"][-1] == replaced
        # objects only the replaced record used are no longer kept by the run
        assert first["svg"] not in doc["refs"] and replaced["svg"] in doc["refs"]
        assert doc["env"]["packages"] in doc["refs"]
        # a default name never clashes with one the user chose
        run.figure(go.Figure(), name="figure-4")
        assert run.figure(go.Figure(go.Bar(y=[2])))["name"] == "figure-5"


def test_bad_figures_and_names_are_refused_in_one_line(ws: Workspace) -> None:
    with nm.start_run("bad") as run:
        with pytest.raises(NbMlopsError, match=r"builtins\.dict") as err:
            run.figure({"data": []})
        assert "\n" not in str(err.value)
        with pytest.raises(NbMlopsError, match="figure name"):
            run.figure(go.Figure(), name="two\nlines")
        with pytest.raises(NbMlopsError, match="table name"):
            run.table(pd.DataFrame({"a": [1]}), name="")
    assert "figures" not in run_doc(ws, run.run_id)


def test_figures_and_tables_are_refused_after_the_run_ended(ws: Workspace) -> None:
    with nm.start_run("ended") as run:
        pass
    with pytest.raises(NbMlopsError, match="has ended"):
        run.figure(go.Figure())
    with pytest.raises(NbMlopsError, match="has ended"):
        run.table(pd.DataFrame({"a": [1]}))


def test_track_proxy_stores_with_the_active_run(ws: Workspace) -> None:
    with nm.start_run("proxy") as run:
        nm.track.figure(go.Figure(), "p")
        nm.track.table({"a": [1, 2]}, "t")
    doc = run_doc(ws, run.run_id)
    assert [f["name"] for f in doc["figures"]] == ["p"]
    assert [t["name"] for t in doc["tables"]] == ["t"]


def test_table_is_stored_as_parquet_with_an_escaped_preview(ws: Workspace) -> None:
    df = pd.DataFrame({EVIL: [f"<b>{i}</b>" for i in range(30)], "n": range(30)})
    with nm.start_run("tables") as run:
        rec = run.table(df)
    assert rec["name"] == "table-1" and rec["kind"] == "table"
    assert rec["rows"] == 30 and rec["columns"] == [EVIL, "n"]
    pd.testing.assert_frame_equal(load_table(ws, rec), df)
    preview = ws.objects.read_bytes(rec["preview"]).decode()
    assert "<img" not in preview and "<b>" not in preview
    assert "&lt;b&gt;19&lt;/b&gt;" in preview and "&lt;b&gt;20&lt;/b&gt;" not in preview
    assert {rec["parquet"], rec["preview"]} <= set(run_doc(ws, run.run_id)["refs"])


def test_table_accepts_what_dataframe_accepts_and_refuses_the_rest(ws: Workspace) -> None:
    with nm.start_run("inputs") as run:
        rec = run.table([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], "records")
        assert load_table(ws, rec).to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
        with pytest.raises(NbMlopsError, match=r"builtins\.int is not a DataFrame") as err:
            run.table(42)
        assert "\n" not in str(err.value)
        with pytest.raises(NbMlopsError, match="as Parquet"):
            run.table(pd.DataFrame({"mixed": [1, "a", 2.5]}))
    assert [t["name"] for t in run_doc(ws, run.run_id)["tables"]] == ["records"]


def test_gc_keeps_figures_and_tables_and_artifacts_keep_them_too(ws: Workspace, project) -> None:
    (project / "model.txt").write_text("weights")
    with nm.start_run("kept") as run:
        fig = run.figure(mpl_figure())
        tab = run.table(pd.DataFrame({"a": [1]}))
        run.log_artifact(project / "model.txt")  # rewrites refs: must not drop ours
    report = nm.gc(grace_s=0)
    assert report.objects_removed == 0
    for md5 in (fig["svg"], fig["png"], tab["parquet"], tab["preview"]):
        assert ws.objects.has(md5)


def test_figure_html_inlines_svg_or_falls_back_to_png(ws: Workspace) -> None:
    with nm.start_run("html") as run:
        rec = run.figure(mpl_figure(EVIL))
        plotly_rec = run.figure(go.Figure(), name=EVIL)
    out = figure_html(ws, rec)
    assert out.count("<svg") == 1 and "<?xml" not in out and "<!DOCTYPE" not in out
    assert "<img" not in out and "onerror" not in out  # the title is drawn as paths
    note = figure_html(ws, plotly_rec)
    assert "interactive in the widget" in note and "&lt;img src=x" in note and "<img" not in note
    # an SVG with anything active is never inlined: the PNG is shown instead
    for active in (b"<script>x()</script>", b'<a href="javascript:x()">a</a>', b"<g\nonload=x()/>"):
        bad = ws.objects.add_bytes(b'<svg xmlns="http://www.w3.org/2000/svg">' + active + b"</svg>")
        out = figure_html(ws, {**rec, "svg": bad})
        assert "<svg" not in out and 'src="data:image/png;base64,' in out
    # objects gone (a store copied without its cache): a note, not an error
    missing = {**rec, "svg": "0" * 32, "png": "1" * 32}
    assert "not in this store" in figure_html(ws, missing)


def test_run_detail_lists_and_shows_figures_tables_and_sparklines(ws: Workspace) -> None:
    with nm.start_run("detail") as run:
        for i in range(5):
            nm.log_metric("loss", 1 / (i + 1))
        nm.log_metric("single", 1.0)
        run.figure(mpl_figure(), "mpl")
        run.figure(go.Figure(), "interactive")
        run.table(pd.DataFrame({"col": ["<i>cell</i>"]}), "preds")
    detail = nm.get_run("detail")
    text = str(detail)
    assert "Figures:" in text and "mpl" in text and "matplotlib" in text
    assert "Tables:" in text and "preds" in text and "1 rows × 1 columns" in text
    page = detail._repr_html_()
    assert "<h4>Figures</h4>" in page and "<h4>Tables</h4>" in page
    assert "plotly figure interactive (interactive in the widget)" in page
    assert "&lt;i&gt;cell&lt;/i&gt;" in page and "<i>cell</i>" not in page
    assert page.count('class="nbm-spark"') == 1  # loss has a curve; one point has none
    assert page.count("<svg") >= 2  # the matplotlib figure inline, and the sparkline


def test_tracked_cell_stores_figures_and_tables(ip, ws: Workspace) -> None:
    from IPython.utils.capture import capture_output

    with capture_output():
        result = ip.run_cell(
            "%%track -n rich-cell\n"
            "import pandas as pd, plotly.graph_objects as go\n"
            "track.figure(go.Figure(go.Scatter(y=[1, 2])), 'curve')\n"
            "track.table(pd.DataFrame({'a': [1, 2]}))\n"
        )
    assert result.error_in_exec is None
    doc = ws.catalog.newest("runs", "name", "rich-cell")
    assert [f["name"] for f in doc["figures"]] == ["curve"]
    assert doc["tables"][0]["rows"] == 2


def test_table_html_caption(ws: Workspace) -> None:
    with nm.start_run("caption") as run:
        rec = run.table(pd.DataFrame({"a": range(25)}), EVIL)
    out = table_html(ws, rec)
    assert "25 rows × 1 columns (first 20 shown)" in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "<img" not in out
    assert "<table" not in table_html(None, rec)  # no store: the caption alone


def test_a_plotly_record_without_plotly_installed_says_what_is_missing(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with nm.start_run("plotly") as run:
        rec = run.figure(go.Figure(go.Scatter(x=[1], y=[2])), name="curve")
    monkeypatch.setitem(sys.modules, "plotly.io", None)  # as if the package were not installed
    with pytest.raises(NbMlopsError, match=r"'curve' is a plotly figure: .*pip install plotly"):
        load_figure(ws, rec)
