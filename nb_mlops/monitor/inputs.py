"""The monitor's checks of what a caller gives it (frames, predictions, labels, ids,
probabilities) and its calls of the model, each failing with one line that names the fault."""

from __future__ import annotations

import math
from typing import Any

from nb_mlops.monitor import state
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.performance import CLASSIFICATION, REGRESSION, TASKS


def check_columns(columns: Any, side: str) -> None:
    bad = [c for c in columns if not isinstance(c, str)]
    if bad:
        raise MonitorError(
            f"the {side}'s column names must be text; rename {', '.join(repr(c) for c in bad[:5])}"
        )
    reserved = [c for c in columns if c.startswith("__")]
    if reserved:
        raise MonitorError(
            f"the {side}'s column {reserved[0]!r} starts with '__', which the monitor keeps "
            "for its own columns; rename it"
        )


def find_task(task: Any, model: Any, labels: Any, predictions: Any) -> str:
    if task is not None:
        if task not in TASKS:
            raise MonitorError(f"task must be 'classification' or 'regression', not {task!r}")
        return task
    if model is not None:
        if callable(getattr(model, "predict_proba", None)) or hasattr(model, "classes_"):
            return CLASSIFICATION
        return REGRESSION
    for values in (labels, predictions):
        if values is not None:
            import pandas as pd

            series = pd.Series(list(values) if not hasattr(values, "dtype") else values)
            if pd.api.types.is_float_dtype(series.dtype):
                return REGRESSION
            return CLASSIFICATION
    raise MonitorError(
        "without a model or labels the monitor cannot tell its task: "
        "pass task='classification' or task='regression'"
    )


def predict(model: Any, x: Any, task: str, what: str) -> tuple[Any, Any, Any]:
    """(predictions, probabilities or None, classes or None) of `model` on `x`."""
    import numpy as np

    try:
        preds = np.asarray(model.predict(x))
    except Exception as exc:
        raise MonitorError(
            f"the model ({type(model).__name__}) failed to predict on {what}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if preds.ndim != 1 or len(preds) != len(x):
        raise MonitorError(
            f"the model's predictions on {what} have shape {preds.shape}, not ({len(x)},)"
        )
    probs, classes = None, None
    if task == CLASSIFICATION and callable(getattr(model, "predict_proba", None)):
        try:
            probs = np.asarray(model.predict_proba(x), dtype="float64")
        except Exception as exc:
            raise MonitorError(
                f"the model's predict_proba failed on {what}: {type(exc).__name__}: {exc}"
            ) from exc
        classes = list(getattr(model, "classes_", range(probs.shape[1])))
    elif task == CLASSIFICATION and hasattr(model, "classes_"):
        classes = list(model.classes_)
    return preds, probs, classes


def checked_values(values: Any, n: int, what: str) -> Any:
    import numpy as np

    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise MonitorError(f"{what} must have one value per row, not {type(values).__name__}")
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else list(values))
    if array.ndim != 1:
        raise MonitorError(f"{what} must be one value per row, got shape {array.shape}")
    if len(array) != n:
        raise MonitorError(f"{what} has {len(array)} values for {n} rows")
    return array


def checked_probabilities(values: Any, n: int, k: int) -> Any:
    import numpy as np

    probs = np.asarray(values, dtype="float64")
    if probs.ndim == 1 and k == 2:
        probs = np.column_stack([1 - probs, probs])
    if probs.ndim != 2 or probs.shape[0] != n or (k and probs.shape[1] != k):
        raise MonitorError(
            f"probabilities must be {n} rows x {k or 'k'} classes, got {probs.shape}"
        )
    if not np.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise MonitorError("probabilities must be finite numbers in [0, 1]")
    return probs


def checked_ids(ids: Any, n: int | None) -> list[str] | None:
    """Ids as text (1 and "1" are one id), one per row and unique."""
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise MonitorError(f"ids must be a sequence with one id per row, not {type(ids).__name__}")
    values = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    if n is not None and len(values) != n:
        raise MonitorError(f"ids has {len(values)} values for {n} rows")
    for v in values:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            raise MonitorError("ids holds a missing id")
    text = [str(v) for v in values]
    if len(set(text)) != len(text):
        dup = next(t for t in text if text.count(t) > 1)
        raise MonitorError(f"ids holds {dup!r} more than once")
    return text


def probability_matrix(rows: Any) -> Any:
    cols = sorted(
        (c for c in rows.columns if c.startswith(state.PROBA)),
        key=lambda c: int(c[len(state.PROBA) :]),
    )
    if not cols:
        return None
    return rows[cols].to_numpy(dtype="float64")


def sorted_classes(values: Any) -> list[Any]:
    from nb_mlops.monitor.performance import sorted_labels

    return sorted_labels(values)


def plain_list(values: Any) -> list[Any]:
    """Values as JSON can hold them (numpy scalars as Python numbers)."""
    return [v.item() if hasattr(v, "item") else v for v in list(values)]


def frame_hash(frame: Any) -> str:
    """A hash of a frame's columns and values (to recognise the same reference again)."""
    import hashlib

    import pandas as pd

    h = hashlib.sha256(repr(list(frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()
