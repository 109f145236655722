"""Data versioning, side by side with DVC: first snapshot, unchanged re-snapshot, status.

Dataset (the issue's): 10,000 files of 4 KiB plus 8 files of 64 MiB, 552 MB, random bytes from a
fixed seed, written once per measured run so no run benefits from another's cache.
Nothing is deleted before or between measurements: on these machines a large delete slows the
file creations that follow it for a while, which would tilt the comparison.

    bash benchmarks/setup_peers.sh   # not needed: DVC comes from .venv-dvc (./dev setup)
    .venv/bin/python benchmarks/bench_data.py [--keep] [--no-peer]

nb-mlops is timed in process (after imports), as the targets say; DVC as the wall time of its
command. Prints a table and writes benchmarks/results/data-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from common import add_json_out, figure, write_json_out  # noqa: E402

DVC = REPO / ".venv-dvc" / "bin" / "dvc"
SMALL, SMALL_SIZE, BIG, BIG_SIZE = 10_000, 4096, 8, 64 << 20

_OURS = r"""
import json, statistics, sys, time
import nb_mlops as nm
nm.init(sys.argv[1])
t = time.perf_counter(); nm.snapshot("data", "first"); first = time.perf_counter() - t
again = []
for _ in range(5):
    t = time.perf_counter(); r = nm.snapshot("data"); again.append(time.perf_counter() - t)
    assert not r.created
status = []
for _ in range(5):
    t = time.perf_counter(); s = nm.status("data"); status.append(time.perf_counter() - t)
    assert s.items[0].clean
print(json.dumps({"first": first, "again": again, "status": status}))
"""


def make_dataset(folder: Path, seed: int, small: int = SMALL, big: int = BIG) -> None:
    rng = random.Random(seed)
    for i in range(small):
        sub = folder / "small" / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:05d}.bin").write_bytes(rng.randbytes(SMALL_SIZE))
    for i in range(big):
        with open(folder / f"big{i}.bin", "wb") as fh:
            for _ in range(BIG_SIZE >> 20):
                fh.write(rng.randbytes(1 << 20))


def settle(rest: float = 5.0) -> None:
    os.sync()
    time.sleep(rest)


def run(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        cmd,
        cwd=cwd,
        check=True,
        capture_output=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    return time.perf_counter() - t


def bench_ours(project: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _OURS, str(project)],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "NB_MLOPS_HOME"},
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "first": data["first"],
        "again": statistics.median(data["again"]),
        "status": statistics.median(data["status"]),
    }


def bench_dvc(project: Path) -> dict:
    run(["git", "init", "-q"], project)
    run([str(DVC), "init", "-q"], project)
    first = run([str(DVC), "add", "-q", "data"], project)
    again = statistics.median(run([str(DVC), "add", "-q", "data"], project) for _ in range(3))
    status = statistics.median(run([str(DVC), "status", "-q"], project) for _ in range(3))
    return {"first": first, "again": again, "status": status}


def md5sum_all(project: Path) -> float:
    files = [str(p) for p in (project / "data").rglob("*") if p.is_file()]
    t = time.perf_counter()
    for i in range(0, len(files), 1000):
        subprocess.run(["md5sum", *files[i : i + 1000]], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary projects")
    ap.add_argument("--no-peer", action="store_true", help="nb-mlops only (two runs), no DVC")
    ap.add_argument("--small-files", type=int, default=SMALL, help=f"files of 4 KiB ({SMALL})")
    ap.add_argument("--big-files", type=int, default=BIG, help=f"files of 64 MiB ({BIG})")
    ap.add_argument("--rest", type=float, default=5.0, help="seconds of rest after each sync (5)")
    add_json_out(ap)
    args = ap.parse_args()
    if args.no_peer:
        return main_ours(args)
    if not DVC.exists():
        print(f"needs the real dvc at {DVC}: run ./dev setup", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="nbmlops-bench-data-"))
    # ABBA: each tool once early and once late, each time on its own fresh copy, because the
    # disk's speed drifts during a run (whichever tool goes first right after the data is
    # written is slowed by the write-back); each tool's figure is the mean of its two runs.
    order = ["ours", "dvc", "dvc", "ours"]
    projects = [root / f"{i}-{name}" for i, name in enumerate(order)]
    print(f"writing {len(projects)} copies of the dataset under {root} ...", flush=True)
    for project in projects:
        make_dataset(project / "data", 7, args.small_files, args.big_files)
    settle(args.rest)
    md5sum = md5sum_all(projects[0])
    runs: dict[str, list[dict]] = {"ours": [], "dvc": []}
    for name, project in zip(order, projects, strict=True):
        settle(args.rest)
        print(f"{name} ...", flush=True)
        runs[name].append(bench_ours(project) if name == "ours" else bench_dvc(project))
    results = {
        name: {k: statistics.mean(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }
    dvc_version = subprocess.run([str(DVC), "--version"], capture_output=True, text=True).stdout
    rows = [
        ("first snapshot / dvc add", "first", lambda o, d: o <= 0.5 * d, "<= 0.5x DVC"),
        ("unchanged re-snapshot / re-add", "again", lambda o, d: o <= 0.15, "<= 0.15 s"),
        ("status", "status", lambda o, d: o <= 0.15, "<= 0.15 s"),
    ]
    print(f"\nDVC {dvc_version.strip()}; md5sum of all files: {md5sum:.2f} s; runs (ABBA):")
    for name, rs in runs.items():
        print(f"  {name}: " + "; ".join(f"first {r['first']:.2f} s" for r in rs))
    print("| measure | nb-mlops | DVC | DVC / nb-mlops | target | result |")
    print("|---|---|---|---|---|---|")
    table = []
    for label, key, ok, target in rows:
        o, d = results["ours"][key], results["dvc"][key]
        verdict = "PASS" if ok(o, d) else "FAIL"
        table.append({"measure": label, "ours": o, "dvc": d, "target": target, "result": verdict})
        print(f"| {label} | {o:.3f} s | {d:.3f} s | {d / o:.1f}x | {target} | {verdict} |")
    doc = {"runs": runs, "results": results, "md5sum": md5sum, "table": table}
    if args.json_out:
        write_json_out(args.json_out, doc, ours_figures(results["ours"], md5sum))
    else:
        out_dir = REPO / "benchmarks" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        (out_dir / f"data-{stamp}.json").write_text(json.dumps(doc, indent=1))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(r["result"] == "PASS" for r in table) else 1


def ours_figures(ours: dict, md5sum: float) -> list[dict]:
    """nb-mlops's figures, keyed, for --json-out."""
    return [
        figure("first", "first snapshot (mean of 2 fresh copies)", ours["first"]),
        figure("again", "unchanged re-snapshot", ours["again"]),
        figure("status", "status", ours["status"]),
        figure("md5sum", "md5sum of all files (the disk's speed)", md5sum, control=True),
    ]


