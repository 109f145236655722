"""Windows of time (aligned on the epoch in UTC) or of rows; spans and times as users write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.windows import WindowSpec, span_seconds, unix_times, window_spec

DAY = 86400


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        ("1D", DAY),
        ("1d", DAY),
        ("6h", 6 * 3600),
        ("30min", 1800),
        ("90s", 90),
        ("1 week", 7 * DAY),
        ("2weeks", 14 * DAY),
        ("hour", 3600),
        (timedelta(hours=2), 7200),
        (600, 600),
    ],
)
def test_spans(given, seconds) -> None:
    assert span_seconds(given) == seconds


@pytest.mark.parametrize("given", ["fortnight", "1 parsec", "", "-1D", 0, 0.5, None, [1]])
def test_bad_spans_are_named(given) -> None:
    with pytest.raises(MonitorError):
        span_seconds(given)


def test_days_run_from_midnight_utc() -> None:
    spec = window_spec("1D")
    at = datetime(2026, 3, 4, 23, 59, 59, tzinfo=UTC).timestamp()
    index = int(spec.index_of([at])[0])
    assert spec.bounds(index) == ("2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z")
    assert spec.label(index) == "2026-03-04T00:00:00Z"
    assert int(spec.index_of([at + 1])[0]) == index + 1
    assert spec.describe() == "1 day of time"


def test_row_windows() -> None:
    spec = window_spec(rows=250)
    assert spec.label(0) == "rows 0-249" and spec.label(2) == "rows 500-749"
    assert spec.bounds(3) == (None, None) and spec.describe() == "250 rows"
    with pytest.raises(MonitorError, match="not both"):
        window_spec("1D", rows=5)


def test_times_as_users_give_them() -> None:
    now = 1_700_000_000.0
    assert (unix_times(None, 3, now) == now).all()
    naive = unix_times("2026-03-04T10:00:00", 2, now)
    aware = unix_times("2026-03-04T19:00:00+09:00", 2, now)
    assert naive[0] == aware[0] == datetime(2026, 3, 4, 10, tzinfo=UTC).timestamp()
    kst = timezone(timedelta(hours=9))
    assert unix_times(datetime(2026, 3, 4, 19, tzinfo=kst), 1, now)[0] == naive[0]
    assert unix_times(pd.Timestamp("2026-03-04T10:00:00Z"), 1, now)[0] == naive[0]
    assert unix_times(np.datetime64("2026-03-04T10:00:00"), 1, now)[0] == naive[0]
    per_row = unix_times(pd.date_range("2026-01-01", periods=3, freq="h"), 3, now)
    assert list(np.diff(per_row)) == [3600.0, 3600.0]
    assert list(unix_times([1.0, 2.0], 2, now)) == [1.0, 2.0]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("soon", "cannot be read as times"),
        ([1.0], "has 1 values for a batch of 2 rows"),
        (["2026-01-01", None], "missing"),
        ([float("nan"), 1.0], "missing or infinite"),
    ],
)
def test_bad_times_are_named(given, said) -> None:
    with pytest.raises(MonitorError, match=said):
        unix_times(given, 2, 0.0)


@pytest.mark.parametrize(
    "doc",
    [
        {"kind": "days", "size": 1},
        {"kind": "rows", "size": 2.5},
        {"kind": "time", "size": -1},
        {"kind": "time", "size": True},
        {"kind": "time", "size": float("inf")},
        "1D",
    ],
)
def test_a_damaged_spec_is_refused(doc) -> None:
    with pytest.raises(MonitorError):
        WindowSpec.from_dict(doc)
