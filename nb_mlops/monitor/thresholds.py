"""A monitor's alert thresholds: their defaults from the reference's performance, and the
bounds a caller gives (accuracy, F1, AUC and the estimated accuracy alert below their bound;
MAE, RMSE and the drift share above it)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.performance import CLASSIFICATION, HIGHER_IS_BETTER, METRICS, REGRESSION

DEFAULT_DROP = 0.1
"""Default bound of accuracy, F1 and AUC: this much below the reference's value."""
DEFAULT_RISE = 1.5
"""Default bound of MAE and RMSE: this many times the reference's value."""
CBPE_METRIC = "estimated_accuracy"
ALERTABLE = (*METRICS[CLASSIFICATION], *METRICS[REGRESSION], CBPE_METRIC, "drift_share")


def default_thresholds(task: str, ref: Mapping[str, float], share: float) -> dict[str, float]:
    out = {"drift_share": share}
    for metric in METRICS[task]:
        value = ref.get(metric)
        if value is None or not math.isfinite(value):
            continue
        if metric in HIGHER_IS_BETTER:
            out[metric] = round(value - DEFAULT_DROP, 6)
        else:
            out[metric] = round(value * DEFAULT_RISE, 6)
    if task == CLASSIFICATION and "accuracy" in out:
        out[CBPE_METRIC] = out["accuracy"]
    return out


def merged_thresholds(
    base: Mapping[str, float], given: Mapping[str, float | None]
) -> dict[str, float]:
    if not isinstance(given, Mapping):
        raise MonitorError(f"thresholds must be a dict of metric -> bound, not {given!r}")
    out = dict(base)
    for metric, bound in given.items():
        if metric not in ALERTABLE:
            raise MonitorError(
                f"no metric {metric!r} to alert on; thresholds apply to {', '.join(ALERTABLE)}"
            )
        if bound is None:
            out.pop(metric, None)
        elif (
            isinstance(bound, bool)
            or not isinstance(bound, (int, float))
            or not math.isfinite(bound)
        ):
            raise MonitorError(f"the threshold of {metric} must be a number, not {bound!r}")
        else:
            out[metric] = float(bound)
    return out
