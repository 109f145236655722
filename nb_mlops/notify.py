"""Telling the user about something they did not ask for (a store created, data snapshotted).

A notice is one line, `nb-mlops: ...`. In a shell it goes to stderr (stdout may be JSON); a
notebook installs its own sink (`push_sink`) so the line shows as a quiet note under the cell
that caused it rather than as red error text.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

Sink = Callable[[str], None]

SINKS: list[Sink] = []
"""Where notices go, the last one pushed first; empty: stderr."""


def notify(message: str) -> None:
    """One line, `nb-mlops: ...`, to the current sink (stderr when none)."""
    text = f"nb-mlops: {message}"
    if SINKS:
        SINKS[-1](text)
    else:
        print(text, file=sys.stderr)


def push_sink(sink: Sink) -> None:
    """Send notices to `sink` until it is removed."""
    SINKS.append(sink)


def remove_sink(sink: Sink) -> None:
    """Stop sending notices to `sink` (no error when it is not there)."""
    if sink in SINKS:
        SINKS.remove(sink)
