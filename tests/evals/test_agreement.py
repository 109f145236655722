"""Agreement statistics against published values, and judge agreement on a hand-counted case."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nb_mlops.evals.agreement import (
    Agreement,
    JudgeAgreement,
    cohen_kappa,
    judge_agreement,
    krippendorff_alpha,
    rater_agreement,
)
from nb_mlops.evals.model import EvalError

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section E (the example with
# 4 observers, 12 units and missing values): observers A-D in rows, units 1-12 in columns, None
# where an observer gave no value. He reports alpha = 0.743 (nominal), 0.815 (ordinal),
# 0.849 (interval) and 0.797 (ratio) for these data.
N = None
HAYES = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


def unfold(table: list[list[int]]) -> tuple[list[int], list[int]]:
    """Two raters' label lists from a contingency table (rows: rater a, columns: rater b)."""
    a, b = [], []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [i + 1] * count
            b += [j + 1] * count
    return a, b


# Kundel & Polansky (2003), "Measurement of observer agreement", Radiology 228, Table A1: 110
# mammograms read by two readers (absent, minimal, moderate, severe). vcd's Kappa() on this
# table (vcdExtra's Mammograms data) prints 0.3713 unweighted and 0.5964 with equal-spacing
# (linear) weights.
MAMMOGRAMS = [[34, 10, 2, 0], [6, 8, 8, 2], [2, 5, 4, 12], [0, 1, 2, 14]]

# Altman (1991), Practical Statistics for Medical Research, p. 403-405 (Boyd et al. 1982): two
# radiologists classify 85 xeromammograms as normal, benign, suspected cancer, cancer. Altman
# gives kappa = 0.47; Stata's manual ([R] kappa, `kap rada radb`) prints 0.4728, and 0.5684
# with its linear weights wgt(w).
XEROMAMMOGRAMS = [[21, 12, 0, 0], [4, 17, 1, 0], [3, 9, 15, 2], [0, 0, 0, 1]]


# ---------------------------------------------------------------------- Krippendorff's alpha
@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)],
)
def test_alpha_equals_krippendorffs_published_values(level: str, published: float) -> None:
    assert round(krippendorff_alpha(HAYES, level=level), 3) == published


def test_alpha_takes_nan_for_missing_and_the_ratio_level() -> None:
    with_nan = [[math.nan if v is None else v for v in row] for row in HAYES]
    assert round(krippendorff_alpha(with_nan, level="nominal"), 3) == 0.743
    assert round(krippendorff_alpha(np.array(with_nan, dtype=float), level="ratio"), 3) == 0.797
    frame = pd.DataFrame(with_nan)
    assert round(krippendorff_alpha(frame, level="interval"), 3) == 0.849


def test_alpha_on_words_nominal_and_ordinal_with_a_scale() -> None:
    words = ["very low", "low", "mid", "high", "very high"]
    data = [[None if v is None else words[v - 1] for v in row] for row in HAYES]
    assert round(krippendorff_alpha(data, level="nominal"), 3) == 0.743
    assert round(krippendorff_alpha(data, level="ordinal", scale=words), 3) == 0.815
    with pytest.raises(EvalError, match="needs scale"):
        krippendorff_alpha(data, level="ordinal")
    with pytest.raises(EvalError, match="interval alpha needs numbers"):
        krippendorff_alpha(data, level="interval", scale=words)


def test_alpha_undefined_or_refused() -> None:
    assert math.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))  # one value: no variation
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # no unit has two values
    with pytest.raises(EvalError, match="one row per rater"):
        krippendorff_alpha([[1, 2, 3]])
    with pytest.raises(EvalError, match="one row per rater"):
        krippendorff_alpha([[1, 2, 3], [1, 2]])
    with pytest.raises(EvalError, match="level is nominal, ordinal, interval or ratio"):
        krippendorff_alpha(HAYES, level="cardinal")
    with pytest.raises(EvalError, match="'x' is not one of the categories"):
        krippendorff_alpha([[1, 2], [2, "x"]], level="ordinal", scale=[1, 2])


