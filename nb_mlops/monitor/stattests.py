"""The drift tests: which one a column gets by default, and each test's statistic (scipy's;
the Wasserstein distance is computed here the way scipy does it, for speed, and checked against it).

The rules follow Evidently's defaults (evidently 0.7, `get_default_stattest` and its stattests),
so a drift report here and one there agree on the same data:

- a column with at most 1,000 non-missing reference values gets a hypothesis test at 0.95
  confidence: two-sample Kolmogorov-Smirnov for a numerical column with more than 5 distinct
  values (reference and current together), chi-squared goodness of fit for a categorical one (or a
  numerical one with 3 to 5 values), a z-test for two proportions when there are at most 2 values;
  drift when the p-value is under 0.05 (at or under, for K-S, as Evidently has it);
- above 1,000 reference values, a distance: the Wasserstein distance divided by the reference's
  standard deviation for a numerical column with more than 5 values, the Jensen-Shannon distance
  of the value shares otherwise; drift when the distance reaches 0.1.

False positives: on unshifted data K-S and the z-test flag about 5% of columns (K-S exact
somewhat fewer). The chi-squared test, as Evidently runs it, is a goodness of fit to the
reference's shares, which it takes as exact: the reference's own sampling noise inflates the
statistic by about 1 + n_current / n_reference, so its false-positive rate is about 5% only when
the reference is much larger than the current batch, P(chi2(k - 1) > q95 / (1 + n_cur / n_ref))
in general (16.6% for 3 values, 300 reference and 200 current rows). The distances have no
nominal rate; above 1,000 reference rows their sampling noise on unshifted data stays well under
the 0.1 threshold (tests/monitor/test_datadrift.py measures both).

PSI (population stability index) is ours, on request: 10 bins cut at the reference's deciles (a
categorical column: one bin per value), empty bins counted as a share of `PSI_EPSILON`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from nb_mlops.monitor.errors import MonitorError

SMALL_REFERENCE = 1000  # up to this many reference values: a hypothesis test; above: a distance
FEW_VALUES = 5  # a numerical column with at most this many values is tested by its value shares
JS_VALUE_BINS = 20  # Jensen-Shannon on a numerical column with more values bins it (Sturges)
WASSERSTEIN_MIN_STD = 0.001  # the normaliser's floor, so a constant reference divides safely
PSI_BINS = 10
PSI_EPSILON = 1e-4  # the share an empty PSI bin counts as (log(0) has no value)


class Samples:
    """The non-missing values of one column in the reference and the current frame.

    `kind` is "numerical" (`reference` and `current` are float arrays of finite values) or
    "categorical" (pandas Series of hashable values). What the tests need from them (value
    counts, distinct values) is computed once, on first use.
    """

    def __init__(self, kind: str, reference: Any, current: Any) -> None:
        self.kind = kind
        self.reference = reference
        self.current = current
        self.n_reference = len(reference)
        self.n_current = len(current)

    @cached_property
    def counts(self) -> tuple[list[Any], Any, Any]:
        """(values, reference counts, current counts) over every value either side holds, in
        order of first appearance (reference first)."""
        import numpy as np
        import pandas as pd

        if self.kind == "numerical":
            both = np.concatenate([self.reference, self.current])
        else:
            both = pd.concat([self.reference, self.current], ignore_index=True)
            if isinstance(both.dtype, pd.CategoricalDtype):  # its unused categories are no values
                both = both.astype(object)
        codes, values = pd.factorize(both)
        ref = np.bincount(codes[: self.n_reference], minlength=len(values))
        cur = np.bincount(codes[self.n_reference :], minlength=len(values))
        return list(values), ref.astype(np.float64), cur.astype(np.float64)

    @cached_property
    def sorted_reference(self) -> Any:
        import numpy as np

        return np.sort(self.reference)

    @cached_property
    def sorted_current(self) -> Any:
        import numpy as np

        return np.sort(self.current)

    @cached_property
    def sorted_both(self) -> Any:
        import numpy as np

        return np.sort(np.concatenate([self.sorted_reference, self.sorted_current]))

    @cached_property
    def n_unique(self) -> int:
        """Distinct values in both frames together."""
        if self.kind == "categorical":
            return len(self.counts[0])
        import numpy as np

        return int(np.count_nonzero(np.diff(self.sorted_both))) + 1

    @cached_property
    def n_unique_reference(self) -> int:
        if self.kind == "categorical":
            return int((self.counts[1] > 0).sum())
        import numpy as np

        return int(np.count_nonzero(np.diff(self.sorted_reference))) + 1


@dataclass(frozen=True)
class StatTest:
    """One drift test: `measure` is "p_value" (drift when below the threshold) or "distance"
    (drift when at or above it)."""

    name: str
    label: str
    measure: str
    default_threshold: float
    kinds: tuple[str, ...]
    compute: Callable[[Samples], tuple[float, float]]  # (statistic, p-value or distance)
    drift_at_threshold: bool = False  # a p-value equal to the threshold counts as drift

    def drifted(self, value: float, threshold: float) -> bool:
        if self.measure == "distance":
            return bool(value >= threshold)
        if self.drift_at_threshold:
            return bool(value <= threshold)
        return bool(value < threshold)


def ks_test(s: Samples) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: (D, two-sided p-value), exact up to 10,000 values a side
    (scipy's "auto", as Evidently calls it); where the exact computation fails (many ties) scipy
    falls back to the asymptotic p-value, and its warning about it is not passed on."""
    import warnings

    from scipy import stats

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
        result = stats.ks_2samp(s.reference, s.current)
    return float(result.statistic), float(result.pvalue)


