"""Reading runs back: resolving a RUN argument, the runs table, one run in full.

Runs left `running` by a process that died are marked `crashed` here, on read, so every view
(Python, magic, CLI) agrees.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from nb_mlops.clock import from_timestamp
from nb_mlops.errors import RunNotFound
from nb_mlops.store.catalog import COLUMN_FIELDS
from nb_mlops.store.columns import MISSING, TableColumns, build_summary, value_at
from nb_mlops.store.pack import read_run_cells, read_run_output, read_run_points
from nb_mlops.store.series import last_values, read_points
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking import active
from nb_mlops.tracking.fields import SYSTEM_TAGS, Key
from nb_mlops.tracking.filter import MatchAll, filter_keys, parse_filter
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
    doc = ws.catalog.get("runs", run_id)
    points = read_run_points(ws, doc) if doc is not None else read_points(files.metrics)
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
    return last_values(read_run_points(ws, doc))


def select_runs(
    ws: Workspace,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int | None = None,
) -> list[dict[str, Any]]:
    """Run documents matching `filter`, in `order_by` order (default: newest first), at most
    `max_results` of them. Filter and order_by follow MLflow's search_runs (docs/filter.md)."""
    return list(select_rows(ws, filter, order_by, max_results))


KEYED = ("metrics", "params", "tags")


class RunRows(Sequence):
    """Runs selected from the store's columns, in order: a sequence of run documents (each read
    in full when first asked for), `summaries()` with what listings show (from the checkpoint's
    summaries or the columns, no document read), and `values`/`keys` that `runs_frame` builds
    nm.runs()'s table from."""

    def __init__(
        self,
        ws: Workspace,
        rows: list[int],
        live: dict[int, dict[str, Any]],
        seen: dict[int, dict[str, Any]] | None = None,
    ) -> None:
        self.ws = ws
        self.rows = rows
        self.live = live  # running runs: their documents with the metrics logged so far
        self.seen = seen or {}  # summaries the filter was checked on, by row
        self.columns: TableColumns = ws.catalog.run_columns()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        r = self.rows[i]
        doc = self.live.get(r)
        if doc is None:
            doc = self.ws.catalog.get("runs", self.columns.ids[r])
        return doc

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def part(self, start: int, stop: int) -> RunRows:
        """The runs from `start` to `stop` (a page), still read from the columns."""
        return RunRows(self.ws, self.rows[start:stop], self.live, self.seen)

    def values(self, path: tuple[str, ...]) -> list[Any]:
        """Each selected run's value at `path` (MISSING where it has none)."""
        if path == ("run_id",):
            return gather(self.columns.ids, self.rows)
        out = gather(self.ws.catalog.column(path), self.rows)
        if self.live:
            for i, r in enumerate(self.rows):
                doc = self.live.get(r)
                if doc is not None:
                    out[i] = value_at(doc, path)
        return out

    def dense(self, path: tuple[str, ...]) -> bool:
        """Whether every live run has a value at `path` (then no selected one lacks it)."""
        return path == ("run_id",) or (
            not self.live and self.columns.counts.get(path, 0) == self.columns.live_count()
        )

    def keys(self, section: str) -> list[str]:
        """The keys some selected run has in `section`, sorted."""
        keys = set()
        for key in self.columns.keys(section):
            col = self.ws.catalog.column((section, key))
            if any(col[r] is not MISSING for r in self.rows if r not in self.live):
                keys.add(key)
        for r in self.rows:
            doc = self.live.get(r)
            if doc is not None:
                keys.update(doc.get(section) or ())
        return sorted(keys)

    def every(self) -> bool:
        """Whether these are all the runs in the default order, none running (what a frame of
        them may be kept for until the store changes)."""
        return not self.live and self.rows is self.columns.cache.get("newest")

    def few(self) -> bool:
        """Few enough runs that reading their documents beats building every column."""
        return len(self.rows) * _FEW < len(self.columns.ids) and not self.columns.all_loaded()

    def summaries(self) -> list[dict[str, Any]]:
        """The selected runs' listing fields (store.columns.summary_of) as documents: what
        filters, orderings and listings read."""
        if self.seen and all(r in self.seen for r in self.rows):
            return [self.seen[r] for r in self.rows]
        return summaries(self.ws, self.columns, self.rows, self.live)


def gather(values: list[Any], rows: Sequence[int]) -> list[Any]:
    """values[r] for each r of rows, in C (a frame of 100,000 rows gathers ~40 columns)."""
    if not rows:
        return []
    if len(rows) == 1:
        return [values[rows[0]]]
    return list(itemgetter(*rows)(values))


