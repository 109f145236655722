"""Params, tags and metric names as the store keeps them: checked keys, JSON-able values.

Params and tags arrive from user code as any Python object (numpy scalars, tuples, nested
dicts); what is stored is plain JSON with secrets redacted (see redact.py). The same rules
serve runs and model versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nb_mlops.errors import NbMlopsError
from nb_mlops.redact import redact_value


def check_key(kind: str, key: Any) -> str:
    """`key` when it is a usable name for a `kind` (param, metric, tag); else a one-line error."""
    if not isinstance(key, str) or not key.strip():
        raise NbMlopsError(f"{kind} names must be non-empty strings, got {key!r}")
    if "\n" in key or len(key) > 250:
        raise NbMlopsError(f"{kind} name {key[:40]!r} must be one line of at most 250 characters")
    return key


def clean_value(value: Any) -> Any:
    """A JSON-able form of a param or tag value (numpy scalars unwrapped, tuples as lists)."""
    if isinstance(value, (str, bool, int, type(None))):
        return value
    if isinstance(value, float):
        return value
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        try:
            return clean_value(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (list, tuple)):
        return [clean_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): clean_value(v) for k, v in value.items()}
    return repr(value)


def clean_fields(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Params or tags to store: each key checked, each value made JSON-able and redacted."""
    return {check_key(kind, k): redact_value(k, clean_value(v)) for k, v in values.items()}


def same_value(a: Any, b: Any) -> bool:
    """Equality for param values where NaN equals NaN (the same setting logged twice)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b
