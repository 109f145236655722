"""Bringing MLflow runs into the store, so the comparison widgets and filters see them.

Each ended MLflow run becomes a finished, failed, interrupted or crashed run here (MLFLOW_STATUS
read backwards; FAILED with `nbmlops.crashed` is crashed), with its name, user, times, params
(as MLflow keeps them: text), tags, and every metric's full history with steps and times. Runs
still RUNNING or SCHEDULED there are left for a later import.

Which runs come is decided here, with our filter (docs/filter.md), on each run as it would be
recorded: the same grammar and meaning as everywhere else (statuses by our names or MLflow's,
any case; OR and parentheses), which MLflow's own search would not give. Only the runs chosen
have their metric histories read.

No run is brought twice: a run that started here (its `nbmlops.run_id` tag names a run in this
store) is not imported, and an imported run's id comes from its MLflow id, so the same run
imported again (or by two processes at once) meets its own id and is passed over. An MLflow run
that another nb-mlops store synced keeps that store's id; a run a sync made to hold a model
version's files is not a run of ours and stays there. What the server says is checked before it
is recorded (times in range, numbers that are numbers, names the store takes); a run that does
not pass is reported and left out. Artifacts and dataset inputs stay on the server; the run's
`origin` says where it is.
"""

from __future__ import annotations

import math
from typing import Any

from nb_mlops.clock import from_timestamp
from nb_mlops.errors import NbMlopsError, SyncError
from nb_mlops.redact import redact_text
from nb_mlops.store.workspace import Workspace
from nb_mlops.sync.report import SyncReport
from nb_mlops.sync.runs import PAGE, TAG_CRASHED, TAG_RUN_ID
from nb_mlops.sync.target import Server
from nb_mlops.tracking.filter import compile_filter
from nb_mlops.tracking.ids import is_run_id, run_id_from
from nb_mlops.tracking.imported import mlflow_status, record_imported_run

__all__ = ["import_runs"]

_SYSTEM_PREFIX = "mlflow."
HOLDER_PREFIX = "model:"
"""The `nbmlops.run_id` of a run a sync made to hold a model version's files."""
MAX_MS = 253_402_300_799_999
"""The last millisecond of year 9999: a time beyond it is not a time."""


def import_runs(
    ws: Workspace,
    server: Server,
    report: SyncReport,
    *,
    experiment: str | None = None,
    filter: str | None = None,
) -> None:
    """Import the ended runs of `experiment` (default: every experiment) that match `filter`
    (our filter grammar, evaluated here on each run as it would be recorded)."""
    matches = compile_filter(filter)
    experiments = _experiments(server, experiment)
    names = {e.experiment_id: e.name for e in experiments}
    found = _search(server, list(names))
    ids = {run.info.run_id: _id_for(ws, run) for run in found}
    for run in sorted(found, key=lambda r: _number(r.info.start_time) or 0):
        theirs = run.info.run_id
        try:
            fields = _fields(server, run, ids, names)
        except (TypeError, ValueError, OverflowError) as exc:  # the server's answer is not sound
            report.skipped[theirs] = f"it does not read: {exc}"
            continue
        if matches(_as_doc(theirs, fields, run)):
            _import_one(ws, server, report, run, ids, fields)


def _experiments(server: Server, name: str | None) -> list[Any]:
    client = server.client
    if name is not None:
        found = server.call(f"find experiment {name!r}", client.get_experiment_by_name, name)
        if found is None:
            raise SyncError(f"MLflow at {server.uri} has no experiment named {name!r}")
        return [found]
    out: list[Any] = []
    token = None
    while True:
        page = server.call(
            "list the experiments", client.search_experiments, max_results=PAGE, page_token=token
        )
        out.extend(page)
        token = page.token
        if not token:
            return out


def _search(server: Server, experiment_ids: list[str]) -> list[Any]:
    """Every active run of the experiments, a page of 1,000 at a time."""
    out: list[Any] = []
    token = None
    while experiment_ids:
        page = server.call(
            "list the runs",
            server.client.search_runs,
            experiment_ids,
            max_results=PAGE,
            page_token=token,
        )
        out.extend(page)
        token = page.token
        if not token:
            break
    return out


