"""A baseline's dict form (`Baseline.to_dict()`, saved as JSON) read back with every field
checked: a file is untrusted input, so anything wrong is a MonitorError naming the field."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nb_mlops.monitor.columntypes import TYPES, is_number, shown, tagged
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import (
    FORMAT,
    QUANTILES,
    ROLE_TYPES,
    ROLES,
    Baseline,
    ColumnBaseline,
)


# ------------------------------------------------------------------------------ reading dicts
class Reader:
    """Checks a baseline dict field by field; every fault is one MonitorError line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> MonitorError:
        return MonitorError(f"{self.source}: {where}: {problem}")

    def fields(self, data: Any, where: str, required: Iterable[str], optional=()) -> dict:
        if not isinstance(data, Mapping):
            raise self.fail(where, f"must be an object, not {type(data).__name__}")
        allowed = [*required, *optional]
        for key in data:
            if key not in allowed:
                raise self.fail(where, f"unexpected field {shown(key)}")
        for key in required:
            if key not in data:
                raise self.fail(where, f"field {key!r} is missing")
        return dict(data)

    def integer(self, value: Any, where: str, low: int = 0, high: float = math.inf) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            bounds = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
            raise self.fail(where, f"must be a whole number {bounds}, not {shown(value)}")
        return value

    def number(self, value: Any, where: str, *, optional: bool = True) -> float | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"must be a number, not {shown(value)}")
        if not math.isfinite(value):
            raise self.fail(where, f"must be a finite number, not {shown(value)}")
        return float(value)

    def text(self, value: Any, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise self.fail(where, f"must be text, not {shown(value)}")
        return value

    def scalar(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, (str, bool, int)):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise self.fail(
            where, f"must be a JSON number, text, true/false or null, not {shown(value)}"
        )


def read_baseline(data: Any, source: str) -> Baseline:
    """Baseline.from_dict: the dict checked field by field."""
    r = Reader(source)
    top = ("format", "created", "rows", "max_categories", "source", "columns", "sample")
    if isinstance(data, Mapping) and "format" in data:
        fmt = data["format"]
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
            raise r.fail(
                "format",
                f"{fmt} is newer than this nb-mlops reads ({FORMAT}); upgrade nb-mlops to read it",
            )
        if fmt != FORMAT or isinstance(fmt, bool):
            raise r.fail("format", f"must be {FORMAT}, not {shown(fmt)}")
    d = r.fields(data, "the baseline", top)
    rows = r.integer(d["rows"], "rows", 1)
    created = r.text(d["created"], "created")
    limit = r.integer(d["max_categories"], "max_categories")
    origin = d["source"]
    if origin is not None:
        origin = r.fields(origin, "source", (), list(origin) if isinstance(origin, Mapping) else ())
        for key, value in origin.items():
            r.text(key, "source")
            r.scalar(value, f"source.{key}")
    if not isinstance(d["columns"], list) or not d["columns"]:
        raise r.fail("columns", "must be a non-empty list of columns")
    columns = [read_column(r, c, i, rows, limit) for i, c in enumerate(d["columns"])]
    names = [c.name for c in columns]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise r.fail("columns", f"column {dup!r} is listed twice")
    sample, sample_rows, seed = read_sample(r, d["sample"], columns, rows)
    return Baseline(
        columns=columns,
        rows=rows,
        created=created or "",
        max_categories=limit,
        sample=sample,
        sample_rows=sample_rows,
        seed=seed,
        source=origin,
    )


def read_column(r: Reader, data: Any, index: int, rows: int, limit: int) -> ColumnBaseline:
    keys = (
        "name",
        "type",
        "role",
        "count",
        "completeness",
        "distinct",
        "min",
        "max",
        "mean",
        "std",
        "quantiles",
        "categories",
        "note",
    )
    d = r.fields(data, f"columns[{index}]", keys)
    name = r.text(d["name"], f"columns[{index}].name")
    if not name:
        raise r.fail(f"columns[{index}].name", "must not be empty")
    at = f"column {name!r}"
    kind = d["type"]
    if kind not in TYPES:
        raise r.fail(f"{at}.type", f"must be one of {', '.join(TYPES)}, not {shown(kind)}")
    role = d["role"]
    if role is not None and role not in ROLES:
        raise r.fail(f"{at}.role", f"must be numerical, categorical or null, not {shown(role)}")
    if role is not None and kind not in ROLE_TYPES[role]:
        raise r.fail(f"{at}.role", f"a {kind} column cannot be {role}")
    count = r.integer(d["count"], f"{at}.count", 0, rows)
    done = r.number(d["completeness"], f"{at}.completeness", optional=False)
    if not math.isclose(done, count / rows, rel_tol=1e-9, abs_tol=1e-12):  # type: ignore[arg-type]
        raise r.fail(f"{at}.completeness", f"{done} is not count / rows ({count} / {rows})")
    distinct = r.integer(d["distinct"], f"{at}.distinct", 0, count)
    if kind == "empty" and count:
        raise r.fail(f"{at}.count", f"an empty column has no values, not {count}")
    col = ColumnBaseline(name, kind, role, count, float(done), distinct)  # type: ignore[arg-type]
    if kind == "datetime":
        col.min = r.text(d["min"], f"{at}.min", optional=True)
        col.max = r.text(d["max"], f"{at}.max", optional=True)
    else:
        col.min = r.number(d["min"], f"{at}.min")
        col.max = r.number(d["max"], f"{at}.max")
        if (col.min is None) != (col.max is None):
            raise r.fail(f"{at}.min", "min and max are given together or not at all")
        if col.min is not None and col.min > col.max:  # type: ignore[operator]
            raise r.fail(f"{at}.min", f"{col.min} is above max {col.max}")
        if col.min is not None and role is None:
            raise r.fail(f"{at}.min", "a range needs a numerical or categorical role")
    col.mean = r.number(d["mean"], f"{at}.mean")
    col.std = r.number(d["std"], f"{at}.std")
    if col.std is not None and col.std < 0:
        raise r.fail(f"{at}.std", f"must not be negative, not {col.std}")
    if d["quantiles"] is not None:
        q = r.fields(d["quantiles"], f"{at}.quantiles", (), [str(x) for x in QUANTILES])
        col.quantiles = {
            k: r.number(v, f"{at}.quantiles.{k}", optional=False) for k, v in q.items()
        }  # type: ignore[misc]
    cats = d["categories"]
    if cats is not None:
        if role != "categorical":
            raise r.fail(f"{at}.categories", "only a categorical column has categories")
        if not isinstance(cats, list) or len(cats) > max(limit, 0):
            raise r.fail(
                f"{at}.categories", f"must be a list of at most max_categories={limit} entries"
            )
        col.categories = []
        seen = set()
        for i, entry in enumerate(cats):
            where = f"{at}.categories[{i}]"
            e = r.fields(entry, where, ("value", "count"))
            value = r.scalar(e["value"], f"{where}.value")
            if value is None:
                raise r.fail(f"{where}.value", "a category is a value, not null")
            if tagged(value) in seen:
                raise r.fail(f"{where}.value", f"{shown(value)} is listed twice")
            seen.add(tagged(value))
            col.categories.append({"value": value, "count": r.integer(e["count"], where, 1, count)})
    col.note = r.text(d["note"], f"{at}.note", optional=True)
    return col


def read_sample(
    r: Reader, data: Any, columns: list[ColumnBaseline], rows: int
) -> tuple[dict[str, list[Any]] | None, int, int]:
    if data is None:
        return None, 0, 0
    d = r.fields(data, "sample", ("rows", "seed", "columns"))
    n = r.integer(d["rows"], "sample.rows", 1, rows)
    seed = r.integer(d["seed"], "sample.seed")
    given = r.fields(
        d["columns"],
        "sample.columns",
        (),
        list(d["columns"]) if isinstance(d["columns"], Mapping) else (),
    )
    roles = {c.name: c for c in columns}
    sample: dict[str, list[Any]] = {}
    for name, values in given.items():
        where = f"sample.columns[{shown(name)}]"
        col = roles.get(name)
        if col is None:
            raise r.fail(where, "is not a column of the baseline")
        if col.role is None:
            raise r.fail(where, f"column {name!r} has no role; no sample is kept for it")
        if not isinstance(values, list) or len(values) != n:
            raise r.fail(where, f"must be a list of sample.rows={n} values")
        numeric = col.role == "numerical" and col.type != "boolean"
        for i, value in enumerate(values):
            value = r.scalar(value, f"{where}[{i}]")
            if numeric and value is not None and not is_number(value):
                raise r.fail(f"{where}[{i}]", f"must be a number or null, not {shown(value)}")
        sample[name] = list(values)
    return sample, n, seed


def load_baseline(path: str | os.PathLike) -> Baseline:
    """`Baseline.load`: the JSON file at `path` read and checked as `read_baseline` checks."""

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MonitorError(f"no baseline file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MonitorError(f"cannot read baseline file {path}: {exc}") from None
    try:
        data = json.loads(text, parse_constant=no_constant)
    except ValueError as exc:
        raise MonitorError(f"baseline file {path} is not JSON: {exc}") from None
    return read_baseline(data, f"baseline file {path}")
