"""Timing helpers shared by bench_tracking.py and peer_mlflow.py (stdlib only: the peer venv
imports this file too, and nb-mlops is not installed there)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def summary(samples: list[float], **extra: object) -> dict[str, object]:
    """Median, mean, min, max and count of per-call seconds."""
    return {
        "median": statistics.median(samples),
        "mean": statistics.fmean(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        **extra,
    }


def per_call(fn: Callable[[], object], calls: int, warmup: int = 0) -> list[float]:
    """Seconds of each of `calls` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter
    samples = []
    for _ in range(calls):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return samples


def in_fresh_process(python: str, code: str, times: int, env: dict | None = None) -> list:
    """Run `python -c code` `times` times; each prints its result as JSON on its last line."""
    samples = []
    for _ in range(times):
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, env=env, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"{python} -c ... failed ({out.returncode}):\n{out.stderr}")
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return samples


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def finish_peer(result: dict[str, object], tmp: Path) -> None:
    """A peer script's end: leave and remove its temporary store, print its figures as JSON."""
    os.chdir(Path(__file__).resolve().parent)
    shutil.rmtree(tmp, ignore_errors=True)
    json.dump(result, sys.stdout, indent=1)
    print()


def registry_arguments(description: str, ours: bool = False) -> argparse.Namespace:
    """The registry benchmark's options, shared by our side and MLflow's so they cannot differ.

    `ours`: also the options only bench_registry.py has (no peer, fingerprint model, JSON out).
    """
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--registers", type=int, default=20)
    ap.add_argument("--aliases", type=int, default=50)
    ap.add_argument("--loads", type=int, default=20)
    ap.add_argument("--trees", type=int, default=100)
    if ours:
        ap.add_argument("--no-peer", action="store_true", help="skip MLflow")
        ap.add_argument(
            "--fingerprint-trees",
            type=int,
            default=500,
            help="trees of the forest in the fingerprint-cost part (0: skip that part, torch too)",
        )
        add_json_out(ap)
    return ap.parse_args()


# ------------------------------------------------------------- machine-readable figures
# `--json-out PATH` (bench_trees.py uses it): the script writes its usual results document to
# PATH instead of benchmarks/results/<name>-<time>.json, with two more keys: "figures", a flat
# list of nb-mlops's own figures (medians), and "nb_mlops_file", where nb_mlops was imported
# from (so a caller can check which source tree was measured).


def add_json_out(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--json-out",
        type=Path,
        metavar="PATH",
        help="write the results, plus a flat list of nb-mlops's medians ('figures'), to PATH "
        "instead of benchmarks/results/<name>-<UTC time>.json",
    )


def figure(key: str, label: str, value: float, unit: str = "s", control: bool = False) -> dict:
    """One figure for --json-out: lower is better; `control` marks one nb-mlops has no part in
    (e.g. IPython's own cell time), kept as a gauge of the machine's noise."""
    return {"key": key, "label": label, "value": value, "unit": unit, "control": control}


def write_json_out(path: Path, doc: dict[str, object], figures: list[dict]) -> Path:
    """--json-out: `doc` plus "figures" and "nb_mlops_file", written to `path`."""
    import nb_mlops

    doc = {**doc, "figures": figures, "nb_mlops_file": nb_mlops.__file__}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def save_side_by_side(
    kind: str,
    stamp: str,
    trees: dict,
    samples: dict,
    medians: dict,
    targets: dict,
    t_start: float,
    **extra: object,
) -> Path:
    """An old-vs-new run's results as benchmarks/results/<kind>-<stamp>.json: the machine, the
    trees, every round's samples, the medians, the targets and the wall time."""
    doc = {
        "stamp": stamp,
        "machine": machine(),
        "trees": {k: str(v) for k, v in trees.items()},
        "rounds": samples,
        **extra,
        "medians": medians,
        "targets": targets,
        "wall_s": time.perf_counter() - t_start,
    }
    folder = Path(__file__).resolve().parent / "results"
    folder.mkdir(exist_ok=True)
    out = folder / f"{kind}-{stamp}.json"
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    return out


def show_value(value: float | None, unit: str) -> str:
    """A figure as the side-by-side tables print it: bytes ("B") in KB/MB, counts ("n") as they
    are, seconds ("s") in s from one second up and in ms below; None as "-"."""
    if value is None:
        return "-"
    if unit == "B":
        return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.1f} KB"
    if unit == "n":
        return f"{value:g}"
    return f"{value:.3f} s" if value >= 1 else f"{value * 1e3:.0f} ms"


TABLE_HEAD = [
    "| measure | old | new | new/old | target | result |",
    "| --- | --- | --- | --- | --- | --- |",
]


def table_row(
    label: str, old: float | None, new: float | None, unit: str, target: float | None
) -> tuple[str, str]:
    """One line of an old-vs-new table, and its verdict ("PASS", "FAIL" or "" with no target)."""
    ratio = f"{new / old:.3f}" if old and new is not None else "-"
    goal = f"<= {show_value(target, unit)}" if target is not None else ""
    verdict = "" if target is None or new is None else ("PASS" if new <= target else "FAIL")
    line = f"| {label} | {show_value(old, unit)} | {show_value(new, unit)} | {ratio} | {goal} |"
    return f"{line} {verdict} |", verdict


def shown(path: Path) -> str:
    """A results path as printed: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        return str(path)
