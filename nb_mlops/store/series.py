"""Metric series: append-only per-run files of (key, value, step, time) points.

A point costs a list append in memory. Buffers are written out by a background thread at least
every `FLUSH_INTERVAL_S`, by the logging call itself when the thread has fallen behind, and at
cell end, run end and process exit. So a process killed at any instant loses at most its last
second of points, and a reader never sees half a point: each flush is one append of whole lines,
and a partial last line (a write cut by the kill) is ignored. A flush that fails part-way (a full
disk) is cut back to where it started and keeps its points for the next flush, so a point is
never written twice.

One line per point: `["loss",0.25,3,1764185400.123456]` (JSON; NaN and Infinity as Python's json
writes them).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nb_mlops.errors import MetricValueError
from nb_mlops.store.files import append_line, make_folder
from nb_mlops.store.layout import COLUMNS_FILE, METRICS_FILE

FLUSH_INTERVAL_S = 0.5
MAX_STEP = 2**63 - 1
"""Steps are int64 (the column readers and table views hold them in int64 arrays)."""
HEARTBEAT_INTERVAL_S = 15.0


class MetricWriter:
    """Buffers one run's points and appends them to its metrics file."""

    def __init__(self, path: Path, heartbeat: Path | None = None) -> None:
        self.path = Path(path)
        self.heartbeat = heartbeat
        self.last: dict[str, float] = {}
        self.steps: dict[str, int] = {}
        self._buf: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._last_beat = 0.0
        self._keys: dict[str, str] = {}
        self._folder_made = False
        self.closed = False
        _flusher.register(self)

    def add(self, key: str, value: float, step: int | None, ts: float) -> None:
        """Buffer one point (the caller has checked `value` is a float)."""
        quoted = self._keys.get(key)
        if quoted is None:
            quoted = self._keys[key] = json.dumps(key, ensure_ascii=False)
        prev = self.steps.get(key, -1)
        if step is None:
            step = prev + 1
            if step > MAX_STEP:
                raise MetricValueError(
                    f"metric {key!r} is at step 2**63-1 (int64), the last one; "
                    "pass an explicit smaller step"
                )
        if step >= prev:
            self.steps[key] = step
            self.last[key] = value
        text = repr(value) if math.isfinite(value) else _NONFINITE[str(value)]
        line = f"[{quoted},{text},{step},{ts:.6f}]\n"
        with self._lock:
            self._buf.append(line)
        if time.monotonic() - self._last_flush > 2 * FLUSH_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        """Append buffered points as whole lines (one write that lands whole or not at all)."""
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._buf:
                return
            data = "".join(self._buf).encode()
            if not self._folder_made:  # a run's folder is made by its first write
                make_folder(self.path.parent)
                self._folder_made = True
            append_line(self.path, data)  # on failure the points stay buffered for the next try
            self._buf = []

    def beat(self) -> None:
        """Touch the heartbeat file so readers on other hosts know the run is alive."""
        if self.heartbeat is None or self.closed:
            return  # closed: the run's folder may be going away (store/pack.py)
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_INTERVAL_S:
            with self._lock:  # never after `close`: the folder it would make again may be gone
                if self.closed:
                    return
                self._last_beat = now
                try:
                    self.heartbeat.parent.mkdir(parents=True, exist_ok=True)
                    self.heartbeat.touch()
                except OSError:
                    pass  # a heartbeat is advisory; the run's own writes report real failures

    def close(self) -> None:
        self.flush()
        with self._lock:
            self.closed = True
        _flusher.unregister(self)


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class _Flusher:
    """One daemon thread that flushes every live writer on a short interval."""

    def __init__(self) -> None:
        self._writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []
        self.on_error: Callable[[BaseException], None] | None = None

    def register(self, writer: MetricWriter) -> None:
        with self._lock:
            self._writers.add(writer)
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="nb-mlops-flush", daemon=True
                )
                self._thread.start()

    def unregister(self, writer: MetricWriter) -> None:
        with self._lock:
            self._writers.discard(writer)

    def _loop(self) -> None:
        while True:
            time.sleep(FLUSH_INTERVAL_S)
            self.flush_all()

    def flush_all(self) -> None:
        with self._lock:
            writers = list(self._writers)
        for writer in writers:
            try:
                writer.flush()
                writer.beat()
            except Exception as exc:  # surfaced at the next log call / run end by the owner
                self.errors.append(exc)
                if self.on_error:
                    self.on_error(exc)


_flusher = _Flusher()
atexit.register(_flusher.flush_all)


def flush_all() -> None:
    """Write out every buffered point now (cell end, run end, process exit)."""
    _flusher.flush_all()


Point = tuple[str, float, int, float]
"""One point as readers get it: (key, value, step, unix time)."""


