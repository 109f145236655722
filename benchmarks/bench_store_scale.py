"""The store at 100,000 and 1,000,000 runs, side by side with MLflow's SQLite store (issue 20).

    ./dev setup                                                     # once: MLflow in .venv-mlflow
    .venv/bin/python benchmarks/bench_store_scale.py                # 100,000 runs (~10 min)
    .venv/bin/python benchmarks/bench_store_scale.py --million      # and 1,000,000 (~25 min more)

100,000 runs of 20 params and 10 metrics (one point each) are made through the API in a temporary
store; the 1,000,000-run store repeats the journal lines such a run writes with new ids and
values (making them through the API would take 40 minutes; the lines are the same shape). The
query is FILTER (default `metrics.m3 > 0.99`, about 1% of the runs). Measured, medians of
--repeat: a fresh `nb-mlops runs FILTER --json` end to end; in a fresh interpreter that imported
nb_mlops and pandas, the first `nm.runs(FILTER)`; after a first call, a warm `nm.runs()` of every
run and a warm `nm.runs(FILTER)`; an empty `%%track` cell with the runs in the store; bytes on
disk per run; peak memory (ru_maxrss) of each process. MLflow's figures come from
peer_mlflow_scale.py over the same runs. Results: benchmarks/results/store-scale-<UTC>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from common import machine, summary  # noqa: E402

PEER_PYTHON = HERE.parent / ".venv-mlflow" / "bin" / "python"  # MLflow, built by ./dev setup
CLI = Path(sys.executable).parent / "nb-mlops"
TARGETS = {
    "cold_cli": 0.5,
    "cold_api": 0.3,
    "warm_full": 0.5,
    "warm_filtered": 0.050,
    "track_cell": 0.0012,
    "bytes_per_run": 3000,
    "million_cold_filtered": 3.0,
    "million_peak_rss_mb": 4000,
}


def _params(rng: random.Random) -> dict[str, object]:
    return {
        f"p{j:02d}": rng.randrange(1000) if j % 2 else f"v{rng.randrange(50)}" for j in range(20)
    }


def _metrics(rng: random.Random) -> dict[str, float]:
    return {f"m{j}": rng.random() for j in range(10)}


def fill(home: Path, n: int) -> float:
    """n runs through the API (in a child process: this one stays cold); seconds."""
    code = f"""
import io, contextlib, random, sys
sys.path.insert(0, {str(HERE)!r})
import nb_mlops as nm
from bench_store_scale import _params, _metrics
with contextlib.redirect_stderr(io.StringIO()):
    nm.init({str(home)!r})
rng = random.Random(0)
for i in range({n}):
    with nm.start_run(f"r{{i}}", params=_params(rng), system_metrics=False):
        nm.log_metrics(_metrics(rng))
