"""The MLflow side of tests/tracking/test_mlflow_parity.py, run by .venv-mlflow/bin/python.

Creates a SQLite MLflow store (in a temporary folder; artifacts go under the folder given as
its argument), then reads one JSON request on stdin: the runs to log (as MLflow sees ours: statuses,
times in ms, params and tags as strings, dataset inputs) and the searches to answer (filter
strings, and order_by lists with max_results). Logs the runs to a SQLite MLflow store in that
folder, answers every search with MlflowClient.search_runs, and prints one JSON answer: per
search the run keys found (in MLflow's order) or the error MLflow gave. `{id:KEY}` in a search
stands for the MLflow run id of the run KEY. This file never imports nb_mlops.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

PLACEHOLDER = re.compile(r"\{id:([^}]+)\}")


def main() -> None:
    folder = Path(sys.argv[1])
    logging.disable(logging.WARNING)  # the store's table-creation notices
    # The SQLite file on tmpfs when there is one: creating MLflow's tables runs its ~50
    # migrations, each a commit that waits for the disk otherwise.
    shm = Path("/dev/shm")
    db_dir = Path(tempfile.mkdtemp(dir=shm if os.access(shm, os.W_OK) else folder))
    try:
        began = time.perf_counter()
        import mlflow
        from mlflow.tracking import MlflowClient

        uri = f"sqlite:///{db_dir / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        client.search_experiments()  # the store and its tables, before the request is read
        seconds = {"import and store": time.perf_counter() - began}
        # The test starts this process first and writes the request once its own runs are
        # logged: MLflow's import and migrations overlap with that.
        request = json.load(sys.stdin)
        answer = answer_all(request, client, folder, seconds)
    finally:
        shutil.rmtree(db_dir, ignore_errors=True)
    json.dump(answer, sys.stdout, ensure_ascii=False)


def answer_all(
    request: dict[str, Any], client: Any, root: Path, seconds: dict[str, float]
) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    began = time.perf_counter()
    experiments: dict[str, str] = {}
    ids: dict[str, str] = {}
    keys: dict[str, str] = {}
    for run in request["runs"]:
        exp = run["experiment"]
        if exp not in experiments:
            location = (root / "artifacts" / f"e{len(experiments)}").absolute().as_uri()
            experiments[exp] = client.create_experiment(f"nb {exp}", artifact_location=location)
        tags = dict(run["tags"])
        if run.get("user") is not None:
            tags["mlflow.user"] = run["user"]
        if run.get("parent") is not None:
            tags["mlflow.parentRunId"] = ids[run["parent"]]
        created = client.create_run(
            experiments[exp], start_time=run["start"], tags=tags, run_name=run["name"]
        )
        run_id = created.info.run_id
        ids[run["key"]] = run_id
        keys[run_id] = run["key"]
        stamp = run["start"]
        metrics = []
        for key, points in run["metrics"].items():
            for value, step in points:
                stamp += 1  # in the order logged: the latest of a step wins, as in our store
                metrics.append(Metric(key, float(value), stamp, step))
        params = [Param(key, value) for key, value in run["params"].items()]
        client.log_batch(run_id, metrics=metrics, params=params)
        inputs = []
        for data in run["datasets"]:
            dataset = Dataset(
                name=data["name"],
                digest=data["digest"],
                source_type="local",
                source=json.dumps({"uri": data["name"]}),
            )
            context = data.get("context")
            tags_in = [InputTag("mlflow.data.context", context)] if context is not None else []
            inputs.append(DatasetInput(dataset, tags_in))
        if inputs:
            client.log_inputs(run_id, datasets=inputs)
        if run["status"] != "RUNNING":
            client.set_terminated(run_id, run["status"], end_time=run["end"])

    seconds["log"] = time.perf_counter() - began
    searches = [(text, None, None) for text in request["filters"]]
    searches += [
        (o.get("filter") or "", o["order_by"], o.get("max_results")) for o in request["orders"]
    ]
    state = {
        "client": client,
        "experiments": list(experiments.values()),
        "ids": ids,
        "keys": keys,
    }
    # Searches are independent reads: two forked workers share them (each opens its own
    # connections: the parent's pool is dropped in the child).
    with ProcessPoolExecutor(
        max_workers=2,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_start,
        initargs=(state,),
    ) as pool:
        answers = list(pool.map(_search, searches, chunksize=16))
    seconds["search"] = time.perf_counter() - began - seconds["log"]
    count = len(request["filters"])
    return {
        "version": mlflow.__version__,
        "seconds": seconds,
        "ids": ids,
        "filters": answers[:count],
        "orders": answers[count:],
    }


_STATE: dict[str, Any] = {}


def _worker_start(state: dict[str, Any]) -> None:
    _STATE.update(state)
    store = state["client"]._tracking_client.store
    store.engine.dispose(close=False)


def _search(search: tuple[str, list[str] | None, int | None]) -> dict[str, Any]:
    from mlflow.entities import ViewType

    filter_string, order_by, max_results = search
    ids, keys = _STATE["ids"], _STATE["keys"]
    text = PLACEHOLDER.sub(lambda m: ids[m.group(1)], filter_string)
    try:
        found = _STATE["client"].search_runs(
            _STATE["experiments"],
            filter_string=text,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=max_results or 50_000,
            order_by=order_by,
        )
    except Exception as exc:  # MLflow refused the search: its message, on one line
        return {"refused": " ".join(str(exc).split())[:300]}
    return {"keys": [keys[r.info.run_id] for r in found]}


if __name__ == "__main__":
    main()
