"""`nb-mlops mlflow sync` beside MLflow's own client, on one real `mlflow server` (SQLite
backend, loopback, from .venv-mlflow), each side into an experiment of its own.

A. 1,000 runs x 1,000 metric points (4 metrics, 5 params each): our sync of a store holding
   them (with 1 and with 4 runs sent at once), against MLflow's fastest path for the same data
   (MlflowClient.create_run + log_batch of <= 1,000 entities + set_terminated, one run after
   another). Then our sync of the same store again, 5 times (nothing new: what incremental
   costs; the median).
B. 1,000 runs x 10 points, call by call: MLflow's fluent API as a training loop writes it (one
   mlflow.log_metric request per point) against ours (nm.log_metric into the local store,
   then one sync).

Each side runs once (these are minutes-long totals; the machine's noise is a few percent of
them); the figures, their ratios and the command go to benchmarks/README.md.

    .venv/bin/python benchmarks/bench_mlflow_sync.py [--runs 1000 --points 1000 --small 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from common import machine  # noqa: E402
from sync.mlflow_server import MLFLOW_PYTHON, MlflowServer  # noqa: E402
from sync_data import params, points  # noqa: E402

PEER = HERE / "peer_mlflow_sync.py"


def fill(home: Path, experiment: str, runs: int, count: int) -> float:
    """Log the runs into the store at `home` call by call; seconds taken."""
    os.environ["NB_MLOPS_HOME"] = str(home)
    import nb_mlops as nm
    from nb_mlops import api

    api.reset()
    t0 = time.perf_counter()
    for i in range(runs):
        with nm.start_run(
            f"run-{i}", experiment=experiment, params=params(i), system_metrics=False
        ):
            for key, value, step in points(i, count):
                nm.log_metric(key, value, step=step)
    return time.perf_counter() - t0


def sync(uri: str, jobs: int) -> dict:
    import nb_mlops as nm

    t0 = time.perf_counter()
    report = nm.mlflow_sync(uri, models=False, jobs=jobs)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "requests": report.requests,
        "runs": len(report.created) + len(report.updated),
        "unchanged": report.unchanged,
        "points": report.points,
    }


def peer(uri: str, experiment: str, mode: str, runs: int, count: int) -> dict:
    done = subprocess.run(
        [str(MLFLOW_PYTHON), str(PEER), uri, experiment, mode, str(runs), str(count)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the MLflow peer failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def count_points(uri: str, experiment: str, key: str = "loss") -> int:
    """Points of `key` in the experiment's first run (a check that everything arrived)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    run = client.search_runs([exp.experiment_id], max_results=1)[0]
    return len(client.get_metric_history(run.info.run_id, key))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--small", type=int, default=10, help="points per run in part B")
    ap.add_argument("--keep", type=Path, help="keep the server's folder and stores here")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-mlflow-sync-"))
    root.mkdir(parents=True, exist_ok=True)
    server = MlflowServer(root / "server", workers=4)
    out: dict = {"machine": machine(), "runs": args.runs, "points": args.points}
    try:
        uri = server.uri
        # -- A: 1,000 x 1,000 --------------------------------------------------------------
        out["A_peer_log_batch"] = peer(uri, "peer-batch", "batch", args.runs, args.points)
        print("A MLflow log_batch:", out["A_peer_log_batch"], flush=True)
        for jobs in (1, 4):
            exp = f"ours-jobs{jobs}"
            fill_s = fill(root / f"store-{jobs}" / ".nbmlops", exp, args.runs, args.points)
            out[f"A_ours_fill_jobs{jobs}"] = fill_s
            first = sync(uri, jobs)
            agains = [sync(uri, jobs) for _ in range(5)]
            again = {**agains[-1], "seconds": statistics.median(a["seconds"] for a in agains)}
            out[f"A_ours_sync_jobs{jobs}"] = first
            out[f"A_ours_resync_jobs{jobs}"] = again
            print(f"A ours (jobs {jobs}): fill {fill_s:.1f} s, sync", first, "again", again)
            expected = len([p for p in points(0, args.points) if p[0] == "loss"])
            assert count_points(uri, exp) == expected, "a run's points did not all arrive"
        # -- B: 1,000 x 10, call by call -----------------------------------------------------
        out["B_peer_calls"] = peer(uri, "peer-calls", "calls", args.runs, args.small)
        print("B MLflow call by call:", out["B_peer_calls"], flush=True)
        fill_s = fill(root / "store-small" / ".nbmlops", "ours-small", args.runs, args.small)
        first = sync(uri, 4)
        out["B_ours"] = {"fill": fill_s, "sync": first, "seconds": fill_s + first["seconds"]}
        print("B ours: fill + sync", out["B_ours"], flush=True)
    finally:
        server.stop()
    a_peer = out["A_peer_log_batch"]["seconds"]
    out["ratios"] = {
        "A_ours_jobs1_vs_log_batch": out["A_ours_sync_jobs1"]["seconds"] / a_peer,
        "A_ours_jobs4_vs_log_batch": out["A_ours_sync_jobs4"]["seconds"] / a_peer,
        "B_ours_vs_calls": out["B_ours"]["seconds"] / out["B_peer_calls"]["seconds"],
    }
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = HERE / "results" / f"mlflow-sync-{stamp}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["ratios"], indent=1))
    print(f"written {dest}")


if __name__ == "__main__":
    main()
