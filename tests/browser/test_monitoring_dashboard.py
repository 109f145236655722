"""The monitoring dashboard (`mon` alone in a cell) in JupyterLab and Notebook 7: drawn, driven,
light on the wire, alive after a page reload, and readable once exported by nbconvert.

The notebook makes a monitor the way a user would (a model, a reference, five daily batches:
two labelled, one not, two drifted, then another model serving the last batch) with a feature
and a category named like an XSS payload, and shows it. It also reopens, by name, a monitor of
1,000 daily windows x 50 features that the test put in the notebook's store beforehand (3
windows observed, 997 copies of their records before them: computing 1,000 windows takes
minutes) and shows it twice; each display's bytes are counted from the page's kernel websocket
frames, as tests/browser/test_wire.py does. JupyterLab and Notebook 7. Figures:
test-artifacts/figures/monitoring-{lab,notebook7}.json. Screenshots:
test-artifacts/screenshots/{lab,notebook7}-monitoring-*.png, static-monitoring-*.png.
"""

from __future__ import annotations

import copy
import html
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nb_mlops.monitor import Monitor, MonitorAlert, state
from nb_mlops.store.workspace import open_workspace

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EVIL = "<img src=x onerror=alert(1)>"
MAX_DISPLAY_BYTES = 300_000  # issue 11's budget for one display
DAYS = 5
BIG_WINDOWS, BIG_FEATURES = 1000, 50
TIMELINE = ".nbm-monitor-timeline .js-plotly-plot"
DISTRIBUTION = ".nbm-monitor-distribution .js-plotly-plot"

SETUP = f"""%load_ext nb_mlops
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from nb_mlops.monitor import Monitor

EVIL = {EVIL!r}
NUMERIC = ["age", "income", "score"]
rng = np.random.default_rng(7)

def frame(n, shift=0.0, cities=("Seoul", "Busan", "Daegu")):
    df = pd.DataFrame(rng.normal(size=(n, 3)) + shift, columns=NUMERIC)
    df["city"] = rng.choice(list(cities), n)
    df[EVIL] = rng.normal(size=n) + shift
    return df

def labels(df):
    return (df["age"] + df["income"] + rng.normal(0, 0.5, len(df)) > 0).astype(int)

class NumbersOnly:
    def __init__(self, model):
        self.model, self.classes_ = model, model.classes_
    def predict(self, x):
        return self.model.predict(x[NUMERIC])
    def predict_proba(self, x):
        return self.model.predict_proba(x[NUMERIC])"""

MAKE = f"""ref = frame(1500)
y = labels(ref)
mon = Monitor("churn", model=NumbersOnly(LogisticRegression().fit(ref[NUMERIC], y)),
              reference=ref.assign(churned=y), target="churned")
for day in range({DAYS}):
    drifted = day >= 3
    cities = (EVIL, "Busan") if drifted else ("Seoul", "Busan", "Daegu")
    batch = frame(400, 1.5 if drifted else 0.0, cities)
    mon.observe(batch, labels=labels(batch) if day < 2 else None,
                timestamp=f"2026-03-0{{day + 1}}T10:00:00Z")
mon.model = NumbersOnly(LogisticRegression(C=0.001).fit(ref[NUMERIC][:200], y[:200]))
mon.observe(frame(100, 1.5, (EVIL, "Busan")), timestamp="2026-03-05T18:00:00Z");"""


