"""Issue 13: exporting a run as a record, beside zipping the same files.

The project: a notebook (a real IPython shell with `%load_ext nb_mlops`) whose cells made 10
runs, each `%%track -n fit-i --data data/ds --seed i` fitting a scikit-learn model on a
table the first, untracked cell built, and registering it (10 model versions, 10 `.npz`); the
dataset `data/ds` is about 500 MB: 7 binary files of 64 MiB (random bytes, which do not
compress) and 2,000 CSV files of 24 KiB (text, which does).

Timed in process, in steady state (after one untimed export of each kind), as the targets
say: `export_record(ws, "fit-9")` (about 500 KB, target under a second) and
`export_record(ws, "fit-9", with_data=True)` (target: at most 2x the time of zipping the same
files). The same files are the with-data record unpacked into a folder; zipping them is timed
as `zip -r -q` (Info-ZIP's default, deflate level 6), `zip -r -q -0` (no compression), and
Python's `zipfile` with ZIP_DEFLATED and with ZIP_STORED. Rounds alternate between the export
and the baselines; figures are medians over rounds.

    .venv/bin/python benchmarks/bench_records_export.py [--rounds 5] [--big-files 7] [--keep]

Prints a table and writes benchmarks/results/records-export-<UTC time>.json (or --json-out).
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
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from common import add_json_out, figure, machine, write_json_out  # noqa: E402

BIG_SIZE, SMALL_SIZE = 64 << 20, 24 << 10

_LOAD = """\
import numpy as np
rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 20))
y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=2000) > 0).astype(int)
"""
_FIT = """\
%%track -n fit-{i} --data data/ds --seed {i}
C = {c}
from sklearn.linear_model import LogisticRegression
model = LogisticRegression(C=C, max_iter=500).fit(X, y)
track.log(accuracy=model.score(X, y))
track.model(model, "clf")
"""


def make_dataset(folder: Path, big: int, small: int) -> int:
    """Random binary files and CSV files under `folder`; total bytes written."""
    rng = random.Random(13)
    total = 0
    folder.mkdir(parents=True)
    for i in range(big):
        with open(folder / f"part-{i}.bin", "wb") as fh:
            for _ in range(BIG_SIZE >> 20):
                fh.write(rng.randbytes(1 << 20))
        total += BIG_SIZE
    rows = folder / "rows"
    rows.mkdir()
    for i in range(small):
        lines = ["id,x,y,label"]
        while sum(len(line) + 1 for line in lines) < SMALL_SIZE:
            n = len(lines)
            lines.append(f"{n},{rng.random():.6f},{rng.gauss(0, 1):.6f},{rng.choice('abc')}")
        data = ("\n".join(lines) + "\n").encode()[:SMALL_SIZE]
        (rows / f"rows-{i:05d}.csv").write_bytes(data)
        total += len(data)
    return total


def make_project(project: Path, big: int, small: int) -> tuple[object, int]:
    """The dataset, then the notebook's 11 cells in a real IPython shell; (workspace, bytes)."""
    os.environ["NB_MLOPS_HOME"] = str(project / ".nbmlops")
    os.chdir(project)
    size = make_dataset(project / "data" / "ds", big, small)
    from IPython.testing.globalipapp import get_ipython

    import nb_mlops as nm

    nm.snapshot("data/ds", "500 MB of rows and parts")
    shell = get_ipython()
    assert shell.run_cell("%load_ext nb_mlops").success  # the notebook's first cell
    assert shell.run_cell(_LOAD).success
    for i in range(10):
        result = shell.run_cell(_FIT.format(i=i, c=round(0.1 * (i + 1), 2)))
        assert result.success, result.error_in_exec
    return nm.init(project), size


def time_call(fn, out: Path | None = None) -> float:
    if out is not None:
        out.unlink(missing_ok=True)  # as for the baselines: replacing a big file costs its delete
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def zip_tool(folder: Path, out: Path, stored: bool) -> float:
    out.unlink(missing_ok=True)
    cmd = ["zip", "-r", "-q", *(["-0"] if stored else []), str(out), "."]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=folder, check=True)
    return time.perf_counter() - t