# ----------------------------------------------------------------------------- Cohen's kappa
def test_kappa_equals_kundel_and_polansky() -> None:
    a, b = unfold(MAMMOGRAMS)
    assert len(a) == 110
    assert round(cohen_kappa(a, b), 4) == 0.3713
    assert round(cohen_kappa(a, b, weights="linear"), 4) == 0.5964


def test_kappa_equals_altmans_xeromammograms() -> None:
    a, b = unfold(XEROMAMMOGRAMS)
    assert len(a) == 85
    assert round(cohen_kappa(a, b), 2) == 0.47
    assert round(cohen_kappa(a, b), 4) == 0.4728
    assert round(cohen_kappa(a, b, weights="linear"), 4) == 0.5684


def test_quadratic_kappa_is_the_moment_formula() -> None:
    """Quadratically weighted kappa on equally spaced scores equals
    2 cov(a, b) / (var a + var b + (mean a - mean b)^2), population moments (Fleiss & Cohen)."""
    for table in (MAMMOGRAMS, XEROMAMMOGRAMS):
        a, b = (np.array(x, dtype=float) for x in unfold(table))
        cov = ((a - a.mean()) * (b - b.mean())).mean()
        expected = 2 * cov / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
        assert cohen_kappa(a.tolist(), b.tolist(), weights="quadratic") == pytest.approx(expected)


def test_kappa_on_words_needs_an_order_only_when_weighted() -> None:
    names = ["absent", "minimal", "moderate", "severe"]
    a, b = unfold(MAMMOGRAMS)
    wa, wb = [names[x - 1] for x in a], [names[x - 1] for x in b]
    assert round(cohen_kappa(wa, wb), 4) == 0.3713  # unweighted: order does not matter
    assert round(cohen_kappa(wa, wb, weights="linear", categories=names), 4) == 0.5964
    with pytest.raises(EvalError, match="needs the categories in order"):
        cohen_kappa(wa, wb, weights="linear")


def test_kappa_drops_units_either_rater_left_out_and_keeps_unused_categories() -> None:
    a, b = unfold(XEROMAMMOGRAMS)
    padded_a = [*a, None, 3, math.nan]
    padded_b = [*b, 2, None, 1]
    assert cohen_kappa(padded_a, padded_b) == pytest.approx(cohen_kappa(a, b))
    # a category nobody used changes nothing unweighted, but moves the weighted positions
    assert cohen_kappa(a, b, categories=[1, 2, 3, 4, 5]) == pytest.approx(cohen_kappa(a, b))
    assert cohen_kappa([1, 2, 2, 1], [1, 2, 1, 1]) == pytest.approx(0.5)
    assert math.isnan(cohen_kappa(["x", "x"], ["x", "x"]))  # chance agreement is already total


def test_kappa_refuses_bad_input() -> None:
    with pytest.raises(EvalError, match="one length, got 2 and 3"):
        cohen_kappa([1, 2], [1, 2, 3])
    with pytest.raises(EvalError, match="weights are None, 'linear' or 'quadratic'"):
        cohen_kappa([1, 2], [1, 2], weights="cubic")
    with pytest.raises(EvalError, match="at least one unit labelled by both raters"):
        cohen_kappa([1, None], [None, 2])
    with pytest.raises(EvalError, match="label 3 is not one of the categories"):
        cohen_kappa([1, 3], [1, 2], categories=[1, 2])
    with pytest.raises(EvalError, match="categories must be distinct"):
        cohen_kappa([1, 2], [1, 2], categories=[1, 1, 2])