def build_big_monitor(home: Path) -> None:
    """The 1,000 x 50 monitor `big`, in the store at `home` (see the module's docstring)."""
    ws = open_workspace(home)
    rng = np.random.default_rng(0)
    cols = [f"feature_{i:02d}" for i in range(BIG_FEATURES)]
    ref = pd.DataFrame(rng.normal(size=(1000, BIG_FEATURES)), columns=cols)
    y = (ref["feature_00"] + rng.normal(size=1000) > 0).astype(int)
    model = LogisticRegression().fit(ref, y)
    mon = Monitor("big", model=model, reference=ref.assign(y=y), target="y", ws=ws)
    last = 20_000 + BIG_WINDOWS - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MonitorAlert)
        for k in range(3):
            batch = pd.DataFrame(rng.normal(size=(300, BIG_FEATURES)) + (k == 2), columns=cols)
            labels = (batch["feature_00"] > 0).astype(int)
            mon.observe(batch, labels=labels, timestamp=(last - 2 + k) * 86_400 + 60)
    real = mon.window_records()
    for i in range(BIG_WINDOWS - 3):
        rec = copy.deepcopy(real[i % 2])
        index = last - BIG_WINDOWS + 1 + i
        rec.update(index=index, window=mon.spec.label(index), alerts=[])
        rec["start"], rec["end"] = mon.spec.bounds(index)
        for key in ("accuracy", "f1", "auc", "estimated_accuracy"):
            rec[key] = round(0.8 + 0.05 * math.sin(i / 40) + rng.normal(0, 0.01), 6)
        rec["drift_share"] = round(max(0.0, 0.2 + 0.4 * math.sin(i / 90)), 6)
        if rec["drift_share"] > 0.5:
            rec["alerts"].append(
                {"kind": "drift", "metric": "drift_share", "window": rec["window"],
                 "index": index, "value": rec["drift_share"], "threshold": 0.5,
                 "message": f"drift_share {rec['drift_share']:.4g} is above its threshold 0.5"}
            )  # fmt: skip
        mon.files.append(state.WINDOWS, rec)


@pytest.fixture(scope="module", params=["lab", "notebook7"])
def ui(request, open_notebook, notebook_writer):
    """The notebook open in JupyterLab, then Notebook 7, with its monitor made and shown
    (cell `small`)."""
    server = request.getfixturevalue(f"{request.param}_server")

    def write(path: Path):
        build_big_monitor(path.parent / ".nbmlops")  # the folder's own store (nb-mlops init)
        sources = [
            ("setup", SETUP),
            ("make", MAKE),
            ("small", "mon"),
            ("big", 'big = Monitor("big")\nbig'),
            ("again", "big"),
        ]
        return notebook_writer(path, sources, "# nb-mlops monitoring dashboard (tests/browser)")

    def run(ui) -> None:
        for key in ("setup", "make", "small"):
            ui.run_cell(key)
        assert not ui.errors(), ui.errors()

    name = f"monitoring-{server.label}.ipynb"
    with open_notebook(server, name, kind=write, run=run) as ui:
        yield ui


# JS: what the dashboard's charts under `root` draw (selector: the charts' plotly nodes).
CHART_JS = """(root, selector) => Array.from(root.querySelectorAll(selector)).map(gd => ({
    traces: (gd.data || []).map(t => ({name: String(t.name ?? ''), type: t.type,
                                       points: (t.y || []).length})),
    lines: Array.from(gd.querySelectorAll('.scatterlayer .trace path.js-line'))
        .filter(p => (p.getAttribute('d') || '').length > 20).length,
    bars: gd.querySelectorAll('.barlayer .point path').length,
    markers: gd.querySelectorAll('.scatterlayer .points path').length,
    shapes: ((gd._fullLayout || {}).shapes || []).length,
    xtype: ((gd._fullLayout || {}).xaxis || {}).type || null,
    xrange: (((gd._fullLayout || {}).xaxis || {}).range || []).map(String),
    title: (((gd._fullLayout || {}).title || {}).text) || '',
    size: [Math.round(gd.getBoundingClientRect().width),
           Math.round(gd.getBoundingClientRect().height)],
}))"""


def charts(ui, key: str, selector: str) -> list[dict]:
    return ui.output(key).evaluate(CHART_JS, selector)


def wait_drawn(ui, key: str, *, bars: int, title: str = "") -> tuple[dict, dict]:
    """Wait until the output's timeline draws lines and `bars` drift bars and its
    distribution draws bars (with `title` in its title); return both charts."""

    def ready():
        timeline = charts(ui, key, TIMELINE)
        dist = charts(ui, key, DISTRIBUTION)
        if len(timeline) != 1 or len(dist) != 1:
            return None
        t, d = timeline[0], dist[0]
        if t["lines"] < 1 or t["bars"] < bars or d["bars"] < 2 or title not in d["title"]:
            return None
        return t, d

    return ui.wait_until(ready, f"the dashboard in the {key!r} output is not drawn")


