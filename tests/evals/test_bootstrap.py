"""Confidence intervals: seeded percentile bootstrap and lm-eval's standard error."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nb_mlops.evals.bootstrap import bootstrap_ci, mean_ci
from nb_mlops.evals.metrics import bleu, chrf, token_f1
from nb_mlops.evals.model import EvalError


def mean_of(values: np.ndarray):
    return lambda idx: float(values[idx].mean())


def test_same_seed_same_interval_other_seed_other_interval():
    values = np.random.default_rng(1).normal(size=40)
    first = bootstrap_ci(40, mean_of(values), seed=7)
    assert bootstrap_ci(40, mean_of(values), seed=7) == first
    assert bootstrap_ci(40, mean_of(values), seed=8) != first
    low, high = first
    assert low < values.mean() < high


def test_indices_are_drawn_with_replacement_from_all_examples():
    seen: list[np.ndarray] = []

    def record(idx: np.ndarray) -> float:
        seen.append(idx.copy())
        return 0.0

    bootstrap_ci(5, record, resamples=50, seed=0)
    assert len(seen) == 50
    assert all(len(idx) == 5 and idx.min() >= 0 and idx.max() <= 4 for idx in seen)
    assert any(len(set(idx.tolist())) < 5 for idx in seen)  # repeats happen
    assert set(np.concatenate(seen).tolist()) == {0, 1, 2, 3, 4}


def test_one_example_gives_its_own_score_twice():
    assert bootstrap_ci(1, lambda idx: 0.25 + idx.sum()) == (0.25, 0.25)


def test_bootstrap_agrees_with_the_normal_interval_on_a_mean():
    values = np.random.default_rng(2).binomial(1, 0.3, size=400).astype(float)
    low, high = bootstrap_ci(400, mean_of(values), resamples=2000, seed=0)
    normal = mean_ci(values)
    assert low == pytest.approx(normal["low"], abs=0.01)
    assert high == pytest.approx(normal["high"], abs=0.01)


def test_coverage_of_both_intervals_is_about_the_confidence():
    rng = np.random.default_rng(11)
    truth = 0.3
    boot_hits = normal_hits = 0
    trials = 150
    for seed in range(trials):
        values = rng.binomial(1, truth, size=60).astype(float)
        low, high = bootstrap_ci(60, mean_of(values), resamples=300, seed=seed)
        boot_hits += low <= truth <= high
        ci = mean_ci(values)
        normal_hits += ci["low"] <= truth <= ci["high"]
    assert 0.86 <= boot_hits / trials <= 0.995
    assert 0.86 <= normal_hits / trials <= 0.995


def test_narrower_interval_for_higher_confidence_and_more_data():
    values = np.random.default_rng(4).normal(size=200)
    wide = bootstrap_ci(200, mean_of(values), confidence=0.99, seed=1)
    narrow = bootstrap_ci(200, mean_of(values), confidence=0.8, seed=1)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    small = mean_ci(values[:20])
    large = mean_ci(values)
    assert large["high"] - large["low"] < small["high"] - small["low"]


def test_corpus_bleu_interval_through_resample():
    rng = random.Random(9)
    words = "the a cat dog sat ran on mat over quick brown fox".split()
    refs = [" ".join(rng.choices(words, k=rng.randint(3, 12))) for _ in range(60)]
    preds = [
        " ".join(w if rng.random() < 0.7 else rng.choice(words) for w in r.split()) for r in refs
    ]
    score = bleu(preds, refs)
    low, high = bootstrap_ci(score.n, score.resample, resamples=300, seed=0)
    assert low < score.score < high
    assert bootstrap_ci(score.n, score.resample, resamples=300, seed=0) == (low, high)
    char = chrf(preds[:15], refs[:15])
    c_low, c_high = bootstrap_ci(char.n, char.resample, resamples=40, seed=0)
    assert c_low <= char.score <= c_high
    f1 = token_f1(preds, refs)
    f_low, f_high = bootstrap_ci(f1.n, f1.resample, resamples=300, seed=0)
    assert f_low < f1.score < f_high


def test_mean_ci_by_hand():
    result = mean_ci([1, 0, 1, 1])
    # mean 0.75; sample std (ddof=1) sqrt(0.75/3) = 0.5; stderr 0.5 / sqrt(4) = 0.25.
    assert result["mean"] == 0.75 and result["n"] == 4
    assert result["stderr"] == pytest.approx(0.25)
    assert result["low"] == pytest.approx(0.75 - 1.959963984540054 * 0.25)
    assert result["high"] == pytest.approx(0.75 + 1.959963984540054 * 0.25)
    lm_eval_style = math.sqrt(sum((x - 0.75) ** 2 for x in [1, 0, 1, 1]) / 3) / math.sqrt(4)
    assert result["stderr"] == pytest.approx(lm_eval_style)
    assert mean_ci([0.4]) == {"mean": 0.4, "stderr": 0.0, "low": 0.4, "high": 0.4, "n": 1}


def test_all_nan_draws_give_nan():
    low, high = bootstrap_ci(3, lambda idx: math.nan, resamples=5)
    assert math.isnan(low) and math.isnan(high)


def test_bad_arguments():
    with pytest.raises(EvalError, match="at least one example, got n=0"):
        bootstrap_ci(0, lambda idx: 0.0)
    with pytest.raises(EvalError, match="resamples must be a positive integer"):
        bootstrap_ci(3, lambda idx: 0.0, resamples=0)
    with pytest.raises(EvalError, match="confidence must lie strictly between 0 and 1"):
        bootstrap_ci(3, lambda idx: 0.0, confidence=1.5)
    with pytest.raises(EvalError, match="non-empty"):
        mean_ci([])
    with pytest.raises(EvalError, match=r"values\[1\] is nan"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(EvalError, match="list of numbers"):
        mean_ci(["a", "b"])
