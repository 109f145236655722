"""Arena ratings: online Elo and Bradley-Terry ratings of models from pairwise battles.

A battle is a Chatbot Arena row: `model_a`, `model_b` and `winner` in {"model_a", "model_b",
"tie", "tie (bothbad)"}. Battles come as a DataFrame, as dicts (one per battle), or from any
object with a `battles()` method (our pairwise judge results and human pairwise labels).

Both ratings live on the Elo scale: a model rated R_i beats one rated R_j with probability
1 / (1 + base ** ((R_j - R_i) / scale)). `elo` replays the battles in order (what a live arena
shows); `bradley_terry` fits that model by maximum likelihood (what Chatbot Arena's leaderboard
reports), with a tie counting as half a win for each side, and resamples the battles for
percentile intervals. Both return `ArenaRatings`.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nb_mlops.evals.model import EvalError
from nb_mlops.results import Result

__all__ = ["WINNERS", "ArenaRatings", "battles_frame", "bradley_terry", "elo"]

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
"""The winner values of a battle; both ties count as a draw."""
COLUMNS = ("model_a", "model_b", "winner")
MAX_HTML_ROWS = 100
"""Models the static leaderboard shows (`to_dict` has them all)."""
MAX_MATRIX = 20
"""Models the static win-rate matrix shows (the best rated)."""


# ------------------------------------------------------------------------ battles
def battles_frame(battles: Any) -> Any:
    """Battles as a DataFrame with `model_a`, `model_b`, `winner` (other columns are kept).

    Accepts a DataFrame, dicts (one per battle, or one of columns) or an object with a
    `battles()` method. Model names become strings. Anything a rating cannot use (a missing
    column, an unknown winner, a model against itself, a missing name) is an EvalError that
    names the row.
    """
    import pandas as pd

    frame = _as_frame(battles)
    if frame.empty:
        raise EvalError("no battles to rate")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise EvalError(f"battles have no {missing[0]!r} column (columns: {have})")
    frame = frame.copy()
    for column in ("model_a", "model_b", "winner"):
        absent = frame[column].isna()
        if absent.any():
            raise EvalError(f"battle at row {_row(frame, absent.argmax())}: {column} is missing")
    bad = ~frame["winner"].isin(WINNERS)
    if bad.any():
        at = bad.argmax()
        raise EvalError(
            f"battle at row {_row(frame, at)}: winner {frame['winner'].iloc[at]!r} is not one "
            f"of {', '.join(WINNERS)}"
        )
    frame["model_a"] = frame["model_a"].astype(str)
    frame["model_b"] = frame["model_b"].astype(str)
    same = frame["model_a"] == frame["model_b"]
    if same.any():
        at = same.argmax()
        raise EvalError(
            f"battle at row {_row(frame, at)}: model_a and model_b are both "
            f"{frame['model_a'].iloc[at]!r}"
        )
    return pd.DataFrame(frame)


def _row(frame: Any, position: int) -> str:
    """The index label of a row as a user wrote it: 11, 'q7'."""
    label = frame.index[position]
    return repr(label.item() if isinstance(label, np.generic) else label)


def _as_frame(battles: Any) -> Any:
    import pandas as pd

    if isinstance(battles, pd.DataFrame):
        return battles
    if hasattr(battles, "battles") and callable(battles.battles):
        inner = battles.battles()
        if hasattr(inner, "battles") and not isinstance(inner, pd.DataFrame):
            raise EvalError(
                f"{type(battles).__name__}.battles() returned a {type(inner).__name__}, "
                "not a DataFrame or dicts"
            )
        return _as_frame(inner)
    if isinstance(battles, Mapping):
        try:
            return pd.DataFrame(dict(battles))
        except ValueError:
            raise EvalError(
                "battles as one dict must map each column to a list (for one battle, pass [dict])"
            ) from None
    if isinstance(battles, (str, bytes)) or not isinstance(battles, Iterable):
        raise EvalError(
            f"battles must be a DataFrame, dicts or an object with battles(), "
            f"not a {type(battles).__name__}"
        )
    rows = list(battles)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EvalError(f"battle {i} is a {type(row).__name__}, not a dict")
    return pd.DataFrame.from_records([dict(r) for r in rows])


@dataclass
class _Battles:
    """Battles as model indices and the score of model_a (1, 0 or 0.5), in row order."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray


def _encode(battles: Any) -> _Battles:
    import pandas as pd

    frame = battles_frame(battles)
    n = len(frame)
    codes, names = pd.factorize(pd.concat([frame["model_a"], frame["model_b"]], ignore_index=True))
    order = np.argsort(np.asarray(names, dtype=object))  # models by name
    models = [str(names[i]) for i in order]
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    a, b = rank[codes[:n]], rank[codes[n:]]
    winner = frame["winner"].to_numpy()
    score = np.where(winner == "model_a", 1.0, np.where(winner == "model_b", 0.0, 0.5))
    return _Battles(models, a, b, score)


def _check(name: str, value: Any, *, positive: bool = True) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or (positive and float(value) <= 0):
        kind = "a positive number" if positive else "a finite number"
        raise EvalError(f"{name} must be {kind}, not {value!r}")
    return float(value)


def _check_rounds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise EvalError(f"bootstrap must be a number of rounds (0 or more), not {value!r}")
    return int(value)


def _check_confidence(value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 < value < 1:
        raise EvalError(f"confidence must lie strictly between 0 and 1, not {value!r}")
    return float(value)


# ------------------------------------------------------------------------ the result
@dataclass(repr=False)
class ArenaRatings(Result):
    """Ratings of models from battles: best first, with intervals when resampled.

    `ratings` (Series, model -> rating, best first), `intervals` (DataFrame low/high, same
    order, or None), `counts` (battles per model), `pairs` (per ordered pair: battles and the
    score of `model` against `opponent`, a tie counting half), `method` (what was computed, in
    words), `params` (the parameters), `notes` (what a reader must know, e.g. a prior used).
    """

    ratings: Any
    intervals: Any
    counts: Any
    pairs: Any
    method: str
    params: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    n_battles: int = 0

    @property
    def models(self) -> list[str]:
        """The models, best first."""
        return list(self.ratings.index)

    def win_rates(self) -> Any:
        """Observed win rate of the row model over the column model (a tie counts half);
        NaN where they never met. Models best first."""
        import pandas as pd

        table = self.pairs.pivot(index="model", columns="opponent", values="score")
        games = self.pairs.pivot(index="model", columns="opponent", values="battles")
        rates = (table / games).reindex(index=self.models, columns=self.models)
        return pd.DataFrame(rates.astype(float)).rename_axis(index="model", columns="opponent")

    def expected_win_rates(self) -> Any:
        """The chance the row model beats the column model by the ratings; NaN on the diagonal."""
        import pandas as pd

        r = self.ratings.to_numpy(dtype=float)
        base, scale = self.params["base"], self.params["scale"]
        p = 1.0 / (1.0 + base ** ((r[None, :] - r[:, None]) / scale))
        np.fill_diagonal(p, np.nan)
        return pd.DataFrame(p, index=self.models, columns=self.models).rename_axis(
            index="model", columns="opponent"
        )

    def leaderboard(self) -> Any:
        """rank, model, rating, low, high, battles: best first.

        With intervals, a model's rank is 1 + the number of models whose interval lies wholly
        above its own (Chatbot Arena's rank): models that cannot be told apart share a rank.
        Without, it is 1 + the number of models rated higher.
        """
        import pandas as pd

        r = self.ratings.to_numpy(dtype=float)
        if self.intervals is not None:
            low = self.intervals["low"].to_numpy(dtype=float)
            high = self.intervals["high"].to_numpy(dtype=float)
            rank = 1 + (low[None, :] > high[:, None]).sum(axis=1)
        else:
            low = high = np.full(len(r), np.nan)
            rank = 1 + (r[None, :] > r[:, None]).sum(axis=1)
        return pd.DataFrame(
            {
                "rank": rank.astype(int),
                "model": self.models,
                "rating": r,
                "low": low,
                "high": high,
                "battles": self.counts.reindex(self.models).to_numpy(dtype=int),
            }
        )

    # ------------------------------------------------------------------ forms
    def to_dict(self) -> dict[str, Any]:
        board = self.leaderboard()
        rows = [
            {
                "rank": int(row.rank),
                "model": row.model,
                "rating": _json_float(row.rating),
                "low": _json_float(row.low),
                "high": _json_float(row.high),
                "battles": int(row.battles),
            }
            for row in board.itertuples(index=False)
        ]
        rates = self.win_rates()
        matrix = {
            m: {o: _json_float(v) for o, v in rates.loc[m].items() if not math.isnan(v)}
            for m in rates.index
        }
        return {
            "method": self.method,
            "params": dict(self.params),
            "battles": self.n_battles,
            "ratings": {m: _json_float(v) for m, v in self.ratings.items()},
            "leaderboard": rows,
            "win_rates": matrix,
            "notes": list(self.notes),
        }

    def table_rows(self, by: str = "rating") -> tuple[list[str], list[list[str]]]:
        """The leaderboard as text cells (header, rows), by rating (best first) or by name."""
        board = self.leaderboard()
        if by == "name":
            board = board.sort_values("model", kind="stable")
        elif by != "rating":
            raise EvalError(f"a leaderboard sorts by 'rating' or 'name', not {by!r}")
        has_ci = self.intervals is not None
        header = ["rank", "model", "rating"] + (["low", "high"] if has_ci else []) + ["battles"]
        rows = []
        for row in board.itertuples(index=False):
            cells = [str(row.rank), row.model, _fmt(row.rating)]
            if has_ci:
                cells += [_fmt(row.low), _fmt(row.high)]
            rows.append([*cells, f"{row.battles:,}"])
        return header, rows

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        header, rows = self.table_rows()
        lines = [f"{self.method} ({self.n_battles:,} battles)"]
        lines.append(text_table(header, rows[:MAX_HTML_ROWS], max_width=60))
        if len(rows) > MAX_HTML_ROWS:
            lines.append(f"... {len(rows) - MAX_HTML_ROWS:,} more models")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def table_html(self, by: str = "rating") -> str:
        """The leaderboard as an escaped HTML table (the first `MAX_HTML_ROWS` models)."""
        header, rows = self.table_rows(by)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells in rows[:MAX_HTML_ROWS]
        )
        more = len(rows) - MAX_HTML_ROWS
        tail = f"<div class='nbm-more'>{more:,} more models</div>" if more > 0 else ""
        notes = "".join(f"<div class='nbm-note'>{html.escape(n)}</div>" for n in self.notes)
        caption = html.escape(f"{self.method} ({self.n_battles:,} battles)")
        return (
            f"<div class='nbm-caption'>{caption}</div><table class='nbm-table'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{tail}{notes}"
        )

    def win_rate_html(self, models: list[str] | None = None) -> str:
        """The observed win-rate matrix as an escaped HTML table (the best `MAX_MATRIX` models,
        or `models`), each cell shaded by its rate."""
        shown = list(models) if models is not None else self.models[:MAX_MATRIX]
        rates = self.win_rates().reindex(index=shown, columns=shown)
        head = "<th></th>" + "".join(f"<th>{html.escape(m)}</th>" for m in shown)
        body = []
        for m in shown:
            cells = []
            for o in shown:
                v = float(rates.loc[m, o])
                if math.isnan(v):
                    cells.append("<td></td>")
                else:
                    cells.append(f"<td style='background:{_shade(v)}'>{v:.2f}</td>")
            body.append(f"<tr><th>{html.escape(m)}</th>{''.join(cells)}</tr>")
        more = len(self.models) - len(shown)
        tail = f"<div class='nbm-more'>{more:,} more models</div>" if more > 0 else ""
        caption = "observed win rate of the row model over the column model (a tie counts half)"
        return (
            f"<div class='nbm-caption'>{caption}</div><table class='nbm-table nbm-win-rates'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}"
        )

    def to_html(self) -> str:
        return f"<div class='nbm-leaderboard'>{self.table_html()}{self.win_rate_html()}</div>"


