"""How far raters agree: Cohen's kappa, Krippendorff's alpha, and judges against each other.

The statistics come from the libraries that keep them (statsmodels for kappa, `krippendorff`
for alpha); this module turns labels into the tables those libraries take and reports the
numbers per criterion or per judge.

Choices, stated once:
- Kappa for a pair of raters is computed on the units both rated. Every criterion reports the
  unweighted kappa; ordinal and interval criteria also report the quadratically weighted kappa
  (Fleiss-Cohen weights on the scale's positions, so equally spaced), the usual choice for
  rating scales because it penalises far misses more than near ones.
- Alpha is computed once per criterion over all raters, at the criterion's level of measurement.
- Judge agreement (`judge_agreement`) follows the MT-bench paper's counting: model order is
  normalised per row, `tie (bothbad)` is a tie, and when a judge voted several times on one
  (item, model pair) every one of its votes is compared with every vote of the other judge (and,
  for the judge with itself, every pair of its own votes on that key). "Without ties" leaves out
  each comparison in which either vote is a tie.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from nb_mlops.evals.model import EvalError
from nb_mlops.results import Result

LEVELS = ("nominal", "ordinal", "interval")
"""Levels of measurement an annotation criterion can have (alpha also takes "ratio")."""

WEIGHTED_KAPPA = "quadratic"
"""The weights of the weighted kappa reported for ordinal and interval criteria."""


def missing(value: Any) -> bool:
    """Whether a label value stands for "not rated" (None or a float NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


# --------------------------------------------------------------------------- Cohen's kappa
def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    *,
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
) -> float:
    """Cohen's kappa of two raters' labels on the same units, through statsmodels.

    `a[i]` and `b[i]` label unit i; a unit either left unrated (None/NaN) is dropped. `weights`
    is None (plain kappa), "linear" or "quadratic" (weighted kappa on the positions of
    `categories`, which then must be in order; numbers are sorted when no order is given).
    NaN when chance agreement is already perfect (both raters used one and the same value).
    """
    import numpy as np
    from statsmodels.stats.inter_rater import cohens_kappa

    if weights not in (None, "linear", "quadratic"):
        raise EvalError(f"kappa weights are None, 'linear' or 'quadratic', not {weights!r}")
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise EvalError(f"kappa needs two label lists of one length, got {len(a)} and {len(b)}")
    pairs = [(plain(x), plain(y)) for x, y in zip(a, b, strict=True)]
    pairs = [(x, y) for x, y in pairs if not missing(x) and not missing(y)]
    if not pairs:
        raise EvalError("kappa needs at least one unit labelled by both raters; there is none")
    cats = category_order([v for p in pairs for v in p], categories, ordered=weights is not None)
    index = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for x, y in pairs:
        table[position(index, x), position(index, y)] += 1
    with np.errstate(divide="ignore", invalid="ignore"):
        value = cohens_kappa(table, wt=weights, return_results=False)
    return float(value)


def category_order(values: list[Any], categories: Sequence[Any] | None, *, ordered: bool) -> list:
    """The categories of a contingency table: those given, else the values found (sorted when
    they are numbers; an order is required when it matters and the values are not numbers)."""
    if categories is not None:
        cats = [plain(c) for c in categories]
        if len(set(cats)) != len(cats):
            raise EvalError(f"categories must be distinct, got {list(categories)!r}")
        return cats
    found = list(dict.fromkeys(values))
    if all(is_number(v) for v in found):
        return sorted(found)
    if ordered:
        raise EvalError(
            "weighted kappa needs the categories in order: pass categories=[...] "
            f"(labels include {next(v for v in found if not is_number(v))!r})"
        )
    return sorted(found, key=lambda v: (type(v).__name__, str(v)))


def position(index: Mapping[Any, int], value: Any) -> int:
    try:
        return index[value]
    except (KeyError, TypeError):
        raise EvalError(f"label {value!r} is not one of the categories {list(index)!r}") from None


