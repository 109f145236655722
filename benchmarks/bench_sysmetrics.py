"""System-metrics sampler cost: nb-mlops's sampler beside MLflow's system metrics monitor.

    .venv-mlflow/bin/python -m pip install psutil      # once: MLflow's monitor needs psutil
    .venv/bin/python benchmarks/bench_sysmetrics.py    # about 8 minutes (60 s per in-run measure)

The target (issue 17): the sampler costs under 1% of one core at its default period (10 s).
Measures, each in a temporary store (medians where repeated; see benchmarks/README.md):
  1. one sample (`SystemReader.read()`): CPU time of the reading thread and wall time, 200
     samples; again with a stand-in `nvidia-smi` first on the PATH (a shell script giving two
     GPUs; the CPU of its processes is counted too: a real nvidia-smi costs more);
  2. in a run: a run kept open for `--seconds` (60) while the main thread sleeps, sampling every
     10 s and every 1 s (and every 1 s with the stand-in nvidia-smi); the sampling thread's own
     CPU time (its per-thread clock), and the whole process's CPU time (plus its children's)
     beyond the same run with sampling off: as % of one core;
  3. what sampling adds to starting and ending an empty run (400 interleaved pairs, on vs off);
  4. MLflow (`peer_mlflow_sysmetrics.py`, run with `--peer-python`, default .venv-mlflow): the
     same in-run measure for `mlflow.start_run(log_system_metrics=True)` with its sampling
     interval set to 10 s and 1 s (its thread: "SystemMetricsMonitor"), and one sample of its
     monitor (collect + aggregate + publish to its SQLite store + its run-status check).
Results: benchmarks/results/sysmetrics-<UTC time>.json (or `--json-out PATH`).
This file is stdlib-only at import time: the peer script imports its helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import add_json_out, figure, machine, shown, write_json_out  # noqa: E402

PEER_PYTHON = HERE.parent / ".venv-mlflow" / "bin" / "python"
RESULTS = HERE / "results"
TARGET_PERCENT = 1.0  # of one core, at the default period
STAND_IN = (
    "#!/bin/sh\n"
    "printf '37, 1024, 16384\\n85, 12288, 16384\\n'\n"  # two GPUs: util %, used MiB, total MiB
)


# ------------------------------------------------------------------ CPU clocks (stdlib only)
def thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds a live thread has used (its own per-thread clock, Linux)."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def process_cpu() -> float:
    """CPU seconds of this process (all threads; nanosecond clock) and of its waited-for
    children (microseconds): os.times() counts in 10 ms ticks, too coarse here."""
    return time.process_time() + children_cpu()


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def find_thread(name: str) -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == name), None)


def in_run_figures(
    seconds: float, thread_s: float | None, process_s: float, baseline_s: float, samples: int
) -> dict[str, object]:
    """An in-run measure's figures: CPU seconds and % of one core."""
    extra = process_s - baseline_s
    return {
        "seconds": seconds,
        "samples": samples,
        "thread_cpu_s": thread_s,
        "thread_percent": None if thread_s is None else 100 * thread_s / seconds,
        "process_cpu_s": process_s,
        "baseline_cpu_s": baseline_s,
        "process_extra_percent": 100 * extra / seconds,
        "thread_cpu_per_sample_ms": None if not samples or thread_s is None
        else 1e3 * thread_s / samples,
    }  # fmt: skip


# ------------------------------------------------------------------ nb-mlops
@contextlib.contextmanager
def store() -> Iterator[Path]:
    """A fresh temporary store (NB_MLOPS_HOME, so every run of this process lands in it, never
    in a store found from the cwd), removed afterwards."""
    from nb_mlops.store.workspace import forget_open_workspaces, open_workspace

    folder = Path(tempfile.mkdtemp(prefix="bench-sysmetrics-"))
    old = os.environ.get("NB_MLOPS_HOME")
    os.environ["NB_MLOPS_HOME"] = str(folder / ".nbmlops")
    forget_open_workspaces()
    with contextlib.redirect_stderr(io.StringIO()):  # the "created a store" notice
        ws = open_workspace()
    assert ws.home == folder / ".nbmlops", ws.home
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("NB_MLOPS_HOME", None)
        else:
            os.environ["NB_MLOPS_HOME"] = old
        forget_open_workspaces()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def stand_in_on_path(enabled: bool) -> Iterator[None]:
    """With `enabled`: a stand-in nvidia-smi first on the PATH (and pynvml hidden)."""
    if not enabled:
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-nvidia-smi-"))
    script = folder / "nvidia-smi"
    script.write_text(STAND_IN, encoding="utf-8")
    script.chmod(0o755)
    old_path, old_nvml = os.environ.get("PATH", ""), sys.modules.get("pynvml", False)
    os.environ["PATH"] = f"{folder}{os.pathsep}{old_path}"
    sys.modules["pynvml"] = None  # type: ignore[assignment]  # `import pynvml` fails
    try:
        yield
    finally:
        os.environ["PATH"] = old_path
        if old_nvml is False:
            sys.modules.pop("pynvml", None)
        else:
            sys.modules["pynvml"] = old_nvml
        shutil.rmtree(folder, ignore_errors=True)


