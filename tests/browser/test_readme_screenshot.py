"""The README's quickstart cells, as written, run in a real JupyterLab; the runs widget they end
with is drawn, and its picture is the README's (docs/images/runs-widget.png, kept current here)."""

from __future__ import annotations

import shutil

import pytest
from readme_cells import SCREENSHOT, quickstart_cells

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_readme_quickstart_draws_the_runs_widget(open_notebook, lab_server, notebook_writer):
    cells = [("runs" if c.startswith("%track runs") else None, c) for c in quickstart_cells()]
    assert any(key == "runs" for key, _ in cells), "the README's quickstart shows no runs table"

    def write(path):
        return notebook_writer(path, cells, "# the README's quickstart (written by tests/browser)")

    with open_notebook(lab_server, "readme-quickstart.ipynb", kind=write) as ui:
        out = ui.output("runs")
        table = ui.visible(out.locator(".nbm-runs-table"), "the runs table")
        text = table.first.inner_text()
        assert "rf-baseline" in text and "depth-sweep" in text, text[:400]
        ui.visible(ui.curves_locator("runs"), "the depth sweep's accuracy curve")
        assert ui.problems() == [], ui.problems()
        shot = ui.screenshot("readme-runs", out)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)
