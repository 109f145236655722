"""`drift(reference, current)`: has each column's distribution moved, and has the dataset?

Each column common to both frames gets one test (stattests.py has the rules, Evidently's
defaults) on its non-missing values. How a column is read:

- floats are numerical; integers are categorical when the reference has at most 10 distinct
  values, numerical otherwise; text, booleans and pandas categories are categorical (high-
  cardinality text is still categorical here: there is no text-content test); a column of mixed
  value types (numbers and text, say) is categorical, each distinct value a category (1 and "1"
  differ); `categorical=` and `numerical=` override all of this. The reference decides: Evidently
  infers from the current frame, which gives the same answer unless an integer column crosses 10
  distinct values between the two.
- A column that cannot be tested is listed with the reason and never counts as drifted: all its
  values missing in one frame, dates or times, or numbers in the reference but text in the
  current. Missing values are None, NaN, NaT and, in numerical columns, infinities.
- Columns only one frame has are listed in the report (`missing_columns`, `extra_columns`), not
  tested; frames sharing no column, an empty frame, an unknown column, test or override raise
  MonitorError.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from nb_mlops.monitor.driftreport import MAX_UNSEEN_SHOWN, ColumnDrift, DriftReport
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.stattests import STATTESTS, Samples, StatTest, default_test

INTEGER_CATEGORIES = 10  # an integer column with at most this many reference values is categorical
DATE_KINDS = {"datetime", "datetime64", "date", "time", "timedelta", "timedelta64", "period"}
NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal"}
CLASS_WORDS = {
    "number": "numbers",
    "integer": "numbers",
    "bool": "true/false values",
    "text": "text",
    "category": "categories",
    "datetime": "dates",
    "mixed": "mixed types",
    "other": "other values",
    "empty": "no values",
}


def drift(
    reference: Any,
    current: Any,
    *,
    columns: Iterable[Any] | None = None,
    categorical: Iterable[Any] | None = None,
    numerical: Iterable[Any] | None = None,
    stattest: str | Mapping[Any, str] | None = None,
    method: str | Mapping[Any, str] | None = None,
    threshold: float | Mapping[Any, float] | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """Compare `current` with `reference` (pandas DataFrames) column by column.

    `columns` limits the comparison (each must be in both frames). `stattest` names the test
    for every column ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi") or, as a
    dict, for some; `method` is the same option under Evidently's name. `threshold` is a p-value
    (tests) or a distance (the others), for every column or, as a dict, for some. The dataset
    drifts when the share of drifted columns among those tested reaches `drift_share`.
    """
    ref = as_frame(reference, "reference")
    cur = as_frame(current, "current")
    names, missing, extra = chosen_columns(ref, cur, columns)
    forced = overrides(names, categorical, numerical)
    if stattest is not None and method is not None:
        raise MonitorError("give the test as stattest= or method=, not both")
    tests = per_column(names, stattest if stattest is not None else method, "stattest", test_named)
    thresholds = per_column(names, threshold, "threshold", threshold_value)
    if isinstance(drift_share, bool) or not isinstance(drift_share, (int, float)):
        raise MonitorError(f"drift_share must be a number in (0, 1], not {drift_share!r}")
    if not 0 < drift_share <= 1:
        raise MonitorError(f"drift_share must be in (0, 1], not {drift_share!r}")
    results = [
        column_drift(
            name, ref[name], cur[name], forced.get(name), tests.get(name), thresholds.get(name)
        )
        for name in names
    ]
    return DriftReport(
        results,
        drift_share=float(drift_share),
        n_reference=len(ref),
        n_current=len(cur),
        missing_columns=[str(c) for c in missing],
        extra_columns=[str(c) for c in extra],
    )


def as_frame(data: Any, side: str) -> Any:
    """`data` as a DataFrame with rows and uniquely named columns (a dict of columns is taken)."""
    import pandas as pd

    if isinstance(data, Mapping):
        try:
            data = pd.DataFrame(data)
        except ValueError as exc:
            raise MonitorError(f"the {side} data is not a table: {exc}") from None
    if not isinstance(data, pd.DataFrame):
        raise MonitorError(f"the {side} data must be a pandas DataFrame, not {type(data).__name__}")
    if data.shape[1] == 0:
        raise MonitorError(f"the {side} frame has no columns")
    if len(data) == 0:
        raise MonitorError(f"the {side} frame has no rows")
    duplicated = sorted({str(c) for c in data.columns[data.columns.duplicated()]})
    if duplicated:
        raise MonitorError(f"the {side} frame has duplicate columns: {', '.join(duplicated)}")
    return data


def chosen_columns(
    ref: Any, cur: Any, columns: Iterable[Any] | None
) -> tuple[list[Any], list[Any], list[Any]]:
    """(columns to test, reference-only columns, current-only columns)."""
    from nb_mlops.text import did_you_mean

    in_ref, in_cur = list(ref.columns), list(cur.columns)
    if columns is not None:
        names = [columns] if isinstance(columns, str) else list(columns)
        if not names:
            raise MonitorError("columns= is empty: name at least one column")
        for name in names:
            sides = (("reference", in_ref), ("current", in_cur))
            absent = [side for side, cols in sides if name not in cols]
            if absent:
                hint = did_you_mean(str(name), [str(c) for c in in_ref + in_cur])
                where = " or ".join(absent)
                raise MonitorError(f"column {name!r} is not in the {where} frame{hint}")
        return list(dict.fromkeys(names)), [], []
    cur_set, ref_set = set(in_cur), set(in_ref)
    names = [c for c in in_ref if c in cur_set]
    if not names:
        raise MonitorError(
            "the reference and current frames share no column (reference: "
            f"{', '.join(map(str, in_ref[:10]))}; current: {', '.join(map(str, in_cur[:10]))})"
        )
    return names, [c for c in in_ref if c not in cur_set], [c for c in in_cur if c not in ref_set]


def overrides(names: list[Any], categorical: Any, numerical: Any) -> dict[Any, str]:
    """Column -> forced kind, from `categorical=` and `numerical=`."""
    forced: dict[Any, str] = {}
    for kind, given in (("categorical", categorical), ("numerical", numerical)):
        if given is None:
            continue
        for name in [given] if isinstance(given, str) else list(given):
            if name not in names:
                raise MonitorError(f"{kind}= names column {name!r}, which is not compared")
            if forced.get(name, kind) != kind:
                raise MonitorError(f"column {name!r} is named both categorical and numerical")
            forced[name] = kind
    return forced


def per_column(names: list[Any], given: Any, option: str, check: Any) -> dict[Any, Any]:
    """A value per column from one value for all or a dict for some, each checked."""
    if given is None:
        return {}
    if isinstance(given, Mapping):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise MonitorError(f"{option}= names column {unknown[0]!r}, which is not compared")
        return {k: check(v, f"{option} for {k!r}") for k, v in given.items()}
    value = check(given, option)
    return dict.fromkeys(names, value)


def test_named(name: Any, what: str) -> StatTest:
    from nb_mlops.text import did_you_mean

    test = STATTESTS.get(name) if isinstance(name, str) else None
    if test is None:
        hint = did_you_mean(str(name), STATTESTS) or f" (one of {', '.join(STATTESTS)})"
        raise MonitorError(f"unknown {what} {name!r}{hint}")
    return test


def threshold_value(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MonitorError(f"{what} must be a number, not {value!r}")
    if value < 0:
        raise MonitorError(f"{what} must not be negative, not {value!r}")
    return float(value)


def value_class(series: Any) -> str:
    """What a column holds: number, integer, bool, text, category, datetime, mixed (of several
    of these), other (bytes, complex numbers, objects) or empty."""
    import pandas as pd
    from pandas.api import types

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype):
        return "integer"
    if types.is_float_dtype(dtype):
        return "number"
    if types.is_datetime64_any_dtype(dtype) or types.is_timedelta64_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.PeriodDtype):
        return "datetime"
    if isinstance(dtype, pd.StringDtype):
        return "text" if series.notna().any() else "empty"
    inferred = types.infer_dtype(series, skipna=True)
    if inferred == "string":
        return "text"
    if inferred == "empty":
        return "empty"
    if inferred == "boolean":
        return "bool"
    if inferred == "integer":
        return "integer"
    if inferred in NUMBER_KINDS:
        return "number"
    if inferred in DATE_KINDS:
        return "datetime"
    return "mixed" if inferred.startswith("mixed") else "other"  # bytes, complex, objects


def numbers(series: Any) -> Any:
    """The finite values of a column as floats."""
    import numpy as np
    import pandas as pd

    if series.dtype == object:
        series = pd.to_numeric(series, errors="coerce")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return values[np.isfinite(values)]


def forced_numbers(name: Any, series: Any, side: str) -> Any:
    """A column named in `numerical=` as finite floats; a value that is not a number is an error."""
    import numpy as np
    import pandas as pd
    from pandas.api import types

    if not types.is_numeric_dtype(series.dtype):  # booleans are numbers here: 1 and 0
        converted = pd.to_numeric(series, errors="coerce")
        bad = series[converted.isna() & series.notna()]
        if len(bad):
            raise MonitorError(
                f"column {name!r} is named numerical but the {side} frame holds {bad.iloc[0]!r}"
            )
        series = converted
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    return values[np.isfinite(values)]


def categories(series: Any) -> Any:
    """The non-missing values of a column, as a Series of hashable values."""
    return series.dropna()


def column_kind(
    name: Any, ref: Any, cur: Any, forced: str | None
) -> tuple[str | None, str | None, str | None]:
    """(kind, problem, note) for a column: how it is tested, or why it is not."""
    ref_class, cur_class = value_class(ref), value_class(cur)
    if forced is not None:
        if "datetime" in (ref_class, cur_class) and forced == "numerical":
            raise MonitorError(f"column {name!r} holds dates; it cannot be numerical")
        return forced, None, None
    if "datetime" in (ref_class, cur_class):
        return None, "dates and times are not tested for drift", None
    base = ref_class if ref_class != "empty" else cur_class
    if base == "empty":
        return None, "all values missing in both frames", None
    if base == "integer":
        values = ref if ref_class != "empty" else cur
        base = "category" if values.nunique() <= INTEGER_CATEGORIES else "number"
    note = None
    if base == "mixed":
        note = "mixed value types: each distinct value is a category (1 and '1' differ)"
    numeric = {"number", "integer", "bool", "empty"}
    if base == "number":
        if cur_class not in numeric:
            words = CLASS_WORDS[cur_class]
            return None, f"type changed: numbers in the reference, {words} in the current", None
        return "numerical", None, None
    classes = {ref_class, cur_class}
    comparable = classes & {"empty", "category"} or classes == {"integer", "number"}
    if len(classes) == 2 and not comparable:
        note = f"{CLASS_WORDS[ref_class]} in the reference, {CLASS_WORDS[cur_class]} in the current"
    return "categorical", None, note


def column_drift(
    name: Any,
    ref: Any,
    cur: Any,
    forced: str | None,
    test: StatTest | None,
    threshold: float | None,
) -> ColumnDrift:
    """The drift of one column (a ColumnDrift with `problem` set when it cannot be tested)."""
    kind, problem, note = column_kind(name, ref, cur, forced)
    result = ColumnDrift(str(name), kind, problem=problem, note=note)
    result.missing_share_reference = float(ref.isna().mean())
    result.missing_share_current = float(cur.isna().mean())
    if kind is None:
        return result
    if kind == "numerical":
        if forced == "numerical":
            ref_values = forced_numbers(name, ref, "reference")
            cur_values = forced_numbers(name, cur, "current")
        else:
            ref_values, cur_values = numbers(ref), numbers(cur)
        samples = Samples(kind, ref_values, cur_values)
        # infinities are left out of the test like missing values, and counted with them
        result.missing_share_reference = 1 - samples.n_reference / len(ref)
        result.missing_share_current = 1 - samples.n_current / len(cur)
    else:
        samples = Samples(kind, categories(ref), categories(cur))
        try:
            samples.counts  # noqa: B018 (computed here so an unhashable value shows now)
        except TypeError:
            samples = Samples(kind, categories(ref).map(str), categories(cur).map(str))
            result.note = "values that cannot be compared as they are (lists?) compared as text"
        unseen(result, samples)
    result.n_reference, result.n_current = samples.n_reference, samples.n_current
    empty = [
        side
        for side, n in (("reference", samples.n_reference), ("current", samples.n_current))
        if n == 0
    ]
    if empty:
        where = "both frames" if len(empty) == 2 else f"the {empty[0]}"
        result.problem = f"all values missing in {where}"
        return result
    test = test or default_test(samples)
    if kind not in test.kinds:
        raise MonitorError(f"the {test.name} test needs a numerical column; {name!r} is {kind}")
    if test.name == "z" and samples.n_unique > 2:
        raise MonitorError(
            f"the z test needs a column with at most 2 values; {name!r} has {samples.n_unique}"
        )
    result.test, result.measure = test.name, test.measure
    result.threshold = test.default_threshold if threshold is None else threshold
    result.statistic, result.value = test.compute(samples)
    if math.isnan(result.value):
        result.note = "the test gave no value (constant columns?)"
    else:
        result.drifted = test.drifted(result.value, result.threshold)
    return result


def unseen(result: ColumnDrift, samples: Samples) -> None:
    """Fill in the values only the current frame has (most frequent first) and their share."""
    import numpy as np

    values, ref, cur = samples.counts
    new = np.flatnonzero((ref == 0) & (cur > 0))
    result.unseen_categories = []
    if not len(new):
        return
    order = new[np.argsort(-cur[new], kind="stable")]
    result.unseen_count = len(order)
    result.unseen_share = float(cur[order].sum() / samples.n_current)
    result.unseen_categories = [plain(values[i]) for i in order[:MAX_UNSEEN_SHOWN]]


def plain(value: Any) -> Any:
    """A category as a JSON value: numpy scalars unwrapped, anything else not JSON as text."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)
