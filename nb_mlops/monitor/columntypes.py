"""The types of a column's values, as baselines infer and check them, and the helpers that
turn cells into JSON values and short quotes.

A column's type is inferred from its values: `integral`, `fractional`, `boolean`, `string`,
`datetime`, `mixed` (values of several of these types), `unknown` (bytes, lists, other objects)
or `empty` (every value missing). An integer column that pandas turned into floats because it
has gaps (NaN) is integral; a float column without gaps is fractional whatever its values.

A batch's value fits a baseline type when it is of that type (`conforming`), except that whole
numbers fit a fractional column, infinities fit both number types (the range check sees them),
and mixed, unknown and empty columns accept anything.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import numbers
import reprlib
from typing import Any

from nb_mlops.monitor.datadrift import plain, value_class
from nb_mlops.monitor.errors import MonitorError

TYPES = ("integral", "fractional", "boolean", "string", "datetime", "mixed", "unknown", "empty")
TYPE_WORDS = {
    "integral": "whole numbers",
    "fractional": "numbers",
    "boolean": "true/false values",
    "string": "text",
    "datetime": "dates or times",
    "mixed": "values of mixed types",
    "unknown": "values of other kinds",
    "empty": "no values",
}
NUMERIC_TYPES = ("integral", "fractional")


# ------------------------------------------------------------------------------ values
def json_value(value: Any) -> Any:
    """A cell as a JSON value: numpy scalars unwrapped, infinities and other objects as text."""
    value = plain(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def json_number(value: float | None) -> float | str | None:
    """A float for JSON: NaN is None, infinities are "inf" / "-inf"."""
    if value is None or math.isnan(value):
        return None
    return float(value) if math.isfinite(value) else str(float(value))


SHORT = reprlib.Repr()
SHORT.maxstring = SHORT.maxother = 40


def shown(value: Any) -> str:
    """A value as a description quotes it: short, repr-like."""
    return SHORT.repr(value)


def number_text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def column_type(series: Any) -> str:
    """The baseline type of a column's values (see the module's docstring)."""
    import numpy as np
    import pandas as pd
    from pandas.api import types

    if not series.notna().any():
        return "empty"
    cls = value_class(series)
    if cls == "category":
        inner = pd.Series(list(series.dropna().astype(object).unique()), dtype=object)
        return column_type(inner) if len(inner) else "empty"
    if cls == "number" and types.is_float_dtype(series.dtype) and series.isna().any():
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[np.isfinite(values)]
        if len(values) and bool(np.all(values == np.floor(values))):
            return "integral"  # an integer column pandas turned into floats to hold its gaps
    return {
        "integer": "integral",
        "number": "fractional",
        "bool": "boolean",
        "text": "string",
        "datetime": "datetime",
        "mixed": "mixed",
        "other": "unknown",
        "empty": "empty",
    }[cls]


def is_number(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (numbers.Real, decimal.Decimal)) and not isinstance(
        value, (bool, np.bool_)
    )


def is_integral(value: Any) -> bool:
    if not is_number(value):
        return False
    if isinstance(value, numbers.Integral):
        return True
    number = float(value)
    return not math.isfinite(number) or number.is_integer()


def is_boolean(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (bool, np.bool_))


def is_string(value: Any) -> bool:
    return isinstance(value, str)


def is_datetime(value: Any) -> bool:
    import numpy as np

    kinds = (dt.date, dt.time, dt.timedelta, np.datetime64, np.timedelta64)
    return isinstance(value, kinds)


FITS = {
    "integral": is_integral,
    "fractional": is_number,
    "boolean": is_boolean,
    "string": is_string,
    "datetime": is_datetime,
}


def conforming(values: Any, expected: str) -> Any:
    """A boolean array: which of `values` (non-missing, a Series) are of type `expected`."""
    import numpy as np
    import pandas as pd
    from pandas.api import types

    n = len(values)
    if expected not in FITS:  # mixed, unknown, empty: anything goes
        return np.ones(n, dtype=bool)
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        values = values.astype(object)
        dtype = values.dtype
    if types.is_bool_dtype(dtype):
        return np.full(n, expected == "boolean")
    if types.is_integer_dtype(dtype):
        return np.full(n, expected in NUMERIC_TYPES)
    if types.is_float_dtype(dtype):
        if expected != "integral":
            return np.full(n, expected == "fractional")
        numbers_ = values.to_numpy(dtype=np.float64)
        return ~np.isfinite(numbers_) | (numbers_ == np.floor(numbers_))
    if (
        types.is_datetime64_any_dtype(dtype)
        or types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        return np.full(n, expected == "datetime")
    if isinstance(dtype, pd.StringDtype):
        return np.full(n, expected == "string")
    fits = FITS[expected]
    return np.fromiter((fits(v) for v in values), dtype=bool, count=n)


def as_floats(values: Any) -> Any:
    """Non-missing values that are numbers (or true/false) as a float array, infinities kept."""
    import numpy as np
    from pandas.api import types

    if types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array([float(v) for v in values], dtype=np.float64)


def value_counts(values: Any, whole: bool = False) -> list[tuple[Any, int]]:
    """(JSON value, count) of non-missing values, most frequent first; values that only differ
    as Python objects (1 and 1.0, a numpy and a Python scalar) are counted together. `whole`:
    whole floats (an integer column with gaps) are shown as integers."""
    try:
        counts = values.value_counts(sort=False, dropna=True)
    except TypeError:  # unhashable values (lists): compared as text
        counts = values.map(str).value_counts(sort=False, dropna=True)
    merged: dict[tuple[bool, Any], int] = {}
    for value, count in counts.items():
        if count:
            key = json_value(value)
            if whole and isinstance(key, float) and key.is_integer() and abs(key) < 2**53:
                key = int(key)
            merged[tagged(key)] = merged.get(tagged(key), 0) + int(count)
    return sorted(((k[1], c) for k, c in merged.items()), key=lambda kv: -kv[1])


def tagged(value: Any) -> tuple[bool, Any]:
    """A value as a set member that keeps True apart from 1 (Python finds them equal)."""
    return isinstance(value, bool), value


def string_columns(frame: Any, side: str) -> Any:
    """`frame` with its column names as text (JSON keys are text), refusing names that clash."""
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise MonitorError(f"the {side} frame has columns whose names read the same: {dup[0]!r}")
    if names == list(frame.columns):
        return frame
    out = frame.copy(deep=False)
    out.columns = names
    return out
