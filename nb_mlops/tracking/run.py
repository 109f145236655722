"""A run being recorded: params, metric series, artifacts, tags, and how it ended.

`start_run` writes the run's catalog record at once (status `running`), so a crash still leaves a
run that readers report as `crashed`. Params and tags are written as they are logged; metric
points go to the run's own append-only file (see store/series.py); the end writes the status,
duration, last metric values and any traceback. A small run's points then move to the shared
pack and its folder goes (see store/pack.py).
"""

from __future__ import annotations

import atexit
import math
import operator
import os
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nb_mlops.clock import utcnow
from nb_mlops.errors import MetricValueError, NbMlopsError, ParamConflict, user_stacklevel
from nb_mlops.redact import redact_source, redact_text, redact_value
from nb_mlops.store.files import append_line, atomic_write, make_folder
from nb_mlops.store.pack import pack_run, remove_packed_folder
from nb_mlops.store.series import MetricWriter
from nb_mlops.store.workspace import Workspace, open_workspace
from nb_mlops.tracking import active
from nb_mlops.tracking.ids import new_run_id, new_run_name
from nb_mlops.tracking.liveness import process_identity
from nb_mlops.values import check_key, clean_fields, clean_value, same_value

DEFAULT_EXPERIMENT = "Default"
STATUSES = ("running", "finished", "failed", "interrupted", "crashed")
END_STATUSES = ("finished", "failed", "interrupted")


class NonFiniteMetricWarning(UserWarning):
    """A metric got NaN or an infinity: it is stored and the run is flagged."""


