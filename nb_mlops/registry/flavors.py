"""Model flavors: how a model object is recognised, written to a file, and read back.

A flavor names the library a model belongs to and the file it is kept in. Files in formats that
run code when read (pickle, joblib, a whole torch module) are marked `unpickles`; the loader only
opens those from this store after checking their hash (see load.py). Heavy libraries are imported
only when a model of theirs is met.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError

FLAVORS = (
    "sklearn",
    "pytorch",
    "pytorch-state-dict",
    "xgboost",
    "lightgbm",
    "joblib",
    "pickle",
    "file",
    "folder",
)
_PICKLE_SUFFIXES = {".joblib", ".pkl", ".pickle"}
_TORCH_SUFFIXES = {".pt", ".pth"}
_XGB_SUFFIXES = {".ubj", ".xgb"}


class FlavorError(NbMlopsError):
    """A model cannot be saved or read in the flavor asked for."""


@dataclass(frozen=True)
class Saved:
    """A model written to disk: its flavor, the file's name, and what reading it back needs."""

    flavor: str
    file: str
    meta: dict[str, Any]


def qualname(obj: Any) -> str:
    """`module.Class` of an object's type."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _module_root(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def _is_torch_module(obj: Any) -> bool:
    return any(
        c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__
    )


def _is_tensor(obj: Any) -> bool:
    return _module_root(obj) == "torch" and hasattr(obj, "detach") and hasattr(obj, "dtype")


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(_is_tensor(v) for v in obj.values())


def _is_sklearn(obj: Any) -> bool:
    return any(c.__module__.startswith("sklearn.") for c in type(obj).__mro__) and hasattr(
        obj, "get_params"
    )


def detect(obj: Any) -> str:
    """The flavor of a model object."""
    root = _module_root(obj)
    if root == "xgboost":
        return "xgboost"
    if root == "lightgbm":
        return "lightgbm"
    if _is_torch_module(obj):
        return "pytorch"
    if _is_state_dict(obj):
        return "pytorch-state-dict"
    if _is_sklearn(obj):
        return "sklearn"
    return "joblib"


def detect_path(path: Path) -> str:
    """The flavor of a model file or folder, by its kind and suffix."""
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix == ".joblib":
        return "joblib"
    if suffix in (".pkl", ".pickle"):
        return "pickle"
    if suffix in _TORCH_SUFFIXES:
        return "pytorch"
    if suffix in _XGB_SUFFIXES:
        return "xgboost"
    return "file"


def save(obj: Any, flavor: str, folder: Path) -> Saved:
    """Write `obj` into `folder` in its flavor's format; return what was written."""
    if flavor not in FLAVORS or flavor in ("file", "folder"):
        raise FlavorError(f"cannot save an object as flavor {flavor!r}")
    try:
        return _save(obj, flavor, folder)
    except Exception as exc:  # an object the format cannot take (a lambda, a DMatrix, ...)
        raise FlavorError(
            f"cannot save the {qualname(obj)} model as {flavor}: {exc}; save it to a file "
            "yourself and register the file's path"
        ) from None


def _save(obj: Any, flavor: str, folder: Path) -> Saved:
    meta = {"class": qualname(obj)}
    if flavor == "xgboost":
        # the native format keeps a model readable across xgboost versions, unlike a pickle
        obj.save_model(str(folder / "model.ubj"))
        return Saved(flavor, "model.ubj", meta)
    if flavor == "lightgbm" and qualname(obj) == "lightgbm.basic.Booster":
        obj.save_model(str(folder / "model.txt"))
        return Saved(flavor, "model.txt", meta)
    if flavor in ("pytorch", "pytorch-state-dict"):
        import torch

        file = "model.pt" if flavor == "pytorch" else "state_dict.pt"
        torch.save(obj, folder / file)
        return Saved(flavor, file, meta)
    import joblib

    file = "model.pkl" if flavor == "pickle" else "model.joblib"
    joblib.dump(obj, folder / file)
    return Saved(flavor, file, meta)


_XGB_CLASSES = {
    f"xgboost.{mod}.{cls}"
    for mod, names in {
        "core": ("Booster",),
        "sklearn": (
            "XGBClassifier",
            "XGBRegressor",
            "XGBRanker",
            "XGBRFClassifier",
            "XGBRFRegressor",
            "XGBModel",
        ),
    }.items()
    for cls in names
}
"""The classes an xgboost artifact may be read back as (a record names one: nothing else)."""


