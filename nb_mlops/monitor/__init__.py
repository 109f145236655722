"""Model monitoring: data drift between a reference and a current frame, the monitor of a
model over time (windows, late labels, alerts, the model-version guard), baselines and
constraints, accuracy estimated without labels, and a Prometheus exporter.

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
    "Monitor": "monitor",
    "MonitorAlert": "monitor",
    "Observation": "observation",
    "monitors": "state",
    "baseline": "profile",
    "baseline_for_model": "trainingdata",
    "Baseline": "profile",
    "ColumnBaseline": "profile",
    "Violations": "violations",
    "Calibrator": "cbpe",
    "Estimate": "cbpe",
    "fit_calibrator": "cbpe",
    "estimate_accuracy": "cbpe",
    "chance_correct": "cbpe",
    "serve": "prometheus",
    "write_textfile": "prometheus",
    "dashboard_json": "prometheus",
    "Exporter": "prometheus",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, _WHERE)
