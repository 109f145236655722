"""Widgets in the browser, old tree vs new tree side by side: time until the curves are drawn
(cold and warm), bytes over the kernel websocket per display, the live chart's bytes, and how
often plotly.js is fetched.

    .venv/bin/python benchmarks/bench_widgets_browser.py          # --old /tmp/old-tree --new .
    .venv/bin/python benchmarks/bench_widgets_browser.py --rounds 5

Targets (issue 11), for the new tree: time to drawn curves at most 1 s warm; one `%track runs`
over 5 runs x 3 metrics x 100 points sends at most 300 KB; the live chart no more.

Per tree and round: a fresh `jupyter lab` (JupyterLab 4, this venv, its labextensions) on a free
loopback port, started with PYTHONPATH=<tree> so its kernels import nb_mlops from that tree, in
a scratch project whose store is a copy of one filled with 5 runs x 3 metrics x 100 points (by
that tree); Debian's Chromium (/usr/bin/chromium, headless) opens a notebook: `%load_ext
nb_mlops`, `%track runs`, `%track runs`, then a `%%track` cell logging 3 metrics x 100 points
for about 1.2 s (the live chart). Cold = the first `%track runs` of that fresh kernel and page
(the kernel imports what the display needs, the page fetches plotly.js); warm = the same display
again. Time: measured in the page, from the run command to the animation frame where the output
holds a plotly graph with at least 5 drawn lines. Bytes: payloads of the frames the page
receives on the kernel's websocket, from the run command until no frame came for 1.5 s. Rounds
alternate the trees (old/new, new/old); figures are medians over rounds. Results:
benchmarks/results/widgets-browser-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_widgets_wire import FILL_SMALL, LIVE, fill  # noqa: E402
from common import TABLE_HEAD, save_side_by_side, table_row  # noqa: E402

CHROMIUM = os.environ.get("NB_MLOPS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TARGETS = {"warm_s": 1.0, "cold_bytes": 300_000, "live_bytes": 300_000}
CELLS = ["%load_ext nb_mlops", "%track runs", "%track runs", LIVE]
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# Run cell i and resolve, in the page, with the ms until its output draws >= `lines` lines.
RUN_UNTIL_DRAWN = """async ([i, lines, ms]) => {
    const app = window.jupyterapp;
    const nb = app.shell.currentWidget.content;
    const cell = () => nb.widgets[i];
    const drawn = () => Array.from(cell().node.querySelectorAll('.js-plotly-plot')).some(gd =>
        Array.from(gd.querySelectorAll('.scatterlayer .trace path.js-line'))
             .filter(p => (p.getAttribute('d') || '').length > 20).length >= lines);
    const t0 = performance.now();
    nb.activeCellIndex = i;
    void app.commands.execute('notebook:run-cell');
    await new Promise((resolve, reject) => {
        const late = setTimeout(() => reject(new Error('cell ' + i + ' not drawn')), ms);
        const check = () => {
            if (drawn()) { clearTimeout(late); resolve(); } else { requestAnimationFrame(check); }
        };
        requestAnimationFrame(check);
    });
    return performance.now() - t0;
}"""
RUN_CELL = """async ([i, ms]) => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    nb.activeCellIndex = i;
    await Promise.race([window.jupyterapp.commands.execute('notebook:run-cell'),
        new Promise((_, no) => setTimeout(() => no(new Error('cell ' + i + ' late')), ms))]);
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path) -> None:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
         "outputs": [], "source": src}
        for i, src in enumerate(CELLS)
    ]  # fmt: skip
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    doc = {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(doc), encoding="utf-8")