# ------------------------------------------------------------------- Krippendorff's alpha
def krippendorff_alpha(
    data: Any, *, level: str = "nominal", scale: Sequence[Any] | None = None
) -> float:
    """Krippendorff's alpha of reliability data, through the `krippendorff` package.

    `data` has one row per rater and one column per unit (a list of lists, an array or a
    DataFrame), None or NaN where a rater did not rate a unit. `level` is nominal, ordinal,
    interval or ratio. Values may be text for nominal data; ordinal text needs `scale`, the
    values in order. NaN when alpha is undefined (no unit has two values, or one value only).
    """
    import krippendorff
    import numpy as np

    if level not in (*LEVELS, "ratio"):
        raise EvalError(f"alpha's level is nominal, ordinal, interval or ratio, not {level!r}")
    rows = [list(r) for r in (data.values.tolist() if hasattr(data, "values") else data)]
    if len(rows) < 2 or len({len(r) for r in rows}) != 1:
        raise EvalError(
            "alpha needs reliability data: one row per rater (at least 2), one column per unit"
        )
    values = [plain(v) for r in rows for v in r if not missing(plain(v))]
    if scale is not None:
        domain = [plain(v) for v in scale]
    elif level == "nominal" or all(is_number(v) for v in values):
        domain = category_order(values, None, ordered=False)
    else:
        raise EvalError(f"{level} alpha on text labels needs scale=[...] with the values in order")
    if level in ("interval", "ratio"):
        if not all(is_number(v) for v in [*values, *domain]):
            raise EvalError(f"{level} alpha needs numbers, got {values[:3]!r}")
        codes = [[np.nan if missing(plain(v)) else float(plain(v)) for v in r] for r in rows]
        domain_codes = None
    else:  # nominal and ordinal depend only on identity and order: code by position
        index = {v: i for i, v in enumerate(domain)}
        codes = [
            [np.nan if missing(plain(v)) else float(position(index, plain(v))) for v in r]
            for r in rows
        ]
        domain_codes = list(range(len(domain)))
    matrix = np.array(codes, dtype=float)
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    if (
        not pairable.any()
        or len(np.unique(matrix[:, pairable][~np.isnan(matrix[:, pairable])])) < 2
    ):
        return math.nan
    return float(
        krippendorff.alpha(
            reliability_data=matrix, value_domain=domain_codes, level_of_measurement=level
        )
    )


# ---------------------------------------------------------------- agreement per criterion
@dataclass
class PairAgreement:
    """Two raters on the units both rated: share of identical labels and Cohen's kappa."""

    rater_a: str
    rater_b: str
    n: int
    percent: float | None
    kappa: float | None
    weighted_kappa: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rater_a": self.rater_a,
            "rater_b": self.rater_b,
            "n": self.n,
            "percent_agreement": clean(self.percent),
            "kappa": clean(self.kappa),
            "weighted_kappa": clean(self.weighted_kappa),
        }


@dataclass
class CriterionAgreement:
    """Agreement on one criterion: alpha over all raters and kappa for each pair of raters."""

    criterion: str
    level: str
    scale: list[Any]
    raters: list[str]
    units: int
    """Units rated by at least two raters (the ones agreement is measured on)."""
    alpha: float | None
    pairs: list[PairAgreement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "level": self.level,
            "scale": list(self.scale),
            "raters": list(self.raters),
            "units": self.units,
            "alpha": clean(self.alpha),
            "kappa_weights": WEIGHTED_KAPPA if self.level != "nominal" else None,
            "pairs": [p.to_dict() for p in self.pairs],
        }


