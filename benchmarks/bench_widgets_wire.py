"""Widgets on the wire, old tree vs new tree side by side: bytes per display, the first
`%track runs` in a fresh kernel, the live chart, the executed quickstart.

    .venv/bin/python benchmarks/bench_widgets_wire.py                  # --old /tmp/old-tree --new .
    .venv/bin/python benchmarks/bench_widgets_wire.py --rounds 5 --no-quickstart

Targets (issue 11), for the new tree:
  1. one `%track runs` over 5 runs x 3 metrics x 100 points sends at most 300 KB;
  2. the first `%track runs` in a fresh kernel over 1,000 runs costs at most 0.8 s of Python time;
  3. the quickstart executed by nbconvert weighs at most 1.5 MB;
  4. the live chart (a `%%track` cell logging 3 metrics x 100 points) costs no more than (1).

Every measure runs in a real IPython kernel (jupyter_client, the venv's `python3` kernel) started
with PYTHONPATH=<tree>, so `import nb_mlops` comes from that tree while this measuring code is
the same for both (as in bench_trees.py); the kernel's working folder and store are scratch
folders. Bytes: every iopub message the kernel sends for the cell (display data, comm opens and
messages, status, stream), serialized as on the wire (header, parent header, metadata, content
as JSON, plus binary buffers): what a front end receives. Python time: IPython's
pre_run_cell -> post_run_cell of the `%track runs` cell (building the widgets and their
messages), in a kernel where only `%load_ext nb_mlops` ran before; "warm" is the same cell run
again. Rounds alternate the trees (old/new, then new/old); figures are medians over rounds.
The quickstart: each tree's own notebooks/quickstart.ipynb executed once per tree by
`jupyter nbconvert --execute` (which saves widget state). Results:
benchmarks/results/widgets-wire-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from common import TABLE_HEAD, save_side_by_side, table_row  # noqa: E402

TARGETS = {
    "bytes_5x3x100": 300_000,
    "cold_1k_s": 0.8,
    "quickstart_bytes": 1_500_000,
    "live_bytes": 300_000,
}

FILL_SMALL = """
import math
import nb_mlops as nm  # the store: NB_MLOPS_HOME
for r in range(5):
    params = {"lr": 0.01 * (r + 1), "layers": r + 2, "opt": ["adam", "sgd"][r % 2]}
    with nm.start_run(f"run-{r}", params=params):
        for s in range(100):
            nm.log_metrics({"loss": math.exp(-0.03 * s) + 0.01 * r,
                            "accuracy": 1 - math.exp(-0.03 * s) - 0.01 * r,
                            "lr": 0.1 * 0.99 ** s}, step=s)
"""

FILL_1K = """
import nb_mlops as nm  # the store: NB_MLOPS_HOME
for i in range(1000):
    params = {f"p{j:02d}": (i * 7 + j) % 50 if j % 3 else f"v{(i + j) % 9}" for j in range(12)}
    with nm.start_run(f"run-{i}", params=params) as run:
        for j in range(12):
            for step in range(5 if j < 6 else 1):
                run.log_metric(f"m{j:02d}", (i * 13 + j + step) / 97, step=step)
"""

TIMER = """
import json, time
_nbm_bench = {}
def _nbm_pre(*_):
    _nbm_bench["t0"] = time.perf_counter()
def _nbm_post(*_):
    _nbm_bench["seconds"] = time.perf_counter() - _nbm_bench.get("t0", time.perf_counter())
get_ipython().events.register("pre_run_cell", _nbm_pre)
get_ipython().events.register("post_run_cell", _nbm_post)
"""

LIVE = """%%track -n live-run
import math, time
import nb_mlops as nm
for s in range(100):
    nm.log_metrics({"loss": math.exp(-0.03 * s), "accuracy": 1 - math.exp(-0.03 * s),
                    "lr": 0.1 * 0.99 ** s}, step=s)
    time.sleep(0.012)
"""


# ------------------------------------------------------------------------- a real kernel
def tree_env(tree: Path, work: Path, store: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NB_MLOPS_HOME")}
    env.update(
        PYTHONPATH=str(tree),
        NB_MLOPS_HOME=str(store),
        IPYTHONDIR=str(work / "ipython"),
        JUPYTER_RUNTIME_DIR=str(work / "runtime"),
    )
    return env


def message_bytes(msg: dict[str, Any]) -> int:
    """A message's size as sent: its four JSON parts and its binary buffers."""
    parts = (msg["header"], msg["parent_header"], msg["metadata"], msg["content"])
    size = sum(len(json.dumps(p, default=str, separators=(",", ":")).encode()) for p in parts)
    return size + sum(len(memoryview(b).cast("B")) for b in msg.get("buffers") or [])


