"""Reading runs back: resolving a RUN argument, the runs table, one run in full.

Runs left `running` by a process that died are marked `crashed` here, on read, so every view
(Python, magic, CLI) agrees.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nb_mlops.clock import from_timestamp
from nb_mlops.errors import RunNotFound
from nb_mlops.store.series import last_values, read_points
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import active
from nb_mlops.tracking.filter import compile_filter, filter_keys
from nb_mlops.tracking.liveness import is_dead
from nb_mlops.tracking.order import check_max_results, parse_order_by, sort_runs

if TYPE_CHECKING:  # pandas loads with the first runs frame, not with `%track runs` (0.5 s)
    import pandas as pd

BASE_COLUMNS = ["run_id", "name", "experiment", "status", "start", "duration"]


def refresh_liveness(ws: Workspace, docs: Iterable[dict[str, Any]]) -> int:
    """Mark `crashed` the running runs whose process is gone; return how many."""
    mine = {r.run_id for r in active.active_runs()}
    dead = []
    for doc in docs:
        if doc.get("status") == "running" and doc["run_id"] not in mine:
            beat = ws.run_files(doc["run_id"]).heartbeat
            if is_dead(doc.get("proc"), beat):
                dead.append(doc["run_id"])
    for run_id in dead:
        _mark_crashed(ws, run_id)
    return len(dead)


def _mark_crashed(ws: Workspace, run_id: str) -> None:
    files = ws.run_files(run_id)
    points = read_points(files.metrics)
    end_ts = max((p[3] for p in points), default=None)
    try:
        end_ts = max(end_ts or 0.0, os.stat(files.heartbeat).st_mtime)
    except OSError:
        pass
    changes: dict[str, Any] = {"status": "crashed", "metrics": last_values(points)}
    if end_ts:
        changes["end"] = from_timestamp(end_ts)
    with ws.catalog.locked():
        doc = ws.catalog.get("runs", run_id)
        if doc is not None and doc.get("status") == "running":
            ws.catalog.set("runs", run_id, changes)


def all_runs(ws: Workspace) -> dict[str, dict[str, Any]]:
    """Every run document by id, crashed runs marked (read-only view)."""
    docs = ws.catalog.docs("runs")
    if any(d.get("status") == "running" for d in docs.values()) and refresh_liveness(
        ws, list(docs.values())
    ):
        docs = ws.catalog.docs("runs")
    return docs


def resolve_run(ws: Workspace, ref: str) -> dict[str, Any]:
    """A run by id, by name (the latest of that name), or by a unique id prefix."""
    if not isinstance(ref, str) or not ref.strip():
        raise RunNotFound("a run is named by its id, a unique id prefix, or its name; got nothing")
    ref = ref.strip()
    docs = all_runs(ws)
    doc = docs.get(ref)
    if doc is not None:
        return doc
    named = ws.catalog.newest("runs", "name", ref)
    if named:
        return named
    matches = [d for i, d in docs.items() if i.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ids = ", ".join(sorted(d["run_id"] for d in matches)[:5])
        raise RunNotFound(f"run id prefix {ref!r} is ambiguous ({ids}, ...); type more of it")
    from nb_mlops.text import did_you_mean

    names = {d.get("name") for d in docs.values() if d.get("name")}
    raise RunNotFound(f"no run has the id, id prefix or name {ref!r}{did_you_mean(ref, names)}")


def live_metrics(ws: Workspace, doc: dict[str, Any]) -> dict[str, float]:
    """Last metric values, read from the series file while the run is still running."""
    if doc.get("status") != "running":
        return doc.get("metrics") or {}
    for run in active.active_runs():
        if run.run_id == doc["run_id"]:
            return run.metrics
    return last_values(read_points(ws.run_files(doc["run_id"]).metrics))


def select_runs(
    ws: Workspace,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int | None = None,
) -> list[dict[str, Any]]:
    """Run documents matching `filter`, in `order_by` order (default: newest first), at most
    `max_results` of them. Filter and order_by follow MLflow's search_runs (docs/filter.md)."""
    runs_uri = ws.runs_dir.absolute().as_uri()
    pred = compile_filter(filter, runs_uri=runs_uri)
    clauses = parse_order_by(order_by)
    limit = check_max_results(max_results)
    docs = all_runs(ws)
    rows = []
    for doc in docs.values():
        if doc.get("status") == "running":
            doc = {**doc, "metrics": live_metrics(ws, doc)}
        if pred(doc):
            rows.append(doc)
    if not rows and filter:
        unknown_key_notice(filter, docs.values())
    if clauses:
        rows = sort_runs(rows, clauses, runs_uri=runs_uri)
    else:  # newest first (microseconds), then run id: what sort_runs does without clauses
        rows.sort(key=lambda d: d.get("run_id") or "")
        rows.sort(key=lambda d: d.get("start") or "", reverse=True)
    return rows if limit is None else rows[:limit]