def rater_agreement(
    ratings: Mapping[str, Mapping[str, Any]],
    *,
    level: str = "nominal",
    scale: Sequence[Any] | None = None,
    criterion: str = "value",
) -> CriterionAgreement:
    """Agreement on one criterion from `ratings` = {rater: {unit: value}}.

    Alpha is at `level`; every pair of raters gets the share of identical labels, the plain
    kappa and, for ordinal and interval criteria, the quadratically weighted kappa (on the
    positions of `scale`, or of the sorted values when no scale is given).
    """
    if level not in LEVELS:
        raise EvalError(f"criterion {criterion!r}: level is one of {LEVELS}, not {level!r}")
    raters = sorted(ratings)
    table = {
        r: {str(u): plain(v) for u, v in ratings[r].items() if not missing(plain(v))}
        for r in raters
    }
    units = list(dict.fromkeys(u for r in raters for u in table[r]))
    shared = [u for u in units if sum(u in table[r] for r in raters) >= 2]
    values = [v for r in raters for v in table[r].values()]
    order = [plain(v) for v in scale] if scale is not None else None
    if order is None and level != "nominal":
        order = category_order(values, None, ordered=True)
    alpha = None
    if shared and len(raters) >= 2:
        data = [[table[r].get(u) for u in shared] for r in raters]
        value = krippendorff_alpha(data, level=level, scale=order)
        alpha = None if math.isnan(value) else value
    pairs = []
    for ra, rb in combinations(raters, 2):
        both = [u for u in units if u in table[ra] and u in table[rb]]
        if not both:
            pairs.append(PairAgreement(ra, rb, 0, None, None, None))
            continue
        a = [table[ra][u] for u in both]
        b = [table[rb][u] for u in both]
        same = sum(x == y for x, y in zip(a, b, strict=True)) / len(both)
        kappa = finite(cohen_kappa(a, b, categories=order))
        weighted = None
        if level != "nominal":
            weighted = finite(cohen_kappa(a, b, weights=WEIGHTED_KAPPA, categories=order))
        pairs.append(PairAgreement(ra, rb, len(both), same, kappa, weighted))
    return CriterionAgreement(
        criterion,
        level,
        list(order or category_order(values, None, ordered=False)),
        raters,
        len(shared),
        alpha,
        pairs,
    )


@dataclass(repr=False)
class Agreement(Result):
    """Agreement between raters, one block per criterion (alpha, then kappa per rater pair)."""

    criteria: list[CriterionAgreement]
    task: str | None = None

    def __getitem__(self, criterion: str) -> CriterionAgreement:
        for c in self.criteria:
            if c.criterion == criterion:
                return c
        raise KeyError(criterion)

    @property
    def alpha(self) -> dict[str, float | None]:
        """Krippendorff's alpha per criterion."""
        return {c.criterion: c.alpha for c in self.criteria}

    def frame(self) -> Any:
        """One row per (criterion, pair of raters), with the criterion's alpha repeated."""
        import pandas as pd

        rows = [
            {"criterion": c.criterion, "level": c.level, "alpha": c.alpha, **p.to_dict()}
            for c in self.criteria
            for p in c.pairs
        ]
        columns = [
            "criterion",
            "level",
            "alpha",
            "rater_a",
            "rater_b",
            "n",
            "percent_agreement",
            "kappa",
            "weighted_kappa",
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "criteria": [c.to_dict() for c in self.criteria]}

    def blocks(self) -> list[tuple[str, list[str], list[list[str]]]]:
        out = []
        for c in self.criteria:
            title = (
                f"{c.criterion} ({c.level}): {len(c.raters)} raters, {c.units} units rated by "
                f"2 or more; Krippendorff's alpha {number(c.alpha)}"
            )
            header = ["rater", "rater", "n", "agreement", "kappa"]
            if c.level != "nominal":
                header.append(f"kappa ({WEIGHTED_KAPPA})")
            rows = []
            for p in c.pairs:
                row = [p.rater_a, p.rater_b, str(p.n), percent(p.percent), number(p.kappa)]
                if c.level != "nominal":
                    row.append(number(p.weighted_kappa))
                rows.append(row)
            out.append((title, header, rows))
        return out

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        if not self.criteria:
            return "no labels to compare yet"
        parts = [f"agreement between raters{f' on {self.task}' if self.task else ''}"]
        for title, header, rows in self.blocks():
            parts.append(title)
            if rows:
                parts.append(text_table(header, rows))
        return "\n".join(parts)

    def to_html(self) -> str:
        if not self.criteria:
            return f"<div class='nbm-agreement'>{html.escape(self.to_text())}</div>"
        parts = ["<div class='nbm-agreement'>"]
        for title, header, rows in self.blocks():
            parts.append(f"<div><b>{html.escape(title)}</b></div>")
            if rows:
                parts.append(html_table(header, rows))
        parts.append("</div>")
        return "".join(parts)


