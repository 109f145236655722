"""The eval scoreboard: models x metrics with intervals, items side by side, regressions.

Rows are evaluation runs (the latest per model identity, dataset and task unless `latest=False`).
A model is its identity, not its name: two evaluations of one name whose reported versions or
weights fingerprints differ are two rows, and the later row names what changed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.evals.model import EvalError, ModelIdentity
from nb_mlops.evals.run import EXAMPLES_TABLE, format_score
from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

MAX_HTML_ROWS = 100
"""Rows the static HTML shows; the rest are counted (`to_dict` has them all)."""


@dataclass(repr=False)
class Scoreboard(Result):
    """Evaluation runs as rows: model, dataset, task, one column per metric."""

    rows: list[dict[str, Any]]
    metrics: list[str]
    filter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"filter": self.filter, "metrics": list(self.metrics), "rows": list(self.rows)}

    def _table(self) -> tuple[list[str], list[list[str]]]:
        header = ["model", "dataset", "n", *self.metrics, "run", "changed"]
        body = []
        for row in self.rows:
            cells = [row["label"], row["dataset"], str(row["n"])]
            cells += [format_score(row["scores"].get(m) or {}) for m in self.metrics]
            cells += [row["run_id"], "; ".join(row["differences"])]
            body.append(cells)
        return header, body

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        if not self.rows:
            return _EMPTY
        header, body = self._table()
        return text_table(header, body, max_width=60)

    def to_html(self) -> str:
        if not self.rows:
            return f"<div class='nbm-scoreboard'>{html.escape(_EMPTY)}</div>"
        header, body = self._table()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        lines = []
        for row, cells in zip(self.rows[:MAX_HTML_ROWS], body[:MAX_HTML_ROWS], strict=False):
            title = html.escape(_identity_title(row["model"]), quote=True)
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            lines.append(f"<tr title='{title}'>{tds}</tr>")
        more = len(self.rows) - MAX_HTML_ROWS
        tail = (
            f"<div class='nbm-more'>{more:,} more rows: nm.evals.scoreboard().to_dict() "
            "has them all</div>"
            if more > 0
            else ""
        )
        return (
            "<div class='nbm-scoreboard'><table class='nbm-table'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>{tail}</div>"
        )


_EMPTY = "no evaluations yet: run nm.evaluate(model, dataset) or %track eval MODEL DATASET"


def _identity_title(model: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in model.items() if v not in (None, {}, ""))


def eval_runs(ws: Workspace, filter: str | None = None) -> list[dict[str, Any]]:
    """Finished evaluation runs matching `filter`, oldest first."""
    from nb_mlops.tracking.query import select_runs

    docs = [d for d in select_runs(ws, filter) if isinstance(d.get("eval"), dict)]
    docs = [d for d in docs if d.get("status") == "finished"]
    docs.sort(key=lambda d: d.get("start") or "")
    return docs


def scoreboard(ws: Workspace, filter: str | None = None, *, latest: bool = True) -> Scoreboard:
    """The scoreboard of the evaluation runs matching `filter` (an MLflow-style run filter)."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str, str], int] = {}
    by_name: dict[tuple[str, str, str, str], ModelIdentity] = {}
    metrics: list[str] = []
    for doc in eval_runs(ws, filter):
        record = doc["eval"]
        identity = ModelIdentity.from_dict(record.get("model") or {})
        dataset = record.get("dataset") or {}
        task = str(record.get("task"))
        scores = record.get("scores") or {}
        for metric in scores:
            if metric not in metrics:
                metrics.append(metric)
        family = (identity.provider, identity.name, str(dataset.get("hash")), task)
        before = by_name.get(family)
        # what changed since the earlier evaluation of the same name on the same data
        differences = before.differences(identity) if before is not None else []
        by_name[family] = identity
        row = {
            "run_id": doc["run_id"],
            "run_name": doc.get("name"),
            "start": doc.get("start"),
            "label": identity.label,
            "model": identity.to_dict(),
            "dataset": str(dataset.get("name")),
            "dataset_hash": dataset.get("hash"),
            "task": task,
            "n": int(record.get("n") or 0),
            "scores": scores,
            "errors": int(record.get("errors") or 0),
            "differences": differences,
            "version_change": (record.get("versions") or {}).get("change"),
        }
        key = (identity.key() + repr(sorted(identity.settings.items())), *family[2:])
        if latest and key in groups:
            rows[groups[key]] = row
        else:
            groups[key] = len(rows)
            rows.append(row)
    return Scoreboard(rows, metrics, filter=filter)


