"""A real Jupyter server (JupyterLab 4 or Notebook 7) and a real Chromium, driven by Playwright.

Each server runs on a free loopback port in its own temporary project folder, with its own
Jupyter config/settings folders, and is stopped by its own pid when the session ends. Each
notebook a test opens sits in a folder of its own with its own store (`nb-mlops init`; never the
repo's), so no test module sees another's runs. Chromium is Debian's (`/usr/bin/chromium`, or
`$NB_MLOPS_CHROMIUM`): these tests never download a browser, and they fail (never skip) when
Playwright or Chromium is missing.

`NotebookUI` is the page object the tests use: open a notebook, run all cells from the menu,
wait until every cell has run, find a cell's output, take screenshots, list alert dialogs.
Screenshots go to `test-artifacts/screenshots/` under the repo root; a failing test also leaves
a full-page screenshot there and gets the server log in its report.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("NB_MLOPS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SETUP_HINT = (
    "`./dev setup` installs them (playwright comes with the `test` extra, Chromium is Debian's "
    "`chromium` package at /usr/bin/chromium; elsewhere set NB_MLOPS_CHROMIUM to a Chromium "
    "binary). These tests never download a browser and are never skipped."
)

SERVER_START_S = 90  # a cold JupyterLab on 2 busy cores
PAGE_LOAD_S = 90  # the lab bundle, the notebook and a started kernel
RUN_ALL_S = 150  # every cell of the widgets notebook, kernel start included
WIDGET_S = 60  # a widget view rendered after its cell finished

# The metric curves: a plotly figure that is, or sits inside, the element of class nbm-curves.
CURVES_SELECTOR = ".nbm-curves.js-plotly-plot, .nbm-curves .js-plotly-plot"


# ---------------------------------------------------------------------- the notebook under test
MALICIOUS = "<img src=x onerror=alert(1)>"
# A Korean run name: the screenshots show that CJK text renders (Debian's fonts-noto-cjk).
KOREAN = "느린-실험"
RUNS = {"fast": 0.05, "medium": 0.02, "slow": 0.008, KOREAN: 0.003}
CELL_RUN = "cell-run"
RUN_NAMES = [*RUNS, CELL_RUN, MALICIOUS]


@dataclass(frozen=True)
class WidgetsNotebook:
    """The notebook the browser and static tests execute, and where its outputs are."""

    path: Path
    cells: dict[str, int]  # a view's name -> the index of the cell that shows it
    run_names: list[str] = field(default_factory=lambda: list(RUN_NAMES))
    malicious: str = MALICIOUS


EVAL_ITEMS = 31
"""Items of the two evaluations the widgets notebook makes (echo-2 gets two of them wrong)."""


def write_widgets_notebook(path: Path) -> WidgetsNotebook:
    """Write the notebook: runs with 200-step curves, a run named like an XSS payload, a CSV
    snapshotted twice with added/removed/changed rows, then the widget cells."""
    runs = ", ".join(f"({n!r}, {lr})" for n, lr in RUNS.items())
    sources: list[tuple[str | None, str]] = [
        (None, "%load_ext nb_mlops\nimport math\nimport nb_mlops as nm"),
        (
            None,
            f"for i, (name, lr) in enumerate([{runs}]):\n"
            '    with nm.start_run(name, params={"lr": lr, "layers": 2 + i}):\n'
            "        for step in range(200):\n"
            '            nm.log_metric("loss", math.exp(-lr * step) + 0.05 * i, step=step)\n'
            '            nm.log_metric("accuracy", 1 - math.exp(-lr * step) - 0.05 * i, step=step)',
        ),
        (
            None,
            f"%%track -n {CELL_RUN}\n"
            "lr = 0.1\n"
            "for step in range(200):\n"
            '    nm.log_metric("loss", math.exp(-lr * step) * (1 + 0.1 * math.sin(step)), '
            "step=step)\n"
            '    nm.log_metric("accuracy", 1 - math.exp(-lr * step), step=step)',
        ),
        (
            None,
            f'with nm.start_run("{MALICIOUS}", params={{"lr": 0.3, "note": "{MALICIOUS}"}}):\n'
            "    for step in range(200):\n"
            '        nm.log_metric("loss", 1 / (1 + step), step=step)',
        ),
        (
            None,
            "import csv\n\n"
            "def write(rows):\n"
            '    with open("data.csv", "w", newline="") as f:\n'
            "        out = csv.writer(f)\n"
            '        out.writerow(["id", "text", "label"])\n'
            "        out.writerows(rows)\n\n"
            'write([(1, "good", 1), (2, "bad", 0), (3, "fine", 1), (4, "awful", 0)])\n'
            'nm.snapshot("data.csv", "first");\n'
            "# id 2 removed, id 3 relabelled, id 5 added\n"
            'write([(1, "good", 1), (3, "fine", 0), (4, "awful", 0), (5, "great", 1)])\n'
            'nm.snapshot("data.csv", "second");',
        ),
        (
            None,
            "for i, name in enumerate(['fast', 'medium', 'slow']):\n"
            f"    note = {MALICIOUS!r} if i == 2 else f'version {{i + 1}}'\n"
            "    nm.register_model('clf', {'weights': [i]}, run=name, description=note)\n"
            f"nm.set_alias('clf', 'production', 2, why={MALICIOUS!r});",
        ),
        ("runs", "%track runs"),
        ("models", "%track models clf"),
        ("diff", "%track diff data.csv 1 2 --key id"),
        ("show", "%track show fast"),
        ("show_malicious", f'%track show "{MALICIOUS}"'),
        (
            None,  # two evaluations of one model name whose reported version changed
            "class Echo:\n"
            "    def __init__(self, version, wrong=()):\n"
            "        self.version, self.wrong = version, set(wrong)\n\n"
            "    def generate(self, prompt, **options):\n"
            "        word = prompt.split(': ', 1)[1]\n"
            "        return 'nope' if word in self.wrong else word\n\n"
            f"items = [{{'id': f'w{{i}}', 'prompt': f'say: word{{i}}', 'reference': f'word{{i}}'}} "
            f"for i in range({EVAL_ITEMS - 1})]\n"
            f"items.insert(0, {{'id': 'evil', 'prompt': 'say: ' + {MALICIOUS!r}, "
            f"'reference': {MALICIOUS!r}}})\n"
            "nm.evaluate(Echo('echo-1'), items, metrics=['exact_match'], name='echo-1');\n"
            "nm.evaluate(Echo('echo-2', wrong={'word3', 'word7'}), items, "
            "metrics=['exact_match'], name='echo-2');",
        ),
        ("board", "%track eval --board"),
        (
            "leaderboard",  # arena ratings: a model named like an XSS payload among them
            "battles = [('alpha', 'beta', 'model_a')] * 6 + [('beta', 'gamma', 'model_a')] * 5\n"
            f"battles += [('gamma', {MALICIOUS!r}, 'model_a')] * 4 + [('alpha', 'gamma', 'tie')]\n"
            f"battles += [('beta', 'alpha', 'model_a'), ({MALICIOUS!r}, 'alpha', 'model_a')]\n"
            "rows = [dict(model_a=a, model_b=b, winner=w) for a, b, w in battles]\n"
            "nm.evals.bradley_terry(rows, bootstrap=50)",
        ),
        (
            "annotate",
            "nm.annotate('reload-check', [{'id': str(i), 'prompt': f'question {i}', "
            "'response': f'answer {i}'} for i in range(3)], rater='rita', "
            "criteria=['fluency'])",
        ),
    ]
    return write_cells(path, sources, "# nb-mlops widgets (written by tests/browser)")


# The wire notebook: issue 11's measure, one `%track runs` over 5 runs x 3 metrics x 100 points,
# shown twice (the second display is warm: plotly.js already loaded), then a live chart of a
# `%%track` cell logging the same 3 metrics x 100 points.
WIRE_RUNS, WIRE_POINTS = 5, 100
WIRE_METRICS = ("loss", "accuracy", "lr")


def write_wire_notebook(path: Path) -> WidgetsNotebook:
    """Write the wire notebook (cells: setup, runs, again, live)."""
    log = (
        "nm.log_metrics({'loss': math.exp(-0.03 * s) + 0.01 * r, "
        "'accuracy': 1 - math.exp(-0.03 * s) - 0.01 * r, 'lr': 0.1 * 0.99 ** s}, step=s)"
    )
    sources: list[tuple[str | None, str]] = [
        ("setup", "%load_ext nb_mlops\nimport math, time\nimport nb_mlops as nm"),
        (
            "fill",
            f"for r in range({WIRE_RUNS}):\n"
            "    params = {'lr': 0.01 * (r + 1), 'layers': r + 2, 'opt': ['adam', 'sgd'][r % 2]}\n"
            "    with nm.start_run(f'wire-{r}', params=params):\n"
            f"        for s in range({WIRE_POINTS}):\n"
            f"            {log}",
        ),
        ("runs", "%track runs"),
        ("again", "%track runs"),
        (
            "live",
            "%%track -n live-run\nr = 0\n"
            f"for s in range({WIRE_POINTS}):\n"
            f"    {log}\n"
            "    time.sleep(0.012)",
        ),
    ]
    return write_cells(path, sources, "# nb-mlops wire measure (written by tests/browser)")


@pytest.fixture(scope="session")
def notebook_writer() -> Callable[..., WidgetsNotebook]:
    """`write_cells` for a test module's own notebook: pass it as `kind` to `open_notebook`."""
    return write_cells


