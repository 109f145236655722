"""How a monitor cuts its observations into windows: a fixed span of time, or of rows.

A time window holds the rows whose timestamps fall in `[start, start + span)`, with windows
aligned on the Unix epoch in UTC (a one-day window runs from midnight to midnight UTC, a
one-hour window from the full hour), so two processes, or a later kernel, put a row in the same
window without agreeing on anything but the span. A row window holds `rows` consecutive rows in
the order they were observed (the first `rows` rows are window 0). Each window has an index
(0, 1, ... from the epoch for time windows, from the first row for row windows).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nb_mlops.monitor.errors import MonitorError

UNITS = {
    "s": 1,
    "sec": 1,
    "min": 60,
    "m": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
}
SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)?\s*([a-zA-Z]+?)s?\s*$")
DEFAULT_SPAN = "1D"


@dataclass(frozen=True)
class WindowSpec:
    """Windows of `seconds` of time (kind "time") or of `rows` rows (kind "rows")."""

    kind: str
    size: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size}

    @classmethod
    def from_dict(cls, doc: Any) -> WindowSpec:
        """The spec a monitor's definition file holds (untrusted: checked)."""
        if not isinstance(doc, Mapping) or doc.get("kind") not in ("time", "rows"):
            raise MonitorError(
                f"a window spec is {{'kind': 'time'|'rows', 'size': n}}, not {doc!r}"
            )
        size = doc.get("size")
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not size > 0:
            raise MonitorError(f"a window's size must be a positive number, not {size!r}")
        if doc["kind"] == "rows" and size != int(size):
            raise MonitorError(f"a row window holds a whole number of rows, not {size!r}")
        if not math.isfinite(size):
            raise MonitorError(f"a window's size must be finite, not {size!r}")
        return cls(doc["kind"], int(size) if doc["kind"] == "rows" else float(size))

    def describe(self) -> str:
        if self.kind == "rows":
            return f"{self.size:,} rows"
        return f"{span_text(self.size)} of time"

    def index_of(self, seconds: Any) -> Any:
        """Window indices of Unix times (a numpy array of seconds), for time windows."""
        import numpy as np

        return np.floor(np.asarray(seconds, dtype="float64") / self.size).astype("int64")

    def bounds(self, index: int) -> tuple[str | None, str | None]:
        """(start, end) of window `index` as ISO-8601 UTC, for time windows; (None, None) for
        row windows (their times are those of their first and last rows)."""
        if self.kind == "rows":
            return None, None
        start = index * self.size
        return iso(start), iso(start + self.size)

    def label(self, index: int) -> str:
        if self.kind == "rows":
            first = index * int(self.size)
            return f"rows {first}-{first + int(self.size) - 1}"
        return iso(index * self.size)


def window_spec(window: Any = None, rows: Any = None) -> WindowSpec:
    """The spec from `window` (a span of time: "1D", "6h", "30min", "1 week", a timedelta or
    seconds) or `rows` (a whole number of rows); one of the two, time by default (one day)."""
    if rows is not None:
        if window is not None:
            raise MonitorError("give window= (a span of time) or rows= (a count), not both")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise MonitorError(f"rows= is the number of rows per window (>= 1), not {rows!r}")
        return WindowSpec("rows", rows)
    return WindowSpec("time", span_seconds(DEFAULT_SPAN if window is None else window))


def span_seconds(window: Any) -> float:
    """Seconds in a span given as text ("1D", "12h", "15min", "2 weeks"), timedelta or number."""
    if isinstance(window, timedelta):
        seconds = window.total_seconds()
    elif isinstance(window, (int, float)) and not isinstance(window, bool):
        seconds = float(window)
    elif isinstance(window, str):
        match = SPAN.match(window)
        unit = match and UNITS.get(match.group(2).lower())
        if not match or unit is None:
            raise MonitorError(
                f"window={window!r} is not a span of time; write e.g. '1D', '6h', '30min', '1w'"
            )
        seconds = float(match.group(1) or 1) * unit
    else:
        raise MonitorError(f"window= is a span of time ('1D', a timedelta), not {window!r}")
    if not math.isfinite(seconds) or seconds < 1:
        raise MonitorError(f"a window spans at least one second, not {window!r}")
    return seconds


def span_text(seconds: float) -> str:
    for name, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {name}{'s' if n != 1 else ''}"
    return f"{seconds:g} s"


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix_times(timestamp: Any, rows: int, now: float) -> Any:
    """Unix seconds per row from `timestamp`: None (now), one time for the whole batch, or one
    per row (a sequence, Series or array). Times are datetimes, pandas Timestamps, ISO-8601
    text or Unix seconds; a time without a zone is taken as UTC."""
    import numpy as np
    import pandas as pd

    if timestamp is None:
        return np.full(rows, now, dtype="float64")
    scalar = isinstance(timestamp, (str, datetime, int, float, pd.Timestamp, np.datetime64))
    values = [timestamp] if scalar else list(timestamp)
    if not scalar and len(values) != rows:
        raise MonitorError(f"timestamp has {len(values)} values for a batch of {rows} rows")
    try:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            seconds = np.asarray(values, dtype="float64")
        else:
            stamps = pd.to_datetime(pd.Series(values), utc=True, format="mixed")
            if stamps.isna().any():
                raise ValueError("a missing time")
            epoch = pd.Timestamp(0, tz="UTC")
            seconds = ((stamps - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype="float64")
    except (ValueError, TypeError, OverflowError) as exc:
        raise MonitorError(f"timestamp cannot be read as times: {exc}") from None
    if not np.isfinite(seconds).all():
        raise MonitorError("timestamp holds a missing or infinite time")
    return np.full(rows, seconds[0]) if scalar else seconds