def main_ours(args: argparse.Namespace) -> int:
    """--no-peer: nb-mlops's two runs of the ABBA order (each on its own fresh copy), no DVC."""
    root = Path(tempfile.mkdtemp(prefix="nbmlops-bench-data-"))
    projects = [root / f"{i}-ours" for i in range(2)]
    print(f"writing {len(projects)} copies of the dataset under {root} ...", flush=True)
    for project in projects:
        make_dataset(project / "data", 7, args.small_files, args.big_files)
    settle(args.rest)
    md5sum = md5sum_all(projects[0])
    runs: list[dict] = []
    for project in projects:
        settle(args.rest)
        print("ours ...", flush=True)
        runs.append(bench_ours(project))
    results = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
    print(
        f"\nmd5sum of all files: {md5sum:.2f} s; runs: "
        + "; ".join(f"first {r['first']:.2f} s" for r in runs)
    )
    rows = [
        ("first snapshot", "first", None),
        ("unchanged re-snapshot", "again", 0.15),
        ("status", "status", 0.15),
    ]
    print("| measure | nb-mlops | target | result |")
    print("|---|---|---|---|")
    table = []
    for label, key, bound in rows:
        o = results[key]
        verdict = "" if bound is None else ("PASS" if o <= bound else "FAIL")
        target = "" if bound is None else f"<= {bound} s"
        table.append({"measure": label, "ours": o, "target": target, "result": verdict})
        print(f"| {label} | {o:.3f} s | {target} | {verdict} |")
    doc = {
        "runs": {"ours": runs},
        "results": {"ours": results},
        "md5sum": md5sum,
        "table": table,
        "files": {"small": args.small_files, "big": args.big_files},
    }
    if args.json_out:
        path = write_json_out(args.json_out, doc, ours_figures(results, md5sum))
    else:
        out_dir = REPO / "benchmarks" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = out_dir / f"data-{stamp}.json"
        path.write_text(json.dumps(doc, indent=1))
    print(f"results: {path}")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(r["result"] != "FAIL" for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
