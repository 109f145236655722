"""The two verbs of the MLflow hand-over: push this store to a tracking server, and import its
runs back. Each opens the server, holds the target's lock, reads and writes the sync state, and
returns a SyncReport."""

from __future__ import annotations

import time

from nb_mlops.errors import SyncError
from nb_mlops.store.syncstate import read_state, state_key, syncing, write_state
from nb_mlops.store.workspace import Workspace
from nb_mlops.sync.imports import import_runs
from nb_mlops.sync.models import ModelPush, model_run_ids
from nb_mlops.sync.report import SyncReport
from nb_mlops.sync.runs import RunPush
from nb_mlops.sync.target import check_tracking_uri, open_server
from nb_mlops.tracking.query import select_runs

__all__ = ["import_from_mlflow", "push_to_mlflow"]

MAX_JOBS = 32


def push_to_mlflow(
    ws: Workspace,
    tracking_uri: str,
    *,
    experiment: str | None = None,
    filter: str | None = None,
    models: bool = True,
    jobs: int = 4,
) -> SyncReport:
    """Sync the runs matching `filter` (default: all) and, with `models`, every registered model
    to the MLflow server at `tracking_uri`; each run goes to the experiment of its own name, or
    all of them to `experiment`. Only what the server lacks is sent."""
    uri = check_tracking_uri(tracking_uri)
    if experiment is not None and not experiment.strip():
        raise SyncError("--experiment is empty: name the MLflow experiment, or leave it out")
    if not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise SyncError(f"jobs is the number of runs sent at once, 1 to {MAX_JOBS}; got {jobs!r}")
    t0 = time.perf_counter()
    report = SyncReport("push", uri, experiment)
    docs = select_runs(ws, filter)
    if models:
        have = {d["run_id"] for d in docs}
        docs += [ws.catalog.get("runs", r) for r in sorted(model_run_ids(ws) - have)]
    key = state_key("mlflow", uri, experiment or "")
    with syncing(ws, key):
        state, note = read_state(ws, key)
        if note:
            report.notes.append(note)
        for part in ("runs", "models"):
            if not isinstance(state.get(part, {}), dict):
                state[part] = {}
        state["target"] = {"tracking_uri": uri, "experiment": experiment}
        try:
            with open_server(uri) as server:
                try:
                    runs = RunPush(ws, server, state, report, experiment, jobs)
                    runs.push([d for d in docs if d is not None])
                    if models:
                        ModelPush(ws, server, state, report, runs, experiment).push()
                finally:
                    report.requests = server.requests
        finally:  # what went is remembered, also when the sync stopped part-way
            write_state(ws, key, state)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def import_from_mlflow(
    ws: Workspace,
    tracking_uri: str,
    *,
    experiment: str | None = None,
    filter: str | None = None,
) -> SyncReport:
    """Bring the ended runs of the MLflow server at `tracking_uri` (one experiment, or all)
    matching `filter` into this store; runs that started here or came before are passed over."""
    uri = check_tracking_uri(tracking_uri)
    t0 = time.perf_counter()
    report = SyncReport("import", uri, experiment)
    with syncing(ws, state_key("mlflow-import", uri)), open_server(uri) as server:
        try:
            import_runs(ws, server, report, experiment=experiment, filter=filter)
        finally:
            report.requests = server.requests
    report.seconds = round(time.perf_counter() - t0, 3)
    return report
