"""Where widgets cannot render, the results degrade to their static form: never an error box,
never a blank output.

1. JupyterLab with the widget manager (@jupyter-widgets/jupyterlab-manager) disabled in that
   server's own config folder: our VIEW renderer shows the bundle's text/html (the table, the
   SVG curves, the diff rows).
2. A plain terminal IPython (`ipython` fed `%load_ext nb_mlops` and `%track runs` on stdin):
   text.
3. The static HTML through `nh3.clean` with its default rules (as strict as a public notebook
   viewer's sanitizer; it drops SVG): the run names, metrics and chart captions still read.
Screenshot: test-artifacts/screenshots/lab-nowidgets-*.png.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nb_mlops.notebook.widgets.chart import VIEW_MIME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WIDGET_MANAGER = "@jupyter-widgets/jupyterlab-manager"


# ------------------------------------------------------------------ 1. no widget manager
@pytest.fixture(scope="module")
def nowidgets(lab_nowidgets_server, open_notebook):
    with open_notebook(lab_nowidgets_server, "nowidgets.ipynb") as ui:
        yield ui


def test_the_widget_manager_is_really_disabled(nowidgets):
    disabled = nowidgets.page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent)"
        ".disabledExtensions"
    )
    assert any(WIDGET_MANAGER in d for d in disabled), disabled


def test_results_show_their_static_form_without_widgets(nowidgets):
    ui = nowidgets
    expected = {
        "runs": ["fast", "medium", "slow", "cell-run", ui.nb.malicious],
        "diff": ["great", "bad", "fine"],
        "show": ["fast", "lr", "0.05"],
    }
    for key, words in expected.items():
        out = ui.output(key)
        ui.wait_until(lambda o=out: o.inner_text().strip(), f"the {key!r} output is blank")
        text = out.inner_text()
        for w in words:
            assert w in text, f"{w!r} missing from the static {key!r} output:\n{text[:800]}"
        assert ui.problems(key) == [], f"{key}: {ui.problems(key)}"
        views = out.locator(".nbm-view.nbm-view-static").count()  # our VIEW renderer, static
        assert views >= 1, f"the {key!r} output is not the VIEW renderer's static form"
    table = ui.output("runs").locator("table", has_text="medium").filter(has_text="cell-run")
    ui.visible(table, "the static runs table")
    svg = ui.output("runs").locator("svg").first
    ui.visible(svg, "the static SVG curves")
    box = svg.bounding_box() or {"width": 0, "height": 0}
    assert box["width"] > 50 and box["height"] > 50, box
    assert ui.page.locator('img[src="x"]').count() == 0
    assert ui.alerts() == [], ui.alerts()
    ui.screenshot("nowidgets-runs", ui.output("runs"))
    ui.screenshot("nowidgets-diff", ui.output("diff"))


# ------------------------------------------------------------------ 2. a terminal IPython
TERMINAL_INPUT = """%load_ext nb_mlops
import nb_mlops as nm
for i, name in enumerate(["alpha", "beta", "gamma"]):
    with nm.start_run(name, params={"lr": 0.1 * (i + 1)}):
        for s in range(20):
            nm.log_metric("loss", 1 / (1 + s + i), step=s)

%track runs
%track show beta
exit
"""


def test_a_terminal_ipython_prints_text(tmp_path):
    ipython = Path(sys.executable).with_name("ipython")
    env = dict(os.environ)
    env.update(
        NB_MLOPS_HOME=str(tmp_path / ".nbmlops"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        TERM="dumb",
        PYTHONIOENCODING="utf-8",
    )
    done = subprocess.run(
        [str(ipython), "--simple-prompt", "--no-banner", "--colors=NoColor", "--quick"],
        input=TERMINAL_INPUT, cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, f"ipython exited {done.returncode}:\n{out}\n{done.stderr}"
    for word in ("alpha", "beta", "gamma", "loss", "lr"):
        assert word in out, f"{word!r} missing from the terminal output:\n{out}"
    for bad in ("Traceback", "Widget(", "model_id", "<nb_mlops", VIEW_MIME, "<table"):
        assert bad not in out + done.stderr, f"{bad!r} in the terminal output:\n{out}"


# ------------------------------------------------------------------ 3. a strict sanitizer
class Text(HTMLParser):
    """The text a reader sees (no script/style contents), and every SVG's aria-label."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.captions: list[str] = []
        self._skip = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "svg" and dict(attrs).get("aria-label"):
            self.captions.append(dict(attrs)["aria-label"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.parts))


def bundle_html(executed_widgets, key: str) -> str:
    cell = executed_widgets.notebook.cells[executed_widgets.nb.cells[key]]
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if VIEW_MIME in data:
            value = data["text/html"]
            return "".join(value) if isinstance(value, list) else value
    raise AssertionError(f"cell {key!r} has no {VIEW_MIME} output")


def test_static_html_reads_after_nh3_clean(executed_widgets):
    try:
        import nh3
    except ImportError:
        pytest.fail("nh3 is not installed (the `test` extra has it: `./dev setup`)", pytrace=False)
    raw = bundle_html(executed_widgets, "runs")
    before = Text(raw)
    clean = nh3.clean(raw)
    after = Text(clean)
    assert "<script" not in clean and "<img" not in clean, "nh3 left a script or an img"
    for name in executed_widgets.nb.run_names:
        assert name in after.text, f"run {name!r} lost by nh3.clean"
    for metric in ("loss", "accuracy", "lr", "layers"):
        assert metric in after.text, f"{metric!r} lost by nh3.clean"
    assert before.captions, "the static curves carry no caption (an SVG aria-label)"
    captions = [
        Text(inner).text.strip()
        for _, inner in re.findall(
            r"<(\w+)[^>]*class=['\"][^'\"]*nbm-caption[^'\"]*['\"][^>]*>(.*?)</\1>", raw, re.S
        )
    ]
    assert captions, "the static curves have no text caption (class nbm-caption)"
    for caption in captions:
        assert caption in after.text, f"the caption {caption!r} is lost by nh3.clean"
    for caption in before.captions:
        assert html.unescape(caption) in after.text, (
            f"the chart caption {caption!r} does not read after nh3.clean (SVG is dropped); "
            "give each chart a caption outside the <svg>"
        )
    for key, words in {"diff": ["great", "bad", "fine"], "show": ["fast", "loss"]}.items():
        text = Text(nh3.clean(bundle_html(executed_widgets, key))).text
        for w in words:
            assert w in text, f"{w!r} lost from the {key!r} view by nh3.clean"
