"""What MLflow accepts as names and values, and how ours are made to fit.

MLflow refuses a metric, param or tag key with characters outside letters, digits, `_ - . / :`
and spaces, or that a path would normalise to another name (`a//b`, `../x`), or longer than 250
characters; param values over 6,000 and tag values over 8,000 characters. A key it refuses is
sent with each offending character as `_` (and cut to length); a value too long is cut with a
marker. Every change is reported, once per key, so nothing is altered silently.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from nb_mlops.redact import redact_text, redact_value

__all__ = [
    "MAX_KEY",
    "MAX_PARAM_VALUE",
    "MAX_TAG_VALUE",
    "KeyFitter",
    "fit_key",
    "fit_value",
    "param_text",
]

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
_BAD = re.compile(r"[^\w.\- /:]")
_CUT = " [cut by nb-mlops]"


def fit_key(key: str) -> str:
    """`key` as MLflow accepts it (unchanged when it already does)."""
    fitted = _BAD.sub("_", key)[:MAX_KEY]
    norm = posixpath.normpath(fitted) if fitted else "_"
    if norm != fitted or norm == "." or norm.startswith(("..", "/")):
        fitted = fitted.replace("/", "_").replace("..", "__") or "_"
        if fitted.startswith("."):
            fitted = "_" + fitted[1:]
    return fitted


class KeyFitter:
    """Fits the names of one kind (a run's params, tags or metrics) so that no two meet: a name
    that fits to one already taken, or to one of `reserved`, gets `_2`, `_3`, ... The same names
    in the same order fit the same way at every sync. `changed` lists (name, sent as)."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self.taken: dict[str, str | None] = dict.fromkeys(reserved)
        self.changed: list[tuple[str, str]] = []
        self._fitted: dict[str, str] = {}

    def __call__(self, key: str) -> str:
        if key in self._fitted:
            return self._fitted[key]
        base = fit_key(key)
        name, n = base, 1
        while name in self.taken and self.taken[name] != key:
            n += 1
            name = f"{base[: MAX_KEY - len(str(n)) - 1]}_{n}"
        self.taken[name] = key
        self._fitted[key] = name
        if name != key:
            self.changed.append((key, name))
        return name


def fit_value(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, with a marker saying so when cut."""
    if len(value) <= limit:
        return value
    return value[: limit - len(_CUT)] + _CUT


def param_text(key: str, value: Any) -> str:
    """A param or tag value as text to send: redacted again (DESIGN.md 3), then as MLflow's own
    client writes values (`str(value)`)."""
    return redact_text(str(redact_value(key, value)))
