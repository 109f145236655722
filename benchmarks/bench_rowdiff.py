"""Row-level diff benchmark: nb-mlops's diff_tables side by side with daff, on two CSV versions.

    benchmarks/.venv-peers/bin/python -m pip install daff   # once (the peer venv of setup_peers.sh)
    .venv/bin/python benchmarks/bench_rowdiff.py            # ~1.5 minutes on 2 cores

The data: a 1,000,000-row × 10-column CSV (a unique int `id`, 3 int, 3 float, 3 string columns,
Korean text and quoting included) and a new version of it with 1% of the rows changed (one or two
cells each), 0.5% removed and 0.5% added, written into a temporary folder. Each measurement runs
in a fresh process that times the whole diff_tables call (reading both CSVs included); its peak
RSS is the process's ru_maxrss, read through a bare launcher process — the honest figure for
"how much memory does a kernel need for this" (interpreter and imports included). Every run must
find exactly the generated changes. daff (pure Python, from PyPI) gets the same files, read with
the csv module, keyed on `id`, at 10k, 100k and the full size (--no-daff-full skips the latter;
--daff-timeout bounds it, and the figures are then extrapolated from the smaller sizes).
Results go to benchmarks/results/rowdiff-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import add_json_out, figure, machine, write_json_out  # noqa: E402

PEER_PYTHON = HERE / ".venv-peers" / "bin" / "python"
RESULTS = HERE / "results"
TARGET_SECONDS = 5.0
TARGET_BYTES = 1.5e9

OURS = """
import json, resource, sys, time
t0 = time.perf_counter()
from nb_mlops.data.rowdiff import diff_tables
imported = time.perf_counter() - t0
rss_imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
seconds = warm = 0.0
counts = {}
if sys.argv[3] in ("key", "content"):
    key = "id" if sys.argv[3] == "key" else None
    t0 = time.perf_counter()
    diff = diff_tables(sys.argv[1], sys.argv[2], key=key)
    seconds = time.perf_counter() - t0
    page = diff.rows(limit=50)
    counts = diff.counts
    del diff, page
    t0 = time.perf_counter()  # again, in the same process: steady state (DESIGN.md §6)
    diff_tables(sys.argv[1], sys.argv[2], key=key)
    warm = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "warm_seconds": warm, "import_seconds": imported,
                  "rss_after_import": rss_imported, "counts": counts}))