class Kernel:
    """A fresh `python3` kernel importing nb_mlops from `tree`, with `store` as its store."""

    def __init__(self, tree: Path, work: Path, store: Path) -> None:
        from jupyter_client.manager import start_new_kernel

        work.mkdir(parents=True, exist_ok=True)
        self.km, self.kc = start_new_kernel(
            kernel_name="python3", env=tree_env(tree, work, store), cwd=str(work)
        )

    def run(self, code: str, timeout: float = 600) -> dict[str, Any]:
        """Execute `code`; its iopub messages' bytes, its stdout, any error."""
        msg_id = self.kc.execute(code)
        total, count, out, error = 0, 0, [], None
        kinds: dict[str, int] = {}
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            size = message_bytes(msg)
            total += size
            count += 1
            kind = msg["msg_type"]
            kinds[kind] = kinds.get(kind, 0) + size
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
        return {"bytes": total, "messages": count, "by_type": kinds, "stdout": "".join(out),
                "error": error}  # fmt: skip

    def value(self, expr: str) -> Any:
        res = self.run(f"print(__import__('json').dumps({expr}))")
        if res["error"]:
            raise RuntimeError(res["error"])
        return json.loads(res["stdout"].strip().splitlines()[-1])

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def expect(k: Kernel, runs: int) -> None:
    """The kernel's store holds `runs` runs (the display measured showed them)."""
    found = k.value("len(__import__('nb_mlops').runs())")
    if found != runs:
        raise RuntimeError(f"the kernel's store holds {found} runs, not {runs}")


def checked(res: dict[str, Any], what: str) -> dict[str, Any]:
    if res["error"]:
        raise RuntimeError(f"{what}: {res['error']}")
    return res


# ------------------------------------------------------------------------- the measures
def fill(python: str, tree: Path, code: str, store: Path, work: Path) -> None:
    done = subprocess.run(
        [python, "-c", code], cwd=work, env=tree_env(tree, work, store),
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"filling {store} with {tree} failed:\n{done.stderr[-3000:]}")


def one_round(tree: Path, stores: dict[str, Path], scratch: Path) -> dict[str, Any]:
    """Fresh kernels: 5x3x100 display bytes (cold, warm) and the live chart; 1,000-run times."""
    fig: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="wire-", dir=scratch))
    small = work / "small"
    shutil.copytree(stores["small"], small)  # the live run must not reach the next round
    k = Kernel(tree, work / "k1", small)
    try:
        checked(k.run("%load_ext nb_mlops"), "load_ext")
        first = checked(k.run("%track runs"), "%track runs (5 runs)")
        expect(k, 5)
        again = checked(k.run("%track runs"), "%track runs again")
        live = checked(k.run(LIVE), "the live chart cell")
        fig.update(
            bytes_5x3x100=first["bytes"],
            bytes_5x3x100_again=again["bytes"],
            live_bytes=live["bytes"],
            messages_5x3x100=first["messages"],
            by_type_5x3x100=first["by_type"],
            live_by_type=live["by_type"],
        )
    finally:
        k.stop()
    k = Kernel(tree, work / "k2", stores["1k"])
    try:
        checked(k.run("%load_ext nb_mlops\n" + TIMER), "load_ext + timer")
        cold = checked(k.run("%track runs"), "%track runs (1,000 runs)")
        fig["cold_1k_s"] = k.value('_nbm_bench["seconds"]')
        expect(k, 1000)
        checked(k.run("%track runs"), "%track runs (1,000 runs) again")
        fig["warm_1k_s"] = k.value('_nbm_bench["seconds"]')
        fig["bytes_1k"] = cold["bytes"]
    finally:
        k.stop()
    shutil.rmtree(work, ignore_errors=True)
    return fig


def quickstart(tree: Path, scratch: Path) -> dict[str, Any]:
    """The tree's quickstart executed by nbconvert: the file's size and its widget state's."""
    work = Path(tempfile.mkdtemp(prefix="quickstart-", dir=scratch))
    shutil.copyfile(tree / "notebooks" / "quickstart.ipynb", work / "quickstart.ipynb")
    env = tree_env(tree, work, work / ".nbmlops")
    env["JUPYTER_CONFIG_DIR"] = str(work / "jupyter-config")
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    t0 = time.perf_counter()
    done = subprocess.run(
        [jupyter, "nbconvert", "--to", "notebook", "--execute", "quickstart.ipynb",
         "--output", "executed.ipynb", "--ExecutePreprocessor.timeout=600",
         "--ExecutePreprocessor.kernel_name=python3"],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"nbconvert of {tree}'s quickstart failed:\n{done.stderr[-3000:]}")
    path = work / "executed.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = {
        "quickstart_bytes": path.stat().st_size,
        "quickstart_widget_state_bytes": len(json.dumps(nb["metadata"].get("widgets", {}))),
        "quickstart_seconds": time.perf_counter() - t0,
    }
    shutil.rmtree(work, ignore_errors=True)
    return out


