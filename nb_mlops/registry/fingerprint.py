"""Fingerprints of a model's fitted state: a sha256 over what the model learned.

Pickled bytes of one model differ from save to save (pytorch/pytorch#39383, memo ids, library
versions), so hashing a file tells nothing about whether two files hold the same model. A
fingerprint instead walks the object and feeds a canonical, type-tagged, length-prefixed token
stream into sha256:

* ``None``, ``bool``, ``int``, ``float`` (8 packed bytes), ``complex``, ``str``, ``bytes``,
  ``bytearray`` and ``memoryview`` each carry their own tag; lists and tuples hash in order; dict
  entries and set elements are sorted by the digest of the key / element, so insertion order
  never matters.
* numpy arrays hash as dtype, shape and C-order bytes (structured arrays field by field, since
  padding bytes may hold garbage; object arrays element by element).
* A torch ``nn.Module`` hashes as its ``state_dict()`` (so a module and its state_dict share one
  fingerprint); a tensor as dtype, shape and raw bytes.
* An xgboost ``Booster`` hashes as its JSON model without the fields that change on a round trip;
  a lightgbm ``Booster`` as its model text up to the end of the trees. Their sklearn wrappers hash
  as their boosters.
* Anything else hashes as its class's qualified name plus its pickle state (``__reduce_ex__(4)``),
  minus settings that do not shape predictions when the object is an sklearn estimator.
* Functions, classes and modules hash by module and qualified name.

The walk never raises: an object pickle refuses (a lock, a generator, a weakref) contributes its
type's qualified name plus whatever ``__dict__`` and slots it has, and an object whose state cannot
be read at all contributes only its type's qualified name. Cycles become a back-reference token and
nesting deeper than ``_MAX_DEPTH`` is cut to the type name.

What is *not* covered, by design: a torch module's architecture (only its state_dict is hashed) and
an sklearn wrapper's extras around an xgboost/lightgbm booster (e.g. ``classes_``), since those
must match the booster loaded back from the library's own model file.

numpy, torch, xgboost, lightgbm and sklearn are never imported here: an object of one of their
types can only exist once its library is imported, so the library is looked up in
``sys.modules`` when such an object is met, and this module imports in well under a millisecond.
"""

from __future__ import annotations

import copyreg
import hashlib
import json
import struct
import sys
import types
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FINGERPRINT_SCHEME", "fingerprint", "fingerprint_bytes"]

FINGERPRINT_SCHEME: int = 1
"""Version of the canonical form; bump it whenever the token stream changes."""

_OBJECT_PREFIX = f"nb_mlops.fingerprint/{FINGERPRINT_SCHEME}\x00".encode()
_BYTES_PREFIX = b"nb_mlops.fingerprint.bytes\x00"
_MAX_DEPTH = 100
"""Nesting levels walked before an object is cut to its type name (keeps clear of recursion)."""

_NON_PREDICTIVE_KEYS = frozenset(
    {
        "n_jobs",
        "verbose",
        "verbosity",
        "warm_start",
        "copy_X",
        "copy",
        "memory",
        "pre_dispatch",
        "random_state",
        "nthread",
        "num_threads",
        "n_threads",
        "_n_threads",
        "_sklearn_version",
    }
)
"""Top-level attributes of an sklearn estimator left out: they do not change predictions.

``random_state`` is here because its effect is already in the fitted state. ``n_threads`` (the
binning step of HistGradientBoosting) and ``_n_threads`` (KMeans) hold the machine's core count.
"""

# XGBoost JSON fields that differ between round trips of one model: the library version, and the
# ``scikit_learn`` attribute the sklearn wrapper adds when it saves (and drops when it loads).
_XGB_VOLATILE_ATTRIBUTES = ("scikit_learn",)
_LGB_END_OF_TREES = "end of trees"
_LGB_PANDAS_CATEGORICAL = "\npandas_categorical:"


def fingerprint(obj: object) -> str:
    """Return the hex sha256 of ``obj``'s fitted state (64 characters); never raises."""
    h = hashlib.sha256(_OBJECT_PREFIX)
    _Walker().feed(h, obj, 0)
    return h.hexdigest()