def chisquare_test(s: Samples) -> tuple[float, float]:
    """Chi-squared goodness of fit of the current counts to the reference shares scaled to the
    current size: (chi-squared, p-value). A value the reference never had makes it infinite."""
    import numpy as np
    from scipy import stats

    _, ref, cur = s.counts
    expected = ref * (s.n_current / s.n_reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.chisquare(cur, expected)
    return float(result.statistic), float(result.pvalue)


def z_test(s: Samples) -> tuple[float, float]:
    """z-test for two proportions (pooled): (z, two-sided p-value). The proportion is the share
    of rows not holding the first value in sorted order; one shared value gives (0, 1)."""
    import math

    from scipy import stats

    values, ref, cur = s.counts
    if len(values) > 2:
        raise MonitorError(f"the z-test needs at most 2 distinct values, not {len(values)}")
    if len(values) < 2:
        return 0.0, 1.0
    first = values.index(sorted_values(values)[0])
    p_ref = 1 - ref[first] / s.n_reference
    p_cur = 1 - cur[first] / s.n_current
    pooled = (p_ref * s.n_reference + p_cur * s.n_current) / (s.n_reference + s.n_current)
    se = math.sqrt(pooled * (1 - pooled) * (1 / s.n_reference + 1 / s.n_current))
    z = (p_ref - p_cur) / se
    return float(z), float(2 * stats.norm.sf(abs(z)))


def wasserstein_test(s: Samples) -> tuple[float, float]:
    """First Wasserstein distance over the reference's (population) standard deviation.

    The distance is the area between the two empirical CDFs, computed as
    scipy.stats.wasserstein_distance does (the tests check they agree) but on the sorted values
    the samples keep: scipy's own call costs ten times more here (a merge sort and a BLAS dot
    that stalls on a busy machine), and a monitor tests dozens of columns per batch."""
    import numpy as np

    both = s.sorted_both
    ref_cdf = np.searchsorted(s.sorted_reference, both[:-1], side="right") / s.n_reference
    cur_cdf = np.searchsorted(s.sorted_current, both[:-1], side="right") / s.n_current
    distance = float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(both)))
    value = distance / max(float(np.std(s.reference)), WASSERSTEIN_MIN_STD)
    return value, value


def value_shares(s: Samples) -> tuple[Any, Any]:
    """The reference's and the current's share of each value, or for a numerical column with
    more than `JS_VALUE_BINS` reference values, of each Sturges bin over both frames."""
    import numpy as np

    if s.kind == "numerical" and s.n_unique_reference > JS_VALUE_BINS:
        edges = np.histogram_bin_edges(np.concatenate([s.reference, s.current]), bins="sturges")
        ref = np.histogram(s.reference, edges)[0]
        cur = np.histogram(s.current, edges)[0]
    else:
        _, ref, cur = s.counts
    return ref / s.n_reference, cur / s.n_current