def bench_one_sample(root: Path, n: int, gpu: bool) -> dict[str, object]:
    """`SystemReader.read()` n times: CPU of this thread, wall, children's CPU, per sample."""
    from nb_mlops.tracking.sysmetrics import SystemReader

    with stand_in_on_path(gpu):
        reader = SystemReader(root)
        assert (reader.gpu is not None) == gpu, reader.gpu
        values = reader.read()  # warm-up
        cpu, wall = [], []
        kids0 = children_cpu()
        for _ in range(n):
            c0, w0 = time.thread_time(), time.perf_counter()
            values = reader.read()
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
        kids = children_cpu() - kids0
    return {
        "n": n,
        "metrics": len(values),
        "thread_cpu_ms": 1e3 * statistics.median(cpu),
        "wall_ms": 1e3 * statistics.median(wall),
        "children_cpu_ms": 1e3 * kids / n,
    }


def bench_in_run(seconds: float, period: float | bool, gpu: bool = False) -> dict[str, object]:
    """A run kept open `seconds` (main thread asleep) with `system_metrics=period`."""
    from nb_mlops.tracking.run import start_run
    from nb_mlops.tracking.sysmetrics import hub

    with stand_in_on_path(gpu):
        run = start_run(f"bench-{period}", system_metrics=period)
        thread = hub.thread if run.sampler is not None else None
        t0 = thread_cpu(thread) if thread is not None else None
        p0 = process_cpu()
        time.sleep(seconds)
        p1 = process_cpu()
        t1 = thread_cpu(thread) if thread is not None else None
        samples = run.sampler.samples if run.sampler is not None else 0
        end0 = time.perf_counter()
        run.end()
        end_s = time.perf_counter() - end0
    return {
        "thread_s": None if t0 is None else t1 - t0,
        "process_s": p1 - p0,
        "samples": samples,
        "end_s": end_s,
    }


def bench_start_end(pairs: int) -> dict[str, object]:
    """An empty run's start + end with sampling on (default period) and off, interleaved."""
    from nb_mlops.tracking.run import start_run

    times: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(pairs):
        order = ("on", "off") if i % 2 else ("off", "on")
        for kind in order:
            t0 = time.perf_counter()
            run = start_run("empty", system_metrics=kind == "on")
            run.end()
            times[kind].append(time.perf_counter() - t0)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    return {"pairs": pairs, "on_ms": 1e3 * on, "off_ms": 1e3 * off, "added_ms": 1e3 * (on - off)}