def shape(chart: dict) -> list[tuple]:
    return sorted((t["name"], t["type"], t["points"]) for t in chart["traces"])


def test_the_dashboard_draws_timelines_drift_distribution_and_alerts(ui) -> None:
    timeline, dist = wait_drawn(ui, "small", bars=2)
    names = {t["name"]: t for t in timeline["traces"]}
    for name in ("accuracy", "F1", "AUC", "estimated accuracy (no labels)", "drift share"):
        assert names[name]["points"] == DAYS, (name, names)
    assert any(n.startswith("accuracy threshold (≥") for n in names), names
    assert any(n.startswith("drift share threshold (≤ 0.5)") for n in names), names
    assert names["drift alert"]["points"] == 2  # days 4 and 5
    assert timeline["lines"] >= 4 and timeline["markers"] >= 2
    assert timeline["shapes"] == 1  # the model change, a red vertical line
    assert timeline["xtype"] == "date" and timeline["xrange"][0].startswith("2026-0")
    assert timeline["size"][0] > 400 and timeline["size"][1] > 300
    assert len(dist["traces"]) == 2 and dist["bars"] >= 20  # two histograms of 30 bins
    out = ui.output("small")
    table = out.locator(".nbm-drift-table")
    ui.visible(table, "the per-feature drift table")
    assert "DRIFT" in table.first.inner_text() and EVIL in table.first.inner_text()
    loud = out.locator("tr.nbm-alert-model")
    ui.visible(loud, "the model-version alert")
    assert "MODEL VERSION" in loud.first.inner_text()
    assert "MODEL VERSION ALERT" in out.locator(".nbm-banner").first.inner_text()
    assert ui.page.locator('img[src="x"]').count() == 0 and not ui.alerts()
    assert ui.problems("small") == []
    ui.screenshot("monitoring-dashboard", out)


def test_the_controls_redraw_through_the_kernel(ui) -> None:
    wait_drawn(ui, "small", bars=2)
    out = ui.output("small")
    out.locator(".nbm-monitor-widget .widget-dropdown select").first.select_option(label="city")
    _, dist = wait_drawn(ui, "small", bars=2, title="city")
    assert {t["type"] for t in dist["traces"]} == {"bar"} and dist["bars"] >= 3
    assert "window 2026-03-05" in dist["title"]
    out.locator("button", has_text="◀").first.click()  # the window before: day 4
    _, dist = wait_drawn(ui, "small", bars=2, title="2026-03-04")
    ui.wait_until(
        lambda: "window 2026-03-04T00:00:00Z: 400 rows" in out.inner_text(),
        "the window label did not follow the ◀ button",
    )
    ui.screenshot("monitoring-city", out)


