"""Telling the user about something they did not ask for (a store created, data snapshotted)."""

from __future__ import annotations

import sys


def notify(message: str) -> None:
    """One line on stderr, `nb-mlops: ...`; the notebook shows it under the cell."""
    print(f"nb-mlops: {message}", file=sys.stderr)
