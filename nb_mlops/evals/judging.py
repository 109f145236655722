"""Judging as evaluation runs: grades per answering model, pairwise verdicts, arena battles.

`judge_answers` grades the replies of one or more models (one eval run per model, task
"judge": the mean grade with its interval, one row per item with grade and rationale);
`judge_pairs` compares two models' replies item by item (one run, task "judge-pair", with the
judge's position inconsistency and every verdict). Items come from a file, a DataFrame, dicts,
or the per-item rows of earlier evaluation runs (`items_from_runs`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.evals.judge import Judge, Verdict
from nb_mlops.evals.model import EvalError, ModelIdentity
from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

ANSWERS = "answers"
"""The answering model's name when the items do not name one."""


@dataclass(repr=False)
class JudgeResult(Result):
    """What a judge decided: per-item verdicts, scores per model, the judge's consistency."""

    mode: str
    judge: dict[str, Any]
    prompt: dict[str, Any]
    frame: Any
    """One row per item (and per model for grading): verdicts, rationales, errors."""
    scores: dict[str, dict[str, Any]]
    runs: list[str] = field(default_factory=list)
    consistency: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return int(self.frame["error"].map(_is_error).sum()) if len(self.frame) else 0

    @property
    def judge_label(self) -> str:
        return ModelIdentity.from_dict(self.judge).label

    def battles(self) -> Any:
        """Pairwise verdicts as Chatbot Arena rows (model_a, model_b, winner), errors left out."""
        if self.mode != "pair":
            raise EvalError("battles come from pairwise judging (mode='pair')")
        ok = self.frame[~self.frame["error"].map(_is_error)]
        winner = ok["winner"].map({"a": "model_a", "b": "model_b", "tie": "tie"})
        out = ok[["id", "model_a", "model_b"]].copy()
        out["winner"] = winner
        out["judge"] = self.judge_label
        return out.reset_index(drop=True)

    def votes(self) -> Any:
        """The verdicts as votes (judge, item, model_a, model_b, winner) for agreement tables."""
        out = self.battles().rename(columns={"id": "item"})
        return out[["judge", "item", "model_a", "model_b", "winner"]]

    def to_dict(self) -> dict[str, Any]:
        rows = self.frame.astype(object).where(self.frame.notna(), None).to_dict("records")
        return {
            "mode": self.mode,
            "judge": dict(self.judge),
            "prompt": dict(self.prompt),
            "runs": list(self.runs),
            "scores": {k: dict(v) for k, v in self.scores.items()},
            "consistency": dict(self.consistency),
            "errors": self.errors,
            "items": rows,
        }

    def _head(self) -> str:
        from nb_mlops.text import plural

        what = "graded" if self.mode == "single" else "compared"
        prompt = f"prompts {self.prompt.get('family')} v{self.prompt.get('version')}"
        return (
            f"judge {self.judge_label} ({prompt}, {self.prompt.get('lang')}): "
            f"{plural(len(self.frame), 'item')} {what}, runs {', '.join(self.runs)}"
        )

    def notes(self) -> list[str]:
        from nb_mlops.text import plural

        notes = []
        if self.errors:
            notes.append(
                f"{plural(self.errors, 'verdict')} failed after retries "
                "(kept as errors, not scored)"
            )
        c = self.consistency
        if c.get("judged"):
            notes.append(
                f"position inconsistency {c['rate']:.1%} ({c['inconsistent']} of {c['judged']} "
                f"pairs changed verdict when the replies swapped places; counted as ties)"
            )
        return notes

    def _table(self) -> tuple[list[str], list[list[str]]]:
        from nb_mlops.evals.run import format_score

        if self.mode == "single":
            header = ["model", "mean grade (95% interval)", "n"]
        else:
            header = ["model", "wins", "ties", "losses", "win rate (95% interval)"]
        body = []
        for model, s in self.scores.items():
            if self.mode == "single":
                body.append([model, format_score(s), str(s.get("n", 0))])
            else:
                counts = [str(s.get(k, 0)) for k in ("wins", "ties", "losses")]
                body.append([model, *counts, format_score(s)])
        return header, body

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        header, body = self._table()
        lines = [self._head(), text_table(header, body)]
        lines += [f"note: {n}" for n in self.notes()]
        return "\n".join(lines)

    def to_html(self) -> str:
        header, body = self._table()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells in body
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes())
        return (
            f"<div class='nbm-judge'><div><b>{html.escape(self._head())}</b></div>"
            f"<table class='nbm-table'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
            f"</table>{f'<ul>{notes}</ul>' if notes else ''}</div>"
        )