def measure(ui, key: str) -> dict:
    ui.wire.mark()
    t0 = time.perf_counter()
    ui.run_cell(key)
    timeline, _ = wait_drawn(ui, key, bars=BIG_WINDOWS // 3)  # zero-height bars may be left out
    drawn_s = time.perf_counter() - t0
    ui.wire.settle()
    return {**ui.wire.since(), "drawn_s": round(drawn_s, 2), "timeline": timeline}


def test_1000_windows_of_50_features_cost_little_on_the_wire(ui, figures) -> None:
    big = measure(ui, "big")
    again = measure(ui, "again")
    points = {t["name"]: t["points"] for t in big["timeline"]["traces"]}
    assert points["accuracy"] == points["drift share"] == BIG_WINDOWS, points
    ours = [b for b in ui.wire.bundles() if "/nb-mlops/" in b[0]]
    figures(
        f"monitoring-{ui.server.label}",
        {
            "windows": BIG_WINDOWS,
            "features": BIG_FEATURES,
            "display": {k: v for k, v in big.items() if k != "timeline"},
            "again": {k: v for k, v in again.items() if k != "timeline"},
            "plotly_bundles": ui.wire.bundles(),
        },
    )
    ui.screenshot("monitoring-1000-windows", ui.output("big"))
    for what, got in (("first", big), ("second", again)):
        assert got["bytes"] <= MAX_DISPLAY_BYTES, (
            f"the {what} display of a monitor of {BIG_WINDOWS:,} windows x {BIG_FEATURES} "
            f"features sent {got['bytes']:,} bytes in {got['frames']} frames; at most "
            f"{MAX_DISPLAY_BYTES:,}"
        )
    assert len(ours) == 1, f"our plotly.js chunk fetched {len(ours)} times: {ui.wire.bundles()}"
    assert ui.problems() == [], ui.problems()


VIEWS_JS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map((c, i) =>
    [i, Array.from(c.querySelectorAll('.nbm-view'))
          .map(v => v.classList.contains('nbm-view-static') ? 'static' : 'live')])
    .filter(x => x[1].length)"""


def test_the_dashboard_survives_a_page_reload(ui) -> None:
    before, before_dist = wait_drawn(ui, "small", bars=2)
    kernel = ui.kernel_id()
    live = dict(ui.page.evaluate(VIEWS_JS))
    assert live and all(v == ["live"] for v in live.values()), live
    ui.reload()
    assert ui.kernel_id() == kernel, "the reload started another kernel"
    after, after_dist = wait_drawn(ui, "small", bars=2, title=before_dist["title"])
    assert shape(after) == shape(before)
    assert shape(after_dist) == shape(before_dist)
    assert after["shapes"] == before["shapes"] == 1
    ui.wait_until(
        lambda: dict(ui.page.evaluate(VIEWS_JS)) == live,
        "after a reload the dashboards are not live again (static form shown)",
    )
    assert ui.output("small").locator("tr.nbm-alert-model").count() == 1
    assert ui.problems() == [], ui.problems()
    ui.screenshot("monitoring-after-reload", ui.output("small"))


def jupyter() -> str:
    return str(Path(sys.executable).with_name("jupyter"))


def test_the_saved_notebook_exports_a_readable_static_dashboard(ui, browser, screenshot_file):
    wait_drawn(ui, "small", bars=2)
    for key in ("big", "again"):  # shown by the wire test; shown here when it was not run
        if not charts(ui, key, TIMELINE):
            ui.run_cell(key)
            wait_drawn(ui, key, bars=BIG_WINDOWS // 3)
    ui.save()
    done = subprocess.run(
        [jupyter(), "nbconvert", "--to", "html", ui.nb.path.name],
        cwd=ui.nb.path.parent, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    page_path = ui.nb.path.with_suffix(".html")
    page = page_path.read_text(encoding="utf-8")
    assert EVIL not in page and html.escape(EVIL, quote=False) in page
    assert page.count("nbm-monitor-static") == 3  # mon, big and big again
    assert "⚠ MODEL VERSION ALERT" in page and "Feature drift of window" in page
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1400, "height": 1000}
    )
    try:
        view = context.new_page()
        view.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        view.goto(page_path.as_uri(), wait_until="load", timeout=60_000)
        first = view.locator(".nbm-monitor-static").first
        first.wait_for(state="visible", timeout=30_000)
        text = first.inner_text()
        for wanted in ("monitor churn", "Latest windows", "2026-03-05T00:00:00Z", "DRIFT",
                       "MODEL VERSION", EVIL, "Alerts, newest first"):  # fmt: skip
            assert wanted in text, wanted
        svgs = first.locator("svg")
        assert svgs.count() == 3  # metrics, drift share, a feature's distribution
        for i in range(3):
            box = svgs.nth(i).bounding_box() or {"width": 0, "height": 0}
            assert box["width"] > 200 and box["height"] > 100, box
        assert view.locator('img[src="x"]').count() == 0
        first.screenshot(path=str(screenshot_file(f"static-monitoring-nojs-{ui.server.label}")))
    finally:
        context.close()