# ------------------------------------------------------------------------- report
ROWS = [  # key, label, unit, target key
    ("bytes_5x3x100", "`%track runs`, 5 runs x 3 metrics x 100 points: bytes", "B",
     "bytes_5x3x100"),
    ("bytes_5x3x100_again", "  same, displayed again in that kernel", "B", None),
    ("live_bytes", "live chart of a `%%track` cell (3 metrics x 100 points): bytes", "B",
     "live_bytes"),
    ("cold_1k_s", "first `%track runs` in a fresh kernel, 1,000 runs: Python time", "s",
     "cold_1k_s"),
    ("warm_1k_s", "  same cell again (warm)", "s", None),
    ("bytes_1k", "  bytes of that display (1,000 runs)", "B", None),
    ("quickstart_bytes", "quickstart executed by nbconvert: file size", "B", "quickstart_bytes"),
    ("quickstart_widget_state_bytes", "  of which saved widget state", "B", None),
]  # fmt: skip


def table(medians: dict[str, dict[str, float]]) -> str:
    lines = list(TABLE_HEAD)
    for key, label, unit, target in ROWS:
        old, new = medians["old"].get(key), medians["new"].get(key)
        limit = TARGETS[target] if target else None
        if key == "live_bytes" and new is not None:  # no more than the others, within the target
            base = medians["new"].get("bytes_5x3x100")
            limit = min(base, TARGETS["bytes_5x3x100"]) if base is not None else limit
        lines.append(table_row(label, old, new, unit, limit)[0])
    return "\n".join(lines)


def median_figures(rounds: list[dict[str, Any]]) -> dict[str, float]:
    keys = {k for r in rounds for k, v in r.items() if isinstance(v, (int, float))}
    return {k: statistics.median(r[k] for r in rounds if k in r) for k in keys}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, default=Path("/tmp/old-tree"))
    ap.add_argument("--new", type=Path, default=REPO)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-quickstart", action="store_true", help="skip the nbconvert measure")
    args = ap.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    for label, tree in trees.items():
        if not (tree / "nb_mlops" / "__init__.py").is_file():
            ap.error(f"--{label} {tree}: no nb_mlops package there")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    scratch = Path(tempfile.mkdtemp(prefix="bench-widgets-wire-"))
    samples: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    extra: dict[str, dict[str, Any]] = {"old": {}, "new": {}}
    t_start = time.perf_counter()
    try:
        stores: dict[str, dict[str, Path]] = {}
        for label, tree in trees.items():
            say(f"filling the stores with the {label} tree ...")
            base = scratch / f"stores-{label}"
            base.mkdir()
            stores[label] = {"small": base / "small", "1k": base / "1k"}
            fill(sys.executable, tree, FILL_SMALL, stores[label]["small"], base)
            fill(sys.executable, tree, FILL_1K, stores[label]["1k"], base)
        for rnd in range(1, args.rounds + 1):
            order = ["old", "new"] if rnd % 2 else ["new", "old"]
            for label in order:
                t0 = time.perf_counter()
                samples[label].append(one_round(trees[label], stores[label], scratch))
                say(f"round {rnd}/{args.rounds} {label}: {time.perf_counter() - t0:.1f} s")
        if not args.no_quickstart:
            for label in ("old", "new"):
                say(f"executing the {label} tree's quickstart with nbconvert ...")
                extra[label] = quickstart(trees[label], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {t: {**median_figures(samples[t]), **extra[t]} for t in ("old", "new")}
    out = save_side_by_side(
        "widgets-wire", stamp, trees, samples, medians, TARGETS, t_start, quickstart=extra
    )
    print(table(medians))
    for t in ("old", "new"):
        if samples[t]:
            spread = [r["cold_1k_s"] for r in samples[t]]
            print(f"{t}: cold 1k over rounds {', '.join(f'{s:.3f}' for s in spread)} s")
    print(
        f"\nresults: {out.relative_to(REPO)}; took {(time.perf_counter() - t_start) / 60:.1f} min"
    )
    failed = "FAIL" in table(medians)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
