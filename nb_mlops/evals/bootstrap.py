"""Confidence intervals for evaluation scores.

Corpus metrics (BLEU, chrF) are not means of per-example values, so their interval comes from
resampling examples: `bootstrap_ci` draws example indices with replacement and asks a statistic
(e.g. `TextScore.resample`) for the score of each draw. Mean-type scores (accuracy, exact match,
ROUGE) also get `mean_ci`: the standard error lm-evaluation-harness reports (sample standard
deviation / sqrt(n)) and the normal-approximation interval around the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

from nb_mlops.evals.model import EvalError


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise EvalError(f"confidence must lie strictly between 0 and 1, not {confidence!r}")
    return float(confidence)


def bootstrap_ci(
    n: int,
    statistic: Callable[[np.ndarray], float],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """The percentile bootstrap interval of `statistic` over `n` examples.

    Each of `resamples` draws picks `n` indices in 0..n-1 with replacement (numpy's default
    generator seeded with `seed`, so the same call gives the same interval) and calls
    `statistic(indices)`; the interval is the (1-confidence)/2 and (1+confidence)/2 quantiles
    of the draws. With one example there is nothing to resample: (score, score).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise EvalError(f"bootstrap needs at least one example, got n={n!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise EvalError(f"resamples must be a positive integer, not {resamples!r}")
    level = _check_confidence(confidence)
    if n == 1:
        value = float(statistic(np.zeros(1, dtype=np.intp)))
        return value, value
    rng = np.random.default_rng(seed)
    draws = np.empty(int(resamples), dtype=float)
    for i in range(int(resamples)):
        draws[i] = float(statistic(rng.integers(0, n, size=n, dtype=np.intp)))
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high)


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> dict[str, Any]:
    """Mean, standard error and normal-approximation interval of per-example `values`.

    stderr = sample standard deviation (ddof=1) / sqrt(n), as lm-evaluation-harness reports
    it; the interval is mean -/+ z * stderr with z the normal quantile for `confidence`
    (1.96 at 0.95). One value has no spread: stderr 0 and the interval collapses to it.
    """
    level = _check_confidence(confidence)
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise EvalError("mean_ci needs a list of numbers") from None
    if array.ndim != 1 or array.size == 0:
        raise EvalError("mean_ci needs a non-empty flat list of numbers")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise EvalError(f"mean_ci values[{int(bad[0])}] is {array[bad[0]]}, not a finite number")
    n = int(array.size)
    mean = float(np.mean(array))
    stderr = float(np.std(array, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    return {
        "mean": mean,
        "stderr": stderr,
        "low": mean - z * stderr,
        "high": mean + z * stderr,
        "n": n,
    }