def read_points(path: Path) -> list[Point]:
    """All whole points of a metrics file, in the order they were written."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    return parse_points(raw)


def parse_points(raw: bytes) -> list[Point]:
    """The whole points among the bytes of a metrics file (see `read_points`)."""
    end = raw.rfind(b"\n") + 1
    points = []
    for line in raw[:end].splitlines():
        try:
            key, value, step, ts = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill in the middle of a write; the rest is intact
        points.append((key, float(value), int(step), float(ts)))
    return points


def last_values(points: Iterable[tuple[str, float, int, float]]) -> dict[str, float]:
    """Each key's value at its highest step (latest written on ties)."""
    best: dict[str, tuple[int, float]] = {}
    for key, value, step, _ in points:
        prev = best.get(key)
        if prev is None or step >= prev[0]:
            best[key] = (step, value)
    return {k: v for k, (_, v) in best.items()}


CSV_FROM = 256 * 1024  # bytes (~7,000 points): from this size on, pandas parses the file


def read_columns(path: Path) -> dict[str, tuple[Any, Any, Any]]:
    """Each metric's (steps, values, unix times) as numpy arrays, in the order written.

    For plotting many points: the file is parsed by pandas' C reader (a metrics line is CSV once
    its brackets are dropped), about ten times faster than JSON line by line. A small file (under
    `CSV_FROM` bytes) is read line by line, as quick as that without importing pandas (half a
    second in a fresh kernel: the first `%track runs`). A file the fast path cannot read (a
    damaged line) falls back to `read_points`.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return {}
    raw = raw[: raw.rfind(b"\n") + 1]  # a partial last line (a kill mid-write) is not a point
    if not raw:
        return {}
    frame = None
    if len(raw) >= CSV_FROM:
        try:
            frame = _parse_csvish(raw)
        except Exception:
            frame = None
    if frame is None:
        return columns_of(parse_points(raw))
    keys, cols = frame
    return _split(keys, cols)


def columns_of(points: list[Point]) -> dict[str, tuple[Any, Any, Any]]:
    """Points as `read_columns` gives them: each metric's (steps, values, unix times) arrays."""
    import numpy as np

    keys = [p[0] for p in points]
    cols = (
        np.array([p[2] for p in points], dtype=np.int64),
        np.array([p[1] for p in points], dtype=np.float64),
        np.array([p[3] for p in points], dtype=np.float64),
    )
    return _split(keys, cols)


def _split(keys: list[str], cols: tuple[Any, Any, Any]) -> dict[str, tuple[Any, Any, Any]]:
    import numpy as np

    out: dict[str, tuple[Any, Any, Any]] = {}
    keys_arr = np.asarray(keys, dtype=object)
    for key in dict.fromkeys(keys):
        mask = keys_arr == key
        out[key] = (cols[0][mask], cols[1][mask], cols[2][mask])
    return out


def _parse_csvish(raw: bytes) -> tuple[list[str], tuple[Any, Any, Any]] | None:
    """Lines `["key",value,step,time]` read as CSV; None when any line does not fit."""
    import io

    import numpy as np
    import pandas as pd

    body = (b"\n" + raw).replace(b"\n[", b"\n").replace(b"]\n", b"\n")[1:]
    frame = pd.read_csv(
        io.BytesIO(body),
        header=None,
        names=["key", "value", "step", "time"],
        quotechar='"',
        escapechar="\\",
        doublequote=False,
        keep_default_na=False,
        na_values=["NaN"],
        dtype={"key": str, "value": "float64", "step": "int64", "time": "float64"},
        engine="c",
    )
    if len(frame) != raw.count(b"\n"):
        return None
    return (
        frame["key"].tolist(),
        (
            frame["step"].to_numpy(np.int64),
            frame["value"].to_numpy(np.float64),
            frame["time"].to_numpy(np.float64),
        ),
    )


def write_columns(run_dir: Path) -> None:
    """Save a finished run's series in columns beside its metrics file (a cache: the points
    file stays the record). Written whole (temp then rename) and tagged with the size of the
    points file it was made from, so a stale cache is never used."""
    import io

    import numpy as np

    from nb_mlops.store.files import atomic_write

    source = Path(run_dir) / METRICS_FILE
    try:
        size = source.stat().st_size
    except FileNotFoundError:
        return
    cols = read_columns(source)
    arrays: dict[str, Any] = {"_meta": np.array(json.dumps({"size": size, "keys": list(cols)}))}
    for i, (steps, values, times) in enumerate(cols.values()):
        arrays[f"s{i}"], arrays[f"v{i}"], arrays[f"t{i}"] = steps, values, times
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(Path(run_dir) / COLUMNS_FILE, buf.getvalue())


def load_columns(run_dir: Path) -> dict[str, tuple[Any, Any, Any]]:
    """A run's series in columns: from the cache when it matches the points file, else parsed."""
    import numpy as np

    source = Path(run_dir) / METRICS_FILE
    cache = Path(run_dir) / COLUMNS_FILE
    try:
        size = source.stat().st_size
        with np.load(cache, allow_pickle=False) as npz:
            meta = json.loads(str(npz["_meta"]))
            if meta["size"] == size:
                return {
                    key: (npz[f"s{i}"], npz[f"v{i}"], npz[f"t{i}"])
                    for i, key in enumerate(meta["keys"])
                }
    except (OSError, ValueError, KeyError):
        pass  # no cache, a stale one, or a damaged one: the points file is the record
    return read_columns(source)
