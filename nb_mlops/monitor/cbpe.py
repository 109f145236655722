"""Accuracy without labels: confidence-based performance estimation (the method of NannyML's
CBPE, written here from its published description).

If a classifier's probabilities are calibrated — of the rows given 0.8, eight in ten are right —
then the expected accuracy of a batch is the mean, over its rows, of the probability that the
row's prediction is right. Labels are needed once, on a reference set, to calibrate; after that
every batch gets an estimate the moment its predictions are made, long before its labels arrive.
The estimate follows covariate shift (rows the model is unsure of lower it); it cannot see
concept shift (the same inputs now meaning other labels), which only labels reveal.

Calibration (`fit_calibrator`, isotonic regression from scikit-learn, kept as two arrays):

- Binary: one map from the raw probability of the positive class to the chance the row is
  positive, fitted on every reference row. The predicted class is a function of that one number
  (whatever the threshold), so the chance a prediction is right follows exactly: p for a row
  predicted positive, 1 - p for a row predicted negative. The expected confusion matrix, and with
  it precision, recall and F1, comes from the same numbers.
- Multiclass: one "top-label" map from the raw probability of the predicted class to the chance
  the prediction is right, fitted on the reference rows' predictions (argmax, or the ones given).
  This is the quantity accuracy needs, fitted on all reference rows at once. The alternative,
  one-vs-rest maps per class renormalised to sum to 1 (NannyML's way), moves probability between
  classes in the renormalisation: on seeded make_classification models (4 to 8 classes, 2,000
  reference rows, over- and under-confident) its estimates were 0.7 to 1.9 points too high on
  average, the top-label map's within 0.3 points. What top-label gives up: per-class figures
  (macro F1) and a trustworthy answer for predictions made by another rule than the reference's
  (pass the reference's own predictions to `fit_calibrator` when the model does not predict the
  argmax).

Calibration is skipped, and the raw probabilities used (`calibrated` False, `note` says why),
when the reference has fewer than MIN_REFERENCE_ROWS rows or fewer than MIN_OUTCOME_ROWS rows of
either outcome (positive and negative, or right and wrong): an isotonic map fitted on less
follows the noise, and one fitted on a single outcome is a constant that ignores confidence.

The band (`lower`, `upper`) is the sampling noise of the batch: if the calibrated chances p_i
are right, the realised accuracy is a mean of independent Bernoulli(p_i), whose standard
deviation is sqrt(sum p_i (1 - p_i)) / n; the band is the estimate ± `sigmas` of those (3 by
default, as NannyML draws its bands: about 99.7% of batches under the normal approximation; on
20,000 simulated batches of 1,000 rows from a calibrated model, ±1, ±1.96 and ±3 sigma held the
realised accuracy in 68.3%, 95.0% and 99.7% of them). It does not cover calibration error or
concept shift. Calibration error grows as the reference shrinks, and where a batch moves its
rows to the ends of the reference's range: isotonic maps rest on few rows there and their end
blocks lean (low at the bottom). Seeded make_classification models (4 classes, 4,000 reference
rows) whose batches moved to rows the model is unsure of, losing 10 to 25 points of accuracy,
got estimates 2 points too low on average (at worst 5).
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.results import Result

if TYPE_CHECKING:
    import numpy as np

MIN_REFERENCE_ROWS = 100  # fewer reference rows: no calibration, raw probabilities used
MIN_OUTCOME_ROWS = 10  # fewer rows of either outcome on the reference: the same
ROW_SUM_TOLERANCE = 1e-3  # a probability row may sum to 1 within this (then rescaled to 1)
RANGE_TOLERANCE = 1e-9  # probabilities this far outside [0, 1] are rounding, clipped
DEFAULT_SIGMAS = 3.0
FORMAT = "nb-mlops/cbpe-calibrator"
FORMAT_VERSION = 1
DICT_KEYS = {
    "format",
    "version",
    "classes",
    "method",
    "map",
    "reference_rows",
    "reference_accuracy",
    "note",
}


@dataclass(frozen=True, eq=False)
class Calibrator:
    """Raw probability -> calibrated chance, fitted on a labelled reference (`fit_calibrator`).

    `method` "binary": the map takes the positive class's (`classes[1]`) probability to the
    chance the row is positive. "top-label" (three or more classes): the predicted class's
    probability to the chance the prediction is right. `x`/`y` are the isotonic thresholds
    (scikit-learn's X_thresholds_/y_thresholds_); between them the map is linear, beyond them
    flat — scikit-learn's own `predict`. No map (`x` None) means calibration was skipped: `note`
    says why and the raw probabilities are used.
    """

    classes: tuple[Any, ...]
    method: str
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    reference_rows: int = 0
    reference_accuracy: float | None = None  # realised on the reference (its predictions)
    note: str | None = None

    @property
    def calibrated(self) -> bool:
        return self.x is not None

    @property
    def binary(self) -> bool:
        return self.method == "binary"

    @property
    def positive_class(self) -> Any:
        """The class whose probability a binary calibrator maps (None for multiclass)."""
        return self.classes[1] if self.binary else None

    def apply(self, raw: Any) -> np.ndarray:
        """The calibrated chances for raw probabilities (a copy of them when not calibrated)."""
        import numpy as np

        raw = np.asarray(raw, dtype=float)
        if self.x is None or self.y is None:
            return raw.copy()
        return np.interp(raw, self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the thresholds as lists of floats (round-trips exactly through JSON)."""
        mapping = None
        if self.x is not None and self.y is not None:
            mapping = {"x": [float(v) for v in self.x], "y": [float(v) for v in self.y]}
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "classes": list(self.classes),
            "method": self.method,
            "map": mapping,
            "reference_rows": self.reference_rows,
            "reference_accuracy": self.reference_accuracy,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Calibrator:
        """A calibrator from `to_dict()` output, checked field by field (the dict may come from
        a file anyone could have edited): anything else raises MonitorError."""
        return calibrator_from_dict(data)

    def __repr__(self) -> str:
        state = (
            f"{len(self.x)} thresholds" if self.x is not None else f"not calibrated: {self.note}"
        )
        return (
            f"Calibrator({self.method}, classes={list(self.classes)!r}, "
            f"{self.reference_rows} reference rows, {state})"
        )


@dataclass
class Estimate(Result):
    """Estimated accuracy of a batch without its labels, with the band of its sampling noise.

    `confidence` is the mean raw probability of the predicted class (what an uncalibrated
    reading would say). For a binary calibrator, `precision`, `recall` and `f1` of the positive
    class come from the expected confusion matrix (ratios of expected counts; no band; None when
    undefined, e.g. no row predicted positive)."""

    value: float
    lower: float
    upper: float
    sigma: float  # sampling standard deviation of the realised accuracy
    sigmas: float  # the band is value ± sigmas * sigma, cut to [0, 1]
    rows: int
    calibrated: bool
    confidence: float
    method: str = "binary"
    note: str | None = None  # why the raw probabilities were used
    reference_rows: int = 0
    positive_class: Any = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None

    @property
    def level(self) -> float:
        """Share of batches whose realised accuracy falls in the band (normal approximation)."""
        return math.erf(self.sigmas / math.sqrt(2.0))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": "accuracy",
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
            "sigma": self.sigma,
            "sigmas": self.sigmas,
            "level": self.level,
            "rows": self.rows,
            "calibrated": self.calibrated,
            "confidence": self.confidence,
            "method": self.method,
            "note": self.note,
            "reference_rows": self.reference_rows,
        }
        if self.method == "binary":
            out.update(
                positive_class=self.positive_class,
                precision=self.precision,
                recall=self.recall,
                f1=self.f1,
            )
        return out

    def lines(self) -> list[str]:
        lines = [
            f"estimated accuracy {self.value:.4f} (band {self.lower:.4f} to {self.upper:.4f}: "
            f"±{self.sigmas:g} sigma, {self.level:.1%} of batches) over {self.rows} rows"
        ]
        if self.calibrated:
            lines.append(f"calibrated on {self.reference_rows} reference rows ({self.method})")
        else:
            lines.append(f"NOT calibrated, raw probabilities used: {self.note or 'no calibrator'}")
        lines.append(f"mean raw confidence {self.confidence:.4f}")
        if self.method == "binary":
            figures = ", ".join(
                f"{name} {'undefined' if v is None else f'{v:.4f}'}"
                for name, v in (("precision", self.precision), ("recall", self.recall))
            )
            f1 = "undefined" if self.f1 is None else f"{self.f1:.4f}"
            lines.append(f"estimated {figures}, F1 {f1} (positive class {self.positive_class!r})")
        return lines

    def to_text(self) -> str:
        return "\n".join(self.lines())

    def to_html(self) -> str:
        style = "" if self.calibrated else " style='color:#b00020'"
        rows = "".join(
            f"<div{style if i == 1 else ''}>{html.escape(line)}</div>"
            for i, line in enumerate(self.lines())
        )
        return f"<div class='nbm-estimate'>{rows}</div>"