def _id_for(ws: Workspace, run: Any) -> tuple[str, str | None]:
    """(the id the run has or gets here, why it is not imported or None)."""
    ours = run.data.tags.get(TAG_RUN_ID)
    if isinstance(ours, str) and ours.startswith(HOLDER_PREFIX):
        return run_id_from(run.info.run_id), "it holds a model version's files, not a run"
    if ours and ("runs", ours) in ws.catalog:
        doc = ws.catalog.get("runs", ours) or {}
        origin = doc.get("origin") or {}
        if origin.get("run_id") == run.info.run_id:
            return ours, "imported before"
        return ours, "it started here"
    if ours and is_run_id(ours):
        return ours, None
    mine = run_id_from(run.info.run_id)
    if ("runs", mine) in ws.catalog:
        return mine, "imported before"
    return mine, None


def _points(server: Server, run: Any) -> list[tuple[str, float, int, float]]:
    """Every point of every metric of `run`, checked to be numbers, in time order."""
    theirs = run.info.run_id
    points = []
    for key in sorted(run.data.metrics):
        history = server.call(
            f"read metric {key!r} of run {theirs}", server.client.get_metric_history, theirs, key
        )
        for m in history:
            ts = float(m.timestamp or 0) / 1000
            if not math.isfinite(ts):
                raise ValueError(f"metric {key!r} has time {m.timestamp!r}")
            points.append((key, float(m.value), int(m.step), ts))
    points.sort(key=lambda p: p[3])
    return points


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _seconds(ms: Any, what: str) -> float | None:
    """A time the server gave in ms as seconds, checked (None stays None)."""
    if ms is None:
        return None
    value = _number(ms)
    if value is None or not math.isfinite(value) or not 0 <= value <= MAX_MS:
        raise ValueError(f"its {what} {ms!r} is not a time")
    return value / 1000


def _fields(
    server: Server, run: Any, ids: dict[str, tuple[str, str | None]], experiments: dict[str, str]
) -> dict[str, Any]:
    """The run as it would be recorded here (its status None while it runs there)."""
    theirs = run.info.run_id
    tags = run.data.tags
    parent = tags.get("mlflow.parentRunId")
    start = _seconds(run.info.start_time, "start time")
    return {
        "name": redact_text(str(run.info.run_name or tags.get("mlflow.runName") or theirs)),
        "experiment": experiments.get(run.info.experiment_id, str(run.info.experiment_id)),
        "status": mlflow_status(run.info.status, tags.get(TAG_CRASHED) == "true"),
        "start": start or 0.0,
        "end": _seconds(run.info.end_time, "end time"),
        "user": tags.get("mlflow.user") or run.info.user_id or None,
        "params": dict(run.data.params),
        "tags": {k: v for k, v in tags.items() if not k.startswith((_SYSTEM_PREFIX, "nbmlops."))},
        "parent": ids[parent][0] if parent in ids else None,
        "source": {"kind": "mlflow", "file": tags.get("mlflow.source.name")},
        "origin": {
            "kind": "mlflow",
            "tracking_uri": server.uri,
            "run_id": theirs,
            "experiment_id": run.info.experiment_id,
        },
    }


def _as_doc(theirs: str, fields: dict[str, Any], run: Any) -> dict[str, Any]:
    """What the filter reads: the run's fields as a run document, its metrics' last values,
    its MLflow id as `run_id`."""
    start, end = fields["start"], fields["end"]
    return {
        **fields,
        "run_id": theirs,
        "status": fields["status"] or "running",
        "start": from_timestamp(start),
        "end": None if end is None else from_timestamp(end),
        "duration": None if end is None else max(0.0, end - start),
        "metrics": dict(run.data.metrics),
        "data": [],
    }


def _import_one(
    ws: Workspace,
    server: Server,
    report: SyncReport,
    run: Any,
    ids: dict[str, tuple[str, str | None]],
    fields: dict[str, Any],
) -> None:
    theirs = run.info.run_id
    mine, why = ids[theirs]
    if why is not None:
        report.unchanged += 1
        return
    if fields["status"] is None:
        report.skipped[theirs] = f"it is {run.info.status} there; import it once it ends"
        return
    try:
        points = _points(server, run)
        record_imported_run(ws, mine, fields, points)
    except (TypeError, ValueError, OverflowError) as exc:  # the server's answer, not a number
        report.skipped[theirs] = f"its metric history does not read: {exc}"
        return
    except NbMlopsError as exc:  # a name or value the store refuses: this run only
        if isinstance(exc, SyncError):
            raise
        report.skipped[theirs] = str(exc)
        return
    report.created.append(mine)
    report.runs[theirs] = mine
    report.points += len(points)
