"""Time stamps as the store writes them: UTC, ISO-8601, sortable as text."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any


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


def local_time(iso: Any, *, zone: bool = True) -> str:
    """A stored (UTC ISO-8601) time in this machine's time zone: '2026-12-05 10:14:03 CET'.

    Times without an offset are taken as UTC (the store writes UTC); text that is not a time is
    returned as it is."""
    if not iso:
        return ""
    try:
        when = dt.datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return str(iso)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone()
    return when.strftime("%Y-%m-%d %H:%M:%S %Z" if zone else "%Y-%m-%d %H:%M:%S").strip()