# ------------------------------------------------------------------ fitting


def fit_calibrator(
    probabilities: Any,
    labels: Any,
    classes: Sequence[Any] | None = None,
    predictions: Any = None,
) -> Calibrator:
    """Fit the calibration on a labelled reference.

    `probabilities`: the positive class's probability (1-D, binary) or one column per class
    (`predict_proba`, columns in the order of `classes`). `classes` defaults to (0, 1) for 1-D
    input with 0/1 labels (False/True for booleans) and to 0..k-1 for k columns with integer
    labels; otherwise to the sorted distinct labels when there are exactly 2 (1-D) or k of them
    (scikit-learn's `classes_` order) — pass `model.classes_` to be sure. `predictions` (the
    reference's predicted classes) matter only for three or more classes and default to the
    argmax; see the module docstring for when calibration is skipped.
    """
    import numpy as np

    raw, one_d = read_probabilities(probabilities, "reference probabilities")
    n, k = raw.shape
    label_list = read_values(labels, n, "labels")
    cls = infer_classes(label_list, k, one_d) if classes is None else read_classes(classes)
    if len(cls) != k:
        raise MonitorError(f"classes has {len(cls)} entries but the probabilities have {k} columns")
    truth = np.asarray(class_indices(label_list, cls, "label"), dtype=np.int64)
    if k == 2:
        method, x = "binary", raw[:, 1]
        outcome = truth == 1
        predicted = (
            (x > 0.5).astype(np.int64)
            if predictions is None
            else np.asarray(class_indices(read_values(predictions, n, "predictions"), cls))
        )
        words = ("positive", "negative")
    else:
        method = "top-label"
        predicted = (
            raw.argmax(axis=1)
            if predictions is None
            else np.asarray(class_indices(read_values(predictions, n, "predictions"), cls))
        )
        x = raw[np.arange(n), predicted]
        outcome = truth == predicted
        words = ("right", "wrong")
    reference_accuracy = float(np.mean(predicted == truth))
    hits = int(outcome.sum())
    note = None
    if n < MIN_REFERENCE_ROWS:
        note = f"the reference has {n} rows; calibration needs at least {MIN_REFERENCE_ROWS}"
    elif min(hits, n - hits) < MIN_OUTCOME_ROWS:
        note = (
            f"the reference has {hits} {words[0]} and {n - hits} {words[1]} rows; calibration "
            f"needs at least {MIN_OUTCOME_ROWS} of each"
        )
    common = {
        "classes": cls,
        "method": method,
        "reference_rows": n,
        "reference_accuracy": reference_accuracy,
    }
    if note is not None:
        return Calibrator(note=note, **common)
    try:
        from sklearn.isotonic import IsotonicRegression
    except ImportError as exc:  # the monitor extra brings it
        raise MonitorError(
            "fitting a calibrator needs scikit-learn: pip install 'nb-mlops[monitor]'"
        ) from exc
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(x, outcome.astype(float))
    return Calibrator(
        x=np.asarray(iso.X_thresholds_, dtype=float).copy(),
        y=np.asarray(iso.y_thresholds_, dtype=float).copy(),
        **common,
    )