# ------------------------------------------------------------------------ judge agreement
VERDICTS = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "tie (bothbad)": "tie"}
FLIP = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}


@dataclass
class JudgePair:
    """How often two judges gave the same verdict, counting ties as a class and leaving them out."""

    judge: str
    other: str
    agree_ties: int
    n_ties: int
    agree_no_ties: int
    n_no_ties: int

    @property
    def with_ties(self) -> float | None:
        return self.agree_ties / self.n_ties if self.n_ties else None

    @property
    def without_ties(self) -> float | None:
        return self.agree_no_ties / self.n_no_ties if self.n_no_ties else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "other": self.other,
            "agreement_with_ties": self.with_ties,
            "n_with_ties": self.n_ties,
            "agreement_without_ties": self.without_ties,
            "n_without_ties": self.n_no_ties,
        }


@dataclass(repr=False)
class JudgeAgreement(Result):
    """Pairwise agreement of judges (LLM judges and human raters) on the same comparisons."""

    judges: list[str]
    pairs: list[JudgePair]
    """Each unordered pair once (a judge with itself when it voted several times on a key)."""

    def lookup(self, judge: str, other: str) -> JudgePair | None:
        for p in self.pairs:
            if (p.judge, p.other) in ((judge, other), (other, judge)):
                return p
        return None

    def rows_for(self, judge: str) -> list[JudgePair]:
        """The pairs `judge` is in, seen from `judge` (other judges in order, itself last)."""
        if judge not in self.judges:
            raise EvalError(f"no judge named {judge!r}; judges: {', '.join(self.judges)}")
        out = []
        for other in [*(j for j in self.judges if j != judge), judge]:
            p = self.lookup(judge, other)
            if p is not None and p.n_ties:
                out.append(
                    JudgePair(judge, other, p.agree_ties, p.n_ties, p.agree_no_ties, p.n_no_ties)
                )
        return out

    def table(self, judge: str) -> Any:
        """Agreement of `judge` with each other judge: agreement w/ tie, n, w/o tie, n."""
        import pandas as pd

        rows = [p.to_dict() for p in self.rows_for(judge)]
        frame = pd.DataFrame(rows, columns=list(JudgePair("", "", 0, 0, 0, 0).to_dict()))
        return frame.drop(columns=["judge"]).set_index("other")

    def frame(self) -> Any:
        """Every judge against every other (both directions), one row each."""
        import pandas as pd

        rows = [p.to_dict() for j in self.judges for p in self.rows_for(j)]
        return pd.DataFrame(rows, columns=list(JudgePair("", "", 0, 0, 0, 0).to_dict()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "judges": list(self.judges),
            "pairs": [p.to_dict() for p in self.pairs],
            "method": "MT-bench counting: every vote against every vote on a shared "
            "(item, model pair); without ties leaves out comparisons with a tie on either side",
        }

    def blocks(self) -> list[tuple[str, list[str], list[list[str]]]]:
        header = ["other judge", "agreement (w/ tie)", "n", "agreement (w/o tie)", "n"]
        out = []
        for j in self.judges:
            rows = [
                [
                    p.other if p.other != j else f"{j} (itself)",
                    percent(p.with_ties),
                    str(p.n_ties),
                    percent(p.without_ties),
                    str(p.n_no_ties),
                ]
                for p in self.rows_for(j)
            ]
            out.append((j, header, rows))
        return out

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        if not self.pairs:
            return "no comparison was judged by two judges"
        parts = []
        for title, header, rows in self.blocks():
            parts.append(f"judge {title}")
            parts.append(text_table(header, rows) if rows else "  shares no comparison")
        return "\n".join(parts)

    def to_html(self) -> str:
        if not self.pairs:
            return f"<div class='nbm-agreement'>{html.escape(self.to_text())}</div>"
        parts = ["<div class='nbm-agreement'>"]
        for title, header, rows in self.blocks():
            parts.append(f"<div><b>judge {html.escape(title)}</b></div>")
            parts.append(html_table(header, rows) if rows else "<div>shares no comparison</div>")
        parts.append("</div>")
        return "".join(parts)


def judge_agreement(votes: Any, *, humans_as_one: bool = False) -> JudgeAgreement:
    """Agreement between judges that voted on the same (item, model pair).

    `votes` is a DataFrame or dicts with `judge`, `item` (or `question_id`), `model_a`,
    `model_b`, `winner` in {model_a, model_b, tie, tie (bothbad)}, and optionally `turn`.
    With `humans_as_one`, judges named `human:<rater>` count as one judge `human`, whose
    agreement with itself is then the agreement between different raters (as in MT-bench).
    """
    by_key: dict[tuple, dict[str, list[str]]] = {}
    judges: list[str] = []
    for i, row in enumerate(vote_rows(votes)):
        judge = text_field(row, "judge", i)
        if humans_as_one and judge.startswith("human:"):
            judge = "human"
        item = row.get("item", row.get("question_id"))
        if missing(plain(item)):
            raise EvalError(f"vote {i} has no 'item' (or 'question_id')")
        a, b = text_field(row, "model_a", i), text_field(row, "model_b", i)
        if a == b:
            raise EvalError(f"vote {i} compares model {a!r} with itself")
        winner = row.get("winner")
        verdict = VERDICTS.get(str(winner).strip().lower()) if isinstance(winner, str) else None
        if verdict is None:
            raise EvalError(
                f"vote {i} has winner {winner!r}: a winner is model_a, model_b, tie "
                "or tie (bothbad)"
            )
        if a > b:
            a, b, verdict = b, a, FLIP[verdict]
        turn = plain(row.get("turn"))
        key = (str(plain(item)), None if missing(turn) else str(turn), a, b)
        by_key.setdefault(key, {}).setdefault(judge, []).append(verdict)
        if judge not in judges:
            judges.append(judge)
    counts: dict[tuple[str, str], list[int]] = {}
    for votes_by_judge in by_key.values():
        names = sorted(votes_by_judge)
        for ja, jb in combinations(names, 2):
            tally(
                counts.setdefault((ja, jb), [0, 0, 0, 0]),
                ((x, y) for x in votes_by_judge[ja] for y in votes_by_judge[jb]),
            )
        for j in names:
            own = votes_by_judge[j]
            if len(own) > 1:
                tally(counts.setdefault((j, j), [0, 0, 0, 0]), combinations(own, 2))
    pairs = [JudgePair(ja, jb, *c) for (ja, jb), c in sorted(counts.items())]
    return JudgeAgreement(sorted(judges), pairs)


def tally(count: list[int], comparisons: Iterable[tuple[str, str]]) -> None:
    """Add comparisons to [agree with ties, n with ties, agree without ties, n without ties]."""
    for x, y in comparisons:
        count[0] += x == y
        count[1] += 1
        if x != "tie" and y != "tie":
            count[2] += x == y
            count[3] += 1


def vote_rows(votes: Any) -> list[Mapping[str, Any]]:
    if hasattr(votes, "to_dict") and hasattr(votes, "columns"):
        return votes.to_dict("records")
    if isinstance(votes, Mapping):
        raise EvalError("votes are a DataFrame or a list of dicts, not one dict")
    rows = list(votes)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EvalError(f"vote {i} is a {type(row).__name__}, not a dict")
    return rows


def text_field(row: Mapping[str, Any], name: str, i: int) -> str:
    value = plain(row.get(name))
    if missing(value) or str(value).strip() == "":
        raise EvalError(f"vote {i} has no {name!r}")
    return str(value)


# ------------------------------------------------------------------------------- display
def clean(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table class='nbm-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
