"""Model monitoring: data drift between a reference and a current frame (more to come: the
monitor over time, baselines and constraints).

Names load on first use, so `import nb_mlops.monitor` stays cheap (pandas and scipy load with
the first drift). A name here must not be the name of one of the package's modules (see
nb_mlops/lazy.py): `drift` lives in `datadrift`.
"""

from __future__ import annotations

from nb_mlops.lazy import exports

_WHERE = {
    "drift": "datadrift",
    "DriftReport": "driftreport",
    "ColumnDrift": "driftreport",
    "psi": "stattests",
    "STATTESTS": "stattests",
    "MonitorError": "errors",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, _WHERE)
