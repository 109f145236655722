"""The drift tests' numbers equal scipy's on the same data, the default test follows Evidently's
rules, and PSI matches a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from nb_mlops.monitor import MonitorError, drift, psi
from nb_mlops.monitor.stattests import PSI_EPSILON, STATTESTS, Samples, default_test

RNG_SEED = 1717


def one(reference, current, **options):
    """The to_dict() entry of the only column compared."""
    report = drift(pd.DataFrame({"x": reference}), pd.DataFrame({"x": current}), **options)
    (column,) = report.to_dict()["columns"]
    return column


# ------------------------------------------------------------------ equal to scipy's numbers


def test_ks_equals_scipy() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref, cur = rng.normal(0, 1, 400), rng.normal(0.2, 1.1, 300)
    col = one(ref, cur)
    expected = stats.ks_2samp(ref, cur)
    assert col["test"] == "ks"
    assert col["statistic"] == expected.statistic
    assert col["p_value"] == expected.pvalue
    assert col["threshold"] == 0.05
    assert col["drifted"] is bool(expected.pvalue <= 0.05)


def test_chisquare_equals_scipy_on_counts_scaled_to_the_current_size() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref = rng.choice(["a", "b", "c", "d"], 500, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(["a", "b", "c", "d"], 350, p=[0.3, 0.3, 0.3, 0.1])
    col = one(ref, cur)
    keys = ["a", "b", "c", "d"]
    observed = [int((cur == k).sum()) for k in keys]
    expected = [int((ref == k).sum()) * 350 / 500 for k in keys]
    want = stats.chisquare(observed, expected)
    assert col["test"] == "chisquare"
    assert col["statistic"] == pytest.approx(want.statistic, rel=1e-12)
    assert col["p_value"] == pytest.approx(want.pvalue, rel=1e-9)
    assert col["drifted"] is bool(want.pvalue < 0.05)


def test_z_test_equals_scipy_chi2_contingency_without_correction() -> None:
    """The pooled two-proportion z-test is the 2x2 chi-squared test: z squared = chi-squared,
    same p-value."""
    rng = np.random.default_rng(RNG_SEED)
    ref = rng.choice(["no", "yes"], 600, p=[0.7, 0.3])
    cur = rng.choice(["no", "yes"], 400, p=[0.62, 0.38])
    col = one(ref, cur)
    table = [
        [(ref == "yes").sum(), (ref == "no").sum()],
        [(cur == "yes").sum(), (cur == "no").sum()],
    ]
    chi2 = stats.chi2_contingency(table, correction=False)
    assert col["test"] == "z"
    assert col["statistic"] ** 2 == pytest.approx(chi2.statistic, rel=1e-9)
    assert col["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)
    # the proportion is that of the second value in sorted order: more "yes" now, z < 0
    assert col["statistic"] < 0


def test_wasserstein_equals_scipy_over_the_reference_std() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref = np.round(rng.normal(5, 2, 3000), 1)  # ties on both sides
    cur = np.round(rng.normal(5.3, 2, 2500), 1)
    col = one(ref, cur)
    want = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert col["test"] == "wasserstein"
    assert col["distance"] == pytest.approx(want, rel=1e-12)
    assert col["statistic"] == col["distance"]
    assert col["threshold"] == 0.1
    assert col["drifted"] is bool(want >= 0.1)


@pytest.mark.parametrize("seed", range(5))
def test_wasserstein_equals_scipy_on_varied_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.standard_t(3, rng.integers(1001, 3000))
    cur = rng.standard_t(3, rng.integers(1, 3000)) * rng.uniform(0.5, 2)
    want = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert one(ref, cur)["distance"] == pytest.approx(want, rel=1e-10)


def test_wasserstein_constant_reference_uses_the_floor() -> None:
    """A constant reference has no spread: the distance is divided by 0.001 instead."""
    ref, cur = np.full(2000, 3.0), np.r_[np.full(1990, 3.0), np.arange(10.0) + 4]
    col = one(ref, cur)
    assert col["test"] == "wasserstein"  # 11 values over both frames
    assert col["distance"] == pytest.approx(stats.wasserstein_distance(ref, cur) / 0.001)


def test_jensenshannon_equals_scipy_on_value_shares() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref = rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "c", "z"], 1500, p=[0.4, 0.3, 0.2, 0.1])
    col = one(ref, cur)
    keys = ["a", "b", "c", "z"]
    want = distance.jensenshannon(
        [(ref == k).mean() for k in keys], [(cur == k).mean() for k in keys]
    )
    assert col["test"] == "jensenshannon"
    assert col["distance"] == pytest.approx(want, rel=1e-12)
    assert col["drifted"] is bool(want >= 0.1)
    assert col["unseen_categories"] == ["z"]


def test_jensenshannon_on_many_numbers_bins_both_frames_by_sturges() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref, cur = rng.normal(0, 1, 1500), rng.normal(0.3, 1, 900)
    col = one(ref, cur, stattest="jensenshannon")
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    want = distance.jensenshannon(
        np.histogram(ref, edges)[0] / len(ref), np.histogram(cur, edges)[0] / len(cur)
    )
    assert col["distance"] == pytest.approx(want, rel=1e-12)


def test_unseen_category_makes_chisquare_infinite_and_drifted() -> None:
    ref = ["a"] * 50 + ["b"] * 50
    cur = ["a"] * 45 + ["b"] * 45 + ["c"] * 10
    col = one(ref, cur, stattest="chisquare")
    assert col["statistic"] is None  # infinite: JSON has no infinity
    assert col["p_value"] == 0.0
    assert col["drifted"] is True
    assert col["unseen_categories"] == ["c"]
    assert col["unseen_share"] == pytest.approx(0.1)


# ------------------------------------------------------------------ the default test


@pytest.mark.parametrize(
    ("n_ref", "values", "kind", "expected"),
    [
        (1000, 6, "numerical", "ks"),
        (1000, 5, "numerical", "chisquare"),
        (1000, 3, "numerical", "chisquare"),
        (1000, 2, "numerical", "z"),
        (1000, 3, "categorical", "chisquare"),
        (1000, 2, "categorical", "z"),
        (1000, 1, "categorical", "z"),
        (1001, 6, "numerical", "wasserstein"),
        (1001, 5, "numerical", "jensenshannon"),
        (1001, 2, "categorical", "jensenshannon"),
        (1001, 30, "categorical", "jensenshannon"),
    ],
)
def test_default_test_follows_evidentlys_rules(n_ref, values, kind, expected) -> None:
    ref = np.arange(n_ref) % values
    cur = np.arange(200) % values
    if kind == "numerical":
        samples = Samples(kind, ref.astype(float), cur.astype(float))
    else:
        samples = Samples(kind, pd.Series(ref).astype(str), pd.Series(cur).astype(str))
    assert default_test(samples).name == expected


def test_the_thousand_rows_count_missing_values_out() -> None:
    """1,005 reference rows of which 10 missing: 995 values, a hypothesis test."""
    rng = np.random.default_rng(RNG_SEED)
    ref = rng.normal(size=1005)
    ref[:10] = np.nan
    assert one(ref, rng.normal(size=500))["test"] == "ks"
    assert one(rng.normal(size=1005), rng.normal(size=500))["test"] == "wasserstein"


def test_distinct_values_are_counted_over_both_frames() -> None:
    """Five values in the reference, a sixth in the current: more than 5 together, so K-S."""
    ref = np.arange(300) % 5 * 1.5
    cur = np.r_[np.arange(299) % 5 * 1.5, 99.0]
    assert one(ref, cur)["test"] == "ks"


def test_one_shared_value_gives_z_p_value_1() -> None:
    col = one(["x"] * 30, ["x"] * 20)
    assert (col["test"], col["statistic"], col["p_value"], col["drifted"]) == ("z", 0.0, 1.0, False)


def test_drift_rules_at_the_threshold() -> None:
    """K-S drifts at p <= threshold (as Evidently has it), chi-squared and z at p < threshold,
    the distances at distance >= threshold."""
    assert STATTESTS["ks"].drifted(0.05, 0.05)
    assert not STATTESTS["chisquare"].drifted(0.05, 0.05)
    assert not STATTESTS["z"].drifted(0.05, 0.05)
    assert STATTESTS["z"].drifted(0.049, 0.05)
    for name in ("wasserstein", "jensenshannon", "psi"):
        assert STATTESTS[name].drifted(0.1, 0.1)
        assert not STATTESTS[name].drifted(0.0999, 0.1)


# ------------------------------------------------------------------ PSI


def test_psi_hand_example_numerical() -> None:
    """Reference 0..99: the deciles cut it into 10 bins of 10 values. The current puts 40 values
    in the first bin, 40 in the last and 20 in the fifth; the 7 empty bins count as 1e-4."""
    reference = np.arange(100.0)
    current = np.r_[np.full(40, 2.0), np.full(40, 97.0), np.full(20, 45.0)]
    by_hand = 2 * (0.4 - 0.1) * math.log(0.4 / 0.1)  # first and last bins
    by_hand += (0.2 - 0.1) * math.log(0.2 / 0.1)  # the fifth
    by_hand += 7 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)  # the empty ones
    assert psi(reference, current) == pytest.approx(by_hand, rel=1e-12)
    col = one(reference, current, stattest="psi")
    assert (col["test"], col["threshold"], col["drifted"]) == ("psi", 0.1, True)
    assert col["distance"] == pytest.approx(by_hand, rel=1e-12)


def test_psi_hand_example_categorical() -> None:
    reference = ["a"] * 50 + ["b"] * 50
    current = ["a"] * 25 + ["b"] * 75
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(reference, current) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.2747, abs=1e-4)


def test_psi_values_outside_the_reference_range_fall_in_the_outer_bins() -> None:
    reference = np.arange(100.0)
    assert psi(reference, reference) == 0.0
    assert psi(reference, reference + 1000) == pytest.approx(
        (1 - 0.1) * math.log(1 / 0.1) + 9 * (PSI_EPSILON - 0.1) * math.log(PSI_EPSILON / 0.1)
    )


def test_psi_tied_quantiles_merge_bins() -> None:
    """A reference that is 90% zeros has one distinct decile above its minimum (0.1): two bins,
    [min, 0.1) with 90% of the reference and [0.1, inf) with 10%, none empty."""
    reference = np.r_[np.zeros(90), np.arange(1.0, 11.0)]
    assert psi(reference, reference) == 0.0
    assert psi(reference, np.zeros(50)) == pytest.approx(
        (1 - 0.9) * math.log(1 / 0.9) + (PSI_EPSILON - 0.1) * math.log(PSI_EPSILON / 0.1)
    )
    assert psi(reference, np.full(50, 0.5)) == pytest.approx(
        (PSI_EPSILON - 0.9) * math.log(PSI_EPSILON / 0.9) + (1 - 0.1) * math.log(1 / 0.1)
    )


def test_psi_bad_inputs() -> None:
    with pytest.raises(MonitorError, match="bins"):
        psi([1.0, 2.0], [1.0], bins=0)
    with pytest.raises(MonitorError, match="current values are empty"):
        psi([1.0, 2.0], [np.nan])
