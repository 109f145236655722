"""Params captured from a cell: literal assignments at its top level.

`n_estimators = 200` at the top level of a tracked cell records `n_estimators: 200`. Only
literals count (numbers, strings, bools, None, and lists/tuples/dicts of those): a value computed
at run time is the cell's business, not a setting. When a name is assigned several literals, the
last one wins. Tuple targets (`a, b = 1, 2`) and annotated assignments are taken too.
"""

from __future__ import annotations

import ast
from typing import Any

_SCALARS = (int, float, str, bool, type(None))


def literal_params(source: str) -> dict[str, Any]:
    """Top-level literal assignments of `source` (Python, after IPython's transforms)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    params: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                _take(target, node.value, params)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            _take(node.target, node.value, params)
    return params


def _take(target: ast.expr, value: ast.expr, params: dict[str, Any]) -> None:
    if isinstance(target, ast.Name):
        ok, literal = _literal(value)
        if ok:
            params[target.id] = literal
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
        if len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts, strict=True):
                _take(t, v, params)


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return _plain(value)


def _plain(value: Any) -> tuple[bool, Any]:
    """JSON-able form of a literal, or (False, None) for sets, bytes, complex numbers."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and value != value:
            return False, None
        return True, value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        if all(ok for ok, _ in items):
            return True, [v for _, v in items]
        return False, None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            ok, pv = _plain(v)
            if not ok or not isinstance(k, (str, int, float, bool)):
                return False, None
            out[str(k)] = pv
        return True, out
    return False, None
