"""A real Jupyter server (JupyterLab 4 or Notebook 7) and a real Chromium, driven by Playwright.

Each server runs on a free loopback port in its own temporary project folder, with that folder's
`.nbmlops` as the store (never the repo's), its own Jupyter config/settings folders, and is
stopped by its own pid when the session ends. Chromium is Debian's (`/usr/bin/chromium`, or
`$NB_MLOPS_CHROMIUM`): these tests never download a browser, and they fail (never skip) when
Playwright or Chromium is missing.

`NotebookUI` is the page object the tests use: open a notebook, run all cells from the menu,
wait until every cell has run, find a cell's output, take screenshots, list alert dialogs.
Screenshots go to `test-artifacts/screenshots/` under the repo root; a failing test also leaves
a full-page screenshot there and gets the server log in its report.
"""

from __future__ import annotations

import contextlib
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
RUNS = {"fast": 0.05, "medium": 0.02, "slow": 0.008}
CELL_RUN = "cell-run"
RUN_NAMES = [*RUNS, CELL_RUN, MALICIOUS]


@dataclass(frozen=True)
class WidgetsNotebook:
    """The notebook the browser and static tests execute, and where its outputs are."""

    path: Path
    cells: dict[str, int]  # a view's name -> the index of the cell that shows it
    run_names: list[str] = field(default_factory=lambda: list(RUN_NAMES))
    malicious: str = MALICIOUS


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
    ]
    cells: list[Any] = [new_markdown_cell("# nb-mlops widgets (written by tests/browser)")]
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
        prefix = "/lab/tree/" if self.app == "lab" else "/notebooks/"
        return f"{self.base}{prefix}{rel}?token={self.token}"

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


def start_jupyter(app: str, root: Path, work: Path, attempts: int = 3) -> JupyterServer:
    """Start `jupyter {app}` on a free port with an isolated config and store; wait for it."""
    config = work / "jupyter-config"
    for rel, doc in USER_SETTINGS.items():
        f = config / "lab" / "user-settings" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(doc))
    env = dict(os.environ)
    env.update(
        NB_MLOPS_HOME=str(root / ".nbmlops"),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(work / "jupyter-runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(work / "lab-workspaces"),
        IPYTHONDIR=str(work / "ipython"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("JUPYTER_TOKEN", None)
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
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
        page.on("dialog", self._on_dialog)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append((dialog.type, dialog.message))
        with contextlib.suppress(Exception):
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
        return self.cell(key).locator(".jp-OutputArea")

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
@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, launched once per session."""
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


def _server(app: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    require_browser()
    work = tmp_path_factory.mktemp(f"{app}-server")
    root = work / "project"
    root.mkdir()
    server = start_jupyter(app, root, work)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """`jupyter lab` in a temporary project folder (store: its .nbmlops)."""
    yield from _server("lab", tmp_path_factory)


@pytest.fixture(scope="session")
def notebook7_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """`jupyter notebook` (Notebook 7) in a temporary project folder (store: its .nbmlops)."""
    yield from _server("notebook", tmp_path_factory)


def executed_notebook(browser: Any, server: JupyterServer, name: str) -> Iterator[NotebookUI]:
    """Write the widgets notebook into the server's folder, open it, run all cells, wait."""
    nb = write_widgets_notebook(server.root / name)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    ui = NotebookUI(page, server, nb)
    try:
        try:
            ui.open()
            ui.run_all_and_wait()
        except Exception as exc:
            shot = screenshot_path(f"FAILED-{server.label}-run-all")
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
class StaticExport:
    """The widgets notebook executed by nbconvert, stripped of widget state, exported to HTML."""

    nb: WidgetsNotebook
    executed: Any = field(repr=False)  # the executed notebook (widget state in its metadata)
    html_path: Path
    html: str = field(repr=False)
    log: str = field(repr=False)


def _nbconvert(args: list[str], cwd: Path, env: dict[str, str], what: str) -> str:
    done = subprocess.run(
        [jupyter_command(), "nbconvert", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_ALL_S,
    )  # fmt: skip
    log = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"nbconvert failed to {what} (exit {done.returncode}):\n{log}", pytrace=False)
    return log


@pytest.fixture(scope="module")
def static_export(tmp_path_factory: pytest.TempPathFactory) -> StaticExport:
    """Execute the widgets notebook with a kernel (nbconvert --execute, store in the temporary
    project), drop `metadata.widgets` as a viewer without widget state would, then convert to
    HTML with no kernel: what nbconvert, GitHub or an e-mailed .html shows."""
    work = tmp_path_factory.mktemp("static")
    root = work / "project"
    root.mkdir()
    nb = write_widgets_notebook(root / "widgets.ipynb")
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
        root, env, "execute the widgets notebook",
    )  # fmt: skip
    executed = nbformat.read(root / "executed.ipynb", as_version=4)
    errors = [
        f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
        for i, cell in enumerate(executed.cells)
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    if errors:
        pytest.fail("the widgets notebook raised:\n" + "\n".join(errors), pytrace=False)
    stripped = nbformat.from_dict(json.loads(json.dumps(executed)))
    stripped.metadata.pop("widgets", None)
    nbformat.write(stripped, root / "static.ipynb")
    log += _nbconvert(["--to", "html", "static.ipynb"], root, env, "export HTML")
    html_path = root / "static.html"
    return StaticExport(nb, executed, html_path, html_path.read_text(encoding="utf-8"), log)


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
