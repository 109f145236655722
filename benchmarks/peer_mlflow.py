"""MLflow's side of the tracking benchmark; runs inside .venv-mlflow (./dev setup).

MLflow's default local store is a SQLite database (MLflow 3); it is put in a temporary folder.
Prints one JSON object of per-call seconds on stdout:

    .venv-mlflow/bin/python benchmarks/peer_mlflow.py [--search-runs 1000]

bench_tracking.py calls it and puts the figures beside nb-mlops's.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import finish_peer, in_fresh_process, per_call, summary

# No network, no telemetry, no chatter: we time the tracking calls only.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def _params(i: int) -> dict[str, str]:
    return {f"p{j:02d}": str(i * 31 + j) for j in range(20)}


def _metrics(i: int) -> dict[str, float]:
    return {f"m{j}": (i * 7 + j) / 13 for j in range(10)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metric-calls", type=int, default=2000)
    ap.add_argument("--empty-runs", type=int, default=50)
    ap.add_argument("--search-runs", type=int, default=1000, help="runs to fill for search_runs")
    ap.add_argument("--import-times", type=int, default=5)
    args = ap.parse_args()

    t_import = time.perf_counter()
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    import_in_process = time.perf_counter() - t_import
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")

    tmp = Path(tempfile.mkdtemp(prefix="peer-mlflow-"))
    os.chdir(tmp)
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    result: dict[str, object] = {
        "tool": "mlflow",
        "version": mlflow.__version__,
        "backend": "sqlite",
        "store": str(tmp),
    }

    # log_metric: one call per point inside one run, after warm-up.
    step = iter(range(10**9))
    with mlflow.start_run(run_name="log-metric"):
        samples = per_call(
            lambda: mlflow.log_metric("loss", 0.5, step=next(step)),
            args.metric_calls,
            warmup=100,
        )
    result["log_metric"] = summary(samples)

    # log_batch, per point (MLflow's own fast path, for reference).
    with mlflow.start_run(run_name="log-batch") as run:
        client = MlflowClient()
        now = int(time.time() * 1000)
        batches = []
        for b in range(20):
            pts = [Metric("loss", float(i), now, b * 1000 + i) for i in range(1000)]
            t0 = time.perf_counter()
            client.log_batch(run.info.run_id, metrics=pts)
            batches.append((time.perf_counter() - t0) / len(pts))
    result["log_batch_per_point"] = summary(batches[2:], points_per_call=1000)

    # An empty run: start_run + end_run.
    def empty_run() -> None:
        mlflow.start_run()
        mlflow.end_run()

    result["empty_run"] = summary(per_call(empty_run, args.empty_runs, warmup=5))

    # search_runs -> DataFrame over N runs with 20 params and 10 metrics each.
    if args.search_runs:
        exp = mlflow.set_experiment("search")
        client = MlflowClient()
        t0 = time.perf_counter()
        for i in range(args.search_runs):
            run = client.create_run(exp.experiment_id, run_name=f"r{i}")
            now = int(time.time() * 1000)
            client.log_batch(
                run.info.run_id,
                metrics=[Metric(k, v, now, 0) for k, v in _metrics(i).items()],
                params=[Param(k, v) for k, v in _params(i).items()],
            )
            client.set_terminated(run.info.run_id)
        fill_s = time.perf_counter() - t0

        def search() -> None:
            frame = mlflow.search_runs(experiment_ids=[exp.experiment_id])
            assert len(frame) == args.search_runs, len(frame)

        result["search_runs"] = summary(
            per_call(search, 5, warmup=1),
            runs=args.search_runs,
            fill_s_per_run=fill_s / args.search_runs,
        )

    # import mlflow in a fresh interpreter (the peer of `%load_ext nb_mlops`).
    code = "import time; t = time.perf_counter(); import mlflow; print(time.perf_counter() - t)"
    result["import"] = summary(
        in_fresh_process(sys.executable, code, args.import_times),
        first_in_this_process=import_in_process,
    )
    finish_peer(result, tmp)


if __name__ == "__main__":
    main()
