"""Accuracy without labels (CBPE): the estimate meets the realised accuracy within its band at the
stated rate for a calibrated model, calibration on a reference repairs an over-confident one,
multiclass models from scikit-learn are estimated under covariate shift, calibrators round-trip
through JSON and refuse tampered dicts, and bad inputs get one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score

from nb_mlops.monitor.cbpe import (
    MIN_OUTCOME_ROWS,
    MIN_REFERENCE_ROWS,
    Calibrator,
    Estimate,
    chance_correct,
    estimate_accuracy,
    fit_calibrator,
)
from nb_mlops.monitor.errors import MonitorError


def logit(p):
    return np.log(p / (1 - p))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def binary_batch(rng, n, *, sharpen=1.0, a=0.6, b=0.6):
    """True positive-class chances p ~ Beta(a, b), labels ~ Bernoulli(p), and what the model
    says: p itself (sharpen 1, calibrated) or p pushed towards 0 and 1 (sharpen > 1)."""
    p = np.clip(rng.beta(a, b, n), 1e-6, 1 - 1e-6)
    y = (rng.uniform(size=n) < p).astype(int)
    return sigmoid(sharpen * logit(p)), y


def realised(said, y, threshold=0.5):
    return float(np.mean((said > threshold).astype(int) == y))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------ a calibrated model


def test_calibrated_binary_model_realised_accuracy_falls_in_the_band() -> None:
    said, y = binary_batch(np.random.default_rng(1), 2000)
    est = estimate_accuracy(said, None)
    assert isinstance(est, Estimate)
    assert est.lower <= realised(said, y) <= est.upper
    assert est.rows == 2000 and est.calibrated is False and est.note == "no calibrator given"
    assert est.value == pytest.approx(np.mean(np.maximum(said, 1 - said)))
    correct = np.maximum(said, 1 - said)
    assert est.sigma == pytest.approx(math.sqrt(np.sum(correct * (1 - correct))) / 2000)
    assert est.upper - est.value == pytest.approx(3 * est.sigma)
    assert est.level == pytest.approx(0.9973, abs=1e-4)


@pytest.mark.parametrize(("sigmas", "low", "high"), [(1.96, 0.92, 0.98), (1.0, 0.64, 0.72)])
def test_band_holds_the_realised_accuracy_at_the_stated_rate(sigmas, low, high) -> None:
    """600 seeded batches of 1,000 rows from a calibrated model: the band at 1.96 sigma holds
    the realised accuracy in about 95% of them, at 1 sigma in about 68%."""
    hits = 0
    for seed in range(600):
        said, y = binary_batch(np.random.default_rng(seed), 1000)
        est = estimate_accuracy(said, sigmas=sigmas)
        hits += est.lower <= realised(said, y) <= est.upper
    rate = hits / 600
    assert low <= rate <= high, rate
    assert est.level == pytest.approx(math.erf(sigmas / math.sqrt(2)))


def test_default_band_misses_rarely_and_fitted_calibration_keeps_it() -> None:
    """At the default ±3 sigma: raw probabilities of a calibrated model miss in (almost) no
    batch; with a calibrator fitted on a 5,000-row reference the band still holds in nearly all
    (the reference's own error is not in the band, so a few misses are allowed)."""
    raw_hits = fitted_hits = 0
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        ref_said, ref_y = binary_batch(rng, 5000)
        said, y = binary_batch(rng, 1000)
        cal = fit_calibrator(ref_said, ref_y)
        assert cal.calibrated
        truth = realised(said, y)
        est = estimate_accuracy(said)
        raw_hits += est.lower <= truth <= est.upper
        est = estimate_accuracy(said, cal)
        assert est.calibrated and est.reference_rows == 5000
        fitted_hits += est.lower <= truth <= est.upper
    assert raw_hits >= 197
    assert fitted_hits >= 190


def test_calibrated_multiclass_model_band_rate() -> None:
    """Probability vectors from a Dirichlet, labels drawn from them: the ±1.96 sigma band holds
    the realised accuracy in about 95% of 400 batches."""
    hits = 0
    for seed in range(400):
        rng = np.random.default_rng(seed)
        probs = rng.dirichlet([0.7, 0.7, 0.7, 0.7], 800)
        y = (rng.uniform(size=(800, 1)) > probs.cumsum(axis=1)).sum(axis=1)
        truth = float(np.mean(probs.argmax(axis=1) == y))
        est = estimate_accuracy(probs, sigmas=1.96)
        assert est.method == "top-label" and est.f1 is None
        hits += est.lower <= truth <= est.upper
    assert 0.915 <= hits / 400 <= 0.985


# ------------------------------------------------------------------ an over-confident model


def test_calibration_repairs_an_overconfident_binary_model() -> None:
    rng = np.random.default_rng(7)
    ref_said, ref_y = binary_batch(rng, 5000, sharpen=3.0)
    said, y = binary_batch(rng, 5000, sharpen=3.0)
    truth = realised(said, y)
    cal = fit_calibrator(ref_said, ref_y)
    assert cal.calibrated and cal.method == "binary" and cal.classes == (0, 1)
    assert cal.reference_accuracy == pytest.approx(realised(ref_said, ref_y))
    raw = estimate_accuracy(said)
    est = estimate_accuracy(said, cal)
    assert raw.value - truth > 0.1  # the raw mean confidence is far too high
    assert raw.lower > truth
    # the reference (as large as the batch) adds its own noise to the band's: over 15 seeds the
    # error stayed within 0.023, precision, recall and F1 within 0.031
    assert abs(est.value - truth) < 0.03
    assert est.confidence == pytest.approx(raw.value)
    # precision, recall and F1 from the expected confusion matrix
    predicted = (said > 0.5).astype(int)
    assert est.precision == pytest.approx(precision_score(y, predicted), abs=0.035)
    assert est.recall == pytest.approx(recall_score(y, predicted), abs=0.035)
    assert est.f1 == pytest.approx(f1_score(y, predicted), abs=0.035)


def test_the_estimate_follows_covariate_shift() -> None:
    """A batch whose rows the model is less sure of (same chances given the input, other
    inputs): the realised accuracy drops, and the estimate drops with it."""
    rng = np.random.default_rng(11)
    ref_said, ref_y = binary_batch(rng, 5000, sharpen=2.5)
    said, y = binary_batch(rng, 5000, sharpen=2.5, a=3.0, b=3.0)
    cal = fit_calibrator(ref_said, ref_y)
    truth = realised(said, y)
    assert cal.reference_accuracy - truth > 0.1
    est = estimate_accuracy(said, cal)
    assert abs(est.value - truth) < 0.03


def test_given_predictions_use_the_probability_of_the_class_given() -> None:
    """A model that predicts positive above 0.3: each row counts with the calibrated chance of
    the class it predicted."""
    rng = np.random.default_rng(5)
    ref_said, ref_y = binary_batch(rng, 5000, sharpen=3.0)
    said, y = binary_batch(rng, 5000, sharpen=3.0)
    cal = fit_calibrator(ref_said, ref_y)
    predicted = (said > 0.3).astype(int)
    est = estimate_accuracy(said, cal, predictions=predicted)
    truth = realised(said, y, threshold=0.3)
    assert abs(est.value - truth) < 0.03
    positive = cal.apply(said)
    assert est.value == pytest.approx(np.mean(np.where(predicted == 1, positive, 1 - positive)))
    assert est.recall == pytest.approx(recall_score(y, predicted), abs=0.035)
    # all predicted negative: precision undefined, recall 0
    none = estimate_accuracy(said, cal, predictions=np.zeros(len(said), dtype=int))
    assert none.precision is None and none.recall == 0.0
    assert "precision undefined" in none.to_text()


def test_calibrator_map_is_scikit_learns_isotonic_predict() -> None:
    rng = np.random.default_rng(3)
    said, y = binary_batch(rng, 3000, sharpen=2.0)
    cal = fit_calibrator(said, y)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(said, y)
    grid = np.linspace(0, 1, 2001)
    assert np.array_equal(cal.apply(grid), iso.predict(grid))


def test_two_columns_and_one_column_agree_and_labels_can_be_text() -> None:
    rng = np.random.default_rng(9)
    said, y = binary_batch(rng, 2000, sharpen=2.0)
    words = np.where(y == 1, "spam", "ham")
    cal1 = fit_calibrator(said, y)
    cal2 = fit_calibrator(np.column_stack([1 - said, said]), words)
    assert cal2.classes == ("ham", "spam") and cal2.positive_class == "spam"
    assert np.allclose(cal1.x, cal2.x) and np.allclose(cal1.y, cal2.y)
    e1 = estimate_accuracy(said, cal1)
    e2 = estimate_accuracy(np.column_stack([1 - said, said]), cal2)
    assert e1.value == pytest.approx(e2.value) and e2.positive_class == "spam"
    bools = fit_calibrator(said, y.astype(bool))
    assert bools.classes == (False, True)


# ------------------------------------------------------------------ multiclass, scikit-learn


def classification(seed: int, n: int = 8000, k: int = 4):
    return make_classification(
        n_samples=n,
        n_features=10,
        n_informative=6,
        n_classes=k,
        n_clusters_per_class=1,
        class_sep=0.8,
        random_state=seed,
    )


def test_multiclass_logistic_regression_overconfident_and_shifted() -> None:
    """LogisticRegression on make_classification (4 classes), made over-confident (logits x 3):
    calibrated on 4,000 reference rows, the estimate meets the realised accuracy on a new batch
    and on a batch drawn towards the rows the model is unsure of (covariate shift). The
    tolerance, 0.03, is about 3 standard deviations of the reference's and the batch's noise
    together; the raw confidence is off by more than 0.1."""
    X, y = classification(0, n=12000)
    model = LogisticRegression(max_iter=1000).fit(X[:2000], y[:2000])
    probs = softmax(3 * model.decision_function(X))
    ref, new = slice(2000, 6000), slice(6000, 12000)
    cal = fit_calibrator(probs[ref], y[ref], classes=model.classes_)
    assert cal.calibrated and cal.method == "top-label" and cal.classes == (0, 1, 2, 3)
    # in-sample, isotonic regression keeps the mean: the estimate is the realised accuracy
    ref_est = estimate_accuracy(probs[ref], cal)
    assert ref_est.value == pytest.approx(cal.reference_accuracy, abs=1e-9)

    truth = float(np.mean(probs[new].argmax(axis=1) == y[new]))
    raw = estimate_accuracy(probs[new])
    est = estimate_accuracy(probs[new], cal, predictions=model.predict(X[new]))
    assert raw.value - truth > 0.1
    assert abs(est.value - truth) < 0.03

    # covariate shift: keep each new row with a chance growing as the model's confidence falls
    # (the inputs move, the labels given the inputs do not). The estimate follows the drop; the
    # reference has few rows where the batch now has most, so the tolerance is wider (over 20
    # seeds the error was -0.02 on average, at most 0.052, for drops of 0.10 to 0.25)
    rng = np.random.default_rng(0)
    weight = 1 - probs[new].max(axis=1)
    keep = rng.uniform(size=6000) < weight / weight.max()
    shifted_p, shifted_y = probs[new][keep], y[new][keep]
    shifted_truth = float(np.mean(shifted_p.argmax(axis=1) == shifted_y))
    assert truth - shifted_truth > 0.1
    shifted = estimate_accuracy(shifted_p, cal)
    assert abs(shifted.value - shifted_truth) < 0.06
    assert est.value - shifted.value > 0.1


def test_multiclass_given_predictions_other_than_argmax() -> None:
    X, y = classification(1, n=3000, k=3)
    model = LogisticRegression(max_iter=1000).fit(X[:1000], y[:1000])
    probs = model.predict_proba(X[1000:])
    second = np.argsort(probs, axis=1)[:, -2]
    est = estimate_accuracy(probs, None, predictions=second)
    assert est.value == pytest.approx(np.mean(probs[np.arange(len(probs)), second]))
    cal = fit_calibrator(probs[:1000], y[1000:2000])
    chances = chance_correct(probs[1000:], cal, predictions=second[1000:])
    assert np.allclose(chances, cal.apply(probs[1000:][np.arange(1000), second[1000:]]))
    assert estimate_accuracy(probs[1000:], cal, second[1000:]).value == pytest.approx(
        chances.mean()
    )
    # a model that predicts by another rule: calibrate on the reference's own predictions
    own = fit_calibrator(probs[:1000], y[1000:2000], predictions=second[:1000])
    assert own.calibrated
    assert own.reference_accuracy == pytest.approx(np.mean(second[:1000] == y[1000:2000]))
    in_sample = estimate_accuracy(probs[:1000], own, second[:1000])
    assert in_sample.value == pytest.approx(own.reference_accuracy)


def test_iris_reference_too_small_uses_raw_probabilities_flagged() -> None:
    iris = load_iris()
    names = iris.target_names[iris.target]
    rng = np.random.default_rng(0)
    order = rng.permutation(150)
    train, ref, new = order[:60], order[60:110], order[110:]
    model = LogisticRegression(max_iter=1000).fit(iris.data[train], names[train])
    cal = fit_calibrator(model.predict_proba(iris.data[ref]), names[ref], model.classes_)
    assert not cal.calibrated
    assert cal.classes == ("setosa", "versicolor", "virginica")
    assert f"at least {MIN_REFERENCE_ROWS}" in cal.note and "50 rows" in cal.note
    probs = model.predict_proba(iris.data[new])
    est = estimate_accuracy(probs, cal, predictions=model.predict(iris.data[new]))
    assert not est.calibrated and est.note == cal.note
    assert est.value == pytest.approx(probs.max(axis=1).mean())
    assert "NOT calibrated" in est.to_text() and "NOT calibrated" in est.to_html()
    # default classes from text labels: sorted, as scikit-learn orders classes_
    assert fit_calibrator(probs, names[new]).classes == cal.classes


def test_too_few_of_one_outcome_skips_calibration() -> None:
    rng = np.random.default_rng(2)
    said = rng.uniform(0, 0.2, 500)
    y = np.zeros(500, dtype=int)
    y[:5] = 1
    cal = fit_calibrator(said, y)
    assert not cal.calibrated
    assert "5 positive" in cal.note and f"at least {MIN_OUTCOME_ROWS}" in cal.note
    assert np.array_equal(cal.apply(said), said)


# ------------------------------------------------------------------ round trip, bad dicts


def fitted_multiclass() -> tuple[Calibrator, np.ndarray]:
    rng = np.random.default_rng(4)
    probs = rng.dirichlet([0.5, 0.5, 0.5], 3000)
    y = (rng.uniform(size=(3000, 1)) > probs.cumsum(axis=1)).sum(axis=1)
    labels = np.array(["a", "b", "c"])[y]
    return fit_calibrator(probs[:2000], labels[:2000], classes=["a", "b", "c"]), probs[2000:]


def test_calibrators_round_trip_through_json_exactly() -> None:
    rng = np.random.default_rng(6)
    said, y = binary_batch(rng, 3000, sharpen=2.0)
    small = fit_calibrator(said[:50], y[:50])
    multi, probs = fitted_multiclass()
    for cal, batch in [(fit_calibrator(said, y), said), (small, said), (multi, probs)]:
        text = json.dumps(cal.to_dict(), allow_nan=False)
        back = Calibrator.from_dict(json.loads(text))
        assert back.to_dict() == cal.to_dict()
        assert estimate_accuracy(batch, back).to_dict() == estimate_accuracy(batch, cal).to_dict()
    assert "thresholds" in repr(multi) and "not calibrated" in repr(small)


def mutate(path: list, value) -> dict:
    cal, _ = fitted_multiclass()
    data = json.loads(json.dumps(cal.to_dict()))
    where = data
    for key in path[:-1]:
        where = where[key]
    if value is KeyError:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return data


BAD = {
    "missing key": (["note"], KeyError),
    "extra key": (["pickle"], "x"),
    "format": (["format"], "other"),
    "version": (["version"], 2),
    "version bool": (["version"], True),
    "classes not a list": (["classes"], "abc"),
    "one class": (["classes"], ["a"]),
    "repeated class": (["classes"], ["a", "a", "b"]),
    "class object": (["classes"], ["a", {"b": 1}, "c"]),
    "method": (["method"], "binary"),
    "map not a dict": (["map"], [1, 2]),
    "map extra key": (["map", "z"], [0.5]),
    "x empty": (["map", "x"], []),
    "x text": (["map", "x", 0], "0.1"),
    "x bool": (["map", "x", 0], False),
    "x nan": (["map", "x", 0], float("nan")),
    "x above 1": (["map", "x", -1], 1.5),
    "x not increasing": (["map", "x", 1], -0.0),
    "y shorter": (["map", "y"], [0.5]),
    "y decreasing": (["map", "y", -1], 0.0),
    "y below 0": (["map", "y", 0], -0.1),
    "rows negative": (["reference_rows"], -1),
    "rows float": (["reference_rows"], 10.5),
    "accuracy above 1": (["reference_accuracy"], 1.2),
    "note number": (["note"], 3),
    "no map no note": (["map"], None),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_calibrator_dicts_are_refused_in_one_line(case: str) -> None:
    path, value = BAD[case]
    data = mutate(path, value)
    with pytest.raises(MonitorError, match=r"^calibrator dict: ") as err:
        Calibrator.from_dict(data)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("data", [None, [], "calibrator", 3])
def test_non_dicts_are_refused(data) -> None:
    with pytest.raises(MonitorError, match="expected a dict"):
        Calibrator.from_dict(data)


# ------------------------------------------------------------------ errors


def binary_calibrator() -> Calibrator:
    said, y = binary_batch(np.random.default_rng(8), 1000, sharpen=2.0)
    return fit_calibrator(said, y)


ERRORS = {
    "above 1": ([0.2, 1.3, 0.5], "row 1 holds 1.3, outside"),
    "below 0": ([[0.5, 0.5], [1.1, -0.1]], "row 1 holds 1.1, outside"),
    "nan": ([0.2, float("nan")], "row 1 holds .*NaN or infinite"),
    "inf": ([[0.5, 0.5], [0.5, float("inf")]], "row 1 holds .*NaN or infinite"),
    "rows not summing to 1": ([[0.5, 0.5], [0.7, 0.4]], "row 1 sums to 1.1, not 1"),
    "empty": ([], "empty batch"),
    "empty matrix": (np.zeros((0, 2)), "empty batch"),
    "3-D": (np.full((2, 2, 2), 0.5), "not 3-D"),
    "text": (["a", "b"], "must be numbers"),
    "ragged": ([[0.5, 0.5], [1.0]], "must be numbers"),
    "three columns for a binary calibrator": (
        [[0.2, 0.3, 0.5]],
        r"3 probability columns do not fit the calibrator's 2 classes",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_probabilities_get_one_line_errors(case: str) -> None:
    probabilities, message = ERRORS[case]
    with pytest.raises(MonitorError, match=message) as err:
        estimate_accuracy(probabilities, binary_calibrator())
    assert "\n" not in str(err.value)


def test_mismatches_get_one_line_errors() -> None:
    multi, probs = fitted_multiclass()
    cal = binary_calibrator()
    cases = [
        (lambda: estimate_accuracy([0.2, 0.7], multi), "1-D \\(binary\\) probabilities do not"),
        (lambda: estimate_accuracy([0.2, 0.7], cal, predictions=[1]), "predictions have 1 rows"),
        (lambda: estimate_accuracy([0.2, 0.7], cal, predictions=[1, 2]), "prediction 2 at row 1"),
        (lambda: estimate_accuracy(probs[:2], multi, ["a", None]), "prediction at row 1 is miss"),
        (lambda: estimate_accuracy([0.2], cal, predictions=np.array([[1]])), "one value per row"),
        (lambda: estimate_accuracy([0.2], cal, sigmas=0), "sigmas must be a positive number"),
        (lambda: estimate_accuracy([0.2], cal, sigmas=float("inf")), "sigmas must be finite"),
        (lambda: estimate_accuracy([0.2], {"map": None}), "must be a Calibrator"),
        (lambda: fit_calibrator([0.2, 0.7], [1]), "labels have 1 rows but"),
        (lambda: fit_calibrator([0.2, 0.7], [1, float("nan")]), "label at row 1 is missing"),
        (lambda: fit_calibrator([0.2, 0.7], [1, 2], classes=[0, 1]), "label 2 at row 1 is not"),
        (lambda: fit_calibrator([0.2, 0.7], [0, 1], classes=[0, 1, 2]), "classes has 3 entries"),
        (lambda: fit_calibrator([0.2, 0.7], [0, 1], classes=[1, 1]), "repeat a class"),
        (lambda: fit_calibrator([0.2, 0.7], [0, 1], classes=[1, True]), "repeat a class"),
        (lambda: fit_calibrator([0.2, 0.7], [0, 1], classes="ab"), "list of class labels"),
        (lambda: fit_calibrator([0.2, 0.7], [0, 1], classes=[0, None]), "class None is not"),
        (lambda: fit_calibrator([0.2, 0.7, 0.1], ["x", "y", "z"]), "pass classes="),
        (lambda: fit_calibrator(np.eye(3), [0, "a", 1.5]), "pass classes="),
        (lambda: fit_calibrator([0.2, 0.7], None), "labels are missing"),
        (lambda: fit_calibrator([0.2, 0.7], "ab"), "labels must be one value per row"),
        (lambda: fit_calibrator([[1.0]] * 3, [0, 1, 0]), None),  # one column: binary, works
    ]
    for call, message in cases:
        if message is None:
            assert isinstance(call(), Calibrator)
            continue
        with pytest.raises(MonitorError, match=message) as err:
            call()
        assert "\n" not in str(err.value), message


def test_results_escape_user_strings() -> None:
    rng = np.random.default_rng(12)
    said, y = binary_batch(rng, 400)
    words = np.where(y == 1, "<b>yes</b>", "no & none")
    cal = fit_calibrator(said, words, classes=["no & none", "<b>yes</b>"])
    est = estimate_accuracy(said, cal)
    page = est.to_html()
    assert "<b>yes" not in page and "&lt;b&gt;yes" in page
    assert est.to_dict()["positive_class"] == "<b>yes</b>"
    assert json.loads(json.dumps(est.to_dict())) == est.to_dict()
    assert str(est).startswith("estimated accuracy ")