def fingerprint_bytes(data: bytes) -> str:
    """Return the hex sha256 of raw bytes (a file we cannot interpret), tagged apart from objects.

    ``fingerprint_bytes(b)`` never equals ``fingerprint(b)``: the prefixes differ.
    """
    h = hashlib.sha256(_BYTES_PREFIX)
    h.update(data)
    return h.hexdigest()


def _type_name(obj: object) -> str:
    """``module.QualName`` of ``obj``'s type."""
    return _qualified_name(type(obj))


def _qualified_name(obj: Any) -> str:
    """``module.QualName`` of a function, class or other named object."""
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{module}.{name}"


def _library(name: str) -> Any:
    """The module ``name`` if it is already imported, else None (never imports it)."""
    return sys.modules.get(name)


class _Walker:
    """One fingerprint computation: holds the objects on the current path, to stop cycles."""

    def __init__(self) -> None:
        self._path: dict[int, tuple[int, object]] = {}

    # -- tokens ---------------------------------------------------------------------------------

    @staticmethod
    def token(h: Any, tag: bytes, payload: bytes | memoryview = b"") -> None:
        """Feed one token: a one-byte tag, the payload's length (8 bytes), the payload."""
        h.update(tag)
        h.update(len(payload).to_bytes(8, "little"))
        h.update(payload)

    def digest(self, obj: object, depth: int) -> bytes:
        """The 32-byte digest of ``obj`` alone, used to order dict entries and set elements."""
        h = hashlib.sha256()
        self.feed(h, obj, depth)
        return h.digest()

    # -- dispatch -------------------------------------------------------------------------------

    def feed(self, h: Any, obj: object, depth: int) -> None:
        """Feed ``obj``'s canonical tokens into ``h``."""
        if self._feed_scalar(h, obj):
            return
        if depth >= _MAX_DEPTH:
            self.token(h, b"D", _type_name(obj).encode())
            return
        key = id(obj)
        if key in self._path:
            self.token(h, b"R", (depth - self._path[key][0]).to_bytes(8, "little"))
            return
        self._path[key] = (depth, obj)
        try:
            self._feed_compound(h, obj, depth + 1)
        except Exception:
            # Whatever could not be read: the type name stands in for it.
            self.token(h, b"?", _type_name(obj).encode())
        finally:
            del self._path[key]

    def _feed_scalar(self, h: Any, obj: Any) -> bool:
        """Feed a builtin scalar (exact type only); False when ``obj`` is not one."""
        kind = type(obj)
        if obj is None:
            self.token(h, b"N")
        elif kind is bool:
            self.token(h, b"T" if obj else b"F")
        elif kind is int:
            self.token(h, b"i", _int_bytes(obj))
        elif kind is float:
            self.token(h, b"f", struct.pack("<d", obj))
        elif kind is complex:
            self.token(h, b"c", struct.pack("<dd", obj.real, obj.imag))
        elif kind is str:
            self.token(h, b"s", obj.encode("utf-8", "surrogatepass"))
        elif kind is bytes:
            self.token(h, b"b", obj)
        elif kind is bytearray:
            self.token(h, b"y", bytes(obj))
        elif kind is memoryview:
            self.token(h, b"v", obj.tobytes())
        else:
            return False
        return True

    def _feed_compound(self, h: Any, obj: object, depth: int) -> None:
        """Feed a container, a library object, a named object or a general object."""
        for handler in (
            self._feed_numpy,
            self._feed_pandas,
            self._feed_torch,
            self._feed_xgboost,
            self._feed_lightgbm,
            self._feed_container,
            self._feed_named,
        ):
            if handler(h, obj, depth):
                return
        self._feed_object(h, obj, depth)

    # -- builtin containers and named objects ---------------------------------------------------

    def _feed_container(self, h: Any, obj: Any, depth: int) -> bool:
        """Lists, tuples, dicts (any dict subclass), sets, and Mappings of tensors."""
        kind = type(obj)
        if kind is list or kind is tuple:
            self.token(h, b"L" if kind is list else b"U", len(obj).to_bytes(8, "little"))
            for item in obj:
                self.feed(h, item, depth)
        elif isinstance(obj, dict) or (isinstance(obj, Mapping) and _all_tensors(obj.values())):
            self._feed_mapping(h, obj, depth)
        elif kind is set or kind is frozenset:
            digests = sorted(self.digest(item, depth) for item in obj)
            self.token(h, b"Z" if kind is set else b"z", len(digests).to_bytes(8, "little"))
            for digest in digests:
                h.update(digest)
        else:
            return False
        return True

    def _feed_mapping(self, h: Any, obj: Mapping[Any, Any], depth: int) -> None:
        """Entries sorted by the key's digest; each entry as key digest then value digest."""
        entries = sorted(
            (self.digest(key, depth), self.digest(value, depth)) for key, value in obj.items()
        )
        self.token(h, b"M", len(entries).to_bytes(8, "little"))
        for key_digest, value_digest in entries:
            h.update(key_digest)
            h.update(value_digest)

    def _feed_named(self, h: Any, obj: object, depth: int) -> bool:
        """Classes, functions and modules by name; a bound method also by its object."""
        if isinstance(obj, type):
            self.token(h, b"C", _qualified_name(obj).encode())
        elif isinstance(obj, types.ModuleType):
            self.token(h, b"m", obj.__name__.encode())
        elif isinstance(obj, types.MethodType):
            self.token(h, b"B", _qualified_name(obj.__func__).encode())
            self.feed(h, obj.__self__, depth)
        elif isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
            self.token(h, b"P", _qualified_name(obj).encode())
        else:
            return False
        return True

    # -- general objects ------------------------------------------------------------------------

    def _feed_object(self, h: Any, obj: object, depth: int) -> None:
        """Class name plus pickle state (``__reduce_ex__(4)``), else ``__dict__`` and slots."""
        try:
            reduced = obj.__reduce_ex__(4)
        except Exception:
            reduced = None
        self.token(h, b"O", _type_name(obj).encode())
        if isinstance(reduced, str):  # pickled by reference: a module-level singleton
            self.token(h, b"G", reduced.encode())
        elif isinstance(reduced, tuple) and len(reduced) >= 2:
            self._feed_reduced(h, obj, reduced, depth)
        else:
            self._feed_attributes(h, obj, depth)

    def _feed_reduced(self, h: Any, obj: object, reduced: tuple[Any, ...], depth: int) -> None:
        """Constructor and arguments (unless plain ``cls.__new__``), state, list and dict items."""
        func, args = reduced[0], reduced[1]
        if func is copyreg.__newobj__ and args and args[0] is type(obj):
            args = args[1:]
        else:
            self.feed(h, func, depth)
        self.feed(h, tuple(args), depth)
        state = reduced[2] if len(reduced) > 2 else None
        if isinstance(state, dict) and _is_sklearn_estimator(obj):
            state = _predictive_state(state)
        elif isinstance(state, dict) and "_sklearn_version" in state:
            state = {k: v for k, v in state.items() if k != "_sklearn_version"}
        self.feed(h, state, depth)
        if len(reduced) > 3 and reduced[3] is not None:
            self.feed(h, list(reduced[3]), depth)
        if len(reduced) > 4 and reduced[4] is not None:
            self.feed(h, dict(reduced[4]), depth)

    def _feed_attributes(self, h: Any, obj: object, depth: int) -> None:
        """For objects pickle refuses: ``__dict__`` and slot values that can be read."""
        attributes = dict(getattr(obj, "__dict__", None) or {})
        for cls in type(obj).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for name in [slots] if isinstance(slots, str) else slots:
                if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                    attributes.setdefault(name, getattr(obj, name))
        self.feed(h, attributes, depth)

    # -- pandas ---------------------------------------------------------------------------------

    def _feed_pandas(self, h: Any, obj: object, depth: int) -> bool:
        """A DataFrame, Series or Index by labels, dtypes and values, not by its block layout
        (a copy of a frame is laid out differently in memory but holds the same data)."""
        pd = _library("pandas")
        if pd is None:
            return False
        if isinstance(obj, pd.DataFrame):
            self.token(h, b"pF", len(obj.columns).to_bytes(8, "little"))
            self._feed_pandas(h, obj.columns, depth)
            self._feed_pandas(h, obj.index, depth)
            for i in range(obj.shape[1]):
                self._feed_pandas(h, obj.iloc[:, i], depth)
        elif isinstance(obj, pd.Series):
            self.token(h, b"pS", str(obj.dtype).encode())
            self.feed(h, obj.name, depth)
            self._feed_pandas(h, obj.index, depth)
            self._feed_values(h, obj.dtype, obj.to_numpy(), depth)
        elif isinstance(obj, pd.Index):
            self.token(h, b"pI", f"{_type_name(obj)}|{obj.dtype}".encode())
            self.feed(h, list(obj.names), depth)
            self._feed_values(h, obj.dtype, obj.to_numpy(), depth)
        else:
            return False
        return True

    def _feed_values(self, h: Any, dtype: Any, values: Any, depth: int) -> None:
        categories = getattr(dtype, "categories", None)
        if categories is not None:  # the category order shapes codes, so it is part of the data
            self.feed(h, (list(categories), bool(getattr(dtype, "ordered", False))), depth)
        self.feed(h, values, depth)

    # -- numpy ----------------------------------------------------------------------------------

    def _feed_numpy(self, h: Any, obj: object, depth: int) -> bool:
        """Arrays, numpy scalars, random generators (by state) and ufuncs (by name)."""
        np = _library("numpy")
        if np is None:
            return False
        ma, random = _library("numpy.ma"), _library("numpy.random")  # both load lazily
        if ma is not None and isinstance(obj, ma.MaskedArray):
            self.token(h, b"K")
            self._feed_array(h, np.asarray(obj.data), depth)
            self._feed_array(h, ma.getmaskarray(obj), depth)
        elif isinstance(obj, np.ndarray):
            self._feed_array(h, obj, depth)
        elif isinstance(obj, np.generic):
            self.token(h, b"g")
            self._feed_array(h, np.asarray(obj), depth)
        elif isinstance(obj, np.ufunc):
            self.token(h, b"P", _qualified_name(obj).encode())
        elif random is not None:
            return self._feed_random(h, obj, random, depth)
        else:
            return False
        return True

    def _feed_random(self, h: Any, obj: object, random: Any, depth: int) -> bool:
        """numpy random generators by their bit generator's state (not the seed they came from)."""
        if isinstance(obj, random.RandomState):
            self.token(h, b"r", b"RandomState")
            self.feed(h, obj.get_state(legacy=False), depth)
        elif isinstance(obj, random.Generator):
            self.token(h, b"r", b"Generator")
            self.feed(h, obj.bit_generator.state, depth)
        elif isinstance(obj, random.BitGenerator):
            self.token(h, b"r", b"BitGenerator")
            self.feed(h, obj.state, depth)
        else:
            return False
        return True

    def _feed_array(self, h: Any, array: Any, depth: int) -> None:
        """dtype, shape and C-order bytes; structured arrays per field, object arrays per item."""
        np = _library("numpy")
        dtype = array.dtype
        shape = b"".join(n.to_bytes(8, "little") for n in array.shape)
        if dtype.names is not None:
            self.token(h, b"W", shape)
            self.feed(h, list(dtype.names), depth)
            for name in dtype.names:
                self._feed_array(h, array[name], depth)
        elif dtype.hasobject:
            self.token(h, b"X", shape)
            for item in array.reshape(-1, order="C"):
                self.feed(h, item, depth)
        else:
            if not dtype.isnative:
                array = array.astype(dtype.newbyteorder("="))
            flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
            self.token(h, b"A", shape)
            self.token(h, b"t", array.dtype.str.encode())
            self.token(h, b"d", memoryview(flat))

    # -- torch ----------------------------------------------------------------------------------

    def _feed_torch(self, h: Any, obj: object, depth: int) -> bool:
        """A module as its state_dict; a tensor as dtype, shape and raw bytes."""
        torch = _library("torch")
        if torch is None:
            return False
        if isinstance(obj, torch.nn.Module):
            self._feed_mapping(h, obj.state_dict(), depth)
        elif isinstance(obj, torch.Tensor):
            self._feed_tensor(h, obj, torch)
        else:
            return False
        return True

    def _feed_tensor(self, h: Any, tensor: Any, torch: Any) -> None:
        """Dense, dequantized, CPU, contiguous bytes viewed as uint8 (so bfloat16 works too)."""
        t = tensor.detach()
        if t.layout != torch.strided:
            t = t.to_dense()
        if t.is_quantized:
            t = t.dequantize()
        t = t.resolve_conj().resolve_neg().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy()
        self.token(h, b"Q", b"".join(n.to_bytes(8, "little") for n in t.shape))
        self.token(h, b"t", str(t.dtype).encode())
        self.token(h, b"d", memoryview(raw))

    # -- gradient boosting libraries ------------------------------------------------------------

    def _feed_xgboost(self, h: Any, obj: object, depth: int) -> bool:
        """A Booster as its JSON model minus volatile fields; a wrapper as its Booster."""
        xgb = _library("xgboost")
        if xgb is None:
            return False
        if isinstance(obj, xgb.XGBModel):
            try:
                obj = obj.get_booster()
            except Exception:  # not fitted: hash the estimator's settings instead
                return False
        if not isinstance(obj, xgb.Booster):
            return False
        model = json.loads(bytes(obj.save_raw(raw_format="json")))
        model.pop("version", None)
        attributes = model.get("learner", {}).get("attributes", {})
        for name in _XGB_VOLATILE_ATTRIBUTES:
            attributes.pop(name, None)
        canonical = json.dumps(model, sort_keys=True, separators=(",", ":"), allow_nan=True)
        self.token(h, b"x", canonical.encode())
        return True

    def _feed_lightgbm(self, h: Any, obj: object, depth: int) -> bool:
        """A Booster as its model text up to the end of the trees; a wrapper as its Booster."""
        lgb = _library("lightgbm")
        if lgb is None:
            return False
        if isinstance(obj, lgb.LGBMModel):
            try:
                obj = obj.booster_
            except Exception:  # not fitted: hash the estimator's settings instead
                return False
        if not isinstance(obj, lgb.Booster):
            return False
        self.token(h, b"l", _lightgbm_model_text(obj.model_to_string()).encode())
        return True