KEYED = ("metrics", "params", "tags")


def unknown_key_notice(filter: str, docs: Iterable[dict[str, Any]]) -> None:
    """When a filter matched nothing because it names a metric, param or tag no run has, say
    so, naming the nearest key that exists (the result stays empty, as MLflow's is)."""
    from nb_mlops.notify import notify
    from nb_mlops.text import did_you_mean

    have: dict[str, set[str]] = {kind: set() for kind in KEYED}
    for doc in docs:
        for kind in KEYED:
            have[kind].update(doc.get(kind) or {})
    for key in filter_keys(filter):
        kind, _, name = key.partition(".")
        if kind in have and name not in have[kind]:
            hint = did_you_mean(name, have[kind], prefix=f"{kind}.")
            hint = hint or f" (the runs have {len(have[kind])} {kind}, none close to it)"
            notify(f"no run has {key}{hint}")


def runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The runs table: base columns, then params.*, metrics.*, tags.* (sorted by name)."""
    import pandas as pd

    data: dict[str, Any] = {
        "run_id": [d["run_id"] for d in rows],
        "name": [d.get("name") for d in rows],
        "experiment": [d.get("experiment") for d in rows],
        "status": [d.get("status") for d in rows],
        "start": pd.to_datetime([d.get("start") for d in rows], utc=True, format="ISO8601"),
        "duration": pd.array([d.get("duration") for d in rows], dtype="Float64").astype("float64"),
    }
    for section in ("params", "metrics", "tags"):
        values = [d.get(section) or _EMPTY for d in rows]
        keys: set[str] = set()
        for v in values:
            keys.update(v)
        for key in sorted(keys):
            data[f"{section}.{key}"] = _column([v.get(key) for v in values])
    data["parent"] = [d.get("parent") for d in rows]
    return pd.DataFrame(data, columns=list(data))


_EMPTY: dict[str, Any] = {}
_NUMERIC = {int, float, type(None)}


def _column(values: list[Any]) -> Any:
    """Numbers (ints, floats, missing) become a float column; anything else stays as is."""
    import pandas as pd

    if {type(v) for v in values} <= _NUMERIC:
        return np.array(values, dtype="float64")
    return pd.array(values, dtype=object)


def run_detail(ws: Workspace, ref: str) -> dict[str, Any]:
    """One run in full: its document plus its metric series, cells and captured output."""
    doc = copy.deepcopy(resolve_run(ws, ref))
    for run in active.active_runs():
        if run.run_id == doc["run_id"]:
            run.flush()  # points still buffered in this process belong in the answer
    files = ws.run_files(doc["run_id"])
    series: dict[str, list[list[float]]] = {}
    for key, value, step, ts in read_points(files.metrics):
        series.setdefault(key, []).append([step, value, ts])
    doc["series"] = series
    if doc.get("status") == "running":
        doc["metrics"] = last_values(
            (k, pts[-1][1], int(pts[-1][0]), pts[-1][2]) for k, pts in series.items()
        )
    doc["cells"] = read_cells(ws, doc["run_id"])
    for stream in ("stdout", "stderr"):
        path = files.output(stream)
        doc[stream] = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    doc["children"] = sorted(
        (d["run_id"] for d in ws.catalog.find("runs", "parent", doc["run_id"])),
    )
    return doc


def read_cells(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    """The cells a run executed, in order (see notebook history)."""
    from nb_mlops.jsonl import read_jsonl

    return read_jsonl(ws.run_files(run_id).cells)