def reader(flavor: str, file: str | None) -> str:
    """How an artifact of this flavor, kept in a file of this name, is read back:
    `joblib` and `torch` unpickle (run code); `torch-weights`, `xgboost`, `lightgbm` and `path`
    do not. One decision for the safety check and the loader, so they cannot disagree; a flavor
    and file name that registration never pairs are refused."""
    if flavor not in FLAVORS:
        raise FlavorError(f"unknown flavor {flavor!r}; one of {', '.join(FLAVORS)}")
    if flavor in ("file", "folder"):
        return "path"
    suffix = Path(file).suffix.lower() if isinstance(file, str) else ""
    if flavor == "xgboost" and suffix in (*_XGB_SUFFIXES, ".json"):
        return "xgboost"
    if flavor == "lightgbm" and suffix == ".txt":
        return "lightgbm"
    if flavor in ("pytorch", "pytorch-state-dict") and suffix in _TORCH_SUFFIXES:
        return "torch" if flavor == "pytorch" else "torch-weights"
    if flavor in ("sklearn", "lightgbm", "joblib", "pickle") and suffix in _PICKLE_SUFFIXES:
        return "joblib"
    raise FlavorError(f"a {flavor} model is not kept in a file named {file!r}")


def unpickles(flavor: str, file: str | None) -> bool:
    """Whether reading this artifact runs code from it (pickle, joblib, a whole torch module)."""
    return reader(flavor, file) in ("joblib", "torch")


def load(source: Path | bytes, flavor: str, meta: Mapping[str, Any], file: str | None) -> Any:
    """Read a model artifact back in its flavor (the caller has checked it may be read).

    `source` is a file, or the bytes of one already checked against their hash (so what is
    unpickled is what was checked). `file` is the artifact's own name.
    """
    how = reader(flavor, file)
    if how == "path":
        return source
    if how == "xgboost":
        return _load_xgboost(_bytes(source), meta)
    if how == "lightgbm":
        import lightgbm

        return lightgbm.Booster(model_str=_bytes(source).decode())
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    if how in ("torch", "torch-weights"):
        import torch

        return torch.load(stream, weights_only=how == "torch-weights", map_location="cpu")
    import joblib

    return joblib.load(stream)  # reads plain pickles too


def _bytes(source: Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _load_xgboost(data: bytes, meta: Mapping[str, Any]) -> Any:
    cls_name = str(meta.get("class") or "xgboost.core.Booster")
    if cls_name not in _XGB_CLASSES:  # a record names the class: never anything else
        raise FlavorError(f"an xgboost model cannot be of class {cls_name!r}")
    module, _, attr = cls_name.rpartition(".")
    model = getattr(importlib.import_module(module), attr)()
    model.load_model(bytearray(data))  # by content: a store object has no suffix
    return model


def read_path(path: Path, flavor: str, file: str | None = None) -> Any | None:
    """The model object in a file a user registers by path, for its fingerprint; None when the
    file is not a model format we read (its bytes are fingerprinted instead)."""
    if flavor in ("file", "folder"):
        return None
    name = file or path.name
    reader(flavor, name)  # a flavor and file name that do not go together: refused here
    try:
        if flavor == "pytorch":
            import torch

            try:
                return torch.load(path, weights_only=True, map_location="cpu")
            except Exception:  # a whole module, not only weights
                return torch.load(path, weights_only=False, map_location="cpu")
        return load(path, flavor, {}, name)
    except FlavorError:
        raise
    except Exception as exc:
        raise FlavorError(f"cannot read {path} as a {flavor} model: {exc}") from None


def check_object(obj: Any, flavor: str) -> None:
    """Refuse an object the flavor asked for cannot hold (a dict as `pytorch`, say)."""
    wanted = {
        "sklearn": _is_sklearn,
        "pytorch": _is_torch_module,
        "pytorch-state-dict": _is_state_dict,
        "xgboost": lambda o: _module_root(o) == "xgboost",
        "lightgbm": lambda o: _module_root(o) == "lightgbm",
    }.get(flavor)
    if flavor in ("file", "folder"):
        raise FlavorError(f"flavor {flavor!r} is for paths; got a {qualname(obj)}")
    if wanted is not None and not wanted(obj):
        raise FlavorError(f"a {qualname(obj)} is not a {flavor} model")
