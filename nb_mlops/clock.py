"""Time stamps as the store writes them: UTC, ISO-8601, sortable as text."""

from __future__ import annotations

import datetime as dt
import time


def utcnow() -> str:
    """Now as UTC ISO-8601 with microseconds (`2026-12-05T09:30:00.123456+00:00`)."""
    return dt.datetime.now(dt.timezone.utc).isoformat()


def from_timestamp(seconds: float) -> str:
    """A Unix time (a file's mtime, a metric point's time) in the form `utcnow` writes."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()


def utc_seconds() -> str:
    """Now to the second, `2026-12-05T09:30:00Z` (format files, one-line records)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def compact_stamp() -> str:
    """Now in UTC as `20261205T093000`, for file and folder names (sessions, copies set aside)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())