def jensenshannon_test(s: Samples) -> tuple[float, float]:
    """Jensen-Shannon distance (natural log) between the two frames' value shares."""
    from scipy.spatial import distance

    ref, cur = value_shares(s)
    value = float(distance.jensenshannon(ref, cur))
    return value, value


def psi_shares(s: Samples, bins: int = PSI_BINS) -> tuple[Any, Any]:
    """Reference and current shares per PSI bin: `bins` bins cut at the reference's quantiles
    (a bin is [edge, next edge); edges that coincide, or equal the reference's minimum, merge
    their bins; the outer bins stretch to infinity), or one bin per value of a categorical
    column; a share of 0 becomes `PSI_EPSILON`."""
    import numpy as np

    if s.kind == "numerical":
        inner = np.unique(np.quantile(s.reference, np.linspace(0, 1, bins + 1))[1:-1])
        inner = inner[inner > s.sorted_reference[0]]  # else the first bin holds no reference
        n = len(inner) + 1
        ref = np.bincount(np.searchsorted(inner, s.reference, side="right"), minlength=n)
        cur = np.bincount(np.searchsorted(inner, s.current, side="right"), minlength=n)
    else:
        _, ref, cur = s.counts
    ref_share, cur_share = ref / s.n_reference, cur / s.n_current
    return (
        np.where(ref_share == 0, PSI_EPSILON, ref_share),
        np.where(cur_share == 0, PSI_EPSILON, cur_share),
    )


def psi_value(s: Samples, bins: int = PSI_BINS) -> float:
    """Population stability index: the sum over bins of (current - reference) * ln(current /
    reference) shares."""
    import numpy as np

    ref, cur = psi_shares(s, bins)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_test(s: Samples) -> tuple[float, float]:
    value = psi_value(s)
    return value, value


NUM = ("numerical",)
BOTH = ("numerical", "categorical")
STATTESTS: dict[str, StatTest] = {
    t.name: t
    for t in (
        StatTest("ks", "Kolmogorov-Smirnov", "p_value", 0.05, NUM, ks_test, True),
        StatTest("chisquare", "chi-squared", "p_value", 0.05, BOTH, chisquare_test),
        StatTest("z", "z-test (proportions)", "p_value", 0.05, BOTH, z_test),
        StatTest("wasserstein", "Wasserstein (normed)", "distance", 0.1, NUM, wasserstein_test),
        StatTest("jensenshannon", "Jensen-Shannon", "distance", 0.1, BOTH, jensenshannon_test),
        StatTest("psi", "PSI", "distance", 0.1, BOTH, psi_test),
    )
}


def default_test(s: Samples) -> StatTest:
    """Evidently's default test for these samples (see the module's docstring)."""
    few = s.n_unique <= FEW_VALUES
    if s.n_reference <= SMALL_REFERENCE:
        if s.kind == "numerical" and not few:
            return STATTESTS["ks"]
        return STATTESTS["chisquare" if s.n_unique > 2 else "z"]
    if s.kind == "numerical" and not few:
        return STATTESTS["wasserstein"]
    return STATTESTS["jensenshannon"]


def sorted_values(values: list[Any]) -> list[Any]:
    """`values` in sorted order, or by their repr when they do not compare (mixed types)."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=lambda v: (type(v).__name__, repr(v)))


def psi(reference: Any, current: Any, *, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against `reference` (array-likes, missing
    values left out): `bins` bins at the reference's quantiles for numbers, one bin per value
    otherwise; empty bins count as a share of 1e-4. Under 0.1 is usually read as stable, 0.1 to
    0.25 as a moderate shift, above 0.25 as a large one."""
    import numpy as np
    import pandas as pd

    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise MonitorError(f"bins must be a positive whole number, not {bins!r}")
    ref, cur = pd.Series(reference).dropna(), pd.Series(current).dropna()
    if pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur):
        ref = ref.to_numpy(dtype=np.float64)
        cur = cur.to_numpy(dtype=np.float64)
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        kind = "numerical"
    else:
        kind = "categorical"
    if len(ref) == 0 or len(cur) == 0:
        side = "reference" if len(ref) == 0 else "current"
        raise MonitorError(f"psi: the {side} values are empty (or all missing)")
    return psi_value(Samples(kind, ref, cur), bins)
