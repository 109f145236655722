"""Ordering runs as MLflow does: order_by clauses, missing values last, max_results."""

from __future__ import annotations

import math

import pytest

from nb_mlops.errors import InvalidValue
from nb_mlops.tracking.order import (
    OrderByError,
    OrderClause,
    check_max_results,
    parse_order_by,
    sort_runs,
)


def run(run_id: str, minute: int, **fields) -> dict:
    return {"run_id": run_id, "start": f"2026-11-26T10:{minute:02d}:00+00:00", **fields}


RUNS = [
    run("a", 1, name="b-run", status="finished", metrics={"acc": 0.5}, params={"n": 100}),
    run("b", 2, name="a-run", status="crashed", metrics={"acc": math.nan}, params={"n": "1000"}),
    run("c", 3, name="c-run", status="interrupted", metrics={"acc": 0.9}, params={"n": 200}),
    run("d", 4, name="d-run", status="running", metrics={}, params={"n": "big"}),
    run("e", 5, name="e-run", status="failed", metrics={"acc": 0.9}, end="2026-11-26T11:00:00"),
    run("f", 0, name="f-run", status="finished", metrics={"acc": -math.inf}, tags={"t": "x"}),
]


def order(*clauses: str, runs: list[dict] = RUNS) -> str:
    return " ".join(d["run_id"] for d in sort_runs(runs, parse_order_by(list(clauses))))


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        ((), "e d c b a f"),  # newest first
        (("metrics.acc DESC",), "e c a f b d"),  # NaN after numbers, missing after NaN
        (("metrics.acc",), "f a e c b d"),  # ties on acc: newest first
        (("metrics.acc ASC", "run_name DESC"), "f a e c b d"),
        (("metrics.acc desc", "attributes.start_time"), "c e a f b d"),
        (("params.n",), "a c b d e f"),  # numbers by value, then text, then missing
        (("params.n DESC",), "d b c a e f"),  # missing still last
        (("tags.t",), "f e d c b a"),
        (("run_name",), "b a c d e f"),
        (("attributes.`Run name` DESC",), "f e d c a b"),
        (("status",), "e b a f c d"),  # MLflow's names: FAILED, FINISHED, KILLED, RUNNING
        (("end_time",), "e d c b a f"),  # everyone else has no end: last, newest first
        (("start_time",), "f a b c d e"),
        (("created DESC",), "e d c b a f"),
        (("`metrics`.`acc` DESC", "Created"), "c e a f b d"),
    ],
)
def test_order(clauses: tuple[str, ...], expected: str) -> None:
    assert order(*clauses) == expected


def test_ties_fall_to_the_run_id() -> None:
    same = [run(i, 1) for i in "zxy"]
    assert order(runs=same) == "x y z"
    assert order("start_time DESC", runs=same) == "x y z"


def test_parse_order_by() -> None:
    assert parse_order_by(None) == []
    assert parse_order_by("metrics.acc DESC") == parse_order_by(["metric.acc desc"])
    (clause,) = parse_order_by(["metrics.`f1 score`"])
    assert isinstance(clause, OrderClause) and clause.ascending
    assert str(clause) == "metrics.`f1 score` ASC"
    assert [str(c) for c in parse_order_by(["created", "tags.x   DESC"])] == [
        "start ASC",
        "tags.x DESC",
    ]


@pytest.mark.parametrize(
    ("clause", "fragment"),
    [
        ("metrics.acc DESCENDING", "expected ASC, DESC or the end of the clause"),
        ("metrics.acc DESC ASC", "expected ASC, DESC or the end of the clause"),
        ("", "expected a key"),
        ("m.acc", "unknown key prefix 'm'"),
        ("acc", "unknown attribute 'acc'"),
        ("datasets.name", "a run can read several datasets"),
        ("metrics.acc != 1", "expected ASC, DESC"),
    ],
)
def test_bad_clauses(clause: str, fragment: str) -> None:
    with pytest.raises(OrderByError) as caught:
        parse_order_by([clause])
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("bad order_by clause at column ")
    assert isinstance(caught.value, ValueError)


def test_a_key_ordered_twice_is_refused() -> None:
    with pytest.raises(OrderByError, match="already ordered by"):
        parse_order_by(["metrics.acc", "metric.acc DESC"])
    with pytest.raises(OrderByError, match="already ordered by"):
        parse_order_by(["created", "start_time DESC"])
    with pytest.raises(InvalidValue, match="is a string"):
        parse_order_by([3])  # type: ignore[list-item]


def test_check_max_results() -> None:
    assert check_max_results(None) is None
    assert check_max_results(3) == 3
    for bad in (0, -1, True, 2.5, "3"):
        with pytest.raises(InvalidValue, match="max_results"):
            check_max_results(bad)
