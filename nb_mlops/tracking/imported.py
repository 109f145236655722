"""Runs recorded elsewhere and brought into the store whole: an MLflow run, say.

An imported run arrives finished, with its own times, status, params, tags and metric series.
It is written in one step: its points first (a pack line, or its own folder when there are
many), then its document, so a reader never sees the document without its points. It keeps
where it came from in `origin`, which later imports and syncs read to recognise it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nb_mlops.clock import from_timestamp
from nb_mlops.errors import NbMlopsError
from nb_mlops.store.pack import append_points
from nb_mlops.store.series import MetricWriter, last_values
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking.fields import MLFLOW_STATUS
from nb_mlops.tracking.run import END_STATUSES
from nb_mlops.values import check_key, clean_fields

__all__ = ["PACKED_IMPORT_POINTS", "mlflow_status", "record_imported_run"]

PACKED_IMPORT_POINTS = 1000
"""Up to this many points an imported run's series go in one pack line; more get a folder."""

Point = tuple[str, float, int, float]


def record_imported_run(
    ws: Workspace,
    run_id: str,
    fields: Mapping[str, Any],
    points: Sequence[Point],
) -> dict[str, Any]:
    """Write run `run_id` from `fields` (name, experiment, status, start and end as Unix
    seconds, user, params, tags, parent, origin, source) and its `points`; its document.

    Refused when the id is taken: an import never overwrites a run.
    """
    if ("runs", run_id) in ws.catalog:
        raise NbMlopsError(f"a run with id {run_id} is already in the store")
    status = fields["status"]
    if status not in END_STATUSES and status != "crashed":
        raise NbMlopsError(f"an imported run is finished, failed, interrupted or crashed: {status}")
    for key in {p[0] for p in points}:
        check_key("metric", key)
    for text in ("name", "experiment"):
        if not isinstance(fields[text], str) or not fields[text].strip() or "\n" in fields[text]:
            raise NbMlopsError(f"an imported run's {text} must be one line: {fields[text]!r:.60}")
    start, end = fields["start"], fields.get("end")
    doc: dict[str, Any] = {
        "run_id": run_id,
        "name": fields["name"],
        "experiment": fields["experiment"],
        "status": status,
        "start": from_timestamp(start),
        "end": None if end is None else from_timestamp(end),
        "duration": None if end is None else round(max(0.0, end - start), 6),
        "parent": fields.get("parent"),
        "user": fields.get("user"),
        "params": clean_fields("param", fields.get("params") or {}),
        "metrics": last_values(points),
        "tags": clean_fields("tag", fields.get("tags") or {}),
        "seeds": {},
        "source": dict(fields.get("source") or {"kind": "import"}),
        "previous": None,
        "history": None,
        "env": {},
        "artifacts": [],
        "refs": [],
        "origin": dict(fields["origin"]),
    }
    if points and len(points) <= PACKED_IMPORT_POINTS:
        doc["points"] = append_points(ws, run_id, list(points))
    elif points:
        writer = MetricWriter(ws.run_files(run_id).metrics)
        try:
            for key, value, step, ts in points:
                writer.add(key, value, step, ts)
        finally:
            writer.close()
    ws.catalog.put("runs", run_id, doc)
    return doc


def mlflow_status(status: str, crashed: bool) -> str | None:
    """Our status for an ended MLflow run's (None for one still running or scheduled)."""
    if status == "FAILED" and crashed:
        return "crashed"
    for ours, theirs in MLFLOW_STATUS.items():
        if theirs == status and ours not in ("running", "crashed"):
            return ours
    return None
