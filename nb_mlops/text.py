"""Text forms shared by every view: byte sizes, values, durations, times and plain tables.

The CLI prints these, the HTML views escape them, and the widgets reuse them, so a number or a
time reads the same on every surface.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` safe to print on a terminal: control characters (an escape sequence in a run
    name can clear the screen) are shown as `\\x1b`; newlines and tabs stay."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def fmt_value(value: Any) -> str:
    """A short display form: floats to 6 significant digits, lists/dicts as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    """0.012 -> '12 ms', 90 -> '90.0 s', 600 -> '10.0 min', 9000 -> '2.5 h'."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def human_duration(seconds: float | None) -> str:
    """A duration as people say it: '12 ms', '4.2 s', '42 s', '1 min 12 s', '2 h 5 min'."""
    if seconds is None or (isinstance(seconds, float) and not math.isfinite(seconds)):
        return ""
    if seconds < 0:
        return f"-{human_duration(-seconds)}"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def short_time(iso: Any) -> str:
    """An ISO-8601 time to the second, with a space: '2026-12-05 09:30:00'."""
    return str(iso or "")[:19].replace("T", " ")


def plural(n: int, noun: str) -> str:
    """plural(1, "object") -> '1 object'; plural(3, "object") -> '3 objects'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def text_table(header: list[str], rows: list[list[str]], max_width: int = 40) -> str:
    """A plain aligned table (cells cut to `max_width`)."""

    def cut(s: str) -> str:
        s = s.replace("\n", " ")
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cut(h) for h in header]] + [[cut(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def did_you_mean(word: str, known: Any, *, prefix: str = "", cutoff: float = 0.6) -> str:
    """The hint `; did you mean 'runs'?` when `word` is close to one of `known` (difflib), else
    ""; `prefix` is put before each name shown (`metrics.` for a metric key)."""
    import difflib

    names = sorted({str(k) for k in known})
    close = difflib.get_close_matches(str(word), names, n=3, cutoff=cutoff)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(prefix + c) for c in close) + "?"