class Run:
    """The handle of an active run (`track` inside a tracked cell; `nm.start_run()` returns it)."""

    def __init__(self, ws: Workspace, doc: dict[str, Any], git_dirty: Any = None) -> None:
        self.ws = ws
        self.run_id: str = doc["run_id"]
        self.name: str = doc["name"]
        self.experiment: str = doc["experiment"]
        self.parent: str | None = doc.get("parent")
        self.files = ws.run_files(self.run_id)
        self.dir = self.files.folder
        self.status = "running"
        self._t0 = time.perf_counter()
        self._params: dict[str, Any] = dict(doc.get("params", {}))
        self._tags: dict[str, Any] = dict(doc.get("tags", {}))
        self._artifacts: list[dict[str, Any]] = []
        self.refs: list[str] = list(doc.get("refs", []))  # objects the run keeps from gc
        self._nonfinite: dict[str, int] = {}
        self._series = MetricWriter(self.files.metrics, heartbeat=self.files.heartbeat)
        self._git_dirty = git_dirty  # a Future of `git status`'s answer, or None
        self._duration: float | None = None
        self.first_cell = 0
        self.extra_end: dict[str, Any] = {}
        self.sampler: Any = None  # system metrics (sysmetrics.py): a Sampler while sampling
        self._kept: dict[str, Any] = {}  # cells and output kept for the end (`record_cell`)

    def __repr__(self) -> str:
        return f"Run({self.name!r}, id={self.run_id!r}, status={self.status!r})"

    # ------------------------------------------------------------- params/tags
    def log_param(self, key: str, value: Any) -> None:
        """Record one param; logging it again with a different value is an error."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params in one catalog write."""
        self.check_open("log params")
        changes = {}
        for key, value in params.items():
            check_key("param", key)
            value = redact_value(key, clean_value(value))
            if key in self._params:
                if not same_value(self._params[key], value):
                    raise ParamConflict(
                        f"param {key!r} is already {self._params[key]!r} in run {self.name} "
                        f"({self.run_id}), not {value!r}: a run's params do not change; "
                        "log a changing value as a metric or start a new run"
                    )
                continue
            changes[("params", key)] = value
        if changes:
            self.ws.catalog.set("runs", self.run_id, changes)
            for (_, key), value in changes.items():
                self._params[key] = value

    def param(self, **params: Any) -> None:
        """`track.param(lr=0.1, layers=[64, 64])`: record params by keyword."""
        self.log_params(params)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tags label a run (team, purpose); unlike params they may change."""
        self.check_open("set tags")
        changes = {}
        for key, value in tags.items():
            check_key("tag", key)
            changes[("tags", key)] = redact_value(key, clean_value(value))
        self.ws.catalog.set("runs", self.run_id, changes)
        self._tags.update({k[1]: v for k, v in changes.items()})

    # ----------------------------------------------------------------- metrics
    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Add one point to metric `key` (step defaults to the key's last step + 1)."""
        if self.status != "running":
            self.check_open("log metrics")
        if type(value) is not float:
            value = self._to_float(key, value)
        if step is not None:
            step = self._to_step(key, step)
        if key not in self._series.steps:
            check_key("metric", key)
        if value != value or value in (math.inf, -math.inf):
            self._flag_nonfinite(key, value, step)
        self._series.add(key, value, step, time.time())

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    def log(self, step: int | None = None, **metrics: Any) -> None:
        """`track.log(loss=0.3, accuracy=0.9, step=10)`: points for several metrics at once."""
        for key, value in metrics.items():
            self.log_metric(key, value, step)

    @property
    def metrics(self) -> dict[str, float]:
        """Each metric's latest value."""
        return dict(self._series.last)

    @staticmethod
    def _to_float(key: str, value: Any) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "ndim", getattr(value, "dim", lambda: 0)) in (0, ()):
            try:
                inner = item()
            except (TypeError, ValueError):
                inner = None
            if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                return float(inner)
        raise MetricValueError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r:.60}"
        )

    @staticmethod
    def _to_step(key: str, step: Any) -> int:
        try:
            step = operator.index(step)
        except TypeError:
            raise MetricValueError(
                f"step of metric {key!r} must be an integer, got {step!r}"
            ) from None
        if step < 0:
            raise MetricValueError(f"step of metric {key!r} must be >= 0, got {step}")
        if step > 9223372036854775807:  # int64: the column readers and tables hold steps in it
            raise MetricValueError(
                f"step of metric {key!r} must be at most 2**63-1 (int64), got {step}"
            )
        return step

    def _flag_nonfinite(self, key: str, value: float, step: int | None) -> None:
        if key not in self._nonfinite:
            at = self._series.steps.get(key, -1) + 1 if step is None else step
            self._nonfinite[key] = at
            warnings.warn(
                f"metric {key!r} got {value} at step {at} in run {self.name} ({self.run_id}); "
                "stored, and the run is flagged",
                NonFiniteMetricWarning,
                stacklevel=user_stacklevel(),
            )

    # --------------------------------------------------------------- artifacts
    def log_artifact(self, path: str | os.PathLike, name: str | None = None) -> dict[str, Any]:
        """Copy a file or folder into the content-addressed store and record it with the run."""
        self.check_open("log artifacts")
        src = Path(path)
        name = _artifact_name(name or src.name)
        info = self.ws.objects.add(src)
        record = {
            "name": name,
            "path": _display_path(src, self.ws.root),
            **info.to_dict(),
        }
        self._artifacts = [a for a in self._artifacts if a["name"] != record["name"]]
        self._artifacts.append(record)
        if info.md5 not in self.refs:
            self.refs.append(info.md5)
        self.ws.catalog.set(
            "runs", self.run_id, {"artifacts": list(self._artifacts), "refs": list(self.refs)}
        )
        return record

    def artifact(self, path: str | os.PathLike, name: str | None = None) -> dict[str, Any]:
        """`track.artifact("model.joblib")`: same as log_artifact."""
        return self.log_artifact(path, name)

    def figure(self, fig: Any, name: str | None = None) -> dict[str, Any]:
        """`track.figure(fig)`: store a plotly or matplotlib figure with the run (see media.py)."""
        from nb_mlops.tracking.media import store_figure

        self.check_open("store a figure")
        return store_figure(self, fig, name)

    def table(self, df: Any, name: str | None = None) -> dict[str, Any]:
        """`track.table(df)`: store a DataFrame with the run (Parquet plus an HTML preview)."""
        from nb_mlops.tracking.media import store_table

        self.check_open("store a table")
        return store_table(self, df, name)

    # --------------------------------------------------------------- lifecycle
    def check_open(self, what: str) -> None:
        """Refuse `what` (a one-line error saying how to start a run) once the run has ended."""
        if self.status != "running":
            raise NbMlopsError(
                f"cannot {what}: run {self.name} ({self.run_id}) has ended ({self.status}); "
                f"{active.HOW_TO_START}"
            )

    def flush(self) -> None:
        """Write buffered metric points now."""
        self._series.flush()

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (to now while running)."""
        if self._duration is not None:
            return self._duration
        return time.perf_counter() - self._t0

    def record_cell(
        self, entry: Mapping[str, Any], *, redacted: bool = False, at_end: bool = False
    ) -> None:
        """Append one executed cell to the run's own cell list, its source and error redacted
        (see redact.py) unless they come from the history, which redacted them. `at_end`: kept
        until the run ends (a `%%track` cell's one cell), so that a small run packs it with its
        points and makes no folder (store/pack.py)."""
        entry = dict(entry)
        if not redacted and isinstance(entry.get("source"), str):
            entry["source"] = redact_source(entry["source"])
        if not redacted and isinstance(entry.get("error"), str):
            entry["error"] = redact_text(entry["error"])
        if at_end:
            self._kept.setdefault("cells", []).append(entry)
        else:
            self._write_cells([entry])

    def save_output(self, stdout: str, stderr: str, *, at_end: bool = False) -> None:
        """Keep what the run printed (already bounded by the caller), secrets redacted;
        `at_end` as for `record_cell`."""
        texts = {k: redact_text(v) for k, v in (("stdout", stdout), ("stderr", stderr)) if v}
        if at_end:
            if texts:
                self._kept["output"] = texts
        else:
            self._write_output(texts)

    def _write_cells(self, entries: list[dict[str, Any]]) -> None:
        import json

        make_folder(self.dir)
        lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
        append_line(self.files.cells, lines.encode())

    def _write_output(self, texts: Mapping[str, str]) -> None:
        if texts:
            make_folder(self.dir)
        for stream, text in texts.items():
            atomic_write(self.files.output(stream), text)

    def _write_kept(self) -> None:
        """Write the cells and output kept for the end, which were not packed, to the folder."""
        kept, self._kept = self._kept, {}
        if kept.get("cells"):
            self._write_cells(kept["cells"])
        if kept.get("output"):
            self._write_output(kept["output"])

    def end(
        self,
        status: str = "finished",
        error: BaseException | None = None,
        *,
        shown: str | None = None,
    ) -> None:
        """Close the run: flush points, write status, duration, last values, traceback.

        `shown` is the error's traceback as the user saw it (a notebook's own formatting, with
        `Cell In[n]` for cell code), kept instead of Python's formatting of `error`."""
        if status not in END_STATUSES:
            raise NbMlopsError(f"a run ends as one of {', '.join(END_STATUSES)}; got {status!r}")
        if self.status != "running":
            return
        for child in reversed(active.active_runs()):
            if child.parent == self.run_id:
                child.end(status, error)
        if self.sampler is not None:  # system metrics: the last sample, then no more
            self.sampler.stop()
        self.status = status
        duration = self._duration = time.perf_counter() - self._t0
        closed = False
        try:
            self._series.close()
            closed = True
            if sum(self._series.steps.values()) >= _COLUMNS_FROM:
                _cache_columns(self.dir)
        finally:
            changes: dict[Any, Any] = {
                "status": status,
                "end": utcnow(),
                "duration": round(duration, 6),
                "metrics": dict(self._series.last),
            }
            if self._nonfinite:
                changes["flags"] = [
                    f"metric {k!r} had non-finite values (first at step {s})"
                    for k, s in self._nonfinite.items()
                ]
            if error is not None:
                changes["error"] = _error_record(error, shown)
            dirty = self._git_dirty
            if dirty is not None and dirty.done():
                changes[("env", "git", "dirty")] = dirty.result()
            elif dirty is not None:  # `git status` still running: record it when it answers
                dirty.add_done_callback(self._record_dirty)
            changes.update(self.extra_end)
            packed = self._pack() if closed else None
            if packed is not None:
                changes["points"] = packed
            unkept = None
            if self._kept:  # not in the pack line: to the folder, before the end is recorded
                try:
                    self._write_kept()
                except NbMlopsError as exc:  # the end is still recorded; then this is raised
                    unkept = exc
            try:
                self.ws.catalog.set("runs", self.run_id, changes)
            finally:
                active.remove(self)
            if packed is not None:  # the document names the pack line now: the folder may go
                remove_packed_folder(self.files)
            if unkept is not None:
                raise unkept

    def _pack(self) -> dict[str, Any] | None:
        """Put the points of this run in the shared pack when it is small (store/pack.py): the
        location to record, or None when the run keeps its folder."""
        try:
            packed = pack_run(self.ws, self.files, self.run_id, self._kept or None)
        except NbMlopsError:  # the pack cannot be written (a full disk): the folder stays
            return None
        if packed is not None:
            self._kept = {}  # in the pack line with the points
        return packed

    def _record_dirty(self, future: Any) -> None:
        try:
            self.ws.catalog.set("runs", self.run_id, {("env", "git", "dirty"): future.result()})
        except Exception:  # the run may have been deleted meanwhile; the flag is a nicety
            pass

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            self.end("finished")
        elif isinstance(exc, KeyboardInterrupt):
            self.end("interrupted", exc)
        else:
            self.end("failed", exc)