def _lightgbm_model_text(text: str) -> str:
    """The trees of a LightGBM model text, plus its pandas category mapping when present.

    The sections after the trees are dropped: feature importances are derived from the trees,
    and the parameters list records settings such as ``num_threads`` that do not shape
    predictions. The ``pandas_categorical`` line maps categories to codes, so it is kept.
    """
    end = text.find(_LGB_END_OF_TREES)
    if end < 0:
        return text
    trees = text[: end + len(_LGB_END_OF_TREES)]
    start = text.find(_LGB_PANDAS_CATEGORICAL, end)
    if start >= 0:
        stop = text.find("\n", start + 1)
        trees += text[start : stop if stop >= 0 else len(text)].rstrip()
    return trees


def _predictive_state(state: dict[str, Any]) -> dict[str, Any]:
    """An sklearn estimator's state without what never shapes predictions: the non-predictive
    settings, and a search's timings (`refit_time_`, the `*_time` columns of `cv_results_`)."""
    out = {k: v for k, v in state.items() if k not in _NON_PREDICTIVE_KEYS and k != "refit_time_"}
    results = out.get("cv_results_")
    if isinstance(results, dict):
        out["cv_results_"] = {k: v for k, v in results.items() if not str(k).endswith("_time")}
    return out


def _int_bytes(value: int) -> bytes:
    """Two's-complement little-endian bytes of any int (no 4300-digit limit, unlike ``str``)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "little", signed=True)


def _all_tensors(values: Iterable[Any]) -> bool:
    """True when torch is loaded and every value is a tensor (a state_dict)."""
    torch = _library("torch")
    if torch is None:
        return False
    return all(isinstance(value, torch.Tensor) for value in values)


def _is_sklearn_estimator(obj: object) -> bool:
    """True for an instance of ``sklearn.base.BaseEstimator`` (sklearn already imported)."""
    base = _library("sklearn.base")
    return base is not None and isinstance(obj, base.BaseEstimator)