# ------------------------------------------------------------------- agreement per criterion
def hayes_ratings() -> dict[str, dict[str, int]]:
    return {
        rater: {f"u{j}": v for j, v in enumerate(row) if v is not None}
        for rater, row in zip("ABCD", HAYES, strict=True)
    }


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)],
)
def test_rater_agreement_alpha_and_pairs(level: str, published: float) -> None:
    result = rater_agreement(hayes_ratings(), level=level, scale=[1, 2, 3, 4, 5], criterion="q")
    assert round(result.alpha, 3) == published
    assert result.raters == ["A", "B", "C", "D"]
    assert result.units == 11  # unit 12 has one value only: not pairable
    assert len(result.pairs) == 6
    ab = result.pairs[0]
    assert (ab.rater_a, ab.rater_b, ab.n) == ("A", "B", 9)
    assert ab.percent == pytest.approx(8 / 9)  # they differ on unit 6 only (1 vs 2)
    a = [HAYES[0][j] for j in range(9)]
    b = [HAYES[1][j] for j in range(9)]
    assert ab.kappa == pytest.approx(cohen_kappa(a, b, categories=[1, 2, 3, 4, 5]))
    if level == "nominal":
        assert ab.weighted_kappa is None
    else:
        expected = cohen_kappa(a, b, weights="quadratic", categories=[1, 2, 3, 4, 5])
        assert ab.weighted_kappa == pytest.approx(expected)


def test_agreement_result_forms_escape_and_report() -> None:
    ratings = hayes_ratings()
    ratings["<b>eve</b>"] = ratings.pop("D")
    block = rater_agreement(ratings, level="ordinal", scale=[1, 2, 3, 4, 5], criterion="fluency")
    result = Agreement([block], task="demo")
    text = result.to_text()
    assert "fluency (ordinal): 4 raters, 11 units rated by 2 or more" in text
    assert "Krippendorff's alpha 0.815" in text
    assert "kappa (quadratic)" in text
    markup = result.to_html()
    assert "<b>eve</b>" not in markup and "&lt;b&gt;eve&lt;/b&gt;" in markup
    doc = result.to_dict()
    assert doc["criteria"][0]["alpha"] == pytest.approx(0.8153875, abs=1e-6)
    assert doc["criteria"][0]["kappa_weights"] == "quadratic"
    assert result.alpha == {"fluency": block.alpha}
    frame = result.frame()
    assert len(frame) == 6 and set(frame["criterion"]) == {"fluency"}
    assert result["fluency"] is block
    assert "no labels" in Agreement([]).to_text()


def test_rater_agreement_with_one_rater_or_nothing_shared() -> None:
    alone = rater_agreement({"ann": {"1": 3, "2": 4}}, level="ordinal", scale=[1, 2, 3, 4, 5])
    assert alone.alpha is None and alone.units == 0 and alone.pairs == []
    apart = rater_agreement({"ann": {"1": "x"}, "bob": {"2": "y"}})
    assert apart.alpha is None and apart.pairs[0].n == 0 and apart.pairs[0].kappa is None
    assert "n/a" in Agreement([apart]).to_text()
    with pytest.raises(EvalError, match="level is one of"):
        rater_agreement({"ann": {"1": 1}}, level="ratio")


# ---------------------------------------------------------------------------- judge agreement
def vote(judge: str, item: str, a: str, b: str, winner: str) -> dict[str, str]:
    return {"judge": judge, "item": item, "model_a": a, "model_b": b, "winner": winner}


# A hand-counted case: one LLM judge and two human raters on x-vs-y comparisons, the model
# order flipped on some rows. Who won, after normalising the order to (x, y):
#            q1   q2   q3   q4   q5   q6
#   gpt      x    y    tie  y    x    -
#   alice    x    y    x    tie  y    -
#   bob      x    -    tie  -    -    x
VOTES = [
    vote("gpt", "q1", "x", "y", "model_a"),
    vote("gpt", "q2", "y", "x", "model_a"),
    vote("gpt", "q3", "x", "y", "tie"),
    vote("gpt", "q4", "x", "y", "model_b"),
    vote("gpt", "q5", "x", "y", "model_a"),
    vote("human:alice", "q1", "y", "x", "model_b"),
    vote("human:alice", "q2", "x", "y", "model_b"),
    vote("human:alice", "q3", "x", "y", "model_a"),
    vote("human:alice", "q4", "y", "x", "tie (bothbad)"),
    vote("human:alice", "q5", "x", "y", "model_b"),
    vote("human:bob", "q1", "x", "y", "model_a"),
    vote("human:bob", "q3", "y", "x", "tie"),
    vote("human:bob", "q6", "x", "y", "model_a"),
]


