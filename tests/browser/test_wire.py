"""What a display costs on the wire, counted from the page's own kernel websocket frames.

Issue 11's measure: one `%track runs` over 5 runs x 3 metrics x 100 points sends at most 300 KB
to the page (it was 10.3 MB while every plotly FigureWidget carried plotly.js in its state); a
second display costs the same; the live chart of a `%%track` cell logging the same 3 x 100
points costs no more than that. plotly.js is a chunk of our labextension, fetched once per page
and never sent over the websocket. JupyterLab 4 and Notebook 7.

Each measure counts the payload bytes of every frame the page receives on the kernel's
websocket from just before the cell is run until the charts are drawn and no frame came for
1.5 s. Figures: test-artifacts/figures/wire-lab.json, wire-notebook7.json.
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MAX_DISPLAY_BYTES = 300_000
METRICS = 3  # loss, accuracy, lr (conftest.WIRE_METRICS)
POINTS = 100


def measure(ui, key: str, curves: int) -> dict:
    """Run cell `key`; the bytes received until its charts are drawn and the wire is quiet."""
    ui.wire.mark()
    t0 = time.perf_counter()
    ui.run_cell(key)
    charts = ui.wait_charts(key, curves=curves)
    drawn_s = time.perf_counter() - t0
    ui.wire.settle()
    return {**ui.wire.since(), "drawn_s": round(drawn_s, 2), "charts": charts}


def setup_cells(ui) -> None:
    ui.run_cell("setup")
    ui.run_cell("fill")


@pytest.fixture(scope="module", params=["lab", "notebook7"])
def wire(request, open_notebook, figures):
    """The wire notebook open in a fresh page and kernel: its setup cells run, then each display
    measured in turn (`runs`, `again` and `live`), with the plotly.js bundles the page fetched."""
    server = request.getfixturevalue(f"{request.param}_server")
    with open_notebook(server, f"wire-{server.label}.ipynb", kind="wire", run=setup_cells) as ui:
        results = {
            "runs": measure(ui, "runs", curves=1),
            "again": measure(ui, "again", curves=1),
            "live": measure(ui, "live", curves=1),
        }
        results["plotly_bundles"] = ui.wire.bundles()
        results["problems"] = ui.problems()
        kept = {k: v for k, v in results.items() if k not in ("runs", "again", "live")}
        for key in ("runs", "again", "live"):
            kept[key] = {k: v for k, v in results[key].items() if k != "charts"}
            kept[key]["traces"] = [len(c["traces"]) for c in results[key]["charts"]]
        figures(f"wire-{server.label}", kept)
        ui.screenshot("wire-runs", ui.output("runs"))
        ui.screenshot("wire-live", ui.output("live"))
        yield ui, results


def test_one_track_runs_sends_at_most_300_kb(wire):
    ui, results = wire
    sent = results["runs"]["bytes"]
    assert sent <= MAX_DISPLAY_BYTES, (
        f"{ui.server.label}: one `%track runs` over 5 runs x 3 metrics x 100 points sent "
        f"{sent:,} bytes to the page ({results['runs']['frames']} frames); at most "
        f"{MAX_DISPLAY_BYTES:,}"
    )
    assert results["problems"] == [], results["problems"]


def test_the_curves_hold_every_run_and_point(wire):
    """The display measured is the real one: 5 runs' curves of 100 points each are drawn."""
    _, results = wire
    charts = [c for c in results["runs"]["charts"] if c["kind"] == "xy"]
    runs = {t["name"] for c in charts for t in c["traces"] if t["points"] >= POINTS}
    assert len(runs) >= 5, f"curves with {POINTS} points for {sorted(runs)}; want the 5 runs"


def test_a_second_display_costs_the_same(wire):
    _, results = wire
    first, again = results["runs"]["bytes"], results["again"]["bytes"]
    assert again <= MAX_DISPLAY_BYTES, f"the second `%track runs` sent {again:,} bytes"
    assert again <= first * 1.5 + 20_000, (first, again)


def test_the_live_chart_costs_no_more_than_the_others(wire):
    ui, results = wire
    live = results["live"]
    assert live["bytes"] <= MAX_DISPLAY_BYTES, (
        f"{ui.server.label}: the live chart of a %%track cell logging 3 metrics x 100 points "
        f"sent {live['bytes']:,} bytes; at most {MAX_DISPLAY_BYTES:,} (a `%track runs` sent "
        f"{results['runs']['bytes']:,})"
    )
    final = ui.charts("live")
    drawn = [c for c in final if c["kind"] == "xy" and c["traces"]]
    assert drawn, f"the live chart is not drawn after the cell: {final}"
    points = max(t["points"] for c in drawn for t in c["traces"])
    assert points == POINTS, f"the live chart ends with {points} points per metric, not {POINTS}"
    names = " ".join(c["text"] + " ".join(t["name"] for t in c["traces"]) for c in drawn)
    for metric in ("loss", "accuracy", "lr"):
        assert metric in names, f"the live chart does not show {metric!r}: {names}"


def test_plotly_js_is_fetched_once_per_page(wire):
    """Three displays (two `%track runs`, one live chart) in one page: plotly.js (our lazy
    chunk, > 1 MB) is fetched once. nb-mlops does not need the plotly package; where it is
    installed anyway (this venv: the tests store plotly figures), its own JupyterLab extension
    (jupyterlab-plotly) brings its own copy for plotly's outputs, and no other copy is fetched."""
    ui, results = wire
    bundles = results["plotly_bundles"]
    ours = [b for b in bundles if "/nb-mlops/" in b[0]]
    assert len(ours) == 1, f"{ui.server.label}: our plotly.js chunk fetched {len(ours)} times"
    others = [b for b in bundles if "/nb-mlops/" not in b[0]]
    assert all("/jupyterlab-plotly/" in url for url, _ in others), (
        f"{ui.server.label}: the page fetched plotly.js from elsewhere too: {bundles}"
    )
    assert len(others) <= 1, f"{ui.server.label}: plotly's own copy fetched twice: {bundles}"