# -------------------------------------------------------------------------- items
@dataclass(repr=False)
class ItemTable(Result):
    """Per-item rows of evaluations (one run's, or several side by side) as a result."""

    title: str
    frame: Any

    def to_frame(self) -> Any:
        return self.frame.copy()

    def to_dict(self) -> dict[str, Any]:
        rows = self.frame.astype(object).where(self.frame.notna(), None).to_dict("records")
        return {"title": self.title, "rows": rows}

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        shown = self.frame.head(MAX_HTML_ROWS)
        rows = [["" if v is None else str(v) for v in r] for r in shown.astype(object).values]
        text = f"{self.title}\n" + text_table([str(c) for c in self.frame.columns], rows)
        if len(self.frame) > MAX_HTML_ROWS:
            text += f"\n... {len(self.frame) - MAX_HTML_ROWS:,} more rows"
        return text

    def to_html(self) -> str:
        shown = self.frame.head(MAX_HTML_ROWS)
        table = shown.to_html(escape=True, index=False, border=0, classes="nbm-table")
        more = len(self.frame) - len(shown)
        tail = f"<div class='nbm-more'>{more:,} more rows</div>" if more > 0 else ""
        return f"<div class='nbm-items'><b>{html.escape(self.title)}</b>{table}{tail}</div>"


def item_table(ws: Workspace, run: str) -> ItemTable:
    """One evaluation run's per-item rows as a result."""
    frame = examples(ws, run)
    return ItemTable(f"items of evaluation run {run}", frame)


def examples(ws: Workspace, run: str) -> Any:
    """The per-item rows of one evaluation run (a DataFrame)."""
    from nb_mlops.tracking.media import load_table
    from nb_mlops.tracking.query import resolve_run

    doc = resolve_run(ws, run)
    if not isinstance(doc.get("eval"), dict):
        raise EvalError(f"run {doc.get('name')} ({doc['run_id']}) is not an evaluation")
    record = next((t for t in doc.get("tables") or [] if t.get("name") == EXAMPLES_TABLE), None)
    if record is None:
        raise EvalError(f"run {doc['run_id']} keeps no {EXAMPLES_TABLE} table")
    return load_table(ws, record)


@dataclass(repr=False)
class Regressions(Result):
    """Items one evaluation got right and a later one got wrong (and the reverse)."""

    a: dict[str, Any]
    b: dict[str, Any]
    criterion: str
    regressed: list[dict[str, Any]] = field(default_factory=list)
    improved: list[dict[str, Any]] = field(default_factory=list)
    common: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": dict(self.a),
            "b": dict(self.b),
            "criterion": self.criterion,
            "common": self.common,
            "regressed": list(self.regressed),
            "improved": list(self.improved),
        }

    def summary(self) -> str:
        return (
            f"{self.a['label']} -> {self.b['label']}: {len(self.regressed)} of {self.common} "
            f"items went from right to wrong, {len(self.improved)} from wrong to right "
            f"({self.criterion})"
        )

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        lines = [self.summary()]
        if self.regressed:
            rows = [[r["id"], r["input"], r["a"], r["b"], r["expected"]] for r in self.regressed]
            lines.append(text_table(["item", "input", "before", "after", "expected"], rows))
        return "\n".join(lines)

    def to_html(self) -> str:
        head = html.escape(self.summary())
        if not self.regressed:
            return f"<div class='nbm-regressions'><b>{head}</b></div>"
        header = "".join(f"<th>{h}</th>" for h in ("item", "input", "before", "after", "expected"))
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(r[k]))}</td>" for k in ("id", "input", "a", "b", "expected")
            )
            + "</tr>"
            for r in self.regressed[:MAX_HTML_ROWS]
        )
        return (
            f"<div class='nbm-regressions'><b>{head}</b><table class='nbm-table'>"
            f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>"
        )


def _side(ws: Workspace, run: str) -> tuple[dict[str, Any], Any]:
    from nb_mlops.tracking.query import resolve_run

    doc = resolve_run(ws, run)
    record = doc.get("eval")
    if not isinstance(record, dict):
        raise EvalError(f"run {doc.get('name')} ({doc['run_id']}) is not an evaluation")
    identity = ModelIdentity.from_dict(record.get("model") or {})
    info = {
        "run_id": doc["run_id"],
        "label": identity.label,
        "task": record.get("task"),
        "dataset_hash": (record.get("dataset") or {}).get("hash"),
    }
    return info, examples(ws, doc["run_id"])