def zip_python(folder: Path, out: Path, method: int) -> float:
    out.unlink(missing_ok=True)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    t = time.perf_counter()
    with zipfile.ZipFile(out, "w", method, allowZip64=True) as zf:
        for path in files:
            zf.write(path, path.relative_to(folder).as_posix())
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big-files", type=int, default=7, help="binary files of 64 MiB (7)")
    ap.add_argument("--small-files", type=int, default=2000, help="CSV files of 24 KiB (2,000)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project")
    add_json_out(ap)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="nbmlops-bench-records-"))
    project = root / "project"
    project.mkdir()
    t0 = time.perf_counter()
    print(f"making the project under {root} ...", flush=True)
    ws, data_bytes = make_project(project, args.big_files, args.small_files)
    from nb_mlops.records.export import export_record

    out_dir = root / "out"
    out_dir.mkdir()
    lean, full = out_dir / "lean.zip", out_dir / "full.zip"
    # the first calls in this process (imports: rocrate, the flavors' readers) are shown apart
    first = time_call(lambda: export_record(ws, "fit-9", lean))
    record = export_record(ws, "fit-9", full, with_data=True)
    unpacked = root / "unpacked"
    with zipfile.ZipFile(full) as zf:
        zf.extractall(unpacked)
    files = sum(1 for p in unpacked.rglob("*") if p.is_file())
    folder_bytes = sum(p.stat().st_size for p in unpacked.rglob("*") if p.is_file())
    print(f"record with data: {files} files, {folder_bytes / 1e6:.0f} MB", flush=True)

    samples: dict[str, list[float]] = {
        k: []
        for k in (
            "export",
            "export_data",
            "zip",
            "zip_stored",
            "zipfile_deflated",
            "zipfile_stored",
        )
    }
    base = out_dir / "base.zip"
    for r in range(args.rounds):
        steps = [
            ("export", lambda: time_call(lambda: export_record(ws, "fit-9", lean), lean)),
            (
                "export_data",
                lambda: time_call(lambda: export_record(ws, "fit-9", full, with_data=True), full),
            ),
            ("zip", lambda: zip_tool(unpacked, base, stored=False)),
            ("zip_stored", lambda: zip_tool(unpacked, base, stored=True)),
            ("zipfile_deflated", lambda: zip_python(unpacked, base, zipfile.ZIP_DEFLATED)),
            ("zipfile_stored", lambda: zip_python(unpacked, base, zipfile.ZIP_STORED)),
        ]
        if r % 2:
            steps.reverse()
        for key, step in steps:
            samples[key].append(step())
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in samples.items()))
    med = {k: statistics.median(v) for k, v in samples.items()}
    sizes = {"lean": lean.stat().st_size, "full": full.stat().st_size}

    rows = [
        ("first export in the process (imports), without data", first, None, ""),
        ("export, without data (10 runs, 10 .npz)", med["export"], None, "< 1 s"),
        ("export --with-data", med["export_data"], None, ""),
        ("`zip -r` (deflate)", med["zip"], med["export_data"] / med["zip"], "<= 2x"),
        ("`zip -r -0` (stored)", med["zip_stored"], med["export_data"] / med["zip_stored"], ""),
        (
            "`zipfile` ZIP_DEFLATED",
            med["zipfile_deflated"],
            med["export_data"] / med["zipfile_deflated"],
            "",
        ),
        (
            "`zipfile` ZIP_STORED",
            med["zipfile_stored"],
            med["export_data"] / med["zipfile_stored"],
            "",
        ),
    ]
    verdicts = {
        "export": "PASS" if med["export"] < 1.0 else "FAIL",
        "zip": "PASS" if med["export_data"] <= 2 * med["zip"] else "FAIL",
    }
    print(
        f"\ndataset {data_bytes / 1e6:.0f} MB; record {sizes['lean'] / 1e3:.0f} KB without "
        f"data, {sizes['full'] / 1e6:.0f} MB with ({files} files); medians of {args.rounds}:"
    )
    print("| measure | time | export --with-data / this | target | result |")
    print("| --- | --- | --- | --- | --- |")
    for (label, value, ratio, target), key in zip(
        rows, [None, "export", None, "zip", None, None, None], strict=True
    ):
        shown = f"{ratio:.2f}x" if ratio is not None else ""
        print(f"| {label} | {value:.3f} s | {shown} | {target} | {verdicts.get(key, '')} |")

    doc = {
        "machine": machine(),
        "data_bytes": data_bytes,
        "record_files": files,
        "record_bytes": sizes,
        "export_files": len(record.files),
        "rounds": samples,
        "medians": med,
        "first_export": first,
        "verdicts": verdicts,
        "wall_s": time.perf_counter() - t0,
    }
    if args.json_out:
        figures = [
            figure("export", "export without data", med["export"]),
            figure("export_data", "export --with-data", med["export_data"]),
            figure("zip", "zip -r of the same files", med["zip"], control=True),
            figure("zipfile_stored", "zipfile stored", med["zipfile_stored"], control=True),
        ]
        write_json_out(args.json_out, doc, figures)
    else:
        results = REPO / "benchmarks" / "results"
        results.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out = results / f"records-export-{stamp}.json"
        out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"results: {out.relative_to(REPO)}")
    os.chdir(REPO)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(v == "PASS" for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