def ours(seconds: float, samples: int, pairs: int) -> dict[str, object]:
    from nb_mlops.tracking.run import start_run

    out: dict[str, object] = {}
    with store() as root:
        print("one sample ...", file=sys.stderr)
        out["one_sample"] = bench_one_sample(root, samples, gpu=False)
        out["one_sample_gpu"] = bench_one_sample(root, samples // 2, gpu=True)
        print("start + end of an empty run ...", file=sys.stderr)
        out["start_end"] = bench_start_end(pairs)
        with start_run("warm-up", system_metrics=0.2):  # the sampling thread exists
            time.sleep(0.5)
        plan: list[tuple[str, float | bool, bool]] = [
            ("off", False, False),
            ("every 10 s", 10.0, False),
            ("every 1 s", 1.0, False),
            ("every 1 s, stand-in nvidia-smi", 1.0, True),
        ]
        raw = {}
        for label, period, gpu in plan:
            print(f"in a run, {label}, {seconds:g} s ...", file=sys.stderr)
            raw[label] = bench_in_run(seconds, period, gpu)
        base = raw["off"]["process_s"]
        out["in_run"] = {
            label: {
                **in_run_figures(seconds, r["thread_s"], r["process_s"], base, r["samples"]),
                "end_s": r["end_s"],
            }
            for label, r in raw.items()
        }
    return out


# ------------------------------------------------------------------ MLflow
def run_peer(python: Path, seconds: float, samples: int) -> dict | None:
    if not python.exists():
        print(f"no {python}: `./dev setup` makes it (MLflow column skipped)", file=sys.stderr)
        return None
    check = subprocess.run(
        [str(python), "-c", "import psutil, mlflow.system_metrics"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        print(
            f"{python} cannot import psutil and mlflow.system_metrics "
            f"(`{python} -m pip install psutil`); MLflow column skipped:\n{check.stderr}",
            file=sys.stderr,
        )
        return None
    print(f"MLflow's monitor ({python}), about {3 * seconds:g} s ...", file=sys.stderr)
    out = subprocess.run(
        [
            str(python),
            str(HERE / "peer_mlflow_sysmetrics.py"),
            "--seconds",
            str(seconds),
            "--samples",
            str(samples),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"peer script failed ({out.returncode}):\n{out.stderr}", file=sys.stderr)
        return None
    return json.loads(out.stdout)


# ------------------------------------------------------------------ report
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def table(res: dict, peer: dict | None) -> list[str]:
    lines = [
        "| in a run (main thread asleep) | samples | sampler thread, % of one core | "
        "process CPU beyond sampling off | thread CPU per sample |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows = [("nb-mlops", label, r) for label, r in res["in_run"].items() if label != "off"]
    if peer:
        rows += [("MLflow", label, r) for label, r in peer["in_run"].items() if label != "off"]
    for tool, label, r in rows:
        lines.append(
            f"| {tool}, {label} | {r['samples']} | {_pct(r['thread_percent'])} | "
            f"{_pct(r['process_extra_percent'])} | {_ms(r['thread_cpu_per_sample_ms'])} |"
        )
    one, gpu, se = res["one_sample"], res["one_sample_gpu"], res["start_end"]
    lines += [
        "",
        "| one sample | CPU (reading thread) | wall | CPU of child processes |",
        "| --- | --- | --- | --- |",
        f"| nb-mlops, {one['metrics']} metrics | {_ms(one['thread_cpu_ms'])} | "
        f"{_ms(one['wall_ms'])} | - |",
        f"| nb-mlops + stand-in nvidia-smi, {gpu['metrics']} metrics | "
        f"{_ms(gpu['thread_cpu_ms'])} | {_ms(gpu['wall_ms'])} | {_ms(gpu['children_cpu_ms'])} |",
    ]
    if peer:
        ps = peer["one_sample"]
        lines.append(
            f"| MLflow (collect + publish + status check), {ps['metrics']} metrics | "
            f"{_ms(ps['thread_cpu_ms'])} | {_ms(ps['wall_ms'])} | - |"
        )
    lines += [
        "",
        f"Empty run start + end: sampling on {se['on_ms']:.3f} ms, off {se['off_ms']:.3f} ms "
        f"(median of {se['pairs']} interleaved pairs; added {se['added_ms']:+.3f} ms).",
    ]
    return lines


def verdict(res: dict) -> tuple[str, float]:
    r = res["in_run"]["every 10 s"]
    worst = max(r["thread_percent"] or 0.0, r["process_extra_percent"])
    return ("PASS" if worst < TARGET_PERCENT else "FAIL"), worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each in-run measure")
    ap.add_argument("--samples", type=int, default=200, help="samples timed one by one")
    ap.add_argument("--pairs", type=int, default=400, help="empty runs, on/off pairs")
    ap.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    ap.add_argument("--no-peer", action="store_true", help="skip MLflow")
    add_json_out(ap)
    args = ap.parse_args()

    t_start = time.perf_counter()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    res = ours(args.seconds, args.samples, args.pairs)
    peer = None if args.no_peer else run_peer(args.peer_python, args.seconds, args.samples)
    result, worst = verdict(res)
    doc = {
        "stamp": stamp,
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "nb_mlops": res,
        "mlflow": peer,
        "target": f"< {TARGET_PERCENT:g}% of one core at the default period (10 s)",
        "result": result,
        "wall_s": time.perf_counter() - t_start,
    }
    print("\n".join(table(res, peer)))
    print(
        f"\ntarget: sampler < {TARGET_PERCENT:g}% of one core at 10 s: "
        f"{worst:.3f}% (the larger of thread and process figures) -> {result}"
    )
    if args.json_out:
        r10 = res["in_run"]["every 10 s"]
        figures = [
            figure("in_run_10s.thread", "sampler thread at 10 s, % of one core",
                   r10["thread_percent"], unit="%"),
            figure("in_run_10s.process", "process CPU beyond off at 10 s, % of one core",
                   r10["process_extra_percent"], unit="%"),
            figure("one_sample.cpu", "one sample, CPU", res["one_sample"]["thread_cpu_ms"] / 1e3),
            figure("start_end.added", "sampling's part of an empty run's start + end",
                   res["start_end"]["added_ms"] / 1e3),
        ]  # fmt: skip
        path = write_json_out(args.json_out, doc, figures)
    else:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"sysmetrics-{stamp}.json"
        path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"results: {shown(path)}")


if __name__ == "__main__":
    main()