def test_judge_agreement_hand_example() -> None:
    result = judge_agreement(pd.DataFrame(VOTES))
    assert isinstance(result, JudgeAgreement)
    assert result.judges == ["gpt", "human:alice", "human:bob"]
    gpt = result.table("gpt")
    assert list(gpt.columns) == [
        "agreement_with_ties",
        "n_with_ties",
        "agreement_without_ties",
        "n_without_ties",
    ]
    # gpt vs alice: same verdict on q1, q2 of 5; without ties (q3, q4 out): q1, q2 of q1, q2, q5
    assert gpt.loc["human:alice"].tolist() == pytest.approx([2 / 5, 5, 2 / 3, 3])
    # gpt vs bob: q1 and q3 (both tie) agree; without ties only q1 is left
    assert gpt.loc["human:bob"].tolist() == pytest.approx([1.0, 2, 1.0, 1])
    alice = result.table("human:alice")
    assert list(alice.index) == ["gpt", "human:bob"]
    assert alice.loc["human:bob"].tolist() == pytest.approx([1 / 2, 2, 1.0, 1])
    frame = result.frame()
    assert len(frame) == 6  # three pairs, both directions
    text = result.to_text()
    assert "judge gpt" in text and "40.0%" in text and "66.7%" in text


def test_judge_agreement_with_humans_as_one_judge_compares_every_vote() -> None:
    result = judge_agreement(VOTES, humans_as_one=True)
    assert result.judges == ["gpt", "human"]
    gpt = result.table("gpt")
    # per key, gpt's vote against each human vote: q1 2/2, q2 1/1, q3 1/2, q4 0/1, q5 0/1;
    # without ties q3 and q4 drop out (gpt's tie, alice's tie): q1 2/2, q2 1/1, q5 0/1
    assert gpt.loc["human"].tolist() == pytest.approx([4 / 7, 7, 3 / 4, 4])
    human = result.table("human")
    # the humans among themselves: q1 (x, x) agree, q3 (x, tie) not; without ties q1 only
    assert human.loc["human"].tolist() == pytest.approx([1 / 2, 2, 1.0, 1])
    assert "human (itself)" in result.to_text()


def test_judge_agreement_keys_include_the_turn() -> None:
    votes = [
        {**vote("j1", "q1", "x", "y", "model_a"), "turn": 1},
        {**vote("j1", "q1", "x", "y", "model_b"), "turn": 2},
        {**vote("j2", "q1", "x", "y", "model_a"), "turn": 1},
        {**vote("j2", "q1", "x", "y", "model_b"), "turn": 2},
    ]
    assert judge_agreement(votes).table("j1").loc["j2"].tolist() == pytest.approx([1, 2, 1, 2])


def test_judge_agreement_refuses_bad_votes() -> None:
    with pytest.raises(EvalError, match="vote 0 has no 'judge'"):
        judge_agreement([{"item": "q", "model_a": "x", "model_b": "y", "winner": "tie"}])
    with pytest.raises(EvalError, match="vote 0 has winner 'left'"):
        judge_agreement([vote("j", "q", "x", "y", "left")])
    with pytest.raises(EvalError, match="compares model 'x' with itself"):
        judge_agreement([vote("j", "q", "x", "x", "tie")])
    with pytest.raises(EvalError, match="vote 1 has no 'item'"):
        judge_agreement(
            [vote("j", "q", "x", "y", "tie"), {**vote("j", "", "x", "y", "tie"), "item": None}]
        )
    with pytest.raises(EvalError, match="vote 0 is a str"):
        judge_agreement(["gpt"])
    with pytest.raises(EvalError, match="no judge named 'nobody'"):
        judge_agreement(VOTES).table("nobody")
    empty = judge_agreement([vote("j", "q", "x", "y", "tie")])
    assert "no comparison was judged by two judges" in empty.to_text()