# ------------------------------------------------------------------ estimating


def chance_correct(
    probabilities: Any, calibrator: Calibrator | None = None, predictions: Any = None
) -> np.ndarray:
    """Per row, the calibrated chance that its prediction is right (what `estimate_accuracy`
    averages); useful to estimate a part of a window, e.g. its rows still without labels."""
    return expected(probabilities, calibrator, predictions)[0]


def estimate_accuracy(
    probabilities: Any,
    calibrator: Calibrator | None = None,
    predictions: Any = None,
    *,
    sigmas: float = DEFAULT_SIGMAS,
) -> Estimate:
    """The expected accuracy of a batch from its probabilities, without labels.

    `probabilities` as for `fit_calibrator` (same columns). `predictions` are the classes the
    model predicted; by default the argmax of the raw probabilities (positive when its
    probability is above 0.5, binary). Given predictions that differ from the argmax count
    with the calibrated probability of the class given. Without a calibrator the raw
    probabilities are used (flagged) and classes are the column positions (0, 1 for 1-D input).
    """
    import numpy as np

    if isinstance(sigmas, bool) or not isinstance(sigmas, numbers.Real) or not sigmas > 0:
        raise MonitorError(f"sigmas must be a positive number, not {sigmas!r}")
    if not math.isfinite(sigmas):
        raise MonitorError(f"sigmas must be finite, not {sigmas!r}")
    correct, confidence, positive, predicted_positive, method = expected(
        probabilities, calibrator, predictions
    )
    n = len(correct)
    value = float(correct.mean())
    sigma = float(math.sqrt(float(np.sum(correct * (1.0 - correct)))) / n)
    est = Estimate(
        value=value,
        lower=max(0.0, value - sigmas * sigma),
        upper=min(1.0, value + sigmas * sigma),
        sigma=sigma,
        sigmas=float(sigmas),
        rows=n,
        calibrated=calibrator is not None and calibrator.calibrated,
        confidence=float(confidence.mean()),
        method=method,
        note=(
            "no calibrator given"
            if calibrator is None
            else (None if calibrator.calibrated else calibrator.note)
        ),
        reference_rows=0 if calibrator is None else calibrator.reference_rows,
    )
    if positive is not None and predicted_positive is not None:
        est.positive_class = 1 if calibrator is None else calibrator.positive_class
        tp = float(positive[predicted_positive].sum())
        fp = float((1.0 - positive[predicted_positive]).sum())
        fn = float(positive[~predicted_positive].sum())
        est.precision = ratio(tp, tp + fp)
        est.recall = ratio(tp, tp + fn)
        est.f1 = ratio(2 * tp, 2 * tp + fp + fn)
    return est