def right_column(frame: Any, task: str, threshold: float | None) -> tuple[str, Any]:
    """Which per-item column says "right", and the right/wrong flags of every row."""
    import pandas as pd

    if task == "choice":
        return "picked the gold choice (acc)", frame["correct"].map(_truthy)
    for metric, default in (("exact_match", 1.0), ("f1", 0.5)):
        if metric in frame:
            limit = default if threshold is None else threshold
            return f"{metric} >= {limit:g}", pd.to_numeric(frame[metric]) >= limit
    for metric, default in (("rating", 7.0), ("faithfulness", 1.0)):  # judge grades, RAG
        if metric in frame:
            limit = default if threshold is None else threshold
            return f"{metric} >= {limit:g}", pd.to_numeric(frame[metric]) >= limit
    for metric in ("bleu", "chrf", "rougeL", "rouge1", "rougeLsum", "rouge2"):
        if metric in frame:
            limit = (
                (50.0 if metric in ("bleu", "chrf") else 0.5) if threshold is None else threshold
            )
            return f"{metric} >= {limit:g}", pd.to_numeric(frame[metric]) >= limit
    raise EvalError("these evaluations keep no per-item score to compare")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "1.0")


def regressions(ws: Workspace, a: str, b: str, *, threshold: float | None = None) -> Regressions:
    """Items run `a` got right and run `b` got wrong (matched by item id; same dataset)."""
    info_a, frame_a = _side(ws, a)
    info_b, frame_b = _side(ws, b)
    if info_a["task"] != info_b["task"]:
        raise EvalError(
            f"runs {info_a['run_id']} and {info_b['run_id']} are different tasks "
            f"({info_a['task']}, {info_b['task']})"
        )
    task = str(info_a["task"])
    criterion, right_a = right_column(frame_a, task, threshold)
    _, right_b = right_column(frame_b, task, threshold)
    errors_b = _error_ids(frame_b)
    index_b = {str(i): n for n, i in enumerate(frame_b["id"])}
    out = Regressions(info_a, info_b, criterion)
    for n, item in enumerate(frame_a["id"]):
        m = index_b.get(str(item))
        if m is None or str(item) in errors_b or str(item) in _error_ids(frame_a):
            continue
        out.common += 1
        was, now = bool(right_a.iloc[n]), bool(right_b.iloc[m])
        if was == now:
            continue
        row = {
            "id": str(item),
            "input": _input(frame_a.iloc[n]),
            "a": _answer(frame_a.iloc[n], task),
            "b": _answer(frame_b.iloc[m], task),
            "expected": _expected(frame_a.iloc[n], task),
        }
        (out.regressed if was else out.improved).append(row)
    return out


def _error_ids(frame: Any) -> set[str]:
    if "error" not in frame:
        return set()
    return {str(i) for i, e in zip(frame["id"], frame["error"], strict=True) if _is_error(e)}


def _is_error(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _input(row: Any) -> str:
    for key in ("question", "prompt", "text"):
        if key in row and row[key] is not None:
            return str(row[key])
    return ""


def _answer(row: Any, task: str) -> str:
    if task == "choice":
        for key in ("picked_text", "picked", "answer"):
            if key in row and row[key] is not None:
                return str(row[key])
        return ""
    answer = "" if row.get("prediction") is None else str(row["prediction"])
    for key in ("explanation", "rationale"):  # why a judge or a RAG measure decided so
        note = row.get(key)
        if isinstance(note, str) and note:
            return f"{answer} — {note}" if answer else note
    return answer


def _expected(row: Any, task: str) -> str:
    for key in ("gold_text", "gold", "reference"):
        if key in row and row[key] is not None:
            return str(row[key])
    return ""


def side_by_side(ws: Workspace, runs: Sequence[str]) -> ItemTable:
    """The items of several evaluation runs of one dataset, one column per run's answer."""
    import pandas as pd

    if len(runs) < 2:
        raise EvalError("side by side needs two evaluation runs or more")
    sides = [_side(ws, r) for r in runs]
    tasks = {str(info["task"]) for info, _ in sides}
    if len(tasks) > 1:
        raise EvalError(f"these runs are different tasks: {', '.join(sorted(tasks))}")
    task = tasks.pop()
    first = sides[0][1]
    out = pd.DataFrame(
        {
            "id": first["id"].astype(str),
            "input": [_input(r) for _, r in first.iterrows()],
            "expected": [_expected(r, task) for _, r in first.iterrows()],
        }
    )
    for info, frame in sides:
        answers = {str(r["id"]): _answer(r, task) for _, r in frame.iterrows()}
        label = f"{info['label']} [{info['run_id']}]"
        out[label] = out["id"].map(answers)
    return ItemTable(f"answers of {len(sides)} evaluation runs side by side", out)
