"""A model's fitted arrays as plain numpy arrays, for comparing two models without unpickling.

A record carries each registered model's parameters as an `.npz` that `numpy.load(...,
allow_pickle=False)` reads: names are dotted attribute paths and values are numeric, boolean
or text arrays, never objects. What is taken:

- scikit-learn: the fitted attributes (public names ending in `_`, such as `coef_`,
  `classes_`), recursively into nested estimators (`estimators_`, a pipeline's `steps`, a
  search's `best_estimator_`) and into trees (`tree_` as its node arrays:
  `estimators_.3.tree_.nodes.threshold`). Timings (`refit_time_`, `*_time` columns of
  `cv_results_`) are left out: they differ on every fit and shape no prediction;
- torch: a module's `state_dict()`, or a state_dict itself (`layer.0.weight`); tensors whose
  dtype numpy lacks (bfloat16, float8) are widened to float32;
- anything else (xgboost, lightgbm, plain objects): None, and the record's `params` is null.

`write_npz` writes the arrays with a fixed time stamp, so the same model gives the same bytes.
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterable, Mapping
from typing import IO, Any

MAX_ARRAYS = 100_000
"""A model with more arrays than this (a forest of 10,000 deep trees...) is cut, not exploded."""
_MAX_DEPTH = 12
_STAMP = (1980, 1, 1, 0, 0, 0)


def fitted_arrays(model: Any) -> dict[str, Any] | None:
    """The fitted arrays of a scikit-learn estimator or a torch module/state_dict, by dotted
    name; None for other objects, or when nothing numeric was found (an unfitted estimator)."""
    torch = sys.modules.get("torch")
    if torch is not None and _is_torch(model, torch):
        return _torch_arrays(model, torch) or None
    if _is_sklearn(model):
        out: dict[str, Any] = {}
        _walk_estimator(model, "", out, 0)
        return out or None
    return None


def write_npz(arrays: Mapping[str, Any], fileobj: IO[bytes]) -> None:
    """Write `arrays` as an .npz (one `.npy` member per name, uncompressed, fixed time stamps)
    that `numpy.load(..., allow_pickle=False)` reads; object arrays are refused."""
    import numpy as np

    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_STAMP)
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def read_npz(source: str | bytes | IO[bytes]) -> dict[str, Any]:
    """The arrays of an .npz (a path, its bytes or a binary file), read without unpickling."""
    import numpy as np

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with np.load(source, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


# ------------------------------------------------------------------------------ scikit-learn
def _is_sklearn(obj: Any) -> bool:
    base = sys.modules.get("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator)


def _is_timing(name: str) -> bool:
    return name.endswith(("_time", "_time_")) or name == "refit_time_"


def _walk_estimator(est: Any, prefix: str, out: dict[str, Any], depth: int) -> None:
    """The fitted attributes of one estimator, and of the estimators inside it."""
    state = vars(est)
    for name in sorted(state):
        if name.startswith(("_", "named_")) or not name.endswith("_") or _is_timing(name):
            continue  # named_estimators_ and the like repeat estimators_ by name
        _take(state[name], f"{prefix}{name}", out, depth + 1)
    for name in ("steps", "transformer_list"):  # fitted in place: a Pipeline, a FeatureUnion
        members = state.get(name)
        if isinstance(members, list):
            _take_items(members, f"{prefix}{name}", out, depth + 1)


def _label(name: Any, index: int) -> str:
    text = str(name) if isinstance(name, str) and name else str(index)
    return text.replace("/", "_")


def _take(value: Any, key: str, out: dict[str, Any], depth: int) -> None:
    """Put `value` (an array, a number, a list, a dict, an estimator, a tree) under `key`."""
    if len(out) >= MAX_ARRAYS or depth > _MAX_DEPTH or value is None:
        return
    import numpy as np

    if _is_sklearn(value):
        _walk_estimator(value, f"{key}.", out, depth)
        return
    if isinstance(value, np.ma.MaskedArray):
        value = np.ma.getdata(value)
    if isinstance(value, np.ndarray):
        _take_array(value, key, out, depth)
    elif isinstance(value, (bool, int, float, str, np.generic)):
        out[key] = np.asarray(value)
    elif isinstance(value, (list, tuple)):
        _take_items(value, key, out, depth)
    elif isinstance(value, Mapping):
        for k in sorted(value, key=str):
            if not _is_timing(str(k)):
                _take(value[k], f"{key}.{_label(k, 0)}", out, depth + 1)
    elif type(value).__name__ == "Tree" and type(value).__module__.startswith("sklearn.tree"):
        _take(value.__getstate__(), key, out, depth)


def _take_items(items: Iterable[Any], key: str, out: dict[str, Any], depth: int) -> None:
    items = list(items)
    named = all(isinstance(it, tuple) and len(it) >= 2 and isinstance(it[0], str) for it in items)
    if items and named:  # (name, estimator, ...) lists: ColumnTransformer.transformers_
        for i, it in enumerate(items):
            _take(it[1], f"{key}.{_label(it[0], i)}", out, depth + 1)
        return
    import numpy as np

    if items and all(isinstance(it, (bool, int, float, np.generic)) for it in items):
        out[key] = np.asarray(items)
        return
    for i, it in enumerate(items):
        _take(it, f"{key}.{i}", out, depth + 1)


def _take_array(array: Any, key: str, out: dict[str, Any], depth: int) -> None:
    import numpy as np

    if array.dtype.names is not None:  # a structured array (a tree's nodes): one per field
        for field in array.dtype.names:
            _take_array(np.ascontiguousarray(array[field]), f"{key}.{field}", out, depth)
        return
    if not array.dtype.hasobject:
        out[key] = array
        return
    flat = array.reshape(-1)
    if all(isinstance(v, str) for v in flat):  # labels kept as objects: text arrays
        out[key] = flat.astype(str).reshape(array.shape)
    elif all(isinstance(v, (bool, int, float, np.generic)) for v in flat):
        try:
            out[key] = np.asarray(flat.tolist()).reshape(array.shape)
        except (TypeError, ValueError):
            pass
    else:  # estimators in an array (GradientBoosting's estimators_), or mixed: item by item
        for index in np.ndindex(array.shape):
            name = ".".join(str(i) for i in index)
            _take(array[index], f"{key}.{name}", out, depth + 1)


# ------------------------------------------------------------------------------------- torch
def _is_torch(obj: Any, torch: Any) -> bool:
    if isinstance(obj, torch.nn.Module):
        return True
    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _torch_arrays(model: Any, torch: Any) -> dict[str, Any]:
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    out = {}
    for name, tensor in state.items():
        if len(out) >= MAX_ARRAYS:
            break
        if not isinstance(tensor, torch.Tensor):
            continue
        t = tensor.detach()
        if t.layout != torch.strided:
            t = t.to_dense()
        if t.is_quantized:
            t = t.dequantize()
        t = t.resolve_conj().resolve_neg().cpu()
        try:
            array = t.numpy()
        except TypeError:  # bfloat16, float8...: no numpy dtype
            array = t.float().numpy()
        out[str(name)] = array.copy()
    return out