class Lab:
    """`jupyter lab` for one tree: PYTHONPATH=tree, its own config, runtime, settings, store."""

    def __init__(self, tree: Path, work: Path, store: Path) -> None:
        self.root = work / "project"
        self.root.mkdir(parents=True)
        config = work / "config"
        for rel, doc in SETTINGS.items():
            f = config / "lab" / "user-settings" / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(doc))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_TOKEN")}
        env.update(
            PYTHONPATH=str(tree), NB_MLOPS_HOME=str(store), JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_RUNTIME_DIR=str(work / "runtime"), IPYTHONDIR=str(work / "ipython"),
            JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
        )  # fmt: skip
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log = work / "server.log"
        jupyter = str(Path(sys.executable).with_name("jupyter"))
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [jupyter, "lab", "--allow-root", "--no-browser", f"--port={self.port}",
                 "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                 "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={self.root}",
                 "--LabApp.expose_app_in_browser=True"],
                cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=5)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(self.log.read_text(errors="replace")[-3000:]) from None
                time.sleep(0.3)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str) -> str:
        return f"{self.base}/lab/tree/{name}?token={self.token}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class Wire:
    """Kernel-websocket bytes received by the page, and the big labextension chunks fetched."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        self.last = time.monotonic()
        self.bundles: list[tuple[str, int]] = []
        page.on("websocket", self._socket)
        page.on("requestfinished", self._request)
        self.page = page

    def _socket(self, ws: Any) -> None:
        if "/channels" in ws.url:
            ws.on("framereceived", self._frame)

    def _frame(self, payload: Any) -> None:
        self.bytes += len(payload.encode()) if isinstance(payload, str) else len(payload)
        self.last = time.monotonic()

    def _request(self, request: Any) -> None:
        try:
            size = int(request.sizes()["responseBodySize"])
        except Exception:
            return
        if "/extensions/" in request.url and size >= 800_000:
            self.bundles.append((request.url.split("?")[0].split("/extensions/")[-1], size))

    def settle(self, quiet_s: float = 1.5, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(250)
            if time.monotonic() - self.last >= quiet_s:
                return


def one_round(browser: Any, tree: Path, store: Path, scratch: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="browser-", dir=scratch))
    shutil.copytree(store, work / "store")
    lab = Lab(tree, work, work / "store")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        write_notebook(lab.root / "bench.ipynb")
        page = context.new_page()
        wire = Wire(page)
        page.goto(lab.url("bench.ipynb"), wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function(
            "() => !!window.jupyterapp && !!document.querySelector('.jp-Notebook .jp-CodeCell')",
            timeout=120_000,
        )
        page.wait_for_function(  # the kernel is started and idle (a run sent earlier is lost)
            """() => { const w = window.jupyterapp.shell.currentWidget;
                const k = w && w.sessionContext && w.sessionContext.session
                    && w.sessionContext.session.kernel;
                return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }""",
            timeout=180_000,
        )
        page.evaluate(RUN_CELL, [0, 180_000])  # %load_ext
        wire.settle()
        fig: dict[str, Any] = {}
        for key, i in (("cold", 1), ("warm", 2)):
            before = wire.bytes
            fig[f"{key}_s"] = page.evaluate(RUN_UNTIL_DRAWN, [i, 5, 180_000]) / 1000
            wire.settle()
            fig[f"{key}_bytes"] = wire.bytes - before
        before = wire.bytes
        page.evaluate(RUN_CELL, [3, 180_000])
        wire.settle()
        fig["live_bytes"] = wire.bytes - before
        fig["plotly_fetches"] = len(wire.bundles)
        fig["plotly_bundles"] = wire.bundles
        return fig
    finally:
        context.close()
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


ROWS = [
    ("cold_s", "time to drawn curves, first `%track runs` of a fresh kernel and page", "s", None),
    ("warm_s", "time to drawn curves, the same display again (warm)", "s", "warm_s"),
    ("cold_bytes", "websocket bytes, first `%track runs` (5 runs x 3 metrics x 100 points)", "B",
     "cold_bytes"),
    ("warm_bytes", "websocket bytes, the same display again", "B", None),
    ("live_bytes", "websocket bytes, the live chart of a `%%track` cell (3 x 100 points)", "B",
     "live_bytes"),
    ("plotly_fetches", "plotly.js bundles fetched by the page (> 800 KB chunks)", "n", None),
]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, default=Path("/tmp/old-tree"))
    ap.add_argument("--new", type=Path, default=REPO)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    from playwright.sync_api import sync_playwright

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    scratch = Path(tempfile.mkdtemp(prefix="bench-widgets-browser-"))
    samples: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    t_start = time.perf_counter()
    try:
        stores = {}
        for label, tree in trees.items():
            stores[label] = scratch / f"store-{label}"
            fill(sys.executable, tree, FILL_SMALL, stores[label], scratch)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            for rnd in range(1, args.rounds + 1):
                for label in ["old", "new"] if rnd % 2 else ["new", "old"]:
                    t0 = time.perf_counter()
                    fig = one_round(browser, trees[label], stores[label], scratch)
                    samples[label].append(fig)
                    brief = {k: v for k, v in fig.items() if k != "plotly_bundles"}
                    took = time.perf_counter() - t0
                    say(f"round {rnd}/{args.rounds} {label}: {took:.1f} s {brief}")
            browser.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {
        t: {k: statistics.median(r[k] for r in rs) for k, *_ in ROWS} for t, rs in samples.items()
    }
    lines = list(TABLE_HEAD)
    failed = False
    for key, label, unit, target in ROWS:
        old, new = medians["old"][key], medians["new"][key]
        line, verdict = table_row(label, old, new, unit, TARGETS[target] if target else None)
        lines.append(line)
        failed |= verdict == "FAIL"
    out = save_side_by_side("widgets-browser", stamp, trees, samples, medians, TARGETS, t_start)
    print("\n".join(lines))
    for t, rs in samples.items():
        print(f"{t}: cold {[round(r['cold_s'], 2) for r in rs]} s, "
              f"warm {[round(r['warm_s'], 2) for r in rs]} s")  # fmt: skip
    print(
        f"\nresults: {out.relative_to(REPO)}; took {(time.perf_counter() - t_start) / 60:.1f} min"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
