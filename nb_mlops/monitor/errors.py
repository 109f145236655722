"""Errors of the monitoring package."""

from __future__ import annotations

from nb_mlops.errors import NbMlopsError


class MonitorError(NbMlopsError, ValueError):
    """Monitoring inputs nb-mlops cannot use (an empty frame, an unknown column or test); the
    one-line message names the thing at fault."""