def _json_float(value: Any) -> float | None:
    v = float(value)
    return round(v, 6) if math.isfinite(v) else None


def _fmt(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-"


def _shade(rate: float) -> str:
    """A translucent red (rate 0) to blue (rate 1) that reads on light and dark themes."""
    alpha = round(abs(rate - 0.5) * 1.2, 2)
    return f"rgba(66,133,244,{alpha})" if rate >= 0.5 else f"rgba(219,68,55,{alpha})"


def _counts_and_pairs(data: _Battles) -> tuple[Any, Any]:
    """Battles per model and, per ordered pair, battles and the score of the first model."""
    import pandas as pd

    names = np.asarray(data.models, dtype=object)
    counts = pd.Series(
        np.bincount(data.a, minlength=len(names)) + np.bincount(data.b, minlength=len(names)),
        index=data.models,
        name="battles",
    )
    m = len(names)
    first = np.concatenate([data.a, data.b])
    second = np.concatenate([data.b, data.a])
    code = first * m + second
    keys, where = np.unique(code, return_inverse=True)
    pairs = pd.DataFrame(
        {
            "model": names[keys // m],
            "opponent": names[keys % m],
            "battles": np.bincount(where, minlength=len(keys)),
            "score": np.bincount(
                where, weights=np.concatenate([data.score, 1.0 - data.score]), minlength=len(keys)
            ),
        }
    )
    return counts, pairs


def _result(
    data: _Battles,
    ratings: np.ndarray,
    draws: np.ndarray | None,
    *,
    confidence: float,
    method: str,
    params: dict[str, Any],
    notes: list[str],
) -> ArenaRatings:
    """Sort best first and wrap; `draws` (rounds x models) give the percentile intervals."""
    import pandas as pd

    order = sorted(range(len(data.models)), key=lambda i: (-ratings[i], data.models[i]))
    names = [data.models[i] for i in order]
    series = pd.Series(ratings[order], index=names, name="rating").rename_axis("model")
    intervals = None
    if draws is not None:
        tail = (1 - confidence) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a model absent in every round
            low, high = np.nanquantile(draws, [tail, 1 - tail], axis=0)
        intervals = pd.DataFrame({"low": low[order], "high": high[order]}, index=names)
        intervals = intervals.rename_axis("model")
    counts, pairs = _counts_and_pairs(data)
    return ArenaRatings(
        ratings=series,
        intervals=intervals,
        counts=counts.reindex(names),
        pairs=pairs,
        method=method,
        params=params,
        notes=notes,
        n_battles=len(data.a),
    )


def _interval_words(confidence: float, rounds: int, seed: int, what: str) -> str:
    return f"{confidence:.0%} percentile intervals over {rounds:,} {what} (seed {seed})"


# ------------------------------------------------------------------------ online Elo
def elo(
    battles: Any,
    *,
    k: float = 4.0,
    base: float = 10.0,
    scale: float = 400.0,
    initial: float = 1000.0,
    bootstrap: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
) -> ArenaRatings:
    """Online Elo: every model starts at `initial`, and each battle in row order moves both
    ratings by k * (S_a - E_a), where S_a is 1, 0 or 0.5 (a tie) and
    E_a = 1 / (1 + base ** ((R_b - R_a) / scale)).

    The result depends on the order of the battles. With `bootstrap` rounds, each round replays
    as many battles drawn with replacement, in random order, and the intervals are percentiles
    of those replays (how much the ratings owe to the sample and its order); no intervals by
    default.
    """
    k = _check("k", k)
    base = _check("base", base)
    scale = _check("scale", scale)
    initial = _check("initial", initial, positive=False)
    if base == 1:
        raise EvalError("base must differ from 1")
    rounds = _check_rounds(bootstrap)
    level = _check_confidence(confidence)
    data = _encode(battles)
    ratings = [initial] * len(data.models)
    for a, b, s in zip(data.a.tolist(), data.b.tolist(), data.score.tolist(), strict=True):
        expected = 1.0 / (1.0 + base ** ((ratings[b] - ratings[a]) / scale))
        step = k * (s - expected)
        ratings[a] += step
        ratings[b] -= step
    method = f"online Elo, K={k:g}, base {base:g}, scale {scale:g}, initial {initial:g}"
    draws = None
    if rounds:
        draws = _elo_rounds(data, k, base, scale, initial, rounds, seed)
        method += "; " + _interval_words(level, rounds, seed, "replays of resampled battles")
    params = {
        "k": k,
        "base": base,
        "scale": scale,
        "initial": initial,
        "bootstrap": rounds,
        "seed": seed,
        "confidence": level,
    }
    return _result(
        data,
        np.asarray(ratings),
        draws,
        confidence=level,
        method=method,
        params=params,
        notes=[],
    )


def _elo_rounds(
    data: _Battles, k: float, base: float, scale: float, initial: float, rounds: int, seed: int
) -> np.ndarray:
    """Every round's final ratings (rounds x models): all rounds replayed side by side, one
    battle step at a time; a model absent from a round's draw is NaN in it."""
    rng = np.random.default_rng(seed)
    n, m = len(data.a), len(data.models)
    ratings = np.full((rounds, m), initial)
    seen = np.zeros((rounds, m), dtype=bool)
    rows = np.arange(rounds)
    chunk = max(1, min(n, 2_000_000 // rounds))
    for start in range(0, n, chunk):
        picks = rng.integers(0, n, size=(min(chunk, n - start), rounds))
        for pick in picks:
            a, b, s = data.a[pick], data.b[pick], data.score[pick]
            ra, rb = ratings[rows, a], ratings[rows, b]
            step = k * (s - 1.0 / (1.0 + base ** ((rb - ra) / scale)))
            ratings[rows, a] = ra + step
            ratings[rows, b] = rb - step
            seen[rows, a] = True
            seen[rows, b] = True
    ratings[~seen] = np.nan
    return ratings


# ------------------------------------------------------------------------ Bradley-Terry
def bradley_terry(
    battles: Any,
    *,
    scale: float = 400.0,
    base: float = 10.0,
    initial: float = 1000.0,
    bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    anchor: str | None = None,
    prior: float | None = None,
) -> ArenaRatings:
    """Bradley-Terry ratings by maximum likelihood, on the Elo scale, with bootstrap intervals.

    P(i beats j) = 1 / (1 + base ** ((R_j - R_i) / scale)); a tie counts as half a win for
    each side, as Chatbot Arena counts it. The ratings average `initial`, or `anchor` is
    pinned at `initial`. Intervals: `bootstrap` resamples of the battles (with replacement),
    each refitted; the `confidence` percentile interval of each model's rating.

    The maximum-likelihood ratings exist only when every split of the models into two groups
    has each group beating (or tying) the other at least once; a model that never lost would
    otherwise rate infinitely high. A fit (of the data or of a resample) where they do not
    exist is made with a Gaussian prior on the ratings, sd `prior` rating points (default:
    `scale`) around their mean, and the result says so in its notes.
    """
    scale = _check("scale", scale)
    base = _check("base", base)
    initial = _check("initial", initial, positive=False)
    if base == 1:
        raise EvalError("base must differ from 1")
    rounds = _check_rounds(bootstrap)
    level = _check_confidence(confidence)
    prior_sd = scale if prior is None else _check("prior", prior)
    data = _encode(battles)
    if anchor is not None and str(anchor) not in data.models:
        raise EvalError(f"anchor model {anchor!r} fought no battle")
    fit = _BTFit(data, prior_sd * math.log(base) / scale)
    to_rating = scale / math.log(base)

    weights = fit.weights(fit.counts[None, :])
    strengths, separated = fit.solve(weights)
    ratings = _pin(strengths, data.models, anchor) * to_rating + initial
    notes: list[str] = []
    if separated[0]:
        notes.append(_separation_note(fit, weights[0], prior_sd))

    method = (
        f"Bradley-Terry maximum likelihood (a tie is half a win for each side), base {base:g}, "
        f"scale {scale:g}, "
        + (f"{anchor} pinned at {initial:g}" if anchor is not None else f"mean {initial:g}")
    )
    draws = None
    if rounds:
        rng = np.random.default_rng(seed)
        n = int(fit.counts.sum())
        draws = np.empty((rounds, len(data.models)))
        chunk = max(1, 5_000_000 // max(1, len(fit.edges[0])))
        resampled_prior = 0
        for start in range(0, rounds, chunk):
            size = min(chunk, rounds - start)
            counts = rng.multinomial(n, fit.counts / n, size=size)
            boot, sep = fit.solve(fit.weights(counts), present=fit.present(counts))
            draws[start : start + size] = _pin(boot, data.models, anchor) * to_rating + initial
            resampled_prior += int(sep.sum())
        method += "; " + _interval_words(level, rounds, seed, "bootstrap resamples")
        if resampled_prior and not separated[0]:
            notes.append(
                f"{resampled_prior:,} of {rounds:,} bootstrap resamples had no maximum-likelihood "
                f"ratings and were fitted with a Gaussian prior (sd {prior_sd:g})"
            )
    params = {
        "scale": scale,
        "base": base,
        "initial": initial,
        "bootstrap": rounds,
        "seed": seed,
        "confidence": level,
        "anchor": anchor,
        "prior": prior_sd,
    }
    return _result(
        data, ratings[0], draws, confidence=level, method=method, params=params, notes=notes
    )


def _pin(strengths: np.ndarray, models: list[str], anchor: str | None) -> np.ndarray:
    """Shift each row so the anchor model is 0 (rows fitted with a mean of 0 otherwise)."""
    if anchor is None:
        return strengths
    return strengths - strengths[:, [models.index(str(anchor))]]


class _BTFit:
    """The Bradley-Terry likelihood over the distinct battles, for many resamples at once.

    Identical battles are counted once: `counts` per distinct (model_a, model_b, winner).
    A directed edge (i, j) carries the score of i against j: 1 per win, 0.5 per tie, so a
    resample's edge weights are its counts times a fixed (distinct battles x edges) matrix.
    Strengths are in natural log-odds: P(i beats j) = expit(s_i - s_j).
    """

    def __init__(self, data: _Battles, prior_sd: float) -> None:
        import scipy.sparse as sparse

        m = len(data.models)
        keys = np.stack([data.a, data.b, (data.score * 2).astype(np.intp)], axis=1)
        unique, counts = np.unique(keys, axis=0, return_counts=True)
        self.n_models = m
        self.counts = counts.astype(float)
        self.models = data.models
        a, b, s2 = unique[:, 0], unique[:, 1], unique[:, 2]
        # each distinct battle feeds edge (a, b) with its score and edge (b, a) with the rest
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        score = np.concatenate([s2 / 2, 1 - s2 / 2])
        row = np.concatenate([np.arange(len(a)), np.arange(len(a))])
        keep = score > 0
        edge_keys, edge_of = np.unique(src[keep] * m + dst[keep], return_inverse=True)
        self.edges = (edge_keys // m, edge_keys % m)
        n_edges = len(edge_keys)
        self.feed = sparse.csr_matrix((score[keep], (row[keep], edge_of)), shape=(len(a), n_edges))
        i, j = self.edges
        # edge x model: +1 at the scorer, -1 at the opponent (edge logit = D @ strengths)
        self.diff = sparse.csr_matrix(
            (
                np.concatenate([np.ones(n_edges), -np.ones(n_edges)]),
                (np.concatenate([np.arange(n_edges)] * 2), np.concatenate([i, j])),
            ),
            shape=(n_edges, m),
        )
        self.diff_t = self.diff.T.tocsr()
        self.players = sparse.csr_matrix(  # distinct battle x model: who fought in it
            (np.ones(2 * len(a)), (np.concatenate([np.arange(len(a))] * 2), np.r_[a, b])),
            shape=(len(a), m),
        )
        self.ridge = 1.0 / prior_sd**2

    def weights(self, counts: np.ndarray) -> np.ndarray:
        """Edge weights (resamples x edges) of battle counts (resamples x distinct battles)."""
        return np.asarray((self.feed.T @ counts.T).T)

    def present(self, counts: np.ndarray) -> np.ndarray:
        """Which models fought in each resample (resamples x models)."""
        return np.asarray((self.players.T @ counts.T).T) > 0

    def connected(self, weights: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Whether each resample's present models are strongly connected by who scored
        against whom (the condition for finite maximum-likelihood strengths). All resamples
        are one graph of disjoint blocks, searched at once."""
        labels = self.components(weights).reshape(weights.shape[0], self.n_models)
        first = labels[np.arange(len(labels)), present.argmax(axis=1)]
        return np.all((labels == first[:, None]) | ~present, axis=1)

    def components(self, weights: np.ndarray) -> np.ndarray:
        """The strongly connected component of each (resample, model) by edges with weight,
        flattened resample by resample."""
        import scipy.sparse as sparse
        from scipy.sparse.csgraph import connected_components

        i, j = self.edges
        rounds, m = weights.shape[0], self.n_models
        which, edge = np.nonzero(weights > 0)
        size = rounds * m
        graph = sparse.csr_matrix(
            (np.ones(len(edge)), (which * m + i[edge], which * m + j[edge])), shape=(size, size)
        )
        return connected_components(graph, directed=True, connection="strong")[1]

    def solve(
        self, weights: np.ndarray, present: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Strengths (resamples x models) maximizing each resample's likelihood, with mean 0
        over its present models (absent ones are NaN); and which needed the prior."""
        from scipy.optimize import minimize
        from scipy.special import expit

        rounds, m = weights.shape[0], self.n_models
        if present is None:
            present = np.ones((rounds, m), dtype=bool)
        separated = ~self.connected(weights, present)
        total = weights.sum(axis=1, keepdims=True)
        w = weights / total  # per battle: tolerances do not grow with the data
        # ridge per model: the prior where needed, and absent models held at 0
        ridge = np.where(separated[:, None], self.ridge, 0.0) / total
        ridge = np.where(present, ridge, 1.0)
        diff, diff_t = self.diff, self.diff_t

        def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
            s = x.reshape(rounds, m)
            logit = (diff @ s.T).T
            total_sum = s.sum(axis=1)  # pinned at 0 by a penalty: the likelihood ignores it
            value = (w * np.logaddexp(0.0, -logit)).sum()
            value += 0.5 * (ridge * s * s).sum() + 0.5 * (total_sum**2).sum()
            grad = -(diff_t @ (w * expit(-logit)).T).T + ridge * s + total_sum[:, None]
            return float(value), grad.ravel()

        def hess_times(x: np.ndarray, v: np.ndarray) -> np.ndarray:
            s, v = x.reshape(rounds, m), v.reshape(rounds, m)
            p = expit((diff @ s.T).T)
            out = (diff_t @ (w * p * (1 - p) * (diff @ v.T).T).T).T
            return (out + ridge * v + v.sum(axis=1)[:, None]).ravel()

        found = minimize(
            value_and_grad,
            np.zeros(rounds * m),
            jac=True,
            hessp=hess_times,
            method="Newton-CG",
            options={"xtol": 1e-10 * rounds * m, "maxiter": 200},
        )
        gradient = np.abs(found.jac).max() if found.jac is not None else np.inf
        if not np.all(np.isfinite(found.x)) or not gradient < 1e-4:
            raise EvalError(f"the Bradley-Terry fit did not converge: {found.message}")
        strengths = found.x.reshape(rounds, m)
        return np.where(present, strengths, np.nan), separated


def _separation_note(fit: _BTFit, weights: np.ndarray, prior_sd: float) -> str:
    """Why the maximum-likelihood ratings do not exist, naming the models at fault."""
    i, j = fit.edges
    scored = np.bincount(i, weights=weights, minlength=fit.n_models) > 0
    conceded = np.bincount(j, weights=weights, minlength=fit.n_models) > 0
    never_lost = [m for k, m in enumerate(fit.models) if not conceded[k]]
    never_won = [m for k, m in enumerate(fit.models) if not scored[k]]
    parts = []
    if never_lost:
        parts.append(f"{_names(never_lost)} never lost or tied")
    if never_won:
        parts.append(f"{_names(never_won)} never won or tied")
    if not parts:
        groups: dict[int, list[str]] = {}
        for model, c in zip(fit.models, fit.components(weights[None, :]), strict=True):
            groups.setdefault(int(c), []).append(model)
        listed = "; ".join(_names(g) for g in list(groups.values())[:4])
        parts.append(f"some groups of models never beat one another both ways ({listed})")
    return (
        f"no maximum-likelihood ratings exist ({', '.join(parts)}): these are fitted with a "
        f"Gaussian prior on the ratings (sd {prior_sd:g} around their mean)"
    )


def _names(models: list[str], limit: int = 5) -> str:
    shown = ", ".join(models[:limit])
    return shown + (f" and {len(models) - limit} more" if len(models) > limit else "")
