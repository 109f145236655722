"""MLflow's side of the sync benchmark (run in .venv-mlflow): the same runs sent to the same
tracking server by MLflow's own client, two ways.

- `batch`: MlflowClient.create_run, log_batch in requests of at most 1,000 entities (params
  with the first), set_terminated: the fastest way MLflow's client offers.
- `calls`: the fluent API as a training script writes it: mlflow.start_run, log_params, one
  mlflow.log_metric per point, end_run.

    .venv-mlflow/bin/python benchmarks/peer_mlflow_sync.py URI EXPERIMENT MODE RUNS POINTS

Prints {"seconds": ..., "requests_estimate": ...} as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sync_data import params, points

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def batch(uri: str, experiment: str, runs: int, count: int) -> int:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(experiment)
    requests = 1
    for i in range(runs):
        run = client.create_run(exp, run_name=f"run-{i}")
        now = int(time.time() * 1000)
        ps = [Param(k, v) for k, v in params(i).items()]
        ms = [Metric(k, v, now, s) for k, v, s in points(i, count)]
        first = 1000 - len(ps)
        chunks = [ms[:first]] + [ms[j : j + 1000] for j in range(first, len(ms), 1000)]
        for n, chunk in enumerate(chunks):
            client.log_batch(run.info.run_id, metrics=chunk, params=ps if n == 0 else [])
        client.set_terminated(run.info.run_id, "FINISHED")
        requests += 2 + len(chunks)
    return requests


def calls(uri: str, experiment: str, runs: int, count: int) -> int:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    requests = 2
    for i in range(runs):
        with mlflow.start_run(run_name=f"run-{i}"):
            mlflow.log_params(params(i))
            for key, value, step in points(i, count):
                mlflow.log_metric(key, value, step=step)
        requests += 3 + count
    return requests


def main() -> None:
    uri, experiment, mode, runs, count = sys.argv[1:6]
    t0 = time.perf_counter()
    requests = (batch if mode == "batch" else calls)(uri, experiment, int(runs), int(count))
    print(json.dumps({"seconds": time.perf_counter() - t0, "requests_estimate": requests}))


if __name__ == "__main__":
    main()
