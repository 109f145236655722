"""MLflow's side of the system-metrics benchmark; runs with the MLflow venv's Python.

    .venv-mlflow/bin/python -m pip install psutil    # once: mlflow.system_metrics needs it
    .venv-mlflow/bin/python benchmarks/peer_mlflow_sysmetrics.py [--seconds 60]

MLflow's store is SQLite in a temporary folder. Measures `mlflow.start_run(log_system_metrics=
True)` kept open `--seconds` while the main thread sleeps, with the sampling interval at 10 s
(MLflow's default) and 1 s, against the same run without system metrics; and one sample of its
monitor (collect, aggregate, publish, and the run-status check its loop makes every sample).
Prints one JSON object; bench_sysmetrics.py calls it and puts the figures beside ours.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sysmetrics import find_thread, in_run_figures, process_cpu, thread_cpu
from common import finish_peer

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
THREAD = "SystemMetricsMonitor"


def in_run(mlflow: object, seconds: float, period: float | None) -> dict[str, object]:
    """One run open for `seconds`; `period` None = without system metrics."""
    if period is not None:
        mlflow.set_system_metrics_sampling_interval(period)
    with mlflow.start_run(log_system_metrics=period is not None) as run:
        thread = find_thread(THREAD) if period is not None else None
        t0 = thread_cpu(thread) if thread is not None else None
        p0 = process_cpu()
        time.sleep(seconds)
        p1 = process_cpu()
        t1 = thread_cpu(thread) if thread is not None else None
    samples = 0
    if period is not None:
        history = mlflow.MlflowClient().get_metric_history(
            run.info.run_id, "system/cpu_utilization_percentage"
        )
        samples = len(history)
    return {"thread_s": None if t0 is None else t1 - t0, "process_s": p1 - p0, "samples": samples}


def one_sample(mlflow: object, n: int) -> dict[str, object]:
    """MLflow's loop body, once per sample: collect, run-status check, aggregate, publish."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    from mlflow.tracking import MlflowClient

    with mlflow.start_run() as run:
        monitor = SystemMetricsMonitor(run.info.run_id, sampling_interval=10)
        client = MlflowClient()
        metrics: dict = {}

        def sample() -> None:
            nonlocal metrics
            monitor.collect_metrics()
            client.get_run(run.info.run_id)
            metrics = monitor.aggregate_metrics()
            monitor.publish_metrics(metrics)

        sample()  # warm-up
        cpu, wall = [], []
        for _ in range(n):
            c0, w0 = time.thread_time(), time.perf_counter()
            sample()
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
        monitor.mlflow_logger.flush()
    return {
        "n": n,
        "metrics": len(metrics),
        "thread_cpu_ms": 1e3 * statistics.median(cpu),
        "wall_ms": 1e3 * statistics.median(wall),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="peer-mlflow-sysmetrics-"))
    os.chdir(tmp)
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    with mlflow.start_run():  # warm-up: the database and its tables exist
        pass

    raw = {
        "off": in_run(mlflow, args.seconds, None),
        "every 10 s": in_run(mlflow, args.seconds, 10.0),
        "every 1 s": in_run(mlflow, args.seconds, 1.0),
    }
    base = raw["off"]["process_s"]
    result = {
        "mlflow": mlflow.__version__,
        "in_run": {
            label: in_run_figures(args.seconds, r["thread_s"], r["process_s"], base, r["samples"])
            for label, r in raw.items()
        },
        "one_sample": one_sample(mlflow, args.samples),
    }
    finish_peer(result, tmp)


if __name__ == "__main__":
    main()
