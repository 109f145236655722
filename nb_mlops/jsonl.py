"""Reading JSON-lines files that other processes append to (history, a run's cells), and JSON
for readers outside Python (the CLI's `--json`, the server's answers)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Whole JSON lines of a file (a partial last line from a kill is skipped)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in raw[: raw.rfind(b"\n") + 1].splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def strict_value(value: Any) -> Any:
    """JSON has no NaN or Infinity: they become the strings Python's float() reads back."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: strict_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_value(v) for v in value]
    return value


_COMPACT = json.JSONEncoder(ensure_ascii=False, default=str, allow_nan=False)


def strict_json(value: Any, indent: int | None = None) -> str:
    """JSON any parser reads: NaN and infinities as strings (see strict_value), other objects
    as their text; in C unless indented."""
    encoder = _COMPACT
    if indent is not None:
        encoder = json.JSONEncoder(ensure_ascii=False, default=str, allow_nan=False, indent=indent)
    try:
        return encoder.encode(value)
    except ValueError:  # NaN or an infinity somewhere
        return encoder.encode(strict_value(value))