"""

DAFF = """
import csv, json, sys, time
import daff
t0 = time.perf_counter()
def load(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return [row for row in csv.reader(fh)]
old, new = load(sys.argv[1]), load(sys.argv[2])
flags = daff.CompareFlags()
flags.addPrimaryKey("id")
compare = daff.Coopy.compareTables(daff.PythonTableView(old), daff.PythonTableView(new), flags)
align = compare.align()
out = []
daff.TableDiff(align, flags).hilite(daff.PythonTableView(out))
seconds = time.perf_counter() - t0
marks = [row[0] for row in out]
counts = {"added": marks.count("+++"), "removed": marks.count("---"),
          "changed": sum(1 for m in marks if "->" in str(m))}
print(json.dumps({"seconds": seconds, "counts": counts, "daff": daff.__name__}))
"""


def generate(folder: Path, rows: int, seed: int = 0) -> tuple[Path, Path, dict[str, int]]:
    """old.csv and new.csv in `folder`, and the counts their diff must give."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    words = np.array(["alpha", "beta", "gamma", "delta", "서울", "부산", "x<y>", 'say "hi"', "a,b"])

    def strings(n: int) -> np.ndarray:
        picked = words[rng.integers(0, len(words), n)]
        numbers = rng.integers(0, 100_000, n).astype(str)
        return np.char.add(np.char.add(picked, "-"), numbers).astype(object)

    def columns(ids: np.ndarray) -> dict[str, np.ndarray]:
        n = len(ids)
        return {
            "id": ids,
            "qty": rng.integers(0, 1000, n),
            "count": rng.integers(-(10**9), 10**9, n),
            "year": rng.integers(1990, 2030, n),
            "price": np.round(rng.uniform(0, 1000, n), 2),
            "score": rng.normal(0, 1, n),
            "ratio": rng.uniform(0, 1, n),
            "name": strings(n),
            "city": words[rng.integers(0, len(words), n)].astype(object),
            "note": strings(n),
        }

    old = columns(np.arange(rows, dtype=np.int64))
    new = {name: values.copy() for name, values in old.items()}
    n_changed, n_removed, n_added = rows // 100, rows // 200, rows // 200
    picked = rng.permutation(rows)
    changed, removed = picked[:n_changed], picked[n_changed : n_changed + n_removed]
    value_columns = [c for c in new if c != "id"]
    cells = 0
    for i, row in enumerate(changed):  # one cell; two in every third changed row
        names = {value_columns[i % 9]}
        if i % 3 == 0:
            names.add(value_columns[(i // 3) % 9])
        for name in names:
            values = new[name]
            if values.dtype.kind in "iu":
                values[row] += 1
            elif values.dtype.kind == "f":
                values[row] += 0.5
            else:
                values[row] = f"{values[row]}*"
            cells += 1
    keep = np.ones(rows, dtype=bool)
    keep[removed] = False
    added = columns(np.arange(rows, rows + n_added, dtype=np.int64))
    new = {name: np.concatenate([values[keep], added[name]]) for name, values in new.items()}
    old_path, new_path = folder / "old.csv", folder / "new.csv"
    for path, data in ((old_path, old), (new_path, new)):
        pcsv.write_csv(pa.table({k: pa.array(v) for k, v in data.items()}), path)
    expected = {
        "added": n_added,
        "removed": n_removed,
        "changed": n_changed,
        "cells_changed": cells,
    }
    return old_path, new_path, expected


# Runs one measured command and reports its peak RSS. The launcher is a bare interpreter (-I -S,
# ~10 MB): on Linux a child's ru_maxrss starts from the RSS of the process it was forked from,
# so forking the measured process straight from this script (which holds the generated data)
# would inflate every figure by this script's own size.
LAUNCHER = """
import json, resource, subprocess, sys
timeout = float(sys.argv[1])
try:
    rc = subprocess.run(sys.argv[2:], timeout=timeout).returncode
    timed_out = False
except subprocess.TimeoutExpired:
    rc, timed_out = None, True
sys.stdout.flush()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": rc, "timed_out": timed_out, "peak_rss": peak}))
"""


def measure(python: Path | str, code: str, args: list[str], timeout: float) -> dict:
    """Run `python -c code args` in a fresh process: its JSON result plus its peak RSS (bytes)."""
    t0 = time.perf_counter()
    command = [str(python), "-c", code, *args]
    launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(timeout), *command]
    done = subprocess.run(launcher, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    lines = done.stdout.strip().splitlines()
    status = json.loads(lines[-1]) if lines else {"rc": done.returncode, "timed_out": False}
    if status["timed_out"]:
        return {"timeout": timeout, "wall": wall, "peak_rss": status["peak_rss"]}
    if status["rc"] != 0:
        raise RuntimeError(f"{python} failed ({status['rc']}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-2])
    result["wall"] = wall
    result["peak_rss"] = status["peak_rss"]
    return result


def median_of(samples: list[dict], field: str) -> float:
    return statistics.median(s[field] for s in samples)


def ours(old: Path, new: Path, repeat: int, expected: dict[str, int], mode: str = "key") -> dict:
    """nb-mlops, `repeat` fresh processes; every one must find exactly the expected diff.

    mode "key" matches rows by `id`; "content" matches them by content (no key), where each
    changed row is one removed plus one added.
    """
    if mode == "content":
        moved = expected["changed"]
        expected = {
            "added": expected["added"] + moved,
            "removed": expected["removed"] + moved,
            "changed": 0,
        }
    command = [str(old), str(new), mode]
    samples = [measure(sys.executable, OURS, command, 600) for _ in range(repeat)]
    for sample in samples:
        got = {k: sample["counts"][k] for k in expected}
        if got != expected:
            raise AssertionError(f"nb-mlops found {got}, expected {expected}")
    return {
        "seconds": median_of(samples, "seconds"),
        "warm_seconds": median_of(samples, "warm_seconds"),
        "peak_rss": median_of(samples, "peak_rss"),
        "samples": samples,
    }


def daff(old: Path, new: Path, repeat: int, timeout: float, expected: dict[str, int]) -> dict:
    samples = []
    for _ in range(repeat):
        sample = measure(PEER_PYTHON, DAFF, [str(old), str(new)], timeout)
        samples.append(sample)
        if "timeout" in sample:
            return {"timeout": timeout, "peak_rss": sample["peak_rss"], "samples": samples}
        got = {k: sample["counts"][k] for k in ("added", "removed", "changed")}
        want = {k: expected[k] for k in got}
        if got != want:
            print(f"  note: daff's hilite counts {got} differ from {want}", file=sys.stderr)
    return {
        "seconds": median_of(samples, "seconds"),
        "peak_rss": median_of(samples, "peak_rss"),
        "samples": samples,
    }


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def secs(n: float) -> str:
    if n < 0.1:
        return f"{n * 1000:.1f} ms"
    return f"{n:.2f} s" if n < 100 else f"{n:,.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per measure")
    parser.add_argument(
        "--daff-rows", default="10000,100000", help="sizes daff is run at (comma-separated)"
    )
    parser.add_argument(
        "--no-daff-full", action="store_true", help="run daff at the smaller sizes only"
    )
    parser.add_argument("--daff-timeout", type=float, default=600.0)
    parser.add_argument("--no-peer", action="store_true", help="skip daff")
    parser.add_argument("--keep", action="store_true", help="keep the generated CSVs")
    add_json_out(parser)
    args = parser.parse_args(argv)
    if not args.no_peer and not PEER_PYTHON.exists():
        parser.error(f"{PEER_PYTHON} is missing: run benchmarks/setup_peers.sh, or --no-peer")

    folder = Path(tempfile.mkdtemp(prefix="bench-rowdiff-"))
    report: dict = {"machine": machine(), "rows": args.rows, "repeat": args.repeat, "sizes": {}}
    try:
        sizes = [args.rows]
        if not args.no_peer:
            sizes += [int(n) for n in args.daff_rows.split(",") if n.strip()]
        for rows in sorted(set(sizes), reverse=True):
            place = folder / str(rows)
            place.mkdir()
            old, new, expected = generate(place, rows)
            entry: dict = {
                "expected": expected,
                "csv_bytes": [old.stat().st_size, new.stat().st_size],
            }
            print(f"{rows:,} rows: 2 CSVs of {mb(old.stat().st_size)}; {expected}", flush=True)
            entry["ours"] = ours(old, new, args.repeat, expected)
            mine = entry["ours"]
            print(f"  nb-mlops  {secs(mine['seconds'])}, peak {mb(mine['peak_rss'])}", flush=True)
            if rows == args.rows:
                entry["ours_no_key"] = ours(old, new, args.repeat, expected, "content")
                mine = entry["ours_no_key"]
                print(
                    f"  nb-mlops, no key  {secs(mine['seconds'])}, peak {mb(mine['peak_rss'])}",
                    flush=True,
                )
            if not args.no_peer and (rows != args.rows or not args.no_daff_full):
                repeat = args.repeat if rows <= 100_000 else 1
                entry["daff"] = daff(old, new, repeat, args.daff_timeout, expected)
                shown = (
                    f"timed out after {secs(args.daff_timeout)}"
                    if "timeout" in entry["daff"]
                    else secs(entry["daff"]["seconds"])
                )
                print(f"  daff      {shown}, peak {mb(entry['daff']['peak_rss'])}", flush=True)
            report["sizes"][rows] = entry
        baseline = measure(sys.executable, OURS, ["-", "-", "import-only"], 120)
        report["import_only_peak_rss"] = baseline["peak_rss"]
        report["import_seconds"] = baseline["import_seconds"]
    finally:
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)

    print_table(report, args.rows)
    if args.json_out:
        path = write_json_out(args.json_out, report, figures(report))
    else:
        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"rowdiff-{stamp}.json"
        path.write_text(json.dumps(report, indent=2, default=str), "utf-8")
    print(f"results: {path}")
    full = report["sizes"][args.rows]["ours"]
    ok = full["seconds"] <= TARGET_SECONDS and full["peak_rss"] <= TARGET_BYTES
    return 0 if ok else 1


def figures(report: dict) -> list[dict]:
    """nb-mlops's figures, keyed, for --json-out: time, warm time and peak RSS at each size."""
    out = []
    for n, entry in sorted(report["sizes"].items()):
        for part, how in (("ours", "key id"), ("ours_no_key", "no key")):
            if part not in entry:
                continue
            mine, key = entry[part], f"{n}.{'key' if part == 'ours' else 'no_key'}"
            label = f"diff_tables, {n:,} rows, {how}"
            out += [
                figure(f"{key}.seconds", f"{label}, fresh process", mine["seconds"]),
                figure(f"{key}.warm", f"{label}, warm", mine["warm_seconds"]),
                figure(f"{key}.peak_rss", f"{label}, peak RSS", mine["peak_rss"], unit="bytes"),
            ]
    out += [
        figure("import.seconds", "import nb_mlops.data.rowdiff", report["import_seconds"]),
        figure(
            "import.peak_rss",
            "import nb_mlops.data.rowdiff, peak RSS",
            report["import_only_peak_rss"],
            unit="bytes",
        ),
    ]
    return out


def print_table(report: dict, rows: int) -> None:
    """The figures as the Markdown table benchmarks/README.md shows."""
    print()
    print(
        "| rows | nb-mlops time | nb-mlops peak RSS | daff time | daff peak RSS | time ratio "
        "| nb-mlops time, warm |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in sorted(report["sizes"]):
        entry = report["sizes"][n]
        mine = entry["ours"]
        peer = entry.get("daff")
        if peer is None:
            cells = ["", "", ""]
        elif "timeout" in peer:
            cells = [f"> {secs(peer['timeout'])}", f">= {mb(peer['peak_rss'])}", ""]
        else:
            ratio = peer["seconds"] / mine["seconds"]
            shown = f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"
            cells = [secs(peer["seconds"]), mb(peer["peak_rss"]), shown]
        cells.append(secs(mine["warm_seconds"]))
        print(f"| {n:,} | {secs(mine['seconds'])} | {mb(mine['peak_rss'])} | {' | '.join(cells)} |")
        if "ours_no_key" in entry:
            mine = entry["ours_no_key"]
            print(
                f"| {n:,}, no key | {secs(mine['seconds'])} | {mb(mine['peak_rss'])} | | | "
                f"| {secs(mine['warm_seconds'])} |"
            )
    print(
        f"\nimport of nb_mlops.data.rowdiff alone: {report['import_seconds']:.2f} s, "
        f"peak {mb(report['import_only_peak_rss'])}"
    )
    peers = {n: e["daff"] for n, e in report["sizes"].items() if "seconds" in e.get("daff", {})}
    if len(peers) >= 2 and rows not in peers:
        small, large = sorted(peers)[-2:]
        growth = math.log(peers[large]["seconds"] / peers[small]["seconds"]) / math.log(
            large / small
        )
        seconds = peers[large]["seconds"] * (rows / large) ** growth
        per_row = (peers[large]["peak_rss"] - peers[small]["peak_rss"]) / (large - small)
        memory = peers[large]["peak_rss"] + per_row * (rows - large)
        print(
            f"daff extrapolated to {rows:,} rows: time ~ n^{growth:.2f} -> ~{secs(seconds)}; "
            f"memory ~ {mb(memory)} ({per_row:,.0f} bytes per row, from {small:,} and {large:,})"
        )
        report["daff_extrapolated"] = {
            "rows": rows,
            "time_exponent": growth,
            "seconds": seconds,
            "peak_rss": memory,
        }


if __name__ == "__main__":
    sys.exit(main())