_COLUMNS_FROM = 10_000  # points: below this, parsing the points file is quick anyway


def _cache_columns(run_dir: Path) -> None:
    """Keep a finished run's long series in columns too, so plots of it load at once."""
    from nb_mlops.store.series import write_columns

    try:
        write_columns(run_dir)
    except Exception:  # a cache: the points file remains the record
        pass


def _artifact_name(name: str) -> str:
    """An artifact's name: a relative path that stays where it is put (no `..`, not absolute),
    since a registered model is checked out under it."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts or "\0" in name or "\n" in name:
        raise NbMlopsError(
            f"artifact name {name!r} must be a relative path without '..' (e.g. 'model.joblib')"
        )
    return Path(name).as_posix()


def _display_path(path: Path, root: Path) -> str:
    full = path.absolute()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return str(full)


def _error_record(error: BaseException, shown: str | None = None) -> dict[str, Any]:
    """Type, message and traceback of the error a run ended with, secrets redacted (before the
    cut, so a secret is not split where it could no longer be recognised)."""
    if shown is None:
        shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    tb = redact_text(shown)
    if len(tb) > 100_000:
        tb = tb[:20_000] + "\n[... traceback cut ...]\n" + tb[-60_000:]
    message = redact_text(str(error))[:2000]
    return {"type": type(error).__name__, "message": message, "traceback": tb}


def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    parent: Run | str | None = None,
    nested: bool = True,
    source: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
    inputs: list[Mapping[str, Any]] | None = None,
    workspace: Workspace | None = None,
    cls: type[Run] | None = None,
    system_metrics: bool | float | None = None,
) -> Run:
    """Start a run and make it the active one; use it as a context manager to end it.

    Inside an active run (a tracked cell, a `%track start` session) the new run is its child
    unless `nested=False`. `seed` seeds random, NumPy, and torch/TensorFlow when imported.
    `inputs` are the data versions the run reads (`{"path", "version", "md5"}`, resolved by
    the caller: data is a floor above runs); `cls` is the handle's class (a subclass of Run
    that adds steps of the floors above, such as registering a model). `system_metrics`:
    None follows `[tracking] system_metrics_interval` in config.toml (default every 10 s),
    False is off, True is on, a number is seconds between samples; only top-level runs
    sample (see sysmetrics.py).
    """
    # imported on the first run, not with the extension: they bring subprocess and platform
    from nb_mlops.tracking.environment import env_vars, environment_ref, git_dirty_async, git_info
    from nb_mlops.tracking.seeds import apply_seed

    ws = workspace or open_workspace()
    outer = active.current()
    if parent is None and nested and outer is not None:
        parent = outer
    parent_id = parent.run_id if isinstance(parent, Run) else parent
    # -- system metrics (issue 17): checked before anything is written, started below
    from nb_mlops.tracking.sysmetrics import sampling_interval, start_sampler

    sample_every = sampling_interval(system_metrics, ws.config, ws.config_path)
    # --
    if experiment is None:
        experiment = parent.experiment if isinstance(parent, Run) else DEFAULT_EXPERIMENT
    run_id = new_run_id()
    while ("runs", run_id) in ws.catalog:
        run_id = new_run_id()
    seeds = apply_seed(seed) if seed is not None else {}
    clean_params = clean_fields("param", params or {})
    clean_tags = clean_fields("tag", tags or {})
    name = name or new_run_name()
    src = dict(source) if source else _script_source()
    previous = _previous_run(ws, src.get("key"))
    env_ref = environment_ref(ws)
    git = git_info(ws.root)
    extra_vars = ws.config.get("capture", {}).get("env", [])
    doc = {
        "run_id": run_id,
        "name": name,
        "experiment": experiment,
        "status": "running",
        "start": utcnow(),
        "end": None,
        "duration": None,
        "parent": parent_id,
        "user": current_user(),
        "params": clean_params,
        "metrics": {},
        "tags": clean_tags,
        "seeds": seeds,
        "source": src,
        "previous": previous,
        "history": dict(history) if history else None,
        "env": {
            "python": sys.version.split()[0],
            "platform": sys.platform,
            "packages": env_ref,
            "vars": env_vars(extra_vars),
            "git": git,
        },
        "proc": process_identity(),
        "artifacts": [],
        "refs": [env_ref],
    }
    if inputs is not None:
        doc["data"] = [dict(item) for item in inputs]
    # no folder yet: the run's first write to one makes it (a small run may never need one)
    ws.catalog.put("runs", run_id, doc)
    dirty = git_dirty_async(git["root"]) if git is not None else None
    run = (cls or Run)(ws, doc, dirty)
    active.push(run)
    # -- system metrics (issue 17): top-level runs only; sampling ends in Run.end
    if sample_every is not None and parent_id is None:
        run.sampler = start_sampler(
            run.log_metrics,
            sample_every,
            disk_path=ws.root,
            label=f"run {run.name} ({run.run_id})",
        )
    # --
    return run


_USER_VARS = ("LOGNAME", "USER", "LNAME", "USERNAME")  # what getpass.getuser reads first
_users: dict[tuple, str | None] = {}


def current_user() -> str | None:
    """Who starts a run (MLflow's `user_id`): the login name, or None when there is none.
    Kept per uid and login variables: the passwd lookup behind it reads /etc/passwd."""
    key = (getattr(os, "getuid", lambda: None)(), *map(os.environ.get, _USER_VARS))
    if key not in _users:
        import getpass

        try:
            _users[key] = getpass.getuser() or None
        except Exception:  # no USER/LOGNAME and no passwd entry (a bare container): not known
            _users[key] = None
    return _users[key]


def _previous_run(ws: Workspace, key: str | None) -> str | None:
    """The latest earlier run of the same cell (same cell id, or same code when ids are unknown)."""
    if not key:
        return None
    doc = ws.catalog.newest("runs", ("source", "key"), key)
    return doc["run_id"] if doc else None


_script_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def _script_source() -> dict[str, Any]:
    """For a plain script: its path and the md5 of its text (runs of one script link up)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not os.path.isfile(path):
        return {"kind": "python"}
    path = os.path.abspath(path)
    mtime = os.stat(path).st_mtime
    cached = _script_cache.get(path)
    if cached and cached[0] == mtime:
        return dict(cached[1])
    import hashlib

    data = Path(path).read_bytes()
    code_hash = hashlib.md5(data).hexdigest()
    src = {"kind": "script", "file": path, "code_hash": code_hash, "key": f"code:{code_hash}"}
    _script_cache[path] = (mtime, src)
    return dict(src)


def _end_left_open() -> None:
    """At interpreter exit, close runs a script started without `with` (MLflow does the same)."""
    for run in reversed(active.active_runs()):
        try:
            run.end("finished")
        except Exception:  # exiting: the store may be gone; the run then reads as crashed
            pass


atexit.register(_end_left_open)


def end_run(status: str = "finished") -> None:
    """End the innermost active run (for scripts that did not use `with`)."""
    active.require("end_run").end(status)
