"""Telling a running run from one whose process died (kernel crash, kill -9, power cut).

A run records the host, pid and start time of its process. On the same host a reader checks that
this process still exists (pid reuse is caught by the start time). From another host it checks
the run's heartbeat file, which the writing process touches every 15 s.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

STALE_HEARTBEAT_S = 120.0

_identity: dict[str, Any] | None = None


def process_identity() -> dict[str, Any]:
    """host, pid and start time of this process (cached; refreshed after a fork)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity["pid"] != pid:
        _identity = {"host": socket.gethostname(), "pid": pid, "started": _start_time(pid)}
    return _identity


def _start_time(pid: int) -> float | None:
    try:
        import psutil

        return round(psutil.Process(pid).create_time(), 2)
    except Exception:  # psutil missing or the process is gone
        return None


def is_dead(proc: dict[str, Any] | None, heartbeat: Path) -> bool:
    """True when the process that was writing a run is known to be gone."""
    if not proc:
        return False
    if proc.get("host") == socket.gethostname():
        pid = proc.get("pid")
        if not isinstance(pid, int):
            return False
        if pid == os.getpid():
            return proc.get("started") != process_identity()["started"]
        started = _start_time(pid)
        if started is None:
            return True
        return proc.get("started") is not None and abs(started - proc["started"]) > 1.0
    try:
        age = time.time() - heartbeat.stat().st_mtime
    except FileNotFoundError:
        return True
    return age > STALE_HEARTBEAT_S
