"""The MLOps side panel in a real JupyterLab: it lists the runs the notebook made, opens a run,
Compare writes and runs a `%track compare` cell, and the status bar names the kernel's run."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

MALICIOUS = "<img src=x onerror=alert(1)>"  # as tests/browser/conftest.py names its runs

CELLS = [
    (None, "%load_ext nb_mlops"),
    ("a", "%%track -n panel-a\ntrack.param(depth=2)\ntrack.log(acc=0.81)"),
    ("b", "%%track -n panel-b\ntrack.param(depth=4)\ntrack.log(acc=0.87)"),
    ("c", "%%track -n panel-c -e wine\ntrack.param(depth=8)\ntrack.log(acc=0.93)"),
    ("session", "%track start panel-session"),
]


def _write(notebook_writer):
    def write(path):
        return notebook_writer(path, CELLS, "# the MLOps panel (written by tests/browser)")

    return write


def test_the_panel_lists_opens_and_compares_runs(open_notebook, lab_server, notebook_writer):
    with open_notebook(lab_server, "panel.ipynb", kind=_write(notebook_writer)) as ui:
        page = ui.page
        page.locator(".jp-SideBar [data-id='nb-mlops-panel']").click()
        panel = ui.visible(page.locator("#nb-mlops-panel"), "the MLOps panel")
        rows = panel.locator(".nbm-run")
        ui.wait_until(lambda: rows.count() >= 4, "the notebook's runs in the panel")
        names = rows.locator(".nbm-run-name").all_inner_texts()
        assert names[:4] == ["panel-session", "panel-c", "panel-b", "panel-a"], names
        assert "0.93" in rows.nth(1).inner_text()  # panel-c's acc, a metric column
        assert panel.locator(".nbm-panel-store").inner_text().endswith(".nbmlops")
        ui.screenshot("panel-runs", panel)

        rows.nth(1).locator(".nbm-run-name").click()
        detail = ui.visible(panel.locator(".nbm-panel-detail"), "the run's detail")
        ui.wait_until(lambda: "depth" in detail.inner_text(), "the run's params")
        assert "panel-c" in detail.inner_text() and "0.93" in detail.inner_text()
        ui.screenshot("panel-detail", panel)

        status = page.locator(".jp-StatusBar-Widget .nbm-statusbar-run")
        ui.wait_until(
            lambda: status.count() and "tracking panel-session" in status.first.inner_text(),
            "the status bar's active run",
        )

        for i in (2, 3):  # panel-b and panel-a
            rows.nth(i).locator("input[type=checkbox]").check()
        compare = panel.locator("button", has_text="Compare 2")
        compare.click()
        cell = page.locator(".jp-Notebook .jp-CodeCell", has_text="%track compare")
        ui.visible(cell, "the Compare cell")
        source = cell.first.locator(".jp-InputArea-editor").inner_text()
        assert re.fullmatch(r"%track compare [0-9a-z]{8} [0-9a-z]{8}\s*", source), source
        ui.wait_until(
            lambda: cell.first.locator(".jp-OutputArea-output").count() > 0,
            "the Compare cell's output",
        )
        assert ui.errors() == [], ui.errors()

        ui.command("apputils:change-theme", {"theme": "JupyterLab Dark"})
        ui.wait_until(
            lambda: page.evaluate("document.body.dataset.jpThemeLight") == "false",
            "the dark theme",
        )
        ui.screenshot("panel-dark", panel)
        background = panel.evaluate("n => getComputedStyle(n).backgroundColor")
        channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
        assert sum(channels) < 3 * 100, background  # the panel follows the dark theme
        ui.command("apputils:change-theme", {"theme": "JupyterLab Light"})

        # the session ends in the kernel: the panel sees it without being asked (it refreshes
        # every few seconds while runs are running)
        page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel
                .requestExecute({code: '%track stop'}).done"""
        )
        ui.wait_until(
            lambda: rows.first.locator(".nbm-run-status").inner_text() == "finished",
            "the ended session shown as finished",
        )
        ui.wait_until(lambda: status.first.is_hidden(), "the status bar item gone")

        # experiments: one chip each, with its runs counted; a click shows that one alone
        wine = panel.locator(".nbm-experiment", has_text="wine (1)")
        ui.visible(wine, "the wine experiment's chip").click()
        ui.wait_until(
            lambda: rows.locator(".nbm-run-name").all_inner_texts() == ["panel-c"],
            "the wine experiment's runs alone",
        )
        assert panel.locator(".nbm-panel-search").input_value() == "experiment = 'wine'"
        wine.click()  # again: every run
        ui.wait_until(lambda: rows.count() >= 4, "every run again")


DATA_CELLS = [
    (None, "%load_ext nb_mlops\nimport nb_mlops as nm"),
    (
        "data",
        "from pathlib import Path\n"
        "Path('table.csv').write_text('id,x\\n1,10\\n')\n"
        "nm.snapshot('table.csv', 'first')\n"
        "Path('table.csv').write_text('id,x\\n1,10\\n2,20\\n')\n"
        "nm.snapshot('table.csv', 'second')",
    ),
    (
        "models",
        "for c in (0.1, 1.0):\n"
        "    nm.register_model('clf', {'kind': 'stand-in', 'c': c})\n"
        "nm.set_alias('clf', 'production', 1)\n"
        "nm.set_alias('clf', 'production', 2)",
    ),
    (
        "extras",  # an evaluation, a drifting monitor, and a run named like an XSS payload
        "import warnings\n"
        "import numpy as np, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from nb_mlops.monitor import Monitor, MonitorAlert\n"
        "class Echo:\n"
        "    version = 'v1'\n"
        "    def generate(self, prompt, **options):\n"
        "        return prompt.split(': ', 1)[1]\n"
        "items = [{'id': f'w{i}', 'prompt': f'say: word{i}', 'reference': f'word{i}'} "
        "for i in range(5)]\n"
        "nm.evaluate(Echo(), items, metrics=['exact_match'], name='echo-1')\n"
        "rng = np.random.default_rng(5)\n"
        "ref = pd.DataFrame(rng.normal(size=(300, 3)), columns=['x', 'y', 'z'])\n"
        "label = (ref['x'] > 0).astype(int)\n"
        "mon = Monitor('churn', model=LogisticRegression().fit(ref, label), "
        "reference=ref.assign(label=label), target='label')\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore', MonitorAlert)\n"
        "    mon.observe(pd.DataFrame(rng.normal(3, 1, size=(200, 3)), columns=['x', 'y', 'z']))\n"
        f"with nm.start_run({MALICIOUS!r}):\n"
        "    nm.log_metric('acc', 0.5)",
    ),
]