"""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(home))
    return time.perf_counter() - t0


def _env(home: Path, refresh: bool = False) -> dict[str, str]:
    env = {**os.environ, "NB_MLOPS_HOME": str(home)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules load from their .pyc
    env["NB_MLOPS_CHECKPOINT_REFRESH"] = "1" if refresh else "0"
    return env


def timed_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{cmd[:3]} failed: {err.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def cold_cli(home: Path, filter: str, repeat: int) -> dict:
    walls, rss, rows = [], [], None
    for _ in range(repeat):
        wall, peak, out = timed_child([str(CLI), "runs", filter, "--json"], _env(home))
        walls.append(wall)
        rss.append(peak)
        rows = json.loads(out)["count"]
    return summary(walls, rows=rows, peak_rss_mb=max(rss))


_API_CHILD = """
import json, resource, sys, time
import nb_mlops as nm
import pandas
t0 = time.perf_counter()
frame = nm.runs({filter!r})
took = time.perf_counter() - t0
print(json.dumps({{"s": took, "rows": len(frame),
                   "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def cold_api(home: Path, filter: str, repeat: int) -> dict:
    samples = []
    for _ in range(repeat):
        _, _, out = timed_child(
            [sys.executable, "-c", _API_CHILD.format(filter=filter)], _env(home)
        )
        samples.append(json.loads(out.strip().splitlines()[-1]))
    return summary(
        [s["s"] for s in samples],
        rows=samples[-1]["rows"],
        peak_rss_mb=max(s["rss_mb"] for s in samples),
    )


_WARM_CHILD = """
import json, resource, statistics, time
import nb_mlops as nm
def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); out.append(time.perf_counter() - t0)
    return out
first_full = timed(lambda: nm.runs(), 1)[0]
full = timed(lambda: nm.runs(), {repeat})
first_filtered = timed(lambda: nm.runs({filter!r}), 1)[0]
filtered = timed(lambda: nm.runs({filter!r}), {repeat})
print(json.dumps({{"first_full": first_full, "full": full, "first_filtered": first_filtered,
                   "filtered": filtered, "rows": len(nm.runs()),
                   "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def warm(home: Path, filter: str, repeat: int) -> dict:
    _, _, out = timed_child(
        [sys.executable, "-c", _WARM_CHILD.format(filter=filter, repeat=repeat)], _env(home)
    )
    got = json.loads(out.strip().splitlines()[-1])
    return {
        "full": summary(got["full"], first=got["first_full"], rows=got["rows"]),
        "filtered": summary(got["filtered"], first=got["first_filtered"]),
        "peak_rss_mb": got["rss_mb"],
    }


def track_cell(home: Path, cells: int) -> dict:
    """An empty %%track cell in a real IPython shell with the store's runs (bench_tracking's)."""
    code = f"""
import json, sys
sys.path.insert(0, {str(HERE)!r})
import nb_mlops as nm
nm.init({str(home)!r})
from bench_tracking import Profiler, bench_track_cell
res = bench_track_cell({cells}, Profiler(False, ""))
print(json.dumps(res))
"""
    _, _, out = timed_child([sys.executable, "-c", code], _env(home))
    return json.loads(out.strip().splitlines()[-1])


_CELL_RUNS_CHILD = """
import contextlib, io, json
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
cfg = Config()
cfg.HistoryManager.enabled = False
shell = InteractiveShell.instance(config=cfg)
with contextlib.redirect_stdout(io.StringIO()):
    shell.run_line_magic("load_ext", "nb_mlops")
    for i in range({cells}):
        body = f"print('step', {{i}})\\ntrack.log_metric('x', 1 / ({{i}} + 1))"
        cell = "%%track\\n" + body
        assert shell.run_cell(cell).success
"""


def cell_runs_disk(folder: Path, cells: int) -> dict:
    """Bytes on disk a `%%track` cell run adds (one point, one printed line), in a new store."""
    home = folder / "cells" / ".nbmlops"
    _, _, _ = timed_child([sys.executable, "-c", "import nb_mlops as nm; nm.runs()"], _env(home))
    before = disk(home, 1)["bytes"]
    timed_child([sys.executable, "-c", _CELL_RUNS_CHILD.format(cells=cells)], _env(home))
    after = disk(home, 1)
    return {"per_run": (after["bytes"] - before) / cells, "cells": cells, "parts": after["parts"]}


def disk(home: Path, runs: int) -> dict:
    """Bytes on disk (allocated blocks) of the store and its parts, and per run."""
    parts: dict[str, int] = {}
    total = 0
    for root, dirs, files in os.walk(home):
        for name in dirs + files:
            st = os.lstat(os.path.join(root, name))
            part = Path(root, name).relative_to(home).parts[0]
            parts[part] = parts.get(part, 0) + st.st_blocks * 512
            total += st.st_blocks * 512
    catalog = home / "catalog"
    files = {p.name: p.stat().st_size for p in catalog.iterdir() if p.is_file()}
    return {"bytes": total, "per_run": total / runs, "parts": parts, "catalog_files": files}


def gc_checkpoint(home: Path) -> dict:
    wall, peak, _ = timed_child([str(CLI), "gc"], _env(home))
    return {"s": wall, "peak_rss_mb": peak}


def first_cold(home: Path, filter: str) -> dict:
    """The first cold query with no checkpoint (the journal replayed in full)."""
    wall, peak, out = timed_child([str(CLI), "runs", filter, "--json"], _env(home))
    return {"s": wall, "peak_rss_mb": peak, "rows": json.loads(out)["count"]}


def dump_for_mlflow(home: Path, out: Path) -> None:
    """The store's runs as peer_mlflow_scale.py reads them (params as strings, times in ms)."""
    code = f"""
import json
import nb_mlops as nm
from nb_mlops import api
from nb_mlops.tracking.fields import epoch_ms
ws = api.workspace()
with open({str(out)!r}, "w") as fh:
    for d in ws.catalog.docs("runs").values():
        fh.write(json.dumps({{"run_id": d["run_id"], "name": d["name"],
            "start_ms": epoch_ms(d["start"]), "end_ms": epoch_ms(d["end"]),
            "status": "FINISHED", "params": {{k: str(v) for k, v in d["params"].items()}},
            "metrics": d["metrics"]}}) + "\\n")
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(home))


def peer(runs_file: Path, db: Path, filter: str, repeat: int) -> dict | None:
    if not PEER_PYTHON.exists():
        print(f"(no {PEER_PYTHON}: run ./dev setup for MLflow's column)")
        return None
    cmd = [
        str(PEER_PYTHON),
        str(HERE / "peer_mlflow_scale.py"),
        "--runs-file",
        str(runs_file),
        "--db",
        str(db),
        "--filter",
        filter,
        "--repeat",
        str(repeat),
        "--full-repeat",
        "1",  # one full search of 100,000 runs takes MLflow minutes
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"MLflow peer failed:\n{out.stderr[-3000:]}")
        return None
    return json.loads(out.stdout)  # one (indented) JSON document


def synthesize(home: Path, n: int, template_home: Path) -> float:
    """A store of n runs whose journal lines are those a run of the template store wrote, with
    new ids, names, times, params and metrics (the same shape; seconds to write)."""
    import nb_mlops as nm
    from nb_mlops.store.journal import dumps

    with contextlib.redirect_stderr(io.StringIO()):
        nm.init(home)
    lines = (template_home / "catalog" / "journal.jsonl").open("rb")
    put = json.loads(lines.readline())
    end = json.loads(lines.readline())
    lines.close()
    rng = random.Random(1)
    t0 = time.perf_counter()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    with open(home / "catalog" / "journal.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            k, rid = i, ""
            for _ in range(8):
                k, d = divmod(k, 36)
                rid = digits[d] + rid
            when = start + dt.timedelta(microseconds=i * 1500)
            doc = {**put["doc"], "run_id": rid, "name": f"r{i}", "params": _params(rng)}
            doc["start"] = when.isoformat()
            doc["previous"] = None
            sets = [
                [["status"], "finished"],
                [["end"], (when + dt.timedelta(microseconds=900)).isoformat()],
                [["duration"], 0.0009],
                [["metrics"], _metrics(rng)],
            ]
            fh.write(dumps({"op": "put", "tb": "runs", "id": rid, "doc": doc}) + "\n")
            fh.write(dumps({**end, "id": rid, "set": sets}) + "\n")
    return time.perf_counter() - t0


def measure(home: Path, n: int, args: argparse.Namespace, label: str) -> dict:
    res: dict = {"runs": n}
    print(f"[{label}] first cold query, no checkpoint ...", flush=True)
    res["first_cold_no_checkpoint"] = first_cold(home, args.filter)
    if n <= 100_000:  # gc reads every run's record; at 1M the first query wrote the checkpoint
        print(f"[{label}] nb-mlops gc ...", flush=True)
        res["gc"] = gc_checkpoint(home)
    print(f"[{label}] cold queries ...", flush=True)
    res["cold_cli"] = cold_cli(home, args.filter, args.repeat)
    res["cold_api"] = cold_api(home, args.filter, args.repeat)
    print(f"[{label}] warm queries ...", flush=True)
    res["warm"] = warm(home, args.filter, args.repeat)
    res["disk"] = disk(home, n)
    return res


def table(res: dict, peer_res: dict | None) -> str:
    def ms(x: float | None) -> str:
        if x is None:
            return "-"
        return f"{x:.2f} s" if x >= 1 else f"{x * 1e3:.0f} ms"

    p = peer_res or {}
    rows = [
        (
            "`nb-mlops runs FILTER --json`, fresh process, end to end",
            res["cold_cli"]["median"],
            p.get("cold_e2e_s"),
            TARGETS["cold_cli"],
        ),
        (
            "`nm.runs(FILTER)`, fresh process, after import",
            res["cold_api"]["median"],
            p.get("cold_after_import_s"),
            TARGETS["cold_api"],
        ),
        (
            "`nm.runs()` every run, warm",
            res["warm"]["full"]["median"],
            p.get("warm_full_s"),
            TARGETS["warm_full"],
        ),
        (
            "`nm.runs(FILTER)`, warm",
            res["warm"]["filtered"]["median"],
            p.get("warm_filtered_s"),
            TARGETS["warm_filtered"],
        ),
    ]
    out = [
        "| measure | nb-mlops | MLflow (SQLite) | MLflow / nb-mlops | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, ours, theirs, target in rows:
        ratio = f"{theirs / ours:.1f}x" if theirs and ours else "-"
        verdict = "PASS" if ours <= target else "FAIL"
        out.append(
            f"| {label} | {ms(ours)} | {ms(theirs)} | {ratio} | <= {ms(target)} | {verdict} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--filter", default="metrics.m3 > 0.99")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--million", action="store_true", help="also the 1,000,000-run store")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the stores in this folder")
    args = ap.parse_args()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "nb_mlops")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.keep))
    out: dict = {"stamp": stamp, "machine": machine(), "filter": args.filter, "targets": TARGETS}
    try:
        home = tmp / "store100k" / ".nbmlops"
        print(f"filling {args.runs} runs through the API ...", flush=True)
        out["fill_s"] = fill(home, args.runs)
        out["scale"] = measure(home, args.runs, args, f"{args.runs}")
        print("empty %%track cell ...", flush=True)
        out["track_cell"] = track_cell(home, args.cells)
        out["disk_after_cells"] = disk(home, args.runs)
        out["cell_run_disk"] = cell_runs_disk(tmp, args.cells)
        peer_res = None
        if not args.no_peer:
            runs_file = tmp / "runs.jsonl"
            dump_for_mlflow(home, runs_file)
            print("MLflow over the same runs ...", flush=True)
            peer_res = peer(runs_file, tmp / "mlflow.db", args.filter, args.repeat)
        out["mlflow"] = peer_res
        if args.million:
            big = tmp / "store1m" / ".nbmlops"
            print("writing the 1,000,000-run store ...", flush=True)
            out["million_write_s"] = synthesize(big, 1_000_000, home)
            out["million"] = measure(big, 1_000_000, args, "1M")
        print(table(out["scale"], peer_res))
        print(
            f"empty %%track cell: {out['track_cell']['median'] * 1e3:.2f} ms; "
            f"disk per run: {out['scale']['disk']['per_run']:.0f} B; "
            f"per %%track cell run: {out['cell_run_disk']['per_run']:.0f} B"
        )
        if args.million:
            m = out["million"]
            first = m["first_cold_no_checkpoint"]
            print(
                f"1M: first query (writes the checkpoint) {first['s']:.0f} s, peak "
                f"{first['peak_rss_mb']:.0f} MB; cold CLI {m['cold_cli']['median']:.2f} s (peak "
                f"{m['cold_cli']['peak_rss_mb']:.0f} MB); nm.runs(FILTER) cold "
                f"{m['cold_api']['median']:.2f} s; warm full {m['warm']['full']['median']:.2f} s "
                f"(peak {m['warm']['peak_rss_mb']:.0f} MB)"
            )
    finally:
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        path = results / f"store-scale-{stamp}.json"
        path.write_text(json.dumps(out, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"results: {path}")
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
