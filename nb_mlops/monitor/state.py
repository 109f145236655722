"""A monitor's files, under `Workspace.monitor_dir(name)`:

    monitor.json        the definition (task, windows, features, model, thresholds), written whole
    reference.parquet   the reference rows, with the model's predictions on them
    baseline.json       the reference's baseline (types, completeness, ranges, categories)
    batches/<id>.parquet  each observed batch: features, ids, times, windows, predictions, labels
    observations.jsonl  one line per observation (its batch file, rows, windows, served model)
    labels.jsonl        one line per `add_labels` call (ids and labels that arrived late)
    windows.jsonl       one line per computation of a window; the last line of an index is current

Lines are appended whole under the monitor's lock (`Workspace.locked("monitor.<name>")`), and
batch files are written to a temporary name and renamed, so two processes observing at once
both land and a reader never sees half of anything. Everything read back is checked: these
files may have been edited or damaged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nb_mlops.jsonl import read_jsonl
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.store.files import append_line, atomic_write
from nb_mlops.store.layout import is_plain_name
from nb_mlops.store.workspace import Workspace

FORMAT = 1
DEFINITION = "monitor.json"
REFERENCE = "reference.parquet"
BASELINE = "baseline.json"
BATCHES = "batches"
OBSERVATIONS = "observations.jsonl"
LABELS = "labels.jsonl"
WINDOWS = "windows.jsonl"
MAX_NAME = 100

# Columns the monitor adds to the user's (names no feature may take).
ID, TIME, WINDOW, PREDICTION, LABEL, PROBA = (
    "__id",
    "__time",
    "__window",
    "__prediction",
    "__label",
    "__proba_",
)
TARGET = "__target"


def check_name(name: Any) -> str:
    """A monitor name that can name a folder as it is."""
    if not is_plain_name(name, MAX_NAME):
        raise MonitorError(
            f"monitor name {name!r} cannot name a folder: use letters, digits, '.', '_', '-' or "
            f"'@' (not a leading '.'), at most {MAX_NAME} characters"
        )
    return name


class MonitorFiles:
    """The files of one monitor."""

    def __init__(self, ws: Workspace, name: str) -> None:
        self.ws = ws
        self.name = check_name(name)
        self.folder = ws.monitor_dir(name)
        self._windows: tuple[tuple[int, int, int], dict[int, dict[str, Any]], int] | None = None

    @property
    def definition(self) -> Path:
        return self.folder / DEFINITION

    @property
    def reference(self) -> Path:
        return self.folder / REFERENCE

    @property
    def baseline(self) -> Path:
        return self.folder / BASELINE

    def batch(self, obs_id: str) -> Path:
        if not obs_id or any(not (c.isalnum() or c == "-") for c in obs_id):
            raise MonitorError(f"monitor {self.name}: a damaged observation id {obs_id!r}")
        return self.folder / BATCHES / f"{obs_id}.parquet"

    def exists(self) -> bool:
        return self.definition.is_file()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self.ws.locked(f"monitor.{self.name}"):
            yield

    # -- the definition
    def read_definition(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.definition.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MonitorError(self.no_such_monitor()) from None
        except (OSError, ValueError) as exc:
            raise MonitorError(
                f"monitor {self.name}: {self.definition} is unreadable: {exc}"
            ) from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise MonitorError(
                f"monitor {self.name}: {self.definition} is not a format-{FORMAT} monitor file"
            )
        return doc

    def write_definition(self, doc: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.definition, json.dumps({**doc, "format": FORMAT}, indent=1) + "\n")

    def no_such_monitor(self) -> str:
        known = monitors(self.ws)
        hint = f" (monitors: {', '.join(known[:10])})" if known else ""
        return (
            f"no monitor named {self.name!r}{hint}; make it with "
            f"Monitor({self.name!r}, model=..., reference=df)"
        )

    # -- tables
    def write_table(self, path: Path, frame: Any) -> None:
        """Write a DataFrame as parquet, whole (temporary name, then rename)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise MonitorError(f"monitor {self.name}: the batch cannot be stored: {exc}") from None
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def read_table(self, path: Path, columns: list[str] | None = None) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, columns=columns).to_pandas()
        except FileNotFoundError:
            raise MonitorError(f"monitor {self.name}: {path.name} is missing") from None
        except Exception as exc:  # a damaged file: pyarrow raises several kinds
            raise MonitorError(f"monitor {self.name}: {path} is unreadable: {exc}") from None

    # -- lines
    def append(self, file: str, doc: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n"
        append_line(self.folder / file, line.encode("utf-8"))

    def lines(self, file: str) -> list[dict[str, Any]]:
        return [d for d in read_jsonl(self.folder / file) if isinstance(d, dict)]

    def observations(self) -> list[dict[str, Any]]:
        out = []
        for doc in self.lines(OBSERVATIONS):
            windows = doc.get("windows")
            if (
                isinstance(doc.get("id"), str)
                and isinstance(doc.get("rows"), int)
                and isinstance(windows, list)
                and all(isinstance(w, int) and not isinstance(w, bool) for w in windows)
            ):
                out.append(doc)
        return out

    def windows(self) -> dict[int, dict[str, Any]]:
        """Window index -> its current record (the last line written for it). Read again only
        when the file changed since the last read (its inode, size or time), so a dashboard or
        an exporter that asks often pays for a parse only when something was observed."""
        path = self.folder / WINDOWS
        try:
            st = path.stat()
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            return {}
        if self._windows is not None and self._windows[0] == key:
            return dict(self._windows[1])
        out: dict[int, dict[str, Any]] = {}
        lines = 0
        for doc in self.lines(WINDOWS):
            lines += 1
            index = doc.get("index")
            if isinstance(index, int) and not isinstance(index, bool):
                out[index] = doc
        found = dict(sorted(out.items()))
        self._windows = (key, found, lines)
        return dict(found)

    def compact_windows(self) -> None:
        """Rewrite windows.jsonl with only the current record of each window, once it holds
        more than twice as many lines as windows (each recomputation appends one). The caller
        holds the monitor's lock."""
        current = self.windows()
        lines = self._windows[2] if self._windows else 0
        if lines <= 2 * len(current) + 16:
            return
        body = "".join(
            json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n"
            for doc in current.values()
        )
        atomic_write(self.folder / WINDOWS, body)
        self._windows = None

    def late_labels(self) -> dict[str, Any]:
        """Id -> label from every `add_labels` call, later calls winning."""
        out: dict[str, Any] = {}
        for doc in self.lines(LABELS):
            ids, labels = doc.get("ids"), doc.get("labels")
            if isinstance(ids, list) and isinstance(labels, list) and len(ids) == len(labels):
                out.update(zip(ids, labels, strict=True))
        return out


def monitors(ws: Workspace | None = None) -> list[str]:
    """The names of the store's monitors (of the store in use when `ws` is None)."""
    if ws is None:
        from nb_mlops.tracking.active import workspace

        ws = workspace()
    folder = ws.monitor_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / DEFINITION).is_file())
