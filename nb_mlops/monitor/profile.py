"""Baselines: describe a reference table once, column by column, so that later batches can be
checked against it (nb_mlops/monitor/violations.py lists what a batch does that the reference
never did).

`baseline(reference)` reads each column of a pandas DataFrame and keeps:

- its type, inferred from the values (see nb_mlops/monitor/columntypes.py);
- its role in the checks: `numerical` (fractional columns, integral ones with more than 10
  distinct values), `categorical` (text, true/false, pandas categories, mixed columns and
  integral ones with at most 10 distinct values, as `drift` reads them) or none (dates, unknown
  and empty columns: only their presence and completeness are checked). `categorical=` and
  `numerical=` override the role;
- completeness (the share of values that are not missing: None, NaN, NaT), the number of
  distinct values, and for numbers the range (min, max over finite values) with the mean,
  standard deviation and the 1/5/25/50/75/95/99 % quantiles as statistics;
- for a categorical column its category set with each value's count, when it has at most
  `max_categories` (100) distinct values; above that no set is kept and unseen values are not
  checked (an identifier or free text would flag every batch);
- a seeded random sample of at most `sample_size` (2,000) reference rows, for drift. 2,000 is
  above the 1,000 rows where `drift` moves from hypothesis tests to distances, so the sample is
  tested the way the whole reference would be.

A baseline is a Result, and `to_dict()` is versioned (`"format": 1`): `save(path)` writes it as
JSON and `Baseline.load(path)` / `Baseline.from_dict(d)` read it back, checking every field
(nb_mlops/monitor/baselinejson.py).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_mlops.monitor.columntypes import (
    NUMERIC_TYPES,
    TYPE_WORDS,
    as_floats,
    column_type,
    json_value,
    number_text,
    string_columns,
    tagged,
    value_counts,
)
from nb_mlops.monitor.datadrift import INTEGER_CATEGORIES, as_frame
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.violations import COMPLETENESS_TOLERANCE, Violations, check_batch
from nb_mlops.results import Result

if TYPE_CHECKING:
    from nb_mlops.monitor.driftreport import DriftReport

FORMAT = 1  # the version of Baseline.to_dict(); a newer one is refused
ROLES = ("numerical", "categorical")
ROLE_TYPES = {  # the types a role can be given to
    "numerical": ("integral", "fractional", "boolean"),
    "categorical": ("integral", "fractional", "boolean", "string", "mixed"),
}
MAX_CATEGORIES = 100  # a categorical column with more distinct values keeps no category set
SAMPLE_SIZE = 2000  # reference rows kept for drift (above drift's 1,000-row test switch)
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


# ------------------------------------------------------------------------------ columns
@dataclass
class ColumnBaseline:
    """What the reference says about one column (see the module's docstring)."""

    name: str
    type: str
    role: str | None  # "numerical", "categorical" or None (presence and completeness only)
    count: int  # non-missing values
    completeness: float
    distinct: int
    min: float | str | None = None  # numbers: finite min; dates: ISO text
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None  # "0.05" -> value
    categories: list[dict[str, Any]] | None = None  # [{"value", "count"}], most frequent first
    note: str | None = None

    def category_set(self) -> set[tuple[bool, Any]]:
        """The categories, each `tagged` (True and 1 are different categories)."""
        return {tagged(c["value"]) for c in self.categories or ()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "role": self.role,
            "count": self.count,
            "completeness": self.completeness,
            "distinct": self.distinct,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "quantiles": dict(self.quantiles) if self.quantiles is not None else None,
            "categories": [dict(c) for c in self.categories]
            if self.categories is not None
            else None,
            "note": self.note,
        }

    def row(self) -> list[str]:
        """The column's cells in the text and HTML tables."""
        cats = ""
        if self.categories is not None:
            first = ", ".join(str(c["value"]) for c in self.categories[:4])
            more = f" +{len(self.categories) - 4}" if len(self.categories) > 4 else ""
            cats = first + more
        return [
            self.name,
            self.type,
            self.role or "",
            f"{self.completeness:.1%}",
            "" if self.min is None else number_text(self.min),
            "" if self.max is None else number_text(self.max),
            "" if self.mean is None else f"{self.mean:.4g}",
            str(self.distinct),
            cats,
            self.note or "",
        ]


BASELINE_HEADER = [
    "column",
    "type",
    "role",
    "complete",
    "min",
    "max",
    "mean",
    "distinct",
    "categories",
    "note",
]


def describe_column(name: str, series: Any, role: str | None, kind: str, limit: int) -> Any:
    """The ColumnBaseline of one reference column, its type `kind` and role already chosen."""
    import numpy as np
    from pandas.api import types

    present = series.dropna()
    count = len(present)
    try:
        distinct = int(present.nunique())
    except TypeError:
        distinct = int(present.map(str).nunique())
    col = ColumnBaseline(name, kind, role, count, count / len(series), distinct)
    if kind == "empty":
        col.note = "all values missing in the reference: only presence and completeness checked"
    elif kind in ("unknown", "datetime") and role is None:
        col.note = f"{TYPE_WORDS[kind]}: only presence, type and completeness checked"
    if kind == "datetime" and types.is_datetime64_any_dtype(series.dtype) and count:
        col.min, col.max = present.min().isoformat(), present.max().isoformat()
    if role == "numerical" or (kind in NUMERIC_TYPES and role is not None):
        values = as_floats(present)
        values = values[np.isfinite(values)]
        if len(values):
            col.min, col.max = float(values.min()), float(values.max())
            col.mean = float(values.mean())
            col.std = float(values.std(ddof=1)) if len(values) > 1 else None
            cut = np.quantile(values, QUANTILES)
            col.quantiles = {str(q): float(v) for q, v in zip(QUANTILES, cut, strict=True)}
    if role == "categorical":
        counts = value_counts(present, kind == "integral")
        if len(counts) <= limit:
            col.categories = [{"value": v, "count": c} for v, c in counts]
        else:
            col.note = (
                f"{len(counts)} distinct values, more than max_categories={limit}: "
                "no category set kept, unseen values not checked"
            )
    if kind == "mixed":
        mixed = "mixed value types in the reference: the type is not checked"
        col.note = f"{mixed}; {col.note}" if col.note else mixed
    return col


def default_role(series: Any, kind: str) -> str | None:
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype) and kind in ROLE_TYPES["categorical"]:
        return "categorical"
    if kind == "fractional":
        return "numerical"
    if kind == "integral":
        return "categorical" if series.nunique() <= INTEGER_CATEGORIES else "numerical"
    if kind in ("boolean", "string", "mixed"):
        return "categorical"
    return None


def names_of(given: Any) -> list[Any]:
    if given is None:
        return []
    if isinstance(given, str) or not isinstance(given, Iterable):
        return [given]
    return list(given)


def chosen_roles(frame: Any, categorical: Any, numerical: Any) -> dict[str, str]:
    """Column -> role named by `categorical=` / `numerical=`, each name checked."""
    from nb_mlops.text import did_you_mean

    known = [str(c) for c in frame.columns]
    forced: dict[str, str] = {}
    for role, given in (("categorical", categorical), ("numerical", numerical)):
        for name in names_of(given):
            if str(name) not in known:
                hint = did_you_mean(str(name), known)
                raise MonitorError(
                    f"{role}= names column {name!r}, which is not in the reference{hint}"
                )
            if forced.get(str(name), role) != role:
                raise MonitorError(f"column {name!r} is named both categorical and numerical")
            forced[str(name)] = role
    return forced


# ------------------------------------------------------------------------------ baseline
def baseline(
    reference: Any,
    *,
    categorical: Iterable[Any] | None = None,
    numerical: Iterable[Any] | None = None,
    max_categories: int = MAX_CATEGORIES,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
) -> Baseline:
    """The baseline of `reference` (a pandas DataFrame): per column its type, role,
    completeness, range and statistics, category set and distinct count, plus a seeded sample
    of at most `sample_size` rows for drift (0 keeps none: check with drift=False)."""
    import numpy as np

    frame = string_columns(as_frame(reference, "reference"), "reference")
    for option, value in (("max_categories", max_categories), ("sample_size", sample_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MonitorError(f"{option} must be a whole number >= 0, not {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise MonitorError(f"seed must be a whole number >= 0, not {seed!r}")
    forced = chosen_roles(frame, categorical, numerical)
    columns = []
    for name in frame.columns:
        series = frame[name]
        kind = column_type(series)
        role = forced.get(name) or default_role(series, kind)
        if name in forced and kind not in ROLE_TYPES[role]:
            raise MonitorError(
                f"column {name!r} holds {TYPE_WORDS[kind]} in the reference; it cannot be {role}"
            )
        columns.append(describe_column(name, series, role, kind, max_categories))
    sample = None
    if sample_size:
        rows = np.arange(len(frame))
        if len(frame) > sample_size:
            rows = np.sort(np.random.default_rng(seed).choice(len(frame), sample_size, False))
        part = frame.iloc[rows]
        sample = {c.name: sample_values(part[c.name], c) for c in columns if c.role is not None}
    from nb_mlops.clock import utcnow

    return Baseline(
        columns=columns,
        rows=len(frame),
        created=utcnow(),
        max_categories=max_categories,
        sample=sample,
        sample_rows=min(len(frame), sample_size),
        seed=seed,
    )


def sample_values(series: Any, col: ColumnBaseline) -> list[Any]:
    """A sample column as JSON values (None for missing ones and, in numbers, infinities)."""
    import numpy as np
    from pandas.api import types

    missing = series.isna().to_numpy()
    if col.role == "numerical" and col.type != "boolean":
        if types.is_numeric_dtype(series.dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = [math.nan if m else float(v) for v, m in zip(series, missing, strict=True)]
        out: list[Any] = []
        for v in values:
            v = float(v)
            if not math.isfinite(v):
                out.append(None)
            elif col.type == "integral" and v.is_integer() and abs(v) < 2**53:
                out.append(int(v))
            else:
                out.append(v)
        return out
    return [None if m else json_value(v) for v, m in zip(series.tolist(), missing, strict=True)]


@dataclass(repr=False)
class Baseline(Result):
    """A reference table described column by column, with a sample kept for drift; `check`
    lists what a batch does that the reference did not."""

    columns: list[ColumnBaseline]
    rows: int
    created: str
    max_categories: int = MAX_CATEGORIES
    sample: dict[str, list[Any]] | None = None  # column -> values (columns with a role)
    sample_rows: int = 0
    seed: int = 0
    source: dict[str, Any] | None = None  # where the reference came from (baseline_for_model)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnBaseline:
        """The baseline of column `name`."""
        for c in self.columns:
            if c.name == name:
                return c
        from nb_mlops.text import did_you_mean

        raise MonitorError(f"no column {name!r} in this baseline{did_you_mean(name, self.names)}")

    def sample_frame(self) -> Any:
        """The kept reference sample as a DataFrame (numbers as floats, the rest as objects)."""
        import numpy as np
        import pandas as pd

        if self.sample is None:
            raise MonitorError("this baseline keeps no reference sample (made with sample_size=0)")
        data = {}
        for name, values in self.sample.items():
            col = self.column(name)
            if col.role == "numerical":  # true/false as 1/0, as drift reads them
                data[name] = pd.Series(
                    [np.nan if v is None else float(v) for v in values], dtype=np.float64
                )
            else:
                data[name] = pd.Series(values, dtype=object)
        return pd.DataFrame(data, index=pd.RangeIndex(self.sample_rows))

    # ------------------------------------------------------------------ check
    def check(
        self,
        batch: Any,
        *,
        drift: bool = True,
        completeness_tolerance: float = COMPLETENESS_TOLERANCE,
        categorical_threshold: float = 0.0,
        range_tolerance: float = 0.0,
        drift_options: Mapping[str, Any] | None = None,
    ) -> Violations:
        """The violations of `batch` (a pandas DataFrame) against this baseline (see
        nb_mlops/monitor/violations.py for each kind and its default tolerance)."""
        return check_batch(
            self,
            batch,
            drift=drift,
            completeness_tolerance=completeness_tolerance,
            categorical_threshold=categorical_threshold,
            range_tolerance=range_tolerance,
            drift_options=drift_options,
        )

    def drift_of(self, frame: Any, columns: list[ColumnBaseline], options: dict) -> DriftReport:
        """`drift` between the kept sample and the batch, on `columns`, each read by its role."""
        from nb_mlops.monitor.datadrift import drift

        names = [c.name for c in columns]
        return drift(
            self.sample_frame()[names],
            frame[names],
            columns=names,
            categorical=[c.name for c in columns if c.role == "categorical"],
            numerical=[c.name for c in columns if c.role == "numerical"],
            **options,
        )

    # ------------------------------------------------------------------ forms
    def to_dict(self) -> dict[str, Any]:
        sample = None
        if self.sample is not None:
            sample = {
                "rows": self.sample_rows,
                "seed": self.seed,
                "columns": {k: list(v) for k, v in self.sample.items()},
            }
        return {
            "format": FORMAT,
            "created": self.created,
            "rows": self.rows,
            "max_categories": self.max_categories,
            "source": dict(self.source) if self.source is not None else None,
            "columns": [c.to_dict() for c in self.columns],
            "sample": sample,
        }

    @classmethod
    def from_dict(cls, data: Any, *, label: str = "baseline") -> Baseline:
        """A baseline from `to_dict()`'s form, every field checked (it may come from a file
        anyone could have edited); a fault is a MonitorError naming the field, after `label`."""
        from nb_mlops.monitor.baselinejson import read_baseline

        return read_baseline(data, label)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the baseline as JSON at `path` (replaced whole); returns the path."""
        from nb_mlops.store.files import atomic_write

        target = Path(path)
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, indent=1)
        atomic_write(target, text + "\n")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> Baseline:
        """A baseline `save` wrote (checked as `from_dict` checks)."""
        from nb_mlops.monitor.baselinejson import load_baseline

        return load_baseline(path)

    def summary(self) -> str:
        sample = (
            f"a sample of {self.sample_rows} rows kept for drift (seed {self.seed})"
            if self.sample is not None
            else "no sample kept (no drift check)"
        )
        origin = ""
        if self.source and self.source.get("model"):
            s = self.source
            file = f" ({s['file']})" if s.get("file") else ""
            origin = f" — {s['model']}, trained on {s.get('dataset')} version {s.get('version')}"
            origin += file
        return f"baseline of {self.rows} rows, {len(self.columns)} columns; {sample}{origin}"

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        return self.summary() + "\n" + text_table(BASELINE_HEADER, [c.row() for c in self.columns])

    def to_html(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(h)}</th>" for h in BASELINE_HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in c.row()) + "</tr>"
            for c in self.columns
        )
        return (
            f"<div class='nbm-baseline'><div>{html.escape(self.summary())}</div>"
            f"<table class='nbm-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            "</table></div>"
        )