def summaries(
    ws: Workspace, cols: TableColumns, rows: Sequence[int], live: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Documents of the listing fields of `rows` (see RunRows.summaries): from columns, or, for
    a few runs when the columns are not read yet, the runs' own documents (which hold them)."""
    catalog = ws.catalog
    if len(rows) * _FEW < len(cols.ids) and not cols.all_loaded():
        out = []
        for r in rows:
            doc = live.get(r) or cols.base_summary(r) or catalog.get("runs", cols.ids[r])
            out.append(doc)
        return out
    keyed = [(section, cols.keys(section)) for section in KEYED]
    by_path = {p: catalog.column(p) for p in COLUMN_FIELDS}
    by_path.update({(s, k): catalog.column((s, k)) for s, keys in keyed for k in keys})
    ids = cols.ids
    out = []
    for r in rows:
        doc = live.get(r)
        if doc is None:
            doc = build_summary(ids[r], COLUMN_FIELDS, keyed, lambda p, r=r: by_path[p][r])
        out.append(doc)
    return out


_NO_COLUMN = frozenset(SYSTEM_TAGS)
_FEW = 20
"""Fewer than 1 in _FEW of the runs: read their documents rather than load every column."""


def _column_of(ws: Workspace) -> Any:
    """The filter's column lookup over the store's runs (see filter.Node.candidates)."""

    def column_of(key: Key, floats: bool) -> Any:
        if key.section in KEYED:
            if key.section == "tags" and key.name in _NO_COLUMN:
                return None
            path: tuple[str, ...] = (key.section, key.name)
        elif key.section == "attributes" and (key.name,) in COLUMN_FIELDS:
            path = (key.name,)
        else:
            return None
        return ws.catalog.floats(path) if floats else ws.catalog.column(path)

    return column_of


def select_rows(
    ws: Workspace,
    filter: str | None = None,
    order_by: str | Sequence[str] | None = None,
    max_results: int | None = None,
) -> RunRows:
    """`select_runs` from the store's columns: the same runs in the same order, read without
    rebuilding every run's document (100,000 runs answer in milliseconds)."""
    runs_uri = ws.runs_dir.absolute().as_uri()
    node = parse_filter(filter, runs_uri=runs_uri) if filter and filter.strip() else MatchAll()
    clauses = parse_order_by(order_by)
    limit = check_max_results(max_results)
    cols = ws.catalog.run_columns()
    status = ws.catalog.column(("status",))
    running = _running(status)
    if running:
        docs = [ws.catalog.get("runs", cols.ids[r]) for r in running]
        if refresh_liveness(ws, [d for d in docs if d is not None]):
            cols = ws.catalog.run_columns()
            status = ws.catalog.column(("status",))
            running = _running(status)
    live = {}
    for r in running:
        doc = ws.catalog.get("runs", cols.ids[r])
        if doc is not None:
            live[r] = {**doc, "metrics": live_metrics(ws, doc)}
    ids = cols.ids
    seen: dict[int, dict[str, Any]] = {}
    if isinstance(node, MatchAll):
        rows = cols.cache.get("live")
        if rows is None:
            rows = cols.cache["live"] = list(cols.live_rows())
    else:
        found = node.candidates(_column_of(ws))
        # a running run's metrics are not in the columns yet: it is always checked in full
        pool = sorted(found | set(live)) if found is not None else list(cols.live_rows())
        pool = [r for r in pool if ids[r] is not None]
        keys = node.keys()
        if any(k.startswith("datasets.") for k in keys):  # data versions are not in columns
            docs = [live.get(r) or ws.catalog.get("runs", ids[r]) for r in pool]
        else:
            docs = summaries(ws, cols, pool, live)
        rows = [r for r, doc in zip(pool, docs, strict=True) if node.evaluate(doc)]
        seen = dict(zip(pool, docs, strict=True))
        if not rows:
            unknown_key_notice_from(filter or "", {k: cols.keys(k) for k in KEYED})
    if clauses:
        by_id = {d["run_id"]: r for r, d in zip(rows, summaries(ws, cols, rows, live), strict=True)}
        ordered = sort_runs(summaries(ws, cols, rows, live), clauses, runs_uri=runs_uri)
        rows = [by_id[d["run_id"]] for d in ordered]
    elif isinstance(node, MatchAll):  # every run: the order is kept until the next change
        newest = cols.cache.get("newest")
        if newest is None:
            newest = cols.cache["newest"] = _newest_first(ws, cols, rows)
        rows = newest
    else:
        rows = _newest_first(ws, cols, rows, seen)
    return RunRows(ws, rows if limit is None else rows[:limit], live, seen)


def _running(status: list[Any]) -> list[int]:
    """The rows whose status is running (counted in C first: usually there are none)."""
    if not status.count("running"):
        return []
    return [r for r, s in enumerate(status) if s == "running"]


def _newest_first(
    ws: Workspace,
    cols: TableColumns,
    rows: list[int],
    seen: dict[int, dict[str, Any]] | None = None,
) -> list[int]:
    """Rows by start time, newest first, then run id (what sort_runs does without clauses).
    Start times come from the summaries in `seen` when they hold every row (a filter's few
    matches need not load the start column of every run)."""
    ids = cols.ids
    rows = sorted(rows, key=ids.__getitem__)
    if seen is not None and all(r in seen for r in rows):
        rows.sort(key=lambda r: seen[r].get("start") or "", reverse=True)
        return rows
    start = ws.catalog.column(("start",))
    rows.sort(key=lambda r: start[r] if start[r] is not MISSING and start[r] else "", reverse=True)
    return rows


def unknown_key_notice(filter: str, docs: Iterable[dict[str, Any]]) -> None:
    """When a filter matched nothing because it names a metric, param or tag no run has, say
    so, naming the nearest key that exists (the result stays empty, as MLflow's is)."""

    have: dict[str, set[str]] = {kind: set() for kind in KEYED}
    for doc in docs:
        for kind in KEYED:
            have[kind].update(doc.get(kind) or {})
    unknown_key_notice_from(filter, have)


def unknown_key_notice_from(filter: str, have: dict[str, Any]) -> None:
    """`unknown_key_notice` given the keys the runs have, by section."""
    from nb_mlops.notify import notify
    from nb_mlops.text import did_you_mean

    have = {kind: set(keys) for kind, keys in have.items()}
    for key in filter_keys(filter):
        kind, _, name = key.partition(".")
        if kind in have and name not in have[kind]:
            hint = did_you_mean(name, have[kind], prefix=f"{kind}.")
            hint = hint or f" (the runs have {len(have[kind])} {kind}, none close to it)"
            notify(f"no run has {key}{hint}")


class _DocValues:
    """Run documents read the way RunRows reads columns (values by path, keys by section)."""

    def __init__(self, docs: Sequence[dict[str, Any]]) -> None:
        self.docs = docs
        self._getters: dict[str, list[Any]] = {}  # section -> each document's section .get

    def values(self, path: tuple[str, ...]) -> list[Any]:
        if len(path) == 1:
            return [d.get(path[0], MISSING) for d in self.docs]
        getters = self._getters.get(path[0])
        if getters is None:  # once per section, not once per key (30 keys x 1,000 runs)
            getters = self._getters[path[0]] = [(d.get(path[0]) or _EMPTY).get for d in self.docs]
        key = path[1]
        return [get(key, MISSING) for get in getters]

    def dense(self, path: tuple[str, ...]) -> bool:
        return False

    def keys(self, section: str) -> list[str]:
        keys: set[str] = set()
        for d in self.docs:
            keys.update(d.get(section) or _EMPTY)
        return sorted(keys)


def runs_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The runs table: base columns, then params.*, metrics.*, tags.* (sorted by name).
    Rows selected from columns (RunRows) are framed from the columns, documents from themselves:
    the same table either way."""
    import pandas as pd

    source: Any = rows if isinstance(rows, RunRows) else _DocValues(rows)
    if isinstance(rows, RunRows) and rows.few():  # their documents, not every column
        source = _DocValues(rows.summaries())
    every = isinstance(rows, RunRows) and rows.every()
    if every:  # all runs, newest first, nothing changed since the last such table: its columns
        data = rows.columns.cache.get("frame")
        if data is not None:
            return pd.DataFrame(data, columns=list(data), copy=True)  # the caller's to change

    def plain(path: tuple[str, ...]) -> list[Any]:
        values = source.values(path)
        if source.dense(path) or values.count(MISSING) == 0:
            return values
        return [None if v is MISSING else v for v in values]

    data: dict[str, Any] = {
        "run_id": plain(("run_id",)),
        "name": plain(("name",)),
        "experiment": plain(("experiment",)),
        "status": plain(("status",)),
        "start": pd.to_datetime(plain(("start",)), utc=True, format="ISO8601"),
        "duration": pd.array(plain(("duration",)), dtype="Float64").astype("float64"),
    }
    for section in ("params", "metrics", "tags"):
        for key in source.keys(section):
            data[f"{section}.{key}"] = _column(plain((section, key)))
    data["parent"] = plain(("parent",))
    if every:
        rows.columns.cache["frame"] = data  # emptied on the next change (store/columns.py)
    return pd.DataFrame(data, columns=list(data), copy=every)


_EMPTY: dict[str, Any] = {}
_NUMERIC = {int, float, type(None)}


def _column(values: list[Any]) -> Any:
    """Numbers (ints, floats, missing) become a float column; anything else stays as is."""
    import numpy as np
    import pandas as pd

    if set(map(type, values)) <= _NUMERIC:
        return np.array(values, dtype="float64")
    return pd.array(values, dtype=object)


def run_detail(ws: Workspace, ref: str) -> dict[str, Any]:
    """One run in full: its document plus its metric series, cells and captured output."""
    doc = copy.deepcopy(resolve_run(ws, ref))
    for run in active.active_runs():
        if run.run_id == doc["run_id"]:
            run.flush()  # points still buffered in this process belong in the answer
    series: dict[str, list[list[float]]] = {}
    for key, value, step, ts in read_run_points(ws, doc):
        series.setdefault(key, []).append([step, value, ts])
    doc["series"] = series
    if doc.get("status") == "running":
        doc["metrics"] = last_values(
            (k, pts[-1][1], int(pts[-1][0]), pts[-1][2]) for k, pts in series.items()
        )
    doc["cells"] = read_run_cells(ws, doc)
    for stream in ("stdout", "stderr"):
        doc[stream] = read_run_output(ws, doc, stream) or ""
    doc["children"] = sorted(
        (d["run_id"] for d in ws.catalog.find("runs", "parent", doc["run_id"])),
    )
    return doc
