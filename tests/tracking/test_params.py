"""Params captured from a cell's top-level literal assignments."""

from __future__ import annotations

import textwrap

import pytest

from nb_mlops.tracking.params import literal_params

CASES = [
    # (id, source, expected)
    ("int", "n_estimators = 200", {"n_estimators": 200}),
    ("float", "lr = 0.001", {"lr": 0.001}),
    ("exponent", "lr = 1e-3", {"lr": 0.001}),
    ("negative int", "offset = -3", {"offset": -3}),
    ("negative float", "shift = -0.5", {"shift": -0.5}),
    ("unary plus", "x = +4", {"x": 4}),
    ("string", "model = 'rf'", {"model": "rf"}),
    ("double-quoted unicode", 'name = "모델 v2"', {"name": "모델 v2"}),
    ("true", "shuffle = True", {"shuffle": True}),
    ("false", "shuffle = False", {"shuffle": False}),
    ("none", "max_depth = None", {"max_depth": None}),
    ("list", "layers = [64, 32, 16]", {"layers": [64, 32, 16]}),
    ("tuple becomes list", "shape = (28, 28)", {"shape": [28, 28]}),
    ("nested tuple", "grid = (1, (2, 3))", {"grid": [1, [2, 3]]}),
    (
        "nested dict and list",
        "cfg = {'opt': {'name': 'adam', 'betas': (0.9, 0.99)}, 'n': [1, None]}",
        {"cfg": {"opt": {"name": "adam", "betas": [0.9, 0.99]}, "n": [1, None]}},
    ),
    ("int dict keys become strings", "m = {1: 'a', 2: 'b'}", {"m": {"1": "a", "2": "b"}}),
    ("empty containers", "a = []\nb = {}\nc = ()", {"a": [], "b": {}, "c": []}),
    ("tuple unpacking", "a, b = 1, 'x'", {"a": 1, "b": "x"}),
    ("list unpacking", "[a, b] = [True, None]", {"a": True, "b": None}),
    ("nested unpacking", "(a, b), c = (1, 2), 3", {"a": 1, "b": 2, "c": 3}),
    ("chained assignment", "a = b = 7", {"a": 7, "b": 7}),
    ("annotated", "epochs: int = 10", {"epochs": 10}),
    ("annotated without value", "epochs: int", {}),
    ("last literal wins", "lr = 0.1\nlr = 0.01", {"lr": 0.01}),
    ("several names", "a = 1\nb = 'two'\nc = [3]", {"a": 1, "b": "two", "c": [3]}),
    ("names only", "x = y", {}),
    ("function call", "x = compute(3)", {}),
    ("builtin call", "x = float('nan')", {}),
    ("arithmetic", "x = 2 * 3", {}),
    ("comprehension", "x = [i for i in range(3)]", {}),
    ("list with a name", "x = [1, y]", {}),
    ("set", "x = {1, 2}", {}),
    ("bytes", "x = b'raw'", {}),
    ("complex", "x = 1j", {}),
    ("tuple dict key", "x = {(1, 2): 'a'}", {}),
    ("attribute target", "obj.x = 5", {}),
    ("subscript target", "d['k'] = 5", {}),
    ("augmented assignment", "x += 1", {}),
    ("mismatched unpacking", "a, b = 1, 2, 3", {}),
    ("unpacking a non-literal", "a, b = pair", {}),
    ("starred unpacking", "a, *rest = 1, 2", {"a": 1}),
    ("partly literal unpacking", "a, b = 1, f()", {"a": 1}),
    ("inside if", "if True:\n    x = 1", {}),
    ("inside for", "for i in range(2):\n    x = 1", {}),
    ("inside while", "while False:\n    x = 1", {}),
    ("inside def", "def f():\n    x = 1", {}),
    ("inside class", "class C:\n    x = 1", {}),
    ("inside with", "with open('f') as fh:\n    x = 1", {}),
    ("inside try", "try:\n    x = 1\nexcept Exception:\n    pass", {}),
    ("syntax error", "x = = 1", {}),
    ("unclosed bracket", "x = [1, 2", {}),
    ("empty", "", {}),
    ("comments only", "# lr = 0.1", {}),
    ("expression statement", "model.fit(X, y)", {}),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_literal_params(source: str, expected: dict) -> None:
    assert literal_params(source) == expected


def test_a_realistic_cell() -> None:
    source = textwrap.dedent(
        """
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier

        n_estimators = 200
        max_depth: int | None = 8
        criterion = "gini"
        X, y = load_data()
        seeds = [0, 1, 2]
        clf = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth)
        if n_estimators > 100:
            warm_start = True
        clf.fit(X, y)
        score = clf.score(X, y)
        n_estimators = 300
        """
    )
    assert literal_params(source) == {
        "n_estimators": 300,
        "max_depth": 8,
        "criterion": "gini",
        "seeds": [0, 1, 2],
    }


def test_values_keep_their_python_types() -> None:
    params = literal_params("a = 1\nb = 1.0\nc = True")
    assert type(params["a"]) is int
    assert type(params["b"]) is float
    assert params["c"] is True


def test_infinity_literal_is_kept() -> None:
    params = literal_params("big = 1e999")
    assert params == {"big": float("inf")}
