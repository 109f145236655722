"""Arena ratings: battles in, online Elo and Bradley-Terry ratings with intervals out."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nb_mlops.evals.arena import ArenaRatings, battles_frame, bradley_terry, elo
from nb_mlops.evals.model import EvalError

EVIL = "<img src=x onerror=alert(1)>"


def battle(a: str, b: str, winner: str) -> dict[str, str]:
    return {"model_a": a, "model_b": b, "winner": winner}


def simulate(
    true: dict[str, float], n: int, rng: np.random.Generator, *, tie: float = 0.0
) -> pd.DataFrame:
    """`n` battles between random pairs of Bradley-Terry players rated `true` (Elo scale).

    With `tie` > 0, that share of battles are ties and the rest are won so that the expected
    score of model_a still equals its Bradley-Terry win probability (what ties-as-half-a-win
    estimates without bias), as long as every win probability lies in [tie/2, 1 - tie/2]
    (outside, the win chance is clipped).
    """
    names = np.array(list(true))
    rating = np.array(list(true.values()))
    a = rng.integers(0, len(names), n)
    b = (a + rng.integers(1, len(names), n)) % len(names)
    p = 1 / (1 + 10 ** ((rating[b] - rating[a]) / 400))
    p_win = np.clip((p - tie / 2) / (1 - tie), 0, 1)
    ties = rng.random(n) < tie
    wins = rng.random(n) < p_win
    winner = np.where(ties, "tie", np.where(wins, "model_a", "model_b"))
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})


# ------------------------------------------------------------------ battles
class Judged:
    """Stands for our pairwise judge results: battles() gives a DataFrame."""

    def battles(self) -> pd.DataFrame:
        return pd.DataFrame([battle("x", "y", "model_b") | {"judge": "j1"}])


def test_battles_come_from_frames_dicts_columns_and_battles_objects():
    rows = [battle("x", "y", "model_a") | {"language": "ko"}, battle("y", "x", "tie (bothbad)")]
    from_dicts = battles_frame(iter(rows))
    assert list(from_dicts.columns) == ["model_a", "model_b", "winner", "language"]
    pd.testing.assert_frame_equal(battles_frame(pd.DataFrame(rows)), from_dicts)
    columns = {k: [r.get(k) for r in rows] for k in ("model_a", "model_b", "winner")}
    assert battles_frame(columns)["winner"].tolist() == ["model_a", "tie (bothbad)"]
    judged = battles_frame(Judged())
    assert judged.loc[0, "judge"] == "j1" and judged.loc[0, "winner"] == "model_b"
    numbered = battles_frame([battle(1, 2, "model_a")])
    assert numbered.loc[0, "model_a"] == "1"  # names become strings


def test_battles_frame_does_not_change_the_callers_frame():
    frame = pd.DataFrame([battle(1, 2, "model_a")])
    battles_frame(frame)
    assert frame.loc[0, "model_a"] == 1


@pytest.mark.parametrize(
    ("battles", "message"),
    [
        ([], "no battles to rate"),
        ([{"model_a": "x", "model_b": "y"}], "no 'winner' column"),
        (
            pd.DataFrame([battle("x", "y", "tie"), battle("x", "y", "draw")], index=[10, 11]),
            "battle at row 11: winner 'draw' is not one of model_a, model_b, tie, tie (bothbad)",
        ),
        ([battle("x", "x", "tie")], "battle at row 0: model_a and model_b are both 'x'"),
        ([battle("x", "y", "tie"), battle("x", None, "tie")], "battle at row 1: model_b is"),
        (pd.DataFrame({"model_a": ["x"], "model_b": [np.nan], "winner": ["tie"]}), "missing"),
        ([battle("x", "y", None)], "battle at row 0: winner is missing"),
        ("model_a beats model_b", "not a str"),
        ([battle("x", "y", "tie"), ("x", "y", "tie")], "battle 1 is a tuple, not a dict"),
        (battle("x", "y", "tie"), "must map each column to a list (for one battle, pass [dict])"),
    ],
)
def test_bad_battles_are_refused_by_row(battles, message):
    with pytest.raises(EvalError, match=None) as caught:
        battles_frame(battles)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: elo(b, k=0), "k must be a positive number"),
        (lambda b: elo(b, base=1), "base must differ from 1"),
        (lambda b: elo(b, bootstrap=-1), "bootstrap must be a number of rounds"),
        (lambda b: bradley_terry(b, confidence=1.0), "confidence must lie strictly"),
        (lambda b: bradley_terry(b, scale=float("nan")), "scale must be a positive number"),
        (lambda b: bradley_terry(b, anchor="nobody"), "anchor model 'nobody' fought no battle"),
        (lambda b: bradley_terry(b, prior=-5), "prior must be a positive number"),
    ],
)
def test_bad_parameters_are_refused(call, message):
    with pytest.raises(EvalError, match=message):
        call([battle("x", "y", "model_a"), battle("y", "x", "model_a")])


# ------------------------------------------------------------------ Elo
def test_elo_follows_the_formula_on_a_hand_example():
    battles = [battle("A", "B", "model_a"), battle("B", "C", "tie"), battle("C", "A", "model_a")]
    # By hand, K=32, base 10, scale 400, everyone at 1000:
    # 1. E_A = 1/(1+10^0) = 0.5; A wins: A = 1000 + 32*0.5 = 1016, B = 984.
    # 2. E_B = 1/(1+10^((1000-984)/400)) = 0.476983...; tie: B += 32*(0.5-E_B) = 0.73631
    #    -> B = 984.73631, C = 999.26369.
    # 3. E_C = 1/(1+10^((1016-999.26369)/400)) = 0.475932...; C wins: C += 32*(1-E_C)
    #    -> C = 1016.03383, A = 999.22986.
    result = elo(battles, k=32)
    assert result.ratings.to_dict() == pytest.approx(
        {"C": 1016.0338330, "A": 999.2298602, "B": 984.7363068}, abs=1e-6
    )
    assert result.models == ["C", "A", "B"]  # best first
    assert result.intervals is None
    assert result.method == "online Elo, K=32, base 10, scale 400, initial 1000"
    assert elo(battles).method == "online Elo, K=4, base 10, scale 400, initial 1000"
    first = elo(battles[:1], k=32, initial=1500)
    assert first.ratings.to_dict() == {"A": 1516.0, "B": 1484.0}


def test_elo_is_online_and_counts_both_ties_alike():
    forward = [battle("A", "B", "model_a"), battle("A", "B", "model_b")]
    assert elo(forward).ratings["A"] < 1000 < elo(forward[::-1]).ratings["A"]  # order matters
    tie = elo([battle("A", "B", "model_a"), battle("A", "B", "tie")]).ratings
    bothbad = elo([battle("A", "B", "model_a"), battle("A", "B", "tie (bothbad)")]).ratings
    pd.testing.assert_series_equal(tie, bothbad)
    natural = elo([battle("A", "B", "model_b")], k=1, base=math.e, scale=1, initial=0)
    assert natural.ratings.to_dict() == {"B": 0.5, "A": -0.5}


def test_elo_bootstrap_replays_resampled_battles():
    rng = np.random.default_rng(1)
    battles = simulate({"a": 1100, "b": 1000, "c": 900}, 600, rng)
    result = elo(battles, bootstrap=200, seed=3)
    again = elo(battles, bootstrap=200, seed=3)
    pd.testing.assert_frame_equal(result.intervals, again.intervals)
    low, high = result.intervals["low"], result.intervals["high"]
    assert (low < high).all() and (high - low < 150).all()
    assert low["a"] > high["c"]
    assert "95% percentile intervals over 200 replays of resampled battles (seed 3)" in (
        result.method
    )


# ------------------------------------------------------------------ Bradley-Terry
TRUE = {"ace": 1300, "best": 1180, "good": 1090, "fair": 1000, "meh": 920, "poor": 780}


def test_bradley_terry_recovers_order_and_strengths():
    rng = np.random.default_rng(0)
    result = bradley_terry(simulate(TRUE, 6000, rng), bootstrap=100)
    truth = pd.Series(TRUE) - np.mean(list(TRUE.values())) + 1000
    assert result.models == list(TRUE)
    assert result.ratings.mean() == pytest.approx(1000, abs=1e-6)
    error = (result.ratings - truth).abs()
    assert error.max() < 25, error
    assert (
        (result.intervals["low"] <= result.ratings) & (result.ratings <= result.intervals["high"])
    ).all()


def test_two_players_match_the_closed_form():
    # A scores 30 of 40 against B: the MLE has P(A beats B) = 0.75, R_A - R_B = 400 log10(3)
    battles = [battle("A", "B", "model_a")] * 26 + [battle("B", "A", "model_b")] * 2
    battles += [battle("A", "B", "tie")] * 4 + [battle("B", "A", "model_a")] * 8
    result = bradley_terry(battles, bootstrap=0)
    gap = 400 * math.log10(3)
    assert result.ratings.to_dict() == pytest.approx({"A": 1000 + gap / 2, "B": 1000 - gap / 2})
    assert result.intervals is None and not result.notes
    natural = bradley_terry(battles, bootstrap=0, base=math.e, scale=1, initial=0, anchor="B")
    assert natural.ratings.to_dict() == pytest.approx({"A": math.log(3), "B": 0.0})
    assert "B pinned at 0" in natural.method


def test_a_tie_is_half_a_win_each_way_as_the_arena_counts_it():
    rng = np.random.default_rng(5)
    battles = simulate(TRUE, 800, rng, tie=0.2)
    battles.loc[battles.index[::7], "winner"] = "tie (bothbad)"
    fitted = bradley_terry(battles, bootstrap=0).ratings
    # Chatbot Arena counts each win twice and each tie once as a win for either side
    tied = battles["winner"].str.startswith("tie")
    won, drawn = battles[~tied], battles[tied]
    doubled = pd.concat([won, won, drawn.assign(winner="model_a"), drawn.assign(winner="model_b")])
    pd.testing.assert_series_equal(
        fitted, bradley_terry(doubled, bootstrap=0).ratings.reindex(fitted.index), atol=1e-4
    )


def test_bradley_terry_matches_the_arena_logistic_regression():
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(9)
    battles = simulate(TRUE, 1500, rng, tie=0.15)
    models = sorted(TRUE)
    at = {m: i for i, m in enumerate(models)}
    rows, ys, weights = [], [], []
    for a, b, winner in battles[["model_a", "model_b", "winner"]].itertuples(index=False):
        x = np.zeros(len(models))
        x[at[a]], x[at[b]] = math.log(10), -math.log(10)
        score = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}[winner]
        rows += [x, x]
        ys += [1, 0]
        weights += [score, 1 - score]
    keep = np.array(weights) > 0
    fit = linear_model.LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=5000)
    fit.fit(np.array(rows)[keep], np.array(ys)[keep], sample_weight=np.array(weights)[keep])
    theirs = pd.Series(400 * fit.coef_[0] + 1000, index=models)
    ours = bradley_terry(battles, bootstrap=0).ratings
    assert (ours - theirs.reindex(ours.index)).abs().max() < 0.01


def test_anchor_pins_one_model_and_keeps_the_gaps():
    rng = np.random.default_rng(2)
    battles = simulate(TRUE, 1200, rng)
    free = bradley_terry(battles, bootstrap=50)
    pinned = bradley_terry(battles, bootstrap=50, anchor="fair")
    assert pinned.ratings["fair"] == pytest.approx(1000)
    shift = pinned.ratings - free.ratings
    assert shift.max() - shift.min() < 1e-6
    assert pinned.intervals.loc["fair"].tolist() == pytest.approx([1000, 1000])


def test_a_model_that_never_lost_gets_a_stated_prior():
    battles = [battle("champ", "b", "model_a")] * 4 + [battle("c", "champ", "model_b")] * 3
    battles += [battle("b", "c", "model_a")] * 5 + [battle("c", "b", "model_a")] * 5
    result = bradley_terry(battles, bootstrap=100)
    assert result.models[0] == "champ"
    assert all(math.isfinite(v) for v in result.ratings)
    (note,) = result.notes
    assert "no maximum-likelihood ratings exist (champ never lost or tied)" in note
    assert "Gaussian prior on the ratings (sd 400" in note
    tighter = bradley_terry(battles, bootstrap=0, prior=100)
    assert 1000 < tighter.ratings["champ"] < result.ratings["champ"]
    assert "(sd 100 " in tighter.notes[0]
    assert "never lost" in result.to_text() and "never lost" in result.to_html()

    loser = [battle("x", "y", "model_a"), battle("y", "x", "model_a"), battle("z", "x", "model_b")]
    assert "z never won or tied" in bradley_terry(loser, bootstrap=0).notes[0]
    apart = [battle("a", "b", "model_a"), battle("b", "a", "model_a")]
    apart += [battle("c", "d", "model_a"), battle("d", "c", "model_a")]
    assert (
        "never beat one another both ways (a, b; c, d)"
        in (bradley_terry(apart, bootstrap=0).notes[0])
    )


def test_resamples_without_an_mle_are_counted():
    battles = [battle("p", "q", "model_a")] * 30 + [battle("p", "q", "model_b")] * 20
    battles += [battle("p", "rare", "model_a"), battle("rare", "q", "model_a")]
    result = bradley_terry(battles, bootstrap=200)
    assert not result.notes[0].startswith("no maximum-likelihood ratings exist")
    assert "of 200 bootstrap resamples had no maximum-likelihood ratings" in result.notes[0]
    assert result.intervals.notna().all().all()


@pytest.mark.slow
def test_intervals_cover_the_truth_at_about_their_rate():
    rng = np.random.default_rng(11)
    # 400 points apart at most: win chances within [0.09, 0.91], room for 10% ties unclipped
    true = {"a": 1200, "b": 1100, "c": 1040, "d": 1000, "e": 950, "f": 800}
    truth = pd.Series(true) - np.mean(list(true.values())) + 1000
    hits = []
    for sim in range(120):
        result = bradley_terry(simulate(true, 600, rng, tie=0.1), bootstrap=200, seed=sim)
        interval = result.intervals.reindex(truth.index)
        hits.append(((interval["low"] <= truth) & (truth <= interval["high"])).to_numpy())
    coverage = np.mean(hits)
    assert 0.88 <= coverage <= 0.99, coverage


# ------------------------------------------------------------------ the result
@pytest.fixture
def small() -> ArenaRatings:
    battles = [battle("A", "B", "model_a")] * 3 + [battle("B", "A", "tie")]
    battles += [battle("B", EVIL, "model_a")] * 2 + [battle(EVIL, "B", "model_a")]
    battles += [battle("A", EVIL, "model_a"), battle(EVIL, "A", "model_a")]
    return bradley_terry(battles, bootstrap=200)


def test_win_rates_count_a_tie_as_half(small):
    rates = small.win_rates()
    assert rates.loc["A", "B"] == pytest.approx(3.5 / 4)
    assert rates.loc["B", "A"] == pytest.approx(0.5 / 4)
    assert rates.loc["B", EVIL] == pytest.approx(2 / 3)
    assert rates.loc["A", EVIL] == pytest.approx(0.5)
    assert np.isnan(rates.loc["A", "A"])
    assert list(rates.index) == list(rates.columns) == small.models
    lonely = bradley_terry([battle("x", "y", "tie"), battle("y", "z", "model_a")], bootstrap=0)
    assert np.isnan(lonely.win_rates().loc["x", "z"])  # never met


def test_expected_win_rates_follow_the_ratings(small):
    expected = small.expected_win_rates()
    gap = small.ratings["A"] - small.ratings["B"]
    assert expected.loc["A", "B"] == pytest.approx(1 / (1 + 10 ** (-gap / 400)))
    assert expected.loc["A", "B"] + expected.loc["B", "A"] == pytest.approx(1)
    assert np.isnan(expected.loc["B", "B"])


def test_leaderboard_ranks_by_intervals():
    board = bradley_terry(
        simulate(TRUE, 3000, np.random.default_rng(4)), bootstrap=200
    ).leaderboard()
    assert list(board.columns) == ["rank", "model", "rating", "low", "high", "battles"]
    assert board["model"].tolist() == list(TRUE)
    assert board["rank"].iloc[0] == 1 and board["rank"].is_monotonic_increasing
    assert board["battles"].sum() == 2 * 3000
    close = [battle("x", "y", "model_a"), battle("y", "x", "model_a"), battle("x", "y", "model_a")]
    close += [battle("y", "z", "model_a"), battle("z", "y", "model_a"), battle("y", "z", "model_a")]
    shared = bradley_terry(close, bootstrap=100).leaderboard()
    assert shared["rank"].tolist() == [1, 1, 1]  # intervals overlap: none is surely better
    unsure = elo(close).leaderboard()
    assert unsure["rank"].tolist() == [1, 2, 3] and unsure["low"].isna().all()


def test_forms_are_json_safe_and_escaped(small):
    data = json.loads(json.dumps(small.to_dict(), allow_nan=False))
    assert data["battles"] == 9
    assert data["params"]["bootstrap"] == 200 and data["params"]["prior"] == 400
    assert [r["model"] for r in data["leaderboard"]] == small.models
    assert data["win_rates"]["A"]["B"] == pytest.approx(0.875)
    assert "A" not in data["win_rates"]["A"]
    text = small.to_text()
    assert text.splitlines()[0].startswith("Bradley-Terry maximum likelihood")
    assert "rank  model" in text and "(9 battles)" in text
    page = small.to_html()
    assert EVIL not in page and html_escaped(EVIL) in page
    assert page.count("class='nbm-table") == 2 and "nbm-win-rates" in page
    with pytest.raises(EvalError, match="sorts by 'rating' or 'name'"):
        small.table_rows("speed")


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)