def _is_error(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


# --------------------------------------------------------------------------- the items
def read_items(source: Any, *, limit: int | None = None) -> tuple[list[dict[str, Any]], str]:
    """Items from a file, DataFrame or dicts, each with an `id` (its position when missing)."""
    from nb_mlops.evals.datasets import read_rows

    rows = read_rows(source, limit=limit)
    if not rows:
        raise EvalError("no items to judge")
    items = []
    seen: set[str] = set()
    for row in rows:
        item = dict(row.data)
        item["id"] = str(item.get("id", row.position))
        if item["id"] in seen:
            raise row.fail(f"id {item['id']!r} appears twice")
        seen.add(item["id"])
        items.append(item)
    return items, rows[0].source


def items_from_runs(ws: Workspace, runs: Sequence[str]) -> list[dict[str, Any]]:
    """Items to judge from text evaluation runs: one run gives `answer` items to grade, two
    give `answer_a`/`answer_b` pairs (matched by item id, errors left out)."""
    from nb_mlops.evals.scoreboard import examples
    from nb_mlops.tracking.query import resolve_run

    if len(runs) not in (1, 2):
        raise EvalError(f"give one evaluation run to grade or two to compare, not {len(runs)}")
    sides = []
    for run in runs:
        doc = resolve_run(ws, run)
        record = doc.get("eval") or {}
        if record.get("task") != "text":
            raise EvalError(
                f"run {doc['run_id']} is not a text evaluation (task {record.get('task')})"
            )
        model = ModelIdentity.from_dict(record.get("model") or {}).label
        frame = examples(ws, doc["run_id"])
        answers = {
            str(r["id"]): (r["prompt"], r["prediction"], r.get("reference"))
            for _, r in frame.iterrows()
            if not _is_error(r.get("error")) and isinstance(r.get("prediction"), str)
        }
        sides.append((model, answers))
    if len(sides) == 1:
        model, answers = sides[0]
        return [
            {"id": i, "question": q, "answer": a, "reference": ref, "model": model}
            for i, (q, a, ref) in answers.items()
        ]
    (model_a, a), (model_b, b) = sides
    if model_a == model_b:
        model_b += " (2)"
    common = [i for i in a if i in b]
    if not common:
        raise EvalError(f"runs {runs[0]} and {runs[1]} share no answered item")
    return [
        {
            "id": i,
            "question": a[i][0],
            "answer_a": a[i][1],
            "answer_b": b[i][1],
            "model_a": model_a,
            "model_b": model_b,
            "reference": a[i][2],
        }
        for i in common
    ]


# ---------------------------------------------------------------------------- grading
def judge_answers(
    ws: Workspace,
    judge: Judge,
    items: Sequence[Mapping[str, Any]],
    *,
    source: Any = None,
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> JudgeResult:
    """Grade every item's reply (1-10) and log one eval run per answering model."""
    import pandas as pd

    from nb_mlops.evals.bootstrap import mean_ci

    verdicts = judge.grade(items)
    rows = [_single_row(item, v) for item, v in zip(items, verdicts, strict=True)]
    frame = pd.DataFrame(rows)
    scores: dict[str, dict[str, Any]] = {}
    runs = []
    for model in dict.fromkeys(frame["model"]):
        part = frame[frame["model"] == model].reset_index(drop=True)
        grades = [
            float(g) for g, e in zip(part["rating"], part["error"], strict=True) if not _is_error(e)
        ]
        version = judge.single.version
        score: dict[str, Any] = {
            "score": None,
            "n": len(grades),
            "method": f"mean judge grade 1-10 ({judge.label}, judge prompts v{version})",
        }
        if grades:
            ci = mean_ci(grades)
            low, high = max(1.0, ci["low"]), min(10.0, ci["high"])  # grades live in 1-10
            score.update(score=ci["mean"], stderr=ci["stderr"], low=low, high=high)
        scores[str(model)] = score
        runs.append(
            _log(
                ws,
                judge,
                task="judge",
                identity=ModelIdentity(provider="answers", name=str(model)),
                source=source if source is not None else list(items),
                items=[i for i in items if str(i.get("model") or ANSWERS) == model],
                frame=part,
                scores={"judge_rating": score} if grades else {},
                name=name or f"judge-{_short(str(model))}",
                experiment=experiment,
                tags=tags,
            )
        )
    return JudgeResult(
        "single", judge.identity.to_dict(), judge.prompt_record(), frame, scores, runs
    )


def _single_row(item: Mapping[str, Any], v: Verdict) -> dict[str, Any]:
    from nb_mlops.evals.judge import conversation

    conv = conversation(item)
    return {
        "id": str(item.get("id")),
        "model": str(item.get("model") or ANSWERS),
        "question": conv.user[-1],
        "prediction": conv.assistant[-1],
        "turns": conv.turns,
        "reference": conv.reference[-1],
        "rating": v.rating,
        "rationale": v.rationale,
        "attempts": v.attempts,
        "version": v.version,
        "error": v.error,
    }


def judge_pairs(
    ws: Workspace,
    judge: Judge,
    items: Sequence[Mapping[str, Any]],
    *,
    source: Any = None,
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> JudgeResult:
    """Compare each item's two replies (both orders) and log one eval run of the verdicts."""
    import pandas as pd

    for i, item in enumerate(items):
        for key in ("model_a", "model_b"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise EvalError(
                    f"item {item.get('id', i)}: no {key} (the name of that reply's model)"
                )
        if item["model_a"] == item["model_b"]:
            raise EvalError(
                f"item {item.get('id', i)}: model_a and model_b are both {item['model_a']!r}"
            )
    verdicts = judge.compare(items)
    frame = pd.DataFrame([_pair_row(item, v) for item, v in zip(items, verdicts, strict=True)])
    consistency = position_consistency(frame)
    scores = win_rates(frame)
    run_scores = {
        "position_inconsistency": {
            "score": consistency["rate"],
            "n": consistency["judged"],
            "method": "share of pairs whose verdict changed when the replies swapped places",
        }
    }
    models = sorted({*frame["model_a"], *frame["model_b"]})
    run = _log(
        ws,
        judge,
        task="judge-pair",
        identity=judge.identity,
        source=source if source is not None else list(items),
        items=list(items),
        frame=frame,
        scores=run_scores if consistency["judged"] else {},
        name=name or f"judge-pair-{_short(' vs '.join(models))}",
        experiment=experiment,
        tags=tags,
        extra={"consistency": consistency, "win_rates": scores},
    )
    return JudgeResult(
        "pair",
        judge.identity.to_dict(),
        judge.prompt_record(),
        frame,
        scores,
        [run],
        consistency,
    )


def _pair_row(item: Mapping[str, Any], v: Verdict) -> dict[str, Any]:
    from nb_mlops.evals.judge import conversation

    a, b = conversation(item, "a"), conversation(item, "b")
    first, swapped = v.first or {}, v.swapped or {}
    return {
        "id": str(item.get("id")),
        "question": a.user[-1],
        "model_a": str(item["model_a"]),
        "model_b": str(item["model_b"]),
        "answer_a": a.assistant[-1],
        "answer_b": b.assistant[-1],
        "reference": a.reference[-1],
        "winner": v.winner,
        "prediction": _winner_text(item, v.winner),
        "verdict_as_shown": first.get("verdict"),
        "verdict_swapped": swapped.get("verdict"),
        "inconsistent": v.inconsistent if v.ok else None,
        "rationale": v.rationale,
        "attempts": v.attempts,
        "version": v.version,
        "error": v.error,
    }


def _winner_text(item: Mapping[str, Any], winner: str | None) -> str | None:
    if winner is None:
        return None
    return "tie" if winner == "tie" else str(item[f"model_{winner}"])


def position_consistency(frame: Any) -> dict[str, Any]:
    """How often the verdict changed with the replies' order, and which position it favoured."""
    ok = frame[~frame["error"].map(_is_error)]
    judged = len(ok)
    inconsistent = int(ok["inconsistent"].astype(bool).sum()) if judged else 0
    first = 0
    for _, row in ok[ok["inconsistent"].astype(bool)].iterrows() if judged else []:
        # "A" both times: the reply shown first won each time
        if row["verdict_as_shown"] == "A" and row["verdict_swapped"] == "A":
            first += 1
    return {
        "pairs": len(frame),
        "judged": judged,
        "inconsistent": inconsistent,
        "rate": inconsistent / judged if judged else None,
        "favoured_first": first,
    }


def win_rates(frame: Any) -> dict[str, dict[str, Any]]:
    """Per model: wins, ties, losses and the win rate (ties half) with a normal 95% interval."""
    from nb_mlops.evals.bootstrap import mean_ci

    points: dict[str, list[float]] = {}
    counts: dict[str, dict[str, int]] = {}
    ok = frame[~frame["error"].map(_is_error)]
    for _, row in ok.iterrows():
        for side in ("a", "b"):
            model = str(row[f"model_{side}"])
            c = counts.setdefault(model, {"wins": 0, "ties": 0, "losses": 0})
            if row["winner"] == "tie":
                c["ties"] += 1
                points.setdefault(model, []).append(0.5)
            elif row["winner"] == side:
                c["wins"] += 1
                points.setdefault(model, []).append(1.0)
            else:
                c["losses"] += 1
                points.setdefault(model, []).append(0.0)
    out = {}
    for model in sorted(counts):
        ci = mean_ci(points[model])
        out[model] = {
            "score": ci["mean"],
            "low": max(0.0, ci["low"]),  # a rate lives in 0-1
            "high": min(1.0, ci["high"]),
            "n": ci["n"],
            **counts[model],
            "method": "win rate, ties counted half",
        }
    return out


# ---------------------------------------------------------------------------- logging
def _log(
    ws: Workspace,
    judge: Judge,
    *,
    task: str,
    identity: ModelIdentity,
    source: Any,
    items: list[Mapping[str, Any]],
    frame: Any,
    scores: dict[str, dict[str, Any]],
    name: str,
    experiment: str | None,
    tags: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    from nb_mlops.evals.run import record_eval

    params = {f"judge.{k}": v for k, v in judge.identity.to_dict().items() if isinstance(v, str)}
    params["judge.prompt_version"] = judge.single.version
    params["judge.lang"] = judge.lang
    result = record_eval(
        ws,
        identity=identity,
        source=source,
        items=items,
        task=task,
        scores=scores,
        frame=frame,
        name=name,
        experiment=experiment,
        tags=tags,
        params=params,
        extra={"judge": judge.to_dict(), **dict(extra or {})},
    )
    return result.run_id


def _short(text: str) -> str:
    keep = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
    return keep.strip("-")[:40] or "answers"


def battles_from_runs(ws: Workspace, runs: Sequence[str]) -> Any:
    """Arena battles (model_a, model_b, winner, judge) from pairwise judging runs' verdicts."""
    import pandas as pd

    from nb_mlops.evals.scoreboard import examples
    from nb_mlops.tracking.query import resolve_run

    parts = []
    for run in runs:
        doc = resolve_run(ws, run)
        record = doc.get("eval") or {}
        if record.get("task") != "judge-pair":
            raise EvalError(
                f"run {doc['run_id']} holds no pairwise verdicts (task {record.get('task')})"
            )
        frame = examples(ws, doc["run_id"])
        ok = frame[~frame["error"].map(_is_error)]
        part = ok[["id", "model_a", "model_b"]].copy()
        part["winner"] = ok["winner"].map({"a": "model_a", "b": "model_b", "tie": "tie"})
        part["judge"] = ModelIdentity.from_dict(record.get("model") or {}).label
        part["run"] = doc["run_id"]
        parts.append(part)
    if not parts:
        raise EvalError("give one pairwise judging run or more")
    return pd.concat(parts, ignore_index=True)
