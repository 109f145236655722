"""A model's performance on labelled rows: accuracy, F1 and AUC, or MAE and RMSE (scikit-learn).

For classification, F1 is the positive class's when there are two classes (the larger label
when sorted, as scikit-learn's default `pos_label=1` assumes 0/1 labels) and the macro mean
over classes otherwise; AUC needs the model's probabilities and both classes among the labels
(one-vs-rest macro AUC for more than two), else it is left out (NaN), never guessed.
"""

from __future__ import annotations

import math
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
METRICS = {CLASSIFICATION: ("accuracy", "f1", "auc"), REGRESSION: ("mae", "rmse")}
HIGHER_IS_BETTER = {"accuracy", "f1", "auc", "estimated_accuracy"}
"""The other metrics a monitor tracks (mae, rmse, drift_share) are better lower."""


def performance(
    task: str, labels: Any, predictions: Any, probabilities: Any = None, classes: Any = None
) -> dict[str, float]:
    """Metric name -> value for the rows given (NaN for a metric the rows cannot give)."""
    import numpy as np

    names = METRICS[task]
    if len(labels) == 0:
        return dict.fromkeys(names, math.nan)
    if task == REGRESSION:
        from sklearn.metrics import mean_absolute_error, mean_squared_error

        y, p = np.asarray(labels, dtype="float64"), np.asarray(predictions, dtype="float64")
        return {
            "mae": float(mean_absolute_error(y, p)),
            "rmse": float(math.sqrt(mean_squared_error(y, p))),
        }
    from sklearn.metrics import accuracy_score, f1_score

    y, p = comparable(labels), comparable(predictions)
    if (y.dtype.kind in "biuf") != (p.dtype.kind in "biuf"):  # 1 and "1": one label
        y, p = y.astype(str), p.astype(str)
    seen = sorted_labels(np.concatenate([y, p]))
    out = {"accuracy": float(accuracy_score(y, p))}
    if len(seen) <= 2:
        positive = seen[-1]
        out["f1"] = float(f1_score(y == positive, p == positive, zero_division=0))
    else:
        out["f1"] = float(f1_score(y, p, average="macro", labels=seen, zero_division=0))
    out["auc"] = auc(y, probabilities, classes)
    return out


def comparable(values: Any) -> Any:
    """Labels as an array scikit-learn accepts: numbers as numbers, anything else as text."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind == "O":
        try:
            array = np.asarray(array.tolist(), dtype="float64")
        except (TypeError, ValueError):
            array = array.astype(str)
    if array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype("int64")
    return array


def auc(labels: Any, probabilities: Any, classes: Any) -> float:
    """ROC AUC from class probabilities (columns in the order of `classes`); NaN when the
    labels hold one class only, or a class the model does not know."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    if probabilities is None or classes is None:
        return math.nan
    classes = list(classes)
    present = set(labels.tolist())
    if len(present) < 2 or not present <= set(classes):
        present = {str(v) for v in present}
        classes = [str(c) for c in classes]
        labels = labels.astype(str)
    if len(present) < 2 or not present <= set(classes):
        return math.nan
    probs = np.asarray(probabilities, dtype="float64")
    if len(classes) == 2:
        return float(roc_auc_score(labels == classes[1], probs[:, 1]))
    if len(present) < len(classes):
        return math.nan  # one-vs-rest needs every class among the labels
    return float(roc_auc_score(labels, probs, multi_class="ovr", labels=classes))


def sorted_labels(values: Any) -> list[Any]:
    """The distinct labels in order (numbers before text when they are mixed)."""
    distinct = set(values.tolist())
    try:
        return sorted(distinct)
    except TypeError:
        return sorted(distinct, key=lambda v: (isinstance(v, str), str(v)))