def test_datasets_and_models_from_the_panel(open_notebook, lab_server, notebook_writer):
    def write(path):
        return notebook_writer(path, DATA_CELLS, "# data and models in the panel (tests/browser)")

    with open_notebook(lab_server, "panel-data.ipynb", kind=write) as ui:
        page, folder = ui.page, ui.nb.path.parent
        page.locator(".jp-SideBar [data-id='nb-mlops-panel']").click()
        panel = ui.visible(page.locator("#nb-mlops-panel"), "the MLOps panel")
        item = panel.locator(".nbm-panel-item", has_text="table.csv")
        ui.visible(item, "the dataset")
        assert "v2" in item.inner_text() and "second" in item.inner_text()
        model = ui.visible(panel.locator(".nbm-panel-item", has_text="clf"), "the model")
        assert "@production → v2" in model.inner_text()
        evals = ui.visible(panel.locator(".nbm-panel-section", has_text="Evaluations"), "evals")
        ui.wait_until(lambda: "Echo (v1)" in evals.inner_text(), "the scoreboard's row")
        assert "exact_match" in evals.inner_text()
        monitors = panel.locator(".nbm-panel-section", has_text="Monitors")
        ui.wait_until(lambda: "churn" in monitors.inner_text(), "the monitor")
        assert monitors.locator(".nbm-alerting").count() == 1  # the shifted batch drifted
        # a run named like markup is shown as text: nothing of it runs or renders
        ui.wait_until(lambda: MALICIOUS in panel.inner_text(), "the oddly named run, as text")
        assert panel.locator("img").count() == 0 and ui.dialogs == [], ui.dialogs
        ui.screenshot("panel-data-models", panel)

        item.locator("tr", has_text="first").locator("button", has_text="Checkout").click()
        dialog = ui.visible(page.locator(".jp-Dialog"), "the checkout confirmation")
        assert "Check out table.csv version 1?" in dialog.inner_text()
        dialog.locator("button", has_text="Check out").click()
        ui.wait_until(
            lambda: (folder / "table.csv").read_text() == "id,x\n1,10\n", "version 1 back"
        )

        item = panel.locator(".nbm-panel-item", has_text="table.csv")
        item.locator("tr", has_text="second").locator("button", has_text="Diff").click()
        cell = page.locator(".jp-Notebook .jp-CodeCell", has_text="%track diff")
        ui.visible(cell, "the Diff cell")
        assert "%track diff table.csv 2 workspace" in cell.first.inner_text()

        model.locator(".nbm-alias", has_text="@production").locator("button").click()
        dialog = ui.visible(page.locator(".jp-Dialog"), "the rollback confirmation")
        dialog.locator("button", has_text="Roll back").click()
        ui.wait_until(
            lambda: (
                "@production → v1" in panel.locator(".nbm-panel-item", has_text="clf").inner_text()
            ),
            "the alias rolled back",
        )

        # Promote: which version, then which alias
        model = panel.locator(".nbm-panel-item", has_text="clf")
        model.locator("button", has_text="Promote").click()
        dialog = ui.visible(page.locator(".jp-Dialog"), "the version question")
        dialog.locator("select").select_option("1")
        dialog.locator("button", has_text="Ok").click()
        dialog = ui.visible(page.locator(".jp-Dialog", has_text="Point which alias"), "alias")
        dialog.locator("input").fill("staging")
        dialog.locator("button", has_text="Ok").click()
        ui.wait_until(
            lambda: (
                "@staging → v1" in panel.locator(".nbm-panel-item", has_text="clf").inner_text()
            ),
            "the new alias",
        )
        assert ui.errors() == [], ui.errors()


def test_notebook7_loads_the_panel_without_an_error(
    open_notebook, notebook7_server, notebook_writer
):
    """Notebook 7 has a left side panel and no status bar: the plugin activates all the same."""

    def write(path):
        return notebook_writer(path, CELLS[:2], "# the MLOps panel in Notebook 7 (tests/browser)")

    with open_notebook(notebook7_server, "panel-nb7.ipynb", kind=write) as ui:
        ui.wait_until(
            lambda: ui.page.locator("#nb-mlops-panel").count() == 1, "the panel in the page"
        )
        ours = [line for line in ui.console if "nb-mlops" in line and "error" in line.lower()]
        assert ours == [], ours
        ui.command(
            "application:toggle-panel", {"side": "left", "title": "MLOps", "id": "nb-mlops-panel"}
        )
        panel = ui.page.locator("#nb-mlops-panel")
        ui.wait_until(lambda: panel.is_visible(), "the panel shown in Notebook 7's left area")
        ui.wait_until(lambda: "panel-a" in panel.inner_text(), "the notebook's run in the panel")
        ui.screenshot("panel-notebook7", panel)
