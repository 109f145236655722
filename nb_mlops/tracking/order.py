"""Ordering runs: `order_by=["metrics.acc DESC", "start_time"]` and `max_results`, as MLflow.

Each clause is ``KEY [ASC|DESC]`` with the filters' key syntax (fields.py). As MLflow's SQL
store does: runs missing the key come last whichever the direction, a NaN metric comes after
every number but before the runs without the metric, and ties fall back to the start time
(newest first, unless a clause already orders by it) and then the run id. Where we differ on
purpose (numbers in params and tags sort as numbers) docs/filter.md says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from nb_mlops.errors import InvalidValue, NbMlopsError
from nb_mlops.tracking.fields import MLFLOW_STATUS, Key, as_number, epoch_ms, reader
from nb_mlops.tracking.filter import parse_order_clause

__all__ = ["OrderByError", "OrderClause", "check_max_results", "parse_order_by", "sort_runs"]


class OrderByError(NbMlopsError, ValueError):
    """An order_by clause does not parse or cannot be used; `.position` is the 0-based offset."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.text = text
        self.position = position
        super().__init__(f"bad order_by clause at column {position + 1}: {message} — in: {text}")


class OrderClause(NamedTuple):
    """One parsed clause: the key and the direction."""

    key: Key
    ascending: bool

    def __str__(self) -> str:
        return f"{self.key} {'ASC' if self.ascending else 'DESC'}"


def parse_order_by(order_by: str | Sequence[str] | None) -> list[OrderClause]:
    """Parse order_by clauses (one string is one clause); refuse datasets and repeated keys."""
    if order_by is None:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    clauses: list[OrderClause] = []
    seen: dict[Key, str] = {}
    for text in order_by:
        if not isinstance(text, str):
            raise InvalidValue(
                f"an order_by clause is a string like 'metrics.acc DESC', got {text!r}"
            )
        key, ascending = parse_order_clause(text, error=OrderByError)
        if key.section == "datasets":
            raise OrderByError(f"cannot order by {key}: a run can read several datasets", text, 0)
        if key in seen:
            raise OrderByError(f"{key} is already ordered by ({seen[key]!r})", text, 0)
        seen[key] = text
        clauses.append(OrderClause(key, ascending))
    return clauses


def check_max_results(max_results: Any) -> int | None:
    """`max_results` as a positive int, or None (all runs); anything else is refused."""
    if max_results is None:
        return None
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise InvalidValue(f"max_results must be a positive integer or None, got {max_results!r}")
    if max_results < 1:
        raise InvalidValue(f"max_results must be a positive integer, got {max_results}")
    return max_results


# ---------------------------------------------------------------------------------------------
# Sort values
# ---------------------------------------------------------------------------------------------

_ABSENT = (0, 0)  # the value placeholder of runs ranked after the present ones


def _general(value: Any) -> tuple[int, Any]:
    """Params and tags: numbers (and numeric strings) by value before other values as text."""
    number = as_number(value)
    if number is not None and number == number:  # NaN sorts as the text "nan"
        return (0, number)
    return (1, value if type(value) is str else str(value))


def _text(value: Any) -> tuple[int, Any]:
    return (1, value if type(value) is str else str(value))


def _time(value: Any) -> tuple[int, Any]:
    """Times compare in whole milliseconds, as MLflow stores them: two runs that ended in the
    same millisecond tie, and the tie falls back to the start time and the run id."""
    ms = epoch_ms(value)
    return (0, ms) if ms is not None else _text(value)


def _number(value: Any) -> tuple[int, Any]:
    number = as_number(value)
    return (0, number) if number is not None and number == number else _text(value)


def _status(value: Any) -> tuple[int, Any]:
    return (1, MLFLOW_STATUS.get(value, str(value).upper()))


def _rank_and_value(key: Key, runs_uri: str | None) -> Callable[[dict], tuple[int, Any]]:
    """(rank, value) for one run: rank 0 sorts by value, 1 (NaN metric) and 2 (missing) after."""
    get = reader(key, runs_uri)
    if key.section == "metrics":

        def metric(doc: dict) -> tuple[int, Any]:
            value = get(doc)
            number = as_number(value) if value is not None else None
            if number is None:
                return (2, _ABSENT)
            if number != number:
                return (1, _ABSENT)
            return (0, (0, number))

        return metric
    if key.section == "attributes":
        convert = {"start": _time, "end": _time, "duration": _number, "status": _status}.get(
            key.name, _text
        )
    else:
        convert = _general

    def value_of(doc: dict) -> tuple[int, Any]:
        value = get(doc)
        return (2, _ABSENT) if value is None else (0, convert(value))

    return value_of


def sort_runs(
    docs: Iterable[dict[str, Any]],
    clauses: Sequence[OrderClause] = (),
    *,
    runs_uri: str | None = None,
) -> list[dict[str, Any]]:
    """Run documents in order: the clauses first to last, then start (newest first, when no
    clause orders by it) and run id. Missing values come last in either direction."""
    rows = sorted(docs, key=lambda d: d.get("run_id") or "")
    start = Key("attributes", "start")
    if all(c.key != start for c in clauses):
        default = _rank_and_value(start, None)
        rows.sort(key=lambda d: default(d)[1], reverse=True)
        rows.sort(key=lambda d: default(d)[0])
    # Stable sorts from the least significant clause to the most significant one; within a
    # clause, by value in its direction, then by rank (ascending: absent values stay last).
    for clause in reversed(clauses):
        rank_value = _rank_and_value(clause.key, runs_uri)
        keyed = [(rank_value(d), d) for d in rows]
        keyed.sort(key=lambda pair: pair[0][1], reverse=not clause.ascending)
        keyed.sort(key=lambda pair: pair[0][0])
        rows = [d for _, d in keyed]
    return rows