def write_cells(path: Path, sources: list[tuple[str | None, str]], title: str) -> WidgetsNotebook:
    cells: list[Any] = [new_markdown_cell(title)]
    where: dict[str, int] = {}
    for key, src in sources:
        if key:
            where[key] = len(cells)
        cells.append(new_code_cell(src))
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return WidgetsNotebook(path, where)


# ------------------------------------------------------------------------- preconditions
def require_browser() -> None:
    """Fail (never skip) when Playwright or Chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"Playwright (Python) is not installed ({exc}): {SETUP_HINT}", pytrace=False)
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM}: {SETUP_HINT}", pytrace=False)


LABEXTENSION = "nb-mlops"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@functools.cache
def labextension_line() -> str:
    """The `jupyter labextension list` line of our extension ('' when it is not installed)."""
    done = subprocess.run(
        [jupyter_command(), "labextension", "list"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    for line in ANSI.sub("", done.stdout + done.stderr).splitlines():
        if line.split()[:1] == [LABEXTENSION]:
            return line.strip()
    return ""


def require_labextension() -> None:
    """Fail (never skip) when our labextension is not installed, enabled and OK: the charts and
    the VIEW wrapper are drawn by it."""
    line = labextension_line()
    if not line or "enabled" not in line or "OK" not in line:
        pytest.fail(
            f"the {LABEXTENSION} labextension is not enabled and OK in this venv "
            f"(`jupyter labextension list`: {line or 'not listed'}); `./dev setup` builds and "
            "installs it",
            pytrace=False,
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_command() -> str:
    here = Path(sys.executable).with_name("jupyter")
    return str(here) if here.exists() else (shutil.which("jupyter") or "jupyter")


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"


# ------------------------------------------------------------------------------ the server
# Quiet, deterministic front end: no news/update toasts, every cell kept in the DOM (JupyterLab's
# windowed notebook detaches cells scrolled out of view, which would hide outputs from queries).
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@dataclass
class JupyterServer:
    """A `jupyter lab` / `jupyter notebook` process on 127.0.0.1:port serving `root`."""

    app: str
    root: Path
    port: int
    token: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def label(self) -> str:
        """`lab` or `notebook7`: names screenshots."""
        return "lab" if self.app == "lab" else "notebook7"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, rel: str) -> str:
        if self.app != "lab":
            return f"{self.base}/notebooks/{rel}?token={self.token}"
        # `reset`: the page opens this notebook alone, not the tabs an earlier test left open
        # (their outputs would match the same selectors)
        return f"{self.base}/lab/tree/{rel}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 10) -> Any:
        req = urllib.request.Request(
            f"{self.base}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def kernel_state(self, rel: str) -> str | None:
        """The execution state of the kernel of the notebook at `rel` (None: no session yet)."""
        try:
            sessions = self.api("/api/sessions")
        except (OSError, ValueError):
            return None
        for s in sessions:
            if s.get("path") == rel or (s.get("notebook") or {}).get("path") == rel:
                return (s.get("kernel") or {}).get("execution_state")
        return None

    def log(self, tail: int = 200) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-tail:])

    def stop(self) -> None:
        """SIGTERM to the server's own pid (it shuts its kernels down), SIGKILL if it lingers."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start_jupyter(
    app: str,
    root: Path,
    work: Path,
    attempts: int = 3,
    *,
    settings: dict[str, dict[str, Any]] | None = None,
    disabled: tuple[str, ...] = (),
) -> JupyterServer:
    """Start `jupyter {app}` on a free port with an isolated config and store; wait for it.

    `settings`: more user settings (file name -> document); `disabled`: labextensions disabled
    with `jupyter labextension disable --level=user` in this server's own config folder."""
    config = work / "jupyter-config"
    for rel, doc in {**USER_SETTINGS, **(settings or {})}.items():
        f = config / "lab" / "user-settings" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(doc))
    env = dict(os.environ)
    env.pop("NB_MLOPS_HOME", None)  # each notebook's folder has its own store (notebook_page)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(work / "jupyter-runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "lab-workspaces"),
        IPYTHONDIR=str(work / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    for name in disabled:
        disable_labextension(name, env, config)
    last = ""
    for attempt in range(attempts):
        port, token = free_port(), secrets.token_hex(16)
        log_path = work / f"{app}-server-{attempt}.log"
        cmd = [
            jupyter_command(),
            app,
            "--allow-root",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            # window.jupyterapp: tests run cells, save and switch themes through its commands
            f"--{'LabApp' if app == 'lab' else 'JupyterNotebookApp'}.expose_app_in_browser=True",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        server = JupyterServer(app, root, port, token, proc, log_path)
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                server.api("/api/status", timeout=5)
                return server
            except (OSError, ValueError):
                time.sleep(0.25)
        last = server.log()
        server.stop()
        if "address already in use" not in last.lower():
            break
    pytest.fail(f"jupyter {app} did not answer /api/status\n--- server log ---\n{last}")


def disable_labextension(name: str, env: dict[str, str], config: Path) -> None:
    """`jupyter labextension disable --level=user NAME` with JUPYTER_CONFIG_DIR = `config`: only
    the server started with that config folder sees it disabled."""
    done = subprocess.run(
        [jupyter_command(), "labextension", "disable", "--level=user", name],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    page_config = config / "labconfig" / "page_config.json"
    written = page_config.is_file() and name in page_config.read_text()
    if done.returncode != 0 or not written:
        pytest.fail(
            f"could not disable {name} in {config} (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}",
            pytrace=False,
        )


# ------------------------------------------------------------------------------ the page
class NotebookUI:
    """A notebook open in JupyterLab or Notebook 7 (both use JupyterLab's notebook DOM)."""

    def __init__(self, page: Any, server: JupyterServer, nb: WidgetsNotebook) -> None:
        self.page = page
        self.server = server
        self.nb = nb
        self.rel = nb.path.relative_to(server.root).as_posix()
        self.dialogs: list[tuple[str, str]] = []
        self.console: list[str] = []
        self.wire = Wire(page)  # attached before the page opens its kernel websocket
        page.on("dialog", self._on_dialog)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append((dialog.type, dialog.message))
        with contextlib.suppress(Exception):
            if dialog.type == "beforeunload":
                dialog.accept()  # a reload or reopen the test asked for goes ahead
            else:
                dialog.dismiss()

    # -- opening and running
    def open(self) -> None:
        """Load the notebook page (once more if the first load stalls); wait for its kernel."""
        for attempt in range(2):
            try:
                self.page.goto(
                    self.server.notebook_url(self.rel),
                    wait_until="domcontentloaded",
                    timeout=PAGE_LOAD_S * 1000,
                )
                self.page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=PAGE_LOAD_S * 1000)
                break
            except Exception:
                if attempt:
                    raise
        self.wait_kernel_idle(PAGE_LOAD_S)

    def wait_kernel_idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        state = None
        while time.monotonic() < deadline:
            state = self.server.kernel_state(self.rel)
            if state == "idle":
                return
            time.sleep(0.5)
        raise AssertionError(f"the kernel of {self.rel} is not idle after {timeout_s} s: {state}")

    def prompts(self) -> list[str]:
        return self.page.eval_on_selector_all(
            ".jp-Notebook .jp-CodeCell .jp-InputArea-prompt",
            "els => els.map(e => e.textContent.trim())",
        )

    def run_all(self) -> None:
        """Run > Run All Cells from the menu bar; retried when no cell starts."""
        menu = self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))
        item = self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
        for attempt in range(3):
            self.page.keyboard.press("Escape")
            try:
                menu.first.click(timeout=15_000)
                item.first.click(timeout=15_000)
            except Exception:
                if attempt == 2:
                    raise
                continue
            # a queued cell shows [*] at once: no [*] after 20 s means the click did nothing
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any(re.fullmatch(r"\[(\*|\d+)\]:", p) for p in self.prompts()):
                    return
                time.sleep(0.25)
            if attempt == 2:
                raise AssertionError(f"Run All Cells started no cell; prompts: {self.prompts()}")

    def wait_all_executed(self, timeout_s: float = RUN_ALL_S) -> None:
        """Every code cell shows an execution count and the kernel is idle again."""
        deadline = time.monotonic() + timeout_s
        prompts: list[str] = []
        while time.monotonic() < deadline:
            prompts = self.prompts()
            if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
                if self.server.kernel_state(self.rel) == "idle":
                    return
            time.sleep(0.5)
        raise AssertionError(f"cells still running after {timeout_s} s: {prompts}")

    def errors(self) -> list[str]:
        return self.page.eval_on_selector_all(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]',
            "els => els.map(e => e.innerText)",
        )

    def run_all_and_wait(self) -> None:
        self.run_all()
        self.wait_all_executed()
        errors = self.errors()
        assert not errors, "cells raised:\n" + "\n\n".join(errors)

    # -- looking at outputs
    def cell(self, key: str) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(self.nb.cells[key])

    def output(self, key: str) -> Any:
        return self.cell(key).locator(".jp-Cell-outputArea")  # not an Output widget's area

    def screenshot(self, name: str, locator: Any | None = None) -> Path:
        """A PNG of `locator` (else the viewport) in test-artifacts/screenshots/.

        The notebook scrolls inside JupyterLab's panel, not the page: an output taller than the
        panel is shot with the viewport stretched to hold it, then the viewport is put back."""
        path = screenshot_path(f"{self.server.label}-{name}")
        if locator is None:
            self.page.screenshot(path=str(path))
            return path
        size = self.page.viewport_size or {"width": 1400, "height": 1000}
        box = locator.bounding_box() or {"height": 0}
        tall = box["height"] + 400 > size["height"]
        if tall:
            self.page.set_viewport_size(
                {"width": size["width"], "height": min(int(box["height"]) + 400, 6000)}
            )
        try:
            locator.scroll_into_view_if_needed(timeout=10_000)
            locator.screenshot(path=str(path), timeout=30_000)
        finally:
            if tall:
                self.page.set_viewport_size(size)
        return path

    def visible(self, locator: Any, what: str, timeout_s: float = WIDGET_S) -> Any:
        """Wait until `locator`'s first match is visible (widgets render after their cell)."""
        try:
            locator.first.wait_for(state="visible", timeout=timeout_s * 1000)
        except Exception as exc:
            raise AssertionError(f"{what} not visible after {timeout_s} s: {exc}") from None
        return locator

    @staticmethod
    def wait_until(fn: Callable[[], Any], what: str, timeout_s: float = WIDGET_S) -> Any:
        return poll(fn, timeout_s, what)

    def curves_locator(self, key: str) -> Any:
        """The plotly figures of the metric curves in a cell's output."""
        return self.output(key).locator(CURVES_SELECTOR)

    def curves(self, key: str) -> dict[str, Any]:
        """What the metric curves of a cell's output draw right now: per figure, the visible
        traces' names, the legend entries and the SVG path data of the lines."""
        return self.output(key).evaluate(
            """(root, selector) => {
                const plots = Array.from(root.querySelectorAll(selector));
                return {
                    plots: plots.length,
                    traces: plots.map(g => (g.data || []).filter(t => t.visible !== false)
                                                      .map(t => String(t.name ?? ''))),
                    legend: plots.map(g => Array.from(g.querySelectorAll('.legend .traces'))
                                               .map(e => e.textContent)),
                    paths: plots.map(g => Array.from(g.querySelectorAll('.scatterlayer .js-line'))
                                              .map(p => p.getAttribute('d') || '')),
                };
            }""",
            CURVES_SELECTOR,
        )

    def select_boxes(self, key: str) -> Any:
        """The clickable checkbox inputs of the `.nbm-select` controls in a cell's output."""
        boxes = self.output(key).locator(".nbm-select")
        inputs = self.output(key).locator(
            "input.nbm-select[type=checkbox], .nbm-select input[type=checkbox]"
        )
        poll(boxes.count, WIDGET_S, f"no .nbm-select checkbox in the {key!r} output")
        return inputs

    def alerts(self) -> list[tuple[str, str]]:
        """Dialogs other than beforeunload (which Jupyter itself may raise)."""
        return [d for d in self.dialogs if d[0] != "beforeunload"]

    # -- through the front end's own commands (window.jupyterapp)
    def command(self, name: str, args: dict[str, Any] | None = None) -> None:
        """Start a JupyterLab command without waiting for it (a dialog could keep it pending)."""
        self.page.evaluate(
            "([n, a]) => { void window.jupyterapp.commands.execute(n, a); }", [name, args or {}]
        )

    def run_cell(self, key: str, timeout_s: float = RUN_ALL_S) -> None:
        """Run the cell `key` and return once it has executed (its outputs are in the model)."""
        self.page.evaluate(
            """async ([i, ms]) => {
                const nb = window.jupyterapp.shell.currentWidget.content;
                nb.activeCellIndex = i;
                const run = window.jupyterapp.commands.execute('notebook:run-cell');
                const late = new Promise((_, no) => setTimeout(
                    () => no(new Error('cell ' + i + ' still running after ' + ms + ' ms')), ms));
                await Promise.race([run, late]);
            }""",
            [self.nb.cells[key], int(timeout_s * 1000)],
        )
        self.wait_kernel_idle(timeout_s)

    def save(self) -> None:
        """Save the notebook and wait until that save has finished. Waiting for a clean model
        is not enough: the model is clean before the save's request returns, and a panel
        closed then has its context disposed under the save, whose "Disposed" error box then
        takes the focus (and with it the current widget)."""
        state = self.page.evaluate(
            """async ([path, ms]) => {
                const w = (PANEL)(path) || window.jupyterapp.shell.currentWidget;
                if (!w || !w.context) return 'no notebook panel';
                const late = new Promise(ok => setTimeout(() => ok('still saving'), ms));
                const save = w.context.save().then(
                    () => w.context.model.dirty ? 'dirty after its save' : 'saved',
                    e => 'failed: ' + e);
                return await Promise.race([save, late]);
            }""".replace("PANEL", PANEL_JS),
            [self.rel, 30_000],
        )
        assert state == "saved", f"{self.rel}: saving the notebook: {state}"

    def kernel_id(self) -> str | None:
        for s in self.server.api("/api/sessions"):
            if s.get("path") == self.rel or (s.get("notebook") or {}).get("path") == self.rel:
                return (s.get("kernel") or {}).get("id")
        return None

    def wait_notebook(self) -> None:
        self.page.wait_for_function(
            "() => !!window.jupyterapp && !!document.querySelector('.jp-Notebook .jp-CodeCell')",
            timeout=PAGE_LOAD_S * 1000,
        )
        self.wait_kernel_idle(PAGE_LOAD_S)

    def reload(self) -> None:
        """Save, then reload the page (the kernel lives on)."""
        self.save()
        self.page.reload(wait_until="domcontentloaded", timeout=PAGE_LOAD_S * 1000)
        self.wait_notebook()

    def reopen(self) -> None:
        """Save, close the notebook and open it again (the kernel lives on). JupyterLab: close
        its tab and open the file; Notebook 7 (one notebook per page): go to the file browser,
        then back to the notebook."""
        self.save()
        if self.server.app == "lab":
            self._reopen_lab()
        else:
            self.page.goto(
                f"{self.server.base}/tree?token={self.server.token}", wait_until="domcontentloaded"
            )
            self.page.wait_for_selector(".jp-DirListing", timeout=PAGE_LOAD_S * 1000)
            self.page.goto(self.server.notebook_url(self.rel), wait_until="domcontentloaded")
        self.wait_notebook()

    def _reopen_lab(self) -> None:
        """Close the notebook's tab, wait until its document context is disposed (a moment
        after its DOM goes; seconds on a loaded machine), then open the file again and make the
        new panel current. An attempt whose panel dies or is not ready in time is closed and
        made again."""
        self.page.evaluate(
            """(path) => { const w = (PANEL)(path);
                window.__nbmClosed = w.context; w.close(); }""".replace("PANEL", PANEL_JS),
            self.rel,
        )
        self.page.wait_for_function(
            """() => !document.querySelector('.jp-Notebook .jp-CodeCell')
                && window.__nbmClosed.isDisposed""",
            timeout=PAGE_LOAD_S * 1000,
        )
        opened = """async ([path, ms]) => {
            const late = new Promise(ok => setTimeout(() => ok('late'), ms));
            const open = (async () => {
                const w = await window.jupyterapp.commands.execute('docmanager:open', {path});
                if (!w || !w.context) return 'none';
                await Promise.race([w.context.ready, late]);
                await new Promise(ok => setTimeout(ok, 500));  // disposed just after its ready?
                if (w.isDisposed || w.context.isDisposed) return 'disposed';
                if (!w.context.isReady) return 'late';
                window.jupyterapp.shell.activateById(w.id);
                return 'ready';
            })();
            return await Promise.race([open, late]);
        }"""
        states = []
        for attempt in range(3):
            state = self.page.evaluate(opened, [self.rel, PAGE_LOAD_S * 1000 // 2])
            states.append(state)
            if state == "ready":
                return
            self.page.evaluate("(p) => (PANEL)(p)?.close()".replace("PANEL", PANEL_JS), self.rel)
            self.page.wait_for_timeout(2000 * (attempt + 1))
        raise AssertionError(f"{self.rel}: no reopened panel became ready: {states}")

    # -- what the outputs show
    def charts(self, key: str) -> list[dict[str, Any]]:
        """Every plotly graph in a cell's output: its kind, traces (name, colour, points), the
        SVG paths drawn, the parallel coordinates' axes and lines, and its theme colours."""
        return self.output(key).evaluate(CHARTS_JS)

    def wait_charts(
        self, key: str, curves: int = 1, parcoords: int = 0, timeout_s: float = WIDGET_S
    ) -> list[dict[str, Any]]:
        """Wait until the output shows at least `curves` line charts with drawn lines and
        `parcoords` parallel coordinates with their axes; return `charts(key)`."""

        def ready() -> list[dict[str, Any]] | None:
            charts = self.charts(key)
            lines = [c for c in charts if c["kind"] == "xy" and drawn_lines(c)]
            par = [c for c in charts if c["kind"] == "parcoords" and c["parcoords"]["axes"]]
            return charts if len(lines) >= curves and len(par) >= parcoords else None

        return poll(ready, timeout_s, f"the charts of the {key!r} output are not drawn")

    def problems(self, key: str | None = None) -> list[str]:
        """Error boxes and widget failures in one output (or the whole notebook)."""
        root = self.output(key) if key else self.page.locator(".jp-Notebook").first
        return root.evaluate(PROBLEMS_JS)


# JS: the live notebook panel in the main area showing the file `path` (or undefined).
PANEL_JS = """(path) => Array.from(window.jupyterapp.shell.widgets('main')).find(
    w => w.context && w.context.path === path && !w.isDisposed && !w.context.isDisposed)"""

# JS: the plotly graphs under `root`, as plain data (see NotebookUI.charts).
CHARTS_JS = """(root) => Array.from(root.querySelectorAll('.js-plotly-plot')).map(gd => {
    const data = gd.data || [];
    const full = gd._fullData || [];
    const fl = gd._fullLayout || {};
    const par = data.length > 0 && data[0].type === 'parcoords';
    const dims = par ? (data[0].dimensions || []) : [];
    const box = gd.getBoundingClientRect();
    return {
        kind: par ? 'parcoords' : 'xy',
        traces: data.map((t, i) => {
            const f = full.find(x => x.index === i) || {};
            const line = (f.line && f.line.color) || (t.line && t.line.color) || null;
            return {
                name: String(t.name ?? ''), meta: t.meta ?? null,
                visible: f.visible ?? t.visible ?? true,
                points: (t.x || t.y || []).length,
                color: typeof line === 'string' ? line : null,
                opacity: f.opacity ?? t.opacity ?? 1,
            };
        }),
        paths: Array.from(gd.querySelectorAll('.scatterlayer .trace path.js-line'))
            .map(p => (p.getAttribute('d') || '').length),
        scatterTraces: gd.querySelectorAll('.scatterlayer .trace').length,
        parcoords: par ? {
            dims: dims.length,
            lines: dims.length ? (dims[0].values || []).length : 0,
            axes: gd.querySelectorAll('.parcoords .y-axis').length,
        } : null,
        title: (fl.title && fl.title.text) || null,
        font: (fl.font && fl.font.color) || null,
        paper: fl.paper_bgcolor || null,
        size: [Math.round(box.width), Math.round(box.height)],
        text: (gd.textContent || '').slice(0, 3000),
    };
})"""

PROBLEMS_JS = """(root) => {
    const out = [];
    root.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
        .forEach(e => out.push('error output: ' + e.innerText.slice(0, 400)));
    const text = root.innerText || '';
    for (const bad of ['Error displaying widget', 'Loading widget...', 'No renderer could be found',
                       'Model not found', 'Javascript Error', 'Failed to load model']) {
        if (text.includes(bad)) out.push('the page says: ' + bad);
    }
    return out;
}"""


def drawn_lines(chart: dict[str, Any]) -> int:
    """How many SVG lines of a line chart hold a real path (more than a point)."""
    return sum(1 for n in chart["paths"] if n > 20)


class Wire:
    """What the page receives over its kernel websocket(s), and the HTTP requests it makes.

    `mark()` starts a measure; `settle()` waits until no frame came for `quiet_s`; `since()`
    is the bytes and frames received since the mark (payload sizes, UTF-8 for text frames)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.received = 0
        self.frames = 0
        self.last_frame = time.monotonic()
        self.requests: list[tuple[str, int]] = []
        self._mark = (0, 0)
        page.on("websocket", self._socket)
        page.on("requestfinished", self._request)

    def _socket(self, ws: Any) -> None:
        if "/channels" in ws.url:  # the kernel's channels (not /api/events/subscribe)
            ws.on("framereceived", self._frame)

    def _frame(self, payload: Any) -> None:
        size = len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)
        self.received += size
        self.frames += 1
        self.last_frame = time.monotonic()

    def _request(self, request: Any) -> None:
        try:
            size = int(request.sizes()["responseBodySize"])
        except Exception:
            size = -1
        self.requests.append((request.url, size))

    def mark(self) -> None:
        self._mark = (self.received, self.frames)

    def since(self) -> dict[str, int]:
        return {"bytes": self.received - self._mark[0], "frames": self.frames - self._mark[1]}

    def settle(self, quiet_s: float = 1.5, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(250)  # lets Playwright deliver pending frame events
            if time.monotonic() - self.last_frame >= quiet_s:
                return

    def bundles(self, min_bytes: int = 800_000) -> list[tuple[str, int]]:
        """Requests for labextension chunks of at least `min_bytes`: plotly.js (3.5-4.8 MB, over
        1 MB even compressed); no other extension chunk of this venv reaches 300 KB."""
        return [
            (url.split("?")[0], size)
            for url, size in self.requests
            if "/extensions/" in url and size >= min_bytes
        ]

    def forget_requests(self) -> None:
        self.requests.clear()


def save_figures(name: str, figures: dict[str, Any]) -> Path:
    """Measured figures as JSON in test-artifacts/figures/NAME.json (the report quotes them)."""
    folder = REPO / "test-artifacts" / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(figures, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def poll(fn: Callable[[], Any], timeout_s: float, what: str, interval: float = 0.25) -> Any:
    """Call `fn` until it returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} (after {timeout_s} s; last: {value!r})")


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched once per test module. Not once per session:
    Playwright's sync API marks its event loop as running in this thread while it lives, and
    later tests that run a loop of their own (tests/server) must not meet it. ("package" scope
    would not do: this folder is not a package, so it would mean the session.)"""
    require_browser()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:
        pw.stop()
        pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}\n{SETUP_HINT}", pytrace=False)
    yield chromium
    chromium.close()
    pw.stop()


def _server(
    app: str, tmp_path_factory: pytest.TempPathFactory, **options: Any
) -> Iterator[JupyterServer]:
    require_browser()
    require_labextension()
    work = tmp_path_factory.mktemp(f"{app}-server")
    root = work / "project"
    root.mkdir()
    server = start_jupyter(app, root, work, **options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """`jupyter lab` in a temporary project folder (each notebook folder: its own store)."""
    yield from _server("lab", tmp_path_factory)


@pytest.fixture(scope="session")
def notebook7_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """`jupyter notebook` (Notebook 7) in a temporary project folder (each notebook folder:
    its own store)."""
    yield from _server("notebook", tmp_path_factory)


@pytest.fixture(scope="session")
def lab_nowidgets_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """`jupyter lab` with the widget manager (@jupyter-widgets/jupyterlab-manager) disabled in
    its own config folder: no widget can render there."""
    yield from _server("lab", tmp_path_factory, disabled=(WIDGET_MANAGER,))


WIDGET_MANAGER = "@jupyter-widgets/jupyterlab-manager"


NOTEBOOKS: dict[str, Callable[[Path], WidgetsNotebook]] = {
    "widgets": write_widgets_notebook,
    "wire": write_wire_notebook,
}


def init_store(folder: Path) -> Path:
    """`nb-mlops init FOLDER`: a store of its own for the notebooks in `folder` (their kernels
    start there and find it), so no test module sees another's runs."""
    folder.mkdir(parents=True, exist_ok=True)
    cli = Path(sys.executable).with_name("nb-mlops")
    env = {k: v for k, v in os.environ.items() if k != "NB_MLOPS_HOME"}
    done = subprocess.run(
        [str(cli), "init", str(folder)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    store = folder / ".nbmlops"
    if done.returncode != 0 or not store.is_dir():
        pytest.fail(f"nb-mlops init {folder} failed:\n{done.stdout}{done.stderr}", pytrace=False)
    return store


@contextlib.contextmanager
def notebook_page(
    browser: Any,
    server: JupyterServer,
    name: str,
    kind: str | Callable[[Path], WidgetsNotebook] = "widgets",
    run: Callable[[NotebookUI], None] = NotebookUI.run_all_and_wait,
) -> Iterator[NotebookUI]:
    """Write a notebook (`kind`: widgets or wire, or a function that writes one and says where
    its cells are) into the server's folder, open it in a new browser context, `run` it
    (default: Run All Cells, then wait); closed on exit. A failure while opening or running
    leaves a screenshot and says what the console and server said."""
    folder = server.root / Path(name).stem
    init_store(folder)
    nb = (NOTEBOOKS[kind] if isinstance(kind, str) else kind)(folder / name)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    ui = NotebookUI(page, server, nb)
    try:
        try:
            ui.open()
            run(ui)
        except Exception as exc:
            shot = screenshot_path(f"FAILED-{server.label}-{nb.path.stem}-run")
            with contextlib.suppress(Exception):
                page.screenshot(path=str(shot), full_page=True, timeout=15_000)
            pytest.fail(
                f"{server.app}: opening and running {nb.path.name} failed: {exc}\n"
                f"screenshot: {shot}\n--- browser console ---\n"
                + "\n".join(ui.console[-50:])
                + f"\n--- jupyter {server.app} server log ---\n{server.log()}",
                pytrace=False,
            )
        yield ui
    finally:
        context.close()


def executed_notebook(browser: Any, server: JupyterServer, name: str) -> Iterator[NotebookUI]:
    """The widgets notebook open in the server, every cell run."""
    with notebook_page(browser, server, name) as ui:
        yield ui


@pytest.fixture(scope="module")
def open_notebook(browser: Any) -> Callable[..., Any]:
    """`with open_notebook(server, "x.ipynb", kind="wire", run=fn) as ui:` (see notebook_page)."""
    return functools.partial(notebook_page, browser)


@pytest.fixture(scope="session")
def screenshot_file() -> Callable[[str], Path]:
    """`screenshot_file("static-page")` -> test-artifacts/screenshots/static-page.png."""
    return screenshot_path


@pytest.fixture(scope="module")
def lab_ui(browser: Any, lab_server: JupyterServer) -> Iterator[NotebookUI]:
    """The widgets notebook open in JupyterLab, every cell run (once per test module)."""
    yield from executed_notebook(browser, lab_server, "widgets-lab.ipynb")


@pytest.fixture(scope="module")
def notebook7_ui(browser: Any, notebook7_server: JupyterServer) -> Iterator[NotebookUI]:
    """The widgets notebook open in Notebook 7, every cell run (once per test module)."""
    yield from executed_notebook(browser, notebook7_server, "widgets-notebook7.ipynb")


@dataclass(frozen=True)
class Executed:
    """A notebook executed by `jupyter nbconvert --execute` (which saves the widget state in
    `metadata.widgets`, as papermill and `./dev lab --headless` do)."""

    nb: WidgetsNotebook
    path: Path
    notebook: Any = field(repr=False)
    env: dict[str, str] = field(repr=False)
    log: str = field(repr=False)


@dataclass(frozen=True)
class StaticExport:
    """The executed widgets notebook exported to HTML with no kernel, with its saved widget state
    (`state`) or stripped of it (`stripped`)."""

    nb: WidgetsNotebook
    executed: Any = field(repr=False)  # the executed notebook (widget state in its metadata)
    html_path: Path
    html: str = field(repr=False)
    log: str = field(repr=False)
    variant: str = "stripped"


def _nbconvert(args: list[str], cwd: Path, env: dict[str, str], what: str) -> str:
    done = subprocess.run(
        [jupyter_command(), "nbconvert", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_ALL_S * 2,
    )  # fmt: skip
    log = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"nbconvert failed to {what} (exit {done.returncode}):\n{log}", pytrace=False)
    return log


def nbconvert_execute(work: Path, write: Callable[[Path], WidgetsNotebook]) -> Executed:
    """Write a notebook into `work`/project and execute it with nbconvert (store: that project's
    .nbmlops; Jupyter and IPython folders of its own); fail on any error output."""
    root = work / "project"
    root.mkdir(parents=True, exist_ok=True)
    nb = write(root / "notebook.ipynb")
    env = dict(os.environ)
    env.update(
        NB_MLOPS_HOME=str(root / ".nbmlops"),
        JUPYTER_CONFIG_DIR=str(work / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(work / "jupyter-runtime"),
        IPYTHONDIR=str(work / "ipython"),
    )
    log = _nbconvert(
        ["--to", "notebook", "--execute", f"--ExecutePreprocessor.timeout={RUN_ALL_S}",
         "--ExecutePreprocessor.kernel_name=python3", "--output", "executed.ipynb", nb.path.name],
        root, env, f"execute {nb.path.name}",
    )  # fmt: skip
    path = root / "executed.ipynb"
    executed = nbformat.read(path, as_version=4)
    errors = [
        f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
        for i, cell in enumerate(executed.cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    if errors:
        pytest.fail(f"{nb.path.name} raised:\n" + "\n".join(errors), pytrace=False)
    return Executed(nb, path, executed, env, log)


@pytest.fixture(scope="session")
def executed_widgets(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """The widgets notebook executed once by nbconvert (widget state saved)."""
    return nbconvert_execute(tmp_path_factory.mktemp("executed"), write_widgets_notebook)


def export_html(executed: Executed, variant: str) -> StaticExport:
    """The executed notebook as HTML (nbconvert, no kernel): `state` keeps the saved widget
    state, `stripped` drops `metadata.widgets` as a viewer without widget state would."""
    copy = nbformat.from_dict(json.loads(json.dumps(executed.notebook)))
    if variant == "stripped":
        copy.metadata.pop("widgets", None)
    elif "widgets" not in copy.metadata:
        pytest.fail("nbconvert --execute saved no widget state", pytrace=False)
    root = executed.path.parent
    nbformat.write(copy, root / f"{variant}.ipynb")
    log = _nbconvert(["--to", "html", f"{variant}.ipynb"], root, executed.env, "export HTML")
    html_path = root / f"{variant}.html"
    return StaticExport(
        executed.nb, executed.notebook, html_path, html_path.read_text(encoding="utf-8"),
        executed.log + log, variant,
    )  # fmt: skip


QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"


def copy_quickstart(path: Path) -> WidgetsNotebook:
    """notebooks/quickstart.ipynb, copied to `path` as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(QUICKSTART, path)
    return WidgetsNotebook(path, {}, run_names=[])


@pytest.fixture(scope="session")
def executed_quickstart(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    """The quickstart notebook executed by nbconvert in a temporary project."""
    return nbconvert_execute(tmp_path_factory.mktemp("quickstart"), copy_quickstart)


@pytest.fixture(scope="session")
def figures() -> Callable[[str, dict[str, Any]], Path]:
    """`figures("wire-lab", {...})` writes test-artifacts/figures/wire-lab.json."""
    return save_figures


@pytest.fixture(scope="module", params=["state", "stripped"])
def static_export(request: pytest.FixtureRequest, executed_widgets: Executed) -> StaticExport:
    """The executed widgets notebook as HTML, with its saved widget state and without it: what
    nbconvert, GitHub or an e-mailed .html shows."""
    return export_html(executed_widgets, request.param)


# ------------------------------------------------------------------------------ diagnostics
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On failure: a full-page screenshot, the browser console and the server log."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    seen: set[int] = set()
    for value in getattr(item, "funcargs", {}).values():
        ui = value if isinstance(value, NotebookUI) else None
        server = ui.server if ui else value if isinstance(value, JupyterServer) else None
        if ui is not None:
            with contextlib.suppress(Exception):
                shot = screenshot_path(f"FAILED-{item.name}")
                ui.page.screenshot(path=str(shot), full_page=True, timeout=15_000)
                report.sections.append(("failure screenshot", str(shot)))
            if ui.console:
                report.sections.append(("browser console", "\n".join(ui.console[-100:])))
        if server is not None and id(server) not in seen:
            seen.add(id(server))
            report.sections.append((f"jupyter {server.app} server log", server.log()))
