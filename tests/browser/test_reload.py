"""Every chart survives a page reload and reopening the notebook while the kernel lives.

Issue 11: with plotly FigureWidgets, traces added after construction were not in the state a new
view received, so after a reload the curves and the parallel coordinates were empty (axes -1..6,
a stale title). Here the widgets notebook is run, saved, and then (1) the page is reloaded and
(2) the notebook is closed and opened again, each time with the same kernel; the curves must
have the same traces with the same points, lines drawn, and the parallel coordinates the same
axes and lines; every result shown live before is live again (our VIEW renderer must not fall
back to the static form while the kernel still has the widgets); no error box, no "Loading
widget...". JupyterLab 4 and Notebook 7.
Screenshots: test-artifacts/screenshots/{lab,notebook7}-after-{reload,reopen}.png.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module", params=["lab", "notebook7"])
def ui(request, open_notebook):
    server = request.getfixturevalue(f"{request.param}_server")
    with open_notebook(server, f"reload-{server.label}.ipynb") as ui:
        yield ui


def shape(charts: list[dict]) -> list[tuple]:
    """What must be the same after a reload: per chart, its kind, and per trace its name and
    point count (line charts) or its axes and lines (parallel coordinates)."""
    out = []
    for c in charts:
        if c["kind"] == "parcoords":
            out.append(("parcoords", c["parcoords"]["dims"], c["parcoords"]["lines"]))
        else:
            visible = [t for t in c["traces"] if t["visible"] is not False]
            out.append(("xy", sorted((t["name"], t["points"]) for t in visible)))
    return out


def drawn(ui, key: str, before: list[dict]) -> list[dict]:
    """Wait until the output draws as many line charts and parallel coordinates as before."""
    curves = sum(1 for c in before if c["kind"] == "xy")
    par = sum(1 for c in before if c["kind"] == "parcoords")
    return ui.wait_charts(key, curves=curves, parcoords=par)


def assert_same_charts(ui, before: list[dict], when: str) -> None:
    after = drawn(ui, "runs", before)
    assert shape(after) == shape(before), f"{ui.server.label}, {when}: the charts changed"
    for c in after:
        if c["kind"] == "xy":
            visible = [t for t in c["traces"] if t["visible"] is not False]
            assert c["scatterTraces"] >= len(visible) > 0, f"{when}: traces not drawn: {c}"
        else:
            p = c["parcoords"]
            assert p["axes"] == p["dims"] >= 2 and p["lines"] >= 3, f"{when}: parcoords {p}"
    assert ui.problems() == [], f"{when}: {ui.problems()}"


VIEWS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map((c, i) =>
    [i, Array.from(c.querySelectorAll('.nbm-view'))
          .map(v => v.classList.contains('nbm-view-static') ? 'static' : 'live')])
    .filter(x => x[1].length)"""


def views(ui) -> dict[int, list[str]]:
    """Cell index -> how each of its results is shown by our VIEW renderer (live or static)."""
    return dict(ui.page.evaluate(VIEWS_JS))


def assert_all_live(ui, before: dict[int, list[str]], when: str) -> None:
    """The kernel lives, so every result shown live before is live again (not its static
    form: that is for a kernel that lost its widgets)."""
    want = {i: ["live"] * len(v) for i, v in before.items()}
    try:
        ui.wait_until(lambda: views(ui) == want, f"{when}: results not live again")
    except AssertionError:
        keys = {v: k for k, v in ui.nb.cells.items()}
        static = {keys.get(i, i): v for i, v in views(ui).items() if "static" in v}
        raise AssertionError(
            f"{ui.server.label}, {when}: shown in their static form although the kernel "
            f"lives: {static}"
        ) from None


def test_charts_survive_reload_and_reopen(ui):
    page_kernel = ui.kernel_id()
    before = ui.wait_charts("runs", curves=1, parcoords=1)
    assert shape(before), before
    assert any(c["kind"] == "parcoords" for c in before), "no parallel coordinates to reload"
    live = views(ui)
    assert len(live) >= 4, f"results shown through our VIEW renderer: {live}"
    assert all(v == ["live"] for v in live.values()), f"not live before the reload: {live}"

    ui.reload()
    assert ui.kernel_id() == page_kernel, "the reload started another kernel"
    assert_same_charts(ui, before, "after a reload")
    ui.screenshot("after-reload", ui.output("runs"))
    assert_all_live(ui, live, "after a reload")

    ui.reopen()
    assert ui.kernel_id() == page_kernel, "reopening started another kernel"
    assert_same_charts(ui, before, "after reopening the notebook")
    ui.screenshot("after-reopen", ui.output("runs"))
    assert_all_live(ui, live, "after reopening the notebook")


def test_the_other_views_survive_a_reload(ui):
    """The diff, the run detail and the runs table are back, live (never blank)."""
    live = views(ui)
    ui.reload()
    assert_all_live(ui, live, "after a second reload")
    for key, selector, text in (
        ("runs", ".nbm-runs-table", "fast"),
        ("diff", ".nbm-datadiff", "great"),
        ("show", ".nbm-run-detail", "fast"),
        ("board", ".nbm-scoreboard-widget", "echo-2"),
        ("leaderboard", ".nbm-leaderboard-widget", "gamma"),
        ("annotate", ".nbm-annotator", "question 0"),
    ):
        out = ui.output(key)
        try:
            found = ui.visible(out.locator(selector), f"{selector} after a reload")
        except AssertionError as exc:
            shown = out.evaluate(
                "o => [o.innerText.slice(0, 400), Array.from(o.querySelectorAll('[class]'))"
                ".map(e => e.className).filter(c => String(c).includes('nbm')).slice(0, 12)]"
            )
            raise AssertionError(f"{exc}\nthe {key!r} output shows: {shown}") from None
        assert text in found.first.inner_text(), f"{key}: {found.first.inner_text()[:300]}"
    assert ui.problems() == [], ui.problems()