def expected(
    probabilities: Any, calibrator: Calibrator | None, predictions: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """(chance each row is right, raw probability of its predicted class, calibrated chance of
    the positive class or None, predicted-positive flags or None, method)."""
    import numpy as np

    if calibrator is not None and not isinstance(calibrator, Calibrator):
        raise MonitorError(
            f"calibrator must be a Calibrator (fit_calibrator or Calibrator.from_dict), "
            f"not {type(calibrator).__name__}"
        )
    raw, one_d = read_probabilities(probabilities, "probabilities")
    n, k = raw.shape
    if calibrator is None:
        classes: tuple[Any, ...] = tuple(range(k))
    else:
        classes = calibrator.classes
        if k != len(classes):
            what = "1-D (binary) probabilities" if one_d else f"{k} probability columns"
            raise MonitorError(
                f"{what} do not fit the calibrator's {len(classes)} classes {list(classes)!r}"
            )
    rows = np.arange(n)
    if k == 2:
        positive_raw = raw[:, 1]
        predicted_positive = (
            positive_raw > 0.5
            if predictions is None
            else np.asarray(class_indices(read_values(predictions, n, "predictions"), classes)) == 1
        )
        positive = positive_raw if calibrator is None else calibrator.apply(positive_raw)
        correct = np.where(predicted_positive, positive, 1.0 - positive)
        confidence = np.where(predicted_positive, positive_raw, 1.0 - positive_raw)
        return correct, confidence, positive, predicted_positive, "binary"
    predicted = (
        raw.argmax(axis=1)
        if predictions is None
        else np.asarray(class_indices(read_values(predictions, n, "predictions"), classes))
    )
    confidence = raw[rows, predicted]
    correct = confidence.copy() if calibrator is None else calibrator.apply(confidence)
    return correct, confidence, None, None, "top-label"


def ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom > 0 else None


# ------------------------------------------------------------------ reading inputs


def read_probabilities(probabilities: Any, what: str) -> tuple[np.ndarray, bool]:
    """(n x k float matrix with rows summing to 1, whether the input was 1-D): a 1-D input (or
    one column) is the positive class's probability and becomes [1 - p, p]."""
    import numpy as np

    try:
        raw = np.array(probabilities, dtype=float)
    except (TypeError, ValueError) as exc:
        raise MonitorError(f"{what} must be numbers: {first_line(exc)}") from exc
    if raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim not in (1, 2):
        raise MonitorError(
            f"{what} must be 1-D (binary) or rows x classes, not {raw.ndim}-D {raw.shape}"
        )
    if raw.shape[0] == 0:
        raise MonitorError(f"{what}: empty batch, no rows to work on")
    bad = ~np.isfinite(raw)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise MonitorError(f"{what} row {row} holds {raw[row].tolist()!r}: NaN or infinite")
    bad = (raw < -RANGE_TOLERANCE) | (raw > 1.0 + RANGE_TOLERANCE)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise MonitorError(f"{what} row {where[0]} holds {float(raw[where])!r}, outside [0, 1]")
    np.clip(raw, 0.0, 1.0, out=raw)
    if raw.ndim == 1:
        return np.column_stack([1.0 - raw, raw]), True
    if raw.shape[1] < 2:
        raise MonitorError(f"{what} need at least 2 class columns, not {raw.shape[1]}")
    sums = raw.sum(axis=1)
    off = np.abs(sums - 1.0) > ROW_SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise MonitorError(
            f"{what} row {row} sums to {float(sums[row]):.6g}, not 1 "
            f"(within {ROW_SUM_TOLERANCE:g}): pass predict_proba, one column per class"
        )
    return raw / sums[:, None], False


def read_values(values: Any, n: int, what: str) -> list[Any]:
    """A 1-D sequence of `n` labels or predicted classes as Python values."""
    if values is None:
        raise MonitorError(f"{what} are missing")
    if isinstance(values, (str, bytes)) or getattr(values, "ndim", 1) != 1:
        raise MonitorError(f"{what} must be one value per row (1-D)")
    try:
        listed = values.tolist() if hasattr(values, "tolist") else list(values)
    except TypeError as exc:
        raise MonitorError(f"{what} must be a sequence, not {type(values).__name__}") from exc
    if len(listed) != n:
        raise MonitorError(f"{what} have {len(listed)} rows but the probabilities have {n}")
    return listed


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN; pandas' NA refuses bool() and is missing too
    except TypeError:
        return True


def class_indices(values: list[Any], classes: tuple[Any, ...], what: str = "prediction") -> list:
    """The position in `classes` of each value (1 and 1.0 are the same class)."""
    where = {c: i for i, c in enumerate(classes)}
    out = []
    for row, value in enumerate(values):
        try:
            out.append(where[value])
        except (KeyError, TypeError):
            if is_missing(value):
                raise MonitorError(f"{what} at row {row} is missing") from None
            raise MonitorError(
                f"{what} {value!r} at row {row} is not one of the classes {list(classes)!r}"
            ) from None
    return out


CLASS_TYPES = (str, int, float)  # bool is an int


def read_classes(classes: Any) -> tuple[Any, ...]:
    """The classes as JSON-ready Python values, at least two and all different."""
    if isinstance(classes, (str, bytes, Mapping)):
        raise MonitorError("classes must be a list of class labels")
    try:
        listed = classes.tolist() if hasattr(classes, "tolist") else list(classes)
    except TypeError as exc:
        raise MonitorError(f"classes must be a list, not {type(classes).__name__}") from exc
    for c in listed:
        if not isinstance(c, CLASS_TYPES) or (isinstance(c, float) and not math.isfinite(c)):
            raise MonitorError(f"class {c!r} is not text, a finite number or true/false")
    if len(listed) < 2:
        raise MonitorError(f"a classifier needs at least 2 classes, not {listed!r}")
    if len(set(listed)) != len(listed):
        raise MonitorError(f"classes {listed!r} repeat a class (1, 1.0 and True are the same)")
    return tuple(listed)


def infer_classes(labels: list[Any], k: int, one_d: bool) -> tuple[Any, ...]:
    """The classes when not given (see `fit_calibrator`)."""
    distinct = []
    seen: set[Any] = set()
    for row, value in enumerate(labels):
        if is_missing(value):
            raise MonitorError(f"label at row {row} is missing")
        try:
            new = value not in seen
        except TypeError:
            raise MonitorError(f"label {value!r} at row {row} is not a class label") from None
        if new:
            seen.add(value)
            distinct.append(value)
    numbers = all(
        isinstance(v, (int, float)) and float(v).is_integer() and 0 <= v < k for v in distinct
    )
    if numbers:
        if one_d and distinct and all(isinstance(v, bool) for v in distinct):
            return (False, True)
        if not all(isinstance(v, bool) for v in distinct):
            return tuple(range(k))
    if len(distinct) == k:
        try:
            return read_classes(sorted(distinct))
        except TypeError:
            pass
    raise MonitorError(
        f"cannot tell the {k} classes from labels {distinct[:10]!r}: pass classes= "
        f"(e.g. model.classes_), in the order of the probability columns"
    )


def first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


# ------------------------------------------------------------------ untrusted dicts


def calibrator_from_dict(data: Any) -> Calibrator:
    """See `Calibrator.from_dict`."""
    import numpy as np

    def bad(why: str) -> MonitorError:
        return MonitorError(f"calibrator dict: {why}")

    if not isinstance(data, Mapping):
        raise bad(f"expected a dict, not {type(data).__name__}")
    keys = set(data)
    if keys != DICT_KEYS:
        missing, extra = sorted(DICT_KEYS - keys), sorted(map(str, keys - DICT_KEYS))
        raise bad(f"missing keys {missing}, unknown keys {extra}")
    if data["format"] != FORMAT:
        raise bad(f"format is {data['format']!r}, not {FORMAT!r}")
    if data["version"] != FORMAT_VERSION or isinstance(data["version"], bool):
        raise bad(f"version {data['version']!r} is not one this nb-mlops reads ({FORMAT_VERSION})")
    if not isinstance(data["classes"], list):
        raise bad("classes must be a list")
    try:
        classes = read_classes(data["classes"])
    except MonitorError as exc:
        raise bad(str(exc)) from None
    method = data["method"]
    expected_method = "binary" if len(classes) == 2 else "top-label"
    if method != expected_method:
        raise bad(f"method {method!r} does not fit {len(classes)} classes ({expected_method!r})")
    rows = data["reference_rows"]
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise bad(f"reference_rows must be a whole number >= 0, not {rows!r}")
    accuracy = data["reference_accuracy"]
    if accuracy is not None and not is_fraction(accuracy):
        raise bad(f"reference_accuracy must be a number in [0, 1] or null, not {accuracy!r}")
    note = data["note"]
    if note is not None and not isinstance(note, str):
        raise bad("note must be text or null")
    mapping = data["map"]
    common = {
        "classes": classes,
        "method": method,
        "reference_rows": rows,
        "reference_accuracy": None if accuracy is None else float(accuracy),
        "note": note,
    }
    if mapping is None:
        if note is None:
            raise bad("a calibrator without a map must say why in note")
        return Calibrator(**common)
    if not isinstance(mapping, Mapping) or set(mapping) != {"x", "y"}:
        raise bad("map must be null or {'x': [...], 'y': [...]}")
    arrays = []
    for name in ("x", "y"):
        values = mapping[name]
        if not isinstance(values, list) or not values:
            raise bad(f"map {name} must be a non-empty list of numbers")
        if not all(is_fraction(v) for v in values):
            raise bad(f"map {name} must hold numbers in [0, 1] only")
        arrays.append(np.asarray(values, dtype=float))
    x, y = arrays
    if len(x) != len(y):
        raise bad(f"map x has {len(x)} values but y has {len(y)}")
    if np.any(np.diff(x) <= 0):
        raise bad("map x must increase strictly")
    if np.any(np.diff(y) < 0):
        raise bad("map y must never decrease")
    return Calibrator(x=x, y=y, **common)


def is_fraction(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )
