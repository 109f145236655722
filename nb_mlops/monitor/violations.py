"""Constraint checks: what a new batch does that its baseline's reference never did.

`Baseline.check(batch)` (here `check_batch`) returns the violations, each a dict with `column`,
`kind`, `description` (one sentence with the numbers), `observed` and `expected`, and per kind:

- `missing_column` / `extra_column`: a baseline column the batch lacks, or a batch column the
  baseline does not know (observed / expected: the column's type, or None where it is absent);
- `data_type`: values that are not of the baseline's type (text in an integral column, 4.5 in
  an integral column, numbers in a text column); `count`, `share` and a few `examples`. Any
  such value is a violation; whole numbers fit a fractional column, infinities fit both number
  types (the range check sees them), and mixed, unknown and empty columns accept anything;
- `completeness`: batch completeness < baseline completeness * (1 - tolerance). The default
  tolerance is 0.1 (a column complete in the reference may miss up to 10% of a batch): a batch
  of n rows drawn from the reference's own population varies by sqrt(p (1 - p) / n) around its
  completeness p, so 0.1 keeps chance alone from flagging columns with p >= 0.8 in batches of a
  few hundred rows, and still catches a feed that lost a column's values;
- `categorical_values`: values outside the category set, a violation when the share of the
  batch's non-missing values holding one exceeds `categorical_threshold` (default 0: any unseen
  value); the unseen values, most frequent first, are listed up to 20, with their count;
- `range`: numbers outside [min, max], widened on each side by `range_tolerance` times the
  baseline's span (default 0: any value outside the reference's range; on unchanged continuous
  data a batch of n rows beyond a reference of m goes past one end with chance about 2n/(n+m),
  so raise the tolerance for a monitor that must stay quiet);
- `drift`: each column `nb_mlops.monitor.drift` finds drifted between the kept sample and the
  batch (`drift_options` are passed to it), with the test, its value and threshold. Columns
  whose batch values have the wrong type are left out of the drift test (their data_type
  violation says what is wrong).

A batch with no rows or no columns is a MonitorError; an all-missing batch column is a
completeness violation; a column of mixed types is a data_type violation. Violations are listed
by kind in the order above, then by column order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nb_mlops.monitor.columntypes import (
    TYPE_WORDS,
    as_floats,
    column_type,
    conforming,
    json_number,
    json_value,
    number_text,
    shown,
    string_columns,
    tagged,
    value_counts,
)
from nb_mlops.monitor.datadrift import as_frame
from nb_mlops.monitor.driftreport import MAX_UNSEEN_SHOWN
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.results import Result

if TYPE_CHECKING:
    from nb_mlops.monitor.driftreport import DriftReport
    from nb_mlops.monitor.profile import Baseline, ColumnBaseline

KINDS = (
    "missing_column",
    "extra_column",
    "data_type",
    "completeness",
    "categorical_values",
    "range",
    "drift",
)
COMPLETENESS_TOLERANCE = 0.1
MAX_EXAMPLES = 5  # values of the wrong type quoted in a data_type violation
DRIFT_OPTIONS = ("stattest", "method", "threshold", "drift_share")


# ------------------------------------------------------------------------------ checking
def check_batch(
    base: Baseline,
    batch: Any,
    *,
    drift: bool = True,
    completeness_tolerance: float = COMPLETENESS_TOLERANCE,
    categorical_threshold: float = 0.0,
    range_tolerance: float = 0.0,
    drift_options: Mapping[str, Any] | None = None,
) -> Violations:
    """The violations of `batch` (a pandas DataFrame) against `base`: `Baseline.check`."""
    frame = string_columns(as_frame(batch, "batch"), "batch")
    for option, value in (
        ("completeness_tolerance", completeness_tolerance),
        ("categorical_threshold", categorical_threshold),
    ):
        unit_number(value, option)
    if isinstance(range_tolerance, bool) or not isinstance(range_tolerance, (int, float)):
        raise MonitorError(f"range_tolerance must be a number >= 0, not {range_tolerance!r}")
    if not math.isfinite(range_tolerance) or range_tolerance < 0:
        raise MonitorError(f"range_tolerance must be a number >= 0, not {range_tolerance!r}")
    options = dict(drift_options or {})
    unknown = [k for k in options if k not in DRIFT_OPTIONS]
    if unknown:
        raise MonitorError(f"drift_options has {unknown[0]!r}; it takes {', '.join(DRIFT_OPTIONS)}")
    if drift and base.sample is None:
        raise MonitorError(
            "this baseline keeps no reference sample (made with sample_size=0): "
            "check with drift=False"
        )
    found: list[dict[str, Any]] = []
    in_batch = set(frame.columns)
    for col in base.columns:
        if col.name not in in_batch:
            found.append(missing_column(col))
    known = set(base.names)
    for name in frame.columns:
        if name not in known:
            found.append(extra_column(name, frame[name]))
    compared = [c for c in base.columns if c.name in in_batch]
    drift_columns = []
    for col in compared:
        series = frame[col.name]
        found.extend(completeness(col, series, completeness_tolerance))
        present = series.dropna()
        fits = conforming(present, col.type)
        wrong = len(present) - int(fits.sum())
        if wrong:
            found.append(data_type(col, series, present, fits, wrong))
        values = present[fits] if wrong else present
        if col.role == "categorical" and col.categories is not None and len(values):
            found.extend(unseen_values(col, values, categorical_threshold))
        if col.role == "numerical" and isinstance(col.min, float) and len(values):
            found.extend(out_of_range(col, values, range_tolerance))
        if not wrong and col.role is not None and base.sample is not None:
            if col.name in base.sample:
                drift_columns.append(col)
    report = None
    if drift and drift_columns:
        report = base.drift_of(frame, drift_columns, options)
        found.extend(drifted(report, base.sample_rows, len(frame)))
    order = {k: i for i, k in enumerate(KINDS)}
    position = {n: i for i, n in enumerate(base.names)}
    for name in frame.columns:
        position.setdefault(name, len(position))
    found.sort(key=lambda v: (order[v["kind"]], position.get(v["column"], 0)))
    return Violations(found, len(frame), len(compared), report)


def unit_number(value: Any, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise MonitorError(f"{option} must be a number in [0, 1], not {value!r}")
    return float(value)


# ------------------------------------------------------------------------------ violations
def violation(column: str, kind: str, description: str, observed: Any, expected: Any, **more: Any):
    return {
        "column": column,
        "kind": kind,
        "description": description,
        "observed": observed,
        "expected": expected,
        **more,
    }


def missing_column(col: ColumnBaseline) -> dict[str, Any]:
    return violation(
        col.name,
        "missing_column",
        f"column {col.name!r} ({col.type}) is in the baseline but not in the batch",
        None,
        col.type,
    )


def extra_column(name: str, series: Any) -> dict[str, Any]:
    kind = column_type(series)
    return violation(
        name,
        "extra_column",
        f"column {name!r} ({kind}) is in the batch but not in the baseline",
        kind,
        None,
    )


def completeness(col: ColumnBaseline, series: Any, tolerance: float) -> list[dict[str, Any]]:
    observed = float(series.notna().mean())
    floor = col.completeness * (1 - tolerance)
    if observed >= floor:
        return []
    missing = int(series.isna().sum())
    return [
        violation(
            col.name,
            "completeness",
            f"column {col.name!r} is {observed:.1%} complete ({missing} of {len(series)} values "
            f"missing); the baseline is {col.completeness:.1%} complete and the batch must reach "
            f"{floor:.1%} (tolerance {tolerance:.0%})",
            observed,
            col.completeness,
            threshold=floor,
            tolerance=tolerance,
        )
    ]


def data_type(col: ColumnBaseline, series: Any, present: Any, fits: Any, wrong: int) -> dict:

    bad = present[~fits]
    examples: list[Any] = []
    more = ""
    for value in bad.tolist():
        value = json_value(value)
        if value not in examples:
            if len(examples) == MAX_EXAMPLES:
                more = ", ..."
                break
            examples.append(value)
    observed = column_type(series)
    share = wrong / len(present)
    quoted = ", ".join(shown(v) for v in examples)
    return violation(
        col.name,
        "data_type",
        f"column {col.name!r} should hold {TYPE_WORDS[col.type]} ({col.type}) but {wrong} of "
        f"{len(present)} values ({share:.1%}) {'is' if wrong == 1 else 'are'} not (e.g. "
        f"{quoted}{more}); the batch column "
        f"reads as {observed}",
        observed,
        col.type,
        count=wrong,
        share=share,
        examples=examples,
    )


def unseen_values(col: ColumnBaseline, values: Any, threshold: float) -> list[dict[str, Any]]:
    known = col.category_set()
    counts = [
        (v, c) for v, c in value_counts(values, col.type == "integral") if tagged(v) not in known
    ]
    rows = sum(c for _, c in counts)
    share = rows / len(values)
    if not counts or share <= threshold:
        return []
    listed = [v for v, _ in counts[:MAX_UNSEEN_SHOWN]]
    quoted = ", ".join(shown(v) for v in listed[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    allowed = f"; up to {threshold:.1%} is allowed" if threshold else ""
    noun = "value" if len(counts) == 1 else "values"
    return [
        violation(
            col.name,
            "categorical_values",
            f"column {col.name!r} has {len(counts)} {noun} the baseline never saw ({quoted}{more})"
            f" in {rows} of {len(values)} non-missing rows ({share:.1%}){allowed}",
            listed,
            [c["value"] for c in (col.categories or [])[:MAX_UNSEEN_SHOWN]],
            unseen_count=len(counts),
            rows=rows,
            share=share,
            threshold=threshold,
        )
    ]


def out_of_range(col: ColumnBaseline, values: Any, tolerance: float) -> list[dict[str, Any]]:
    import numpy as np

    low, high = float(col.min), float(col.max)  # type: ignore[arg-type]
    span = high - low if high > low else (abs(high) or 1.0)
    low, high = low - tolerance * span, high + tolerance * span
    numbers_ = as_floats(values)
    outside = (numbers_ < low) | (numbers_ > high)
    count = int(np.count_nonzero(outside))
    if not count:
        return []
    seen_low, seen_high = float(numbers_.min()), float(numbers_.max())
    share = count / len(numbers_)
    widened = f", widened by {tolerance:.0%} of its span" if tolerance else ""
    return [
        violation(
            col.name,
            "range",
            f"column {col.name!r} has {count} of {len(numbers_)} values ({share:.1%}) outside "
            f"the baseline range [{number_text(low)}, {number_text(high)}]{widened}; the batch "
            f"spans [{number_text(seen_low)}, {number_text(seen_high)}]",
            [json_number(seen_low), json_number(seen_high)],
            [low, high],
            count=count,
            share=share,
            tolerance=tolerance,
        )
    ]


def drifted(report: DriftReport, n_sample: int, n_batch: int) -> list[dict[str, Any]]:
    from nb_mlops.monitor.driftreport import finite_or_none

    found = []
    for c in report.columns:
        if not c.drifted:
            continue
        if c.measure == "p_value":
            verdict = f"p-value {c.value:.3g} under {c.threshold:g}"
        else:
            verdict = f"distance {c.value:.3g} at or above {c.threshold:g}"
        found.append(
            violation(
                c.column,
                "drift",
                f"column {c.column!r} drifted: {c.test} {verdict} (reference sample of "
                f"{n_sample} rows, batch of {n_batch})",
                finite_or_none(c.value),
                c.threshold,
                test=c.test,
                measure=c.measure,
                statistic=finite_or_none(c.statistic),
            )
        )
    return found


@dataclass(repr=False)
class Violations(Result):
    """What a batch does that its baseline did not: a list of violation dicts (`column`,
    `kind`, `description`, `observed`, `expected`, and per kind more). `len()` counts them, and
    iterating gives them; `drift_report` is the drift test's full report (None when not run)."""

    violations: list[dict[str, Any]]
    checked_rows: int
    columns: int  # columns compared: in both the baseline and the batch
    drift_report: Any = field(default=None)

    def __len__(self) -> int:
        return len(self.violations)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.violations)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.violations[index]

    def kinds(self) -> dict[str, int]:
        """Kind -> how many violations of it (kinds with none left out)."""
        out: dict[str, int] = {}
        for v in self.violations:
            out[v["kind"]] = out.get(v["kind"], 0) + 1
        return out

    def frame(self) -> Any:
        """One row per violation (pandas DataFrame): column, kind, description, observed,
        expected, then the fields some kinds add."""
        import pandas as pd

        base = ["column", "kind", "description", "observed", "expected"]
        return pd.DataFrame(self.violations, columns=None if self.violations else base)[
            [*base, *sorted({k for v in self.violations for k in v} - set(base))]
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "violations": [dict(v) for v in self.violations],
            "checked_rows": self.checked_rows,
            "columns": self.columns,
        }

    def summary(self) -> str:
        from nb_mlops.text import plural

        what = plural(len(self), "violation") if self.violations else "no violations"
        rows, columns = plural(self.checked_rows, "row"), plural(self.columns, "column")
        return f"{what} in a batch of {rows}; {columns} compared with the baseline"

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        if not self.violations:
            return self.summary()
        rows = [[v["column"], v["kind"], v["description"]] for v in self.violations]
        return self.summary() + "\n" + text_table(["column", "kind", "description"], rows, 200)

    def to_html(self) -> str:
        import html

        rows = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(str(v[k]))}</td>" for k in ("column", "kind"))
            + f"<td>{html.escape(v['description'])}</td></tr>"
            for v in self.violations
        )
        table = (
            "<table class='nbm-table'><thead><tr><th>column</th><th>kind</th>"
            f"<th>description</th></tr></thead><tbody>{rows}</tbody></table>"
            if self.violations
            else ""
        )
        return f"<div class='nbm-violations'><div>{html.escape(self.summary())}</div>{table}</div>"
