"""Tracking benchmark: nb-mlops in process, steady state, side by side with MLflow (SQLite store).

    ./dev setup                                         # once: MLflow in .venv-mlflow
    .venv/bin/python benchmarks/bench_tracking.py       # ~3 minutes on 2 cores

Measures (medians; see benchmarks/README.md for the figures and the machine):
  1. nm.log_metric per call, in batches of 1,000 calls, with the background flusher running;
  2. an empty `%%track` cell in a real IPython shell with 10,000 runs in the store (runs of a
     script; then again with 10,000 earlier runs of that same cell: the worst case);
  3. nm.runs() over 10,000 runs with 20 params and 10 metrics each (and over 1,000, beside
     mlflow.search_runs over 1,000 runs of the same shape);
  4. `%load_ext nb_mlops` in a fresh interpreter (beside `import mlflow`).
Every store is a temporary folder. Results go to benchmarks/results/tracking-<UTC time>.json.
`--profile` also writes a cProfile of each in-process measure there and prints its hot spots.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import (  # noqa: E402
    add_json_out,
    figure,
    in_fresh_process,
    machine,
    per_call,
    shown,
    summary,
    write_json_out,
)

PEER_PYTHON = HERE.parent / ".venv-mlflow" / "bin" / "python"  # MLflow, built by ./dev setup
RESULTS = HERE / "results"

TARGETS = {
    "log_metric": ("ratio", 100.0, ">= 100x faster than MLflow"),
    "track_cell": ("seconds", 0.005, "<= 5 ms"),
    "runs_10k": ("seconds", 0.300, "<= 300 ms"),
    "load_ext": ("seconds", 0.5, "<= 0.5 s"),
}


def _params(i: int) -> dict[str, object]:
    return {f"p{j:02d}": i * 31 + j if j % 2 else f"v{i * 31 + j}" for j in range(20)}


def _metrics(i: int) -> dict[str, float]:
    return {f"m{j}": (i * 7 + j) / 13 for j in range(10)}


@contextlib.contextmanager
def store(label: str, keep: bool) -> Iterator[Path]:
    """A fresh temporary store, pinned for this process (nm.init), removed afterwards."""
    import nb_mlops as nm
    from nb_mlops import api
    from nb_mlops.store.workspace import forget_open_workspaces

    folder = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    home = folder / ".nbmlops"
    with contextlib.redirect_stderr(io.StringIO()):  # the "created a store" notice
        nm.init(home)
    try:
        yield home
    finally:
        api.reset()
        forget_open_workspaces()
        if keep:
            print(f"  kept store {home}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


class Profiler:
    """With --profile: an extra, untimed pass of a measure under cProfile (timings stay clean)."""

    def __init__(self, enabled: bool, stamp: str) -> None:
        self.enabled = enabled
        self.stamp = stamp
        self.hot: dict[str, list[str]] = {}

    def run(self, name: str, fn: Callable[[], object]) -> None:
        if not self.enabled:
            return
        prof = cProfile.Profile()
        prof.runcall(fn)
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"profile-{name}-{self.stamp}.prof"
        prof.dump_stats(path)
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(15)
        stats.sort_stats("cumulative").print_stats(25)
        self.hot[name] = out.getvalue().splitlines()
        print(f"\n--- profile of {name} ({path.name}) ---\n{out.getvalue()}", file=sys.stderr)


def fill_runs(n: int) -> float:
    """n runs with 20 params and 10 metrics each, through the public API; seconds per run."""
    import nb_mlops as nm

    t0 = time.perf_counter()
    for i in range(n):
        with nm.start_run(f"r{i}", params=_params(i)):
            nm.log_metrics(_metrics(i))
    return (time.perf_counter() - t0) / n


# --------------------------------------------------------------------------- measures
def bench_log_metric(batches: int, batch: int, prof: Profiler) -> dict:
    import nb_mlops as nm

    with nm.start_run("log-metric"):
        for i in range(10 * batch):  # warm-up: first buffers, key checks, flusher started
            nm.log_metric("loss", 0.5, step=i)
        log, clock = nm.log_metric, time.perf_counter
        step = 10 * batch
        samples = []
        t_all = clock()
        for _ in range(batches):
            t0 = clock()
            for _ in range(batch):
                log("loss", 0.5, step=step)
                step += 1
            samples.append((clock() - t0) / batch)
        wall = clock() - t_all

        def again() -> None:
            for i in range(batches * batch):
                log("loss", 0.5, step=step + i)

        prof.run("log_metric", again)
    return summary(samples, batch=batch, points=batches * batch, wall_s=wall)


def bench_empty_run(calls: int) -> dict:
    import nb_mlops as nm

    def empty() -> None:
        with nm.start_run():
            pass

    return summary(per_call(empty, calls, warmup=5))


def _shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    return InteractiveShell.instance(config=cfg)


def clone_last_run(n: int) -> None:
    """n copies of the newest run's document (new ids, earlier starts) in one journal append.

    The copies keep the run's source key, so to `%%track` they are n earlier runs of the same
    cell: the worst case for linking a new run to its predecessors.
    """
    import copy

    import nb_mlops as nm
    from nb_mlops.tracking.ids import new_run_id

    catalog = nm.workspace().catalog
    docs = catalog.docs("runs")
    template = max(docs.values(), key=lambda d: d["start"])
    t0 = dt.datetime.fromisoformat(template["start"])
    records, ids = [], set(docs)
    for i in range(n):
        run_id = new_run_id()
        while run_id in ids:
            run_id = new_run_id()
        ids.add(run_id)
        doc = copy.deepcopy(template)
        start = t0 - dt.timedelta(seconds=n - i)
        doc.update(run_id=run_id, name=f"clone-{i}", start=start.isoformat())
        records.append({"op": "put", "tb": "runs", "id": run_id, "doc": doc})
    for k in range(0, n, 1000):
        catalog.journal.append(records[k : k + 1000])


def bench_track_cell(cells: int, prof: Profiler, name: str = "track_cell", clones: int = 0) -> dict:
    shell = _shell()

    def cell(code: str) -> Callable[[], None]:
        def run() -> None:
            res = shell.run_cell(code, store_history=True)
            if not res.success:
                raise RuntimeError(f"cell failed: {res.error_in_exec or res.error_before_exec}")

        return run

    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        plain = per_call(cell("pass"), cells, warmup=5)
        shell.run_line_magic("load_ext", "nb_mlops")
        cell("%%track\npass")()  # steady state starts after the kernel's first tracked cell
        if clones:
            clone_last_run(clones)
        hooked = per_call(cell("pass"), cells, warmup=5)
        tracked = per_call(cell("%%track\npass"), cells, warmup=1)
        prof.run(name, lambda: per_call(cell("%%track\npass"), cells))
        magic = per_call(lambda: shell.run_cell_magic("track", "", "pass"), cells, warmup=1)
        shell.run_line_magic("unload_ext", "nb_mlops")
    tracked_s = summary(tracked)
    plain_s = summary(plain)
    return {
        **tracked_s,
        "plain_ipython_cell": plain_s,
        "cell_with_extension_loaded": summary(hooked),
        "magic_alone": summary(magic),
        "net_of_ipython": tracked_s["median"] - plain_s["median"],
    }


def bench_runs_table(prof: Profiler, name: str, expect: int) -> dict:
    import nb_mlops as nm

    frame = nm.runs()  # first call: filters compiled, liveness checked, caches warmed
    assert len(frame) == expect, len(frame)
    assert frame.shape[1] >= 6 + 20 + 10, frame.shape
    samples = per_call(nm.runs, 5)
    prof.run(name, lambda: per_call(nm.runs, 5))
    return summary(samples, runs=expect, columns=int(frame.shape[1]))


def bench_runs_cold(home: Path, times: int) -> dict:
    """nm.runs() as the first call of a fresh process: the journal replay plus the table."""
    code = (
        "import time, json\n"
        "t0 = time.perf_counter()\n"
        "import nb_mlops as nm\n"
        "t1 = time.perf_counter()\n"
        "n = len(nm.runs())\n"
        "t2 = time.perf_counter()\n"
        "print(json.dumps([t1 - t0, t2 - t1, n]))\n"
    )
    env = {**os.environ, "NB_MLOPS_HOME": str(home)}
    out = in_fresh_process(sys.executable, code, times, env=env)
    return summary([o[1] for o in out], import_s=summary([o[0] for o in out])["median"])


def bench_load_ext(times: int) -> dict:
    code = (
        "import json, time\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from traitlets.config import Config\n"
        "c = Config(); c.HistoryManager.enabled = False\n"
        "sh = InteractiveShell.instance(config=c)\n"
        "t0 = time.perf_counter()\n"
        "sh.run_line_magic('load_ext', 'nb_mlops')\n"
        "t1 = time.perf_counter()\n"
        "import contextlib, io\n"
        "quiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        "    r = sh.run_cell('%%track\\npass')\n"
        "t2 = time.perf_counter()\n"
        "assert r.success\n"
        "print(json.dumps([t1 - t0, t2 - t1]))\n"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-ext-"))
    try:
        env = {**os.environ, "NB_MLOPS_HOME": str(tmp / ".nbmlops")}
        out = in_fresh_process(sys.executable, code, times, env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary([o[0] for o in out], first_track_cell=summary([o[1] for o in out]))


def run_peer(search_runs: int) -> dict | None:
    if not PEER_PYTHON.exists():
        print(
            f"no {PEER_PYTHON}: run `./dev setup` for the MLflow column",
            file=sys.stderr,
        )
        return None
    out = subprocess.run(
        [str(PEER_PYTHON), str(HERE / "peer_mlflow.py"), "--search-runs", str(search_runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"peer_mlflow.py failed ({out.returncode}):\n{out.stderr}", file=sys.stderr)
        return None
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- report
def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def rows(res: dict, peer: dict | None) -> list[dict]:
    def p(key: str) -> float | None:
        return peer[key]["median"] if peer and key in peer else None

    def row(measure: str, ours: float, theirs: float | None, target: str | None = None) -> dict:
        ratio = theirs / ours if theirs is not None else None
        verdict = None
        if target:
            kind, bound, _ = TARGETS[target]
            if kind == "ratio":
                verdict = None if ratio is None else ratio >= bound
            else:
                verdict = ours <= bound
        return {
            "measure": measure,
            "nb_mlops_s": ours,
            "mlflow_s": theirs,
            "ratio": ratio,
            "target": TARGETS[target][2] if target else None,
            "pass": verdict,
        }

    cell, load = res["track_cell"], res["load_ext"]
    big, small = _count(res["runs_10k"]["runs"]), _count(res["runs_1k"]["runs"])
    return [
        row("log_metric, per call", res["log_metric"]["median"], p("log_metric"), "log_metric"),
        row("empty run (start+end), API, new store", res["empty_run"]["median"], p("empty_run")),
        row(f"empty %%track cell, {big} runs in store", cell["median"], None, "track_cell"),
        row("  IPython's own run_cell('pass')", cell["plain_ipython_cell"]["median"], None),
        row("  nb-mlops's part (%%track cell - plain cell)", cell["net_of_ipython"], None),
        row("  the %%track magic alone (run_cell_magic)", cell["magic_alone"]["median"], None),
        row(f"same, the {big} runs all of this same cell",
            res["track_cell_same"]["median"], None, "track_cell"),
        row(f"nm.runs(), {big} runs x 20 params x 10 metrics",
            res["runs_10k"]["median"], None, "runs_10k"),
        row(f"nm.runs() vs search_runs(), {small} runs, same shape",
            res["runs_1k"]["median"], p("search_runs")),
        row(f"nm.runs() first call in a fresh process, {big}",
            res["runs_10k_cold"]["median"], None),
        row("%load_ext nb_mlops (vs import mlflow), fresh proc",
            load["median"], p("import"), "load_ext"),
        row("first %%track cell after load_ext, fresh proc",
            load["first_track_cell"]["median"], None),
    ]  # fmt: skip


FIGURE_KEYS = {  # the rows of `rows()`, in order: keys (and labels without MLflow) for --json-out
    "log_metric": None,
    "empty_run": None,
    "track_cell": None,
    "track_cell.plain_ipython_cell": None,
    "track_cell.net_of_ipython": None,
    "track_cell.magic_alone": None,
    "track_cell_same": None,
    "runs_10k": None,
    "runs_1k": "nm.runs(), {small} runs, same shape",
    "runs_10k_cold": None,
    "load_ext": "%load_ext nb_mlops, fresh process",
    "load_ext.first_track_cell": None,
}


def figures(res: dict, table: list[dict]) -> list[dict]:
    """nb-mlops's figures of the table, keyed, for --json-out; and the cost of filling the
    stores through the API (start_run with 20 params + log_metrics of 10 + end, per run)."""
    assert len(table) == len(FIGURE_KEYS), (len(table), len(FIGURE_KEYS))
    small = _count(res["runs_1k"]["runs"])
    out = [
        figure(
            key,
            (label or row["measure"]).format(small=small).strip(),
            row["nb_mlops_s"],
            control="plain_ipython" in key,
        )
        for (key, label), row in zip(FIGURE_KEYS.items(), table, strict=True)
    ]
    for key in ("runs_1k", "runs_10k"):
        n = _count(res[key]["runs"])
        label = f"filling a store to {n} runs through the API, per run"
        out.append(figure(f"{key}.fill_s_per_run", label, res[key]["fill_s_per_run"]))
    return out


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def render(table: list[dict]) -> str:
    head = ("measure", "nb-mlops", "MLflow", "ratio", "target", "pass/fail")
    body = []
    for r in table:
        verdict = {True: "PASS", False: "FAIL", None: ""}[r["pass"]]
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] is not None else ""
        body.append(
            (r["measure"], _fmt(r["nb_mlops_s"]), _fmt(r["mlflow_s"]) if r["mlflow_s"] else "—",
             ratio, r["target"] or "", verdict)
        )  # fmt: skip
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    out = [line.format(*head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line.format(*b) for b in body]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the big store")
    ap.add_argument("--cells", type=int, default=200, help="timed %%track cells")
    ap.add_argument("--batches", type=int, default=300, help="log_metric batches of 1,000")
    ap.add_argument("--search-runs", type=int, default=1000, help="runs for the 1k comparison")
    ap.add_argument("--no-peer", action="store_true", help="skip MLflow")
    ap.add_argument("--profile", action="store_true", help="cProfile each in-process measure")
    ap.add_argument("--keep", action="store_true", help="keep the temporary stores")
    ap.add_argument(
        "--fresh", type=int, default=5, help="fresh processes for the first-call and load_ext"
    )
    add_json_out(ap)
    args = ap.parse_args()

    import nb_mlops

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    prof = Profiler(args.profile, stamp)
    res: dict[str, dict] = {}
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    say("log_metric ...")
    with store("log-metric", args.keep):
        res["log_metric"] = bench_log_metric(args.batches, 1000, prof)
    say("empty runs ...")
    with store("empty-run", args.keep):
        res["empty_run"] = bench_empty_run(50)
    say(f"runs table over {args.search_runs} runs ...")
    with store("runs-1k", args.keep):
        fill_1k = fill_runs(args.search_runs)
        res["runs_1k"] = bench_runs_table(prof, "runs_1k", args.search_runs)
        res["runs_1k"]["fill_s_per_run"] = fill_1k
    say(f"filling a store with {args.runs} runs ...")
    with store("10k", args.keep) as home:
        fill = fill_runs(args.runs)
        say(f"  {fill * 1e3:.2f} ms per run; runs table ...")
        res["runs_10k"] = bench_runs_table(prof, "runs_10k", args.runs)
        res["runs_10k"]["fill_s_per_run"] = fill
        res["runs_10k_cold"] = bench_runs_cold(home, args.fresh)
        say("%%track cells ...")
        res["track_cell"] = bench_track_cell(args.cells, prof)
        res["track_cell"]["runs_in_store"] = args.runs
    say(f"%%track cells with {args.runs} earlier runs of the same cell ...")
    with store("same-cell", args.keep):
        res["track_cell_same"] = bench_track_cell(args.cells, prof, "track_cell_same", args.runs)
        res["track_cell_same"]["runs_in_store"] = args.runs
    say("load_ext in fresh processes ...")
    res["load_ext"] = bench_load_ext(args.fresh)
    peer = None
    if not args.no_peer:
        say("MLflow (peer venv) ...")
        peer = run_peer(args.search_runs)

    table = rows(res, peer)
    text = render(table)
    print(text)
    doc = {
        "date": stamp,
        "machine": machine(),
        "nb_mlops": nb_mlops.__version__,
        "args": vars(args),
        "nb_mlops_results": res,
        "mlflow_results": peer,
        "table": table,
        "hot_spots": prof.hot,
    }
    if args.json_out:
        out = write_json_out(args.json_out, doc, figures(res, table))
    else:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"tracking-{stamp}.json"
        out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nresults: {shown(out)}")
    failed = [r["measure"] for r in table if r["pass"] is False]
    if failed:
        print("missed targets: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
