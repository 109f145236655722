"""An evaluation as a run: ask a model about a dataset, score it, keep everything with its identity.

`evaluate` resolves the model, probes which version it serves now, asks it (through the answer
cache) about every item, scores the answers, and logs one run: the model's identity, the
dataset's hash (and data version when the file is snapshotted), one row per item (inputs,
outputs, scores, errors) as a table, and each score as a metric with its confidence interval.
Answers that failed are listed as errors and never scored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.evals.cache import CachedAdapter, EvalCache
from nb_mlops.evals.model import Adapter, EvalError, ModelIdentity, Reply, as_adapter
from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

CHOICE_METRICS = ("acc", "acc_norm")
TEXT_METRICS = ("bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "f1")
CORPUS_METRICS = ("bleu", "chrf")
"""Scores of the whole corpus (not a mean of items): their intervals come from a bootstrap."""
DEFAULT_TEXT_METRICS = ("bleu", "chrf", "rougeL")
EXAMPLES_TABLE = "eval-examples"
KIND_TAG = "nbmlops.kind"


@dataclass(repr=False)
class EvalResult(Result):
    """One evaluation: the model as identified, the scores with intervals, the items' rows."""

    run_id: str
    run_name: str
    identity: ModelIdentity
    dataset: dict[str, Any]
    task: str
    n: int
    scores: dict[str, dict[str, Any]]
    errors: int = 0
    unparsed: int = 0
    versions: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=dict)
    examples: Any = None
    """The per-item rows as a pandas DataFrame (also kept with the run as a table)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What a kind of evaluation adds to the record (a judge's identity and prompts, methods)."""

    def score(self, metric: str) -> float:
        return float(self.scores[metric]["score"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "model": self.identity.to_dict(),
            "dataset": dict(self.dataset),
            "task": self.task,
            "n": self.n,
            "scores": {k: dict(v) for k, v in self.scores.items()},
            "errors": self.errors,
            "unparsed": self.unparsed,
            "versions": dict(self.versions),
            "cache": dict(self.cache),
            **self.extra,
        }

    def _lines(self) -> list[str]:
        from nb_mlops.text import plural

        head = (
            f"eval {self.run_name} ({self.run_id}): {self.identity.label} on "
            f"{self.dataset.get('name')}, {plural(self.n, 'item')} scored"
        )
        lines = [head]
        for metric, s in self.scores.items():
            lines.append(f"  {metric:<12} {format_score(s)}")
        lines.extend(f"  note: {note}" for note in self.notes())
        return lines

    def notes(self) -> list[str]:
        """What a reader must know beside the scores: errors, unparsed answers, versions."""
        from nb_mlops.text import plural

        notes = []
        if self.errors:
            notes.append(f"{plural(self.errors, 'item')} failed (listed as errors, not scored)")
        if self.unparsed:
            notes.append(f"{plural(self.unparsed, 'answer')} could not be parsed (counted wrong)")
        change = self.versions.get("change")
        if change:
            notes.append(change)
        if self.cache.get("hits"):
            notes.append(
                f"{self.cache['hits']} answers from the cache, {self.cache.get('asked', 0)} asked"
            )
        return notes

    def to_text(self) -> str:
        return "\n".join(self._lines())

    def to_html(self) -> str:
        import html

        rows = "".join(
            f"<tr><td>{html.escape(m)}</td><td>{html.escape(format_score(s))}</td></tr>"
            for m, s in self.scores.items()
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes())
        head = html.escape(self._lines()[0])
        return (
            f"<div class='nbm-eval'><div><b>{head}</b></div>"
            f"<table class='nbm-table'><tr><th>metric</th><th>score (95% interval)</th></tr>"
            f"{rows}</table>{f'<ul>{notes}</ul>' if notes else ''}</div>"
        )


def format_score(s: Mapping[str, Any]) -> str:
    """`0.712 [0.650, 0.770]` (interval when known)."""
    score = s.get("score")
    if score is None:
        return "-"
    text = f"{score:.4g}"
    low, high = s.get("low"), s.get("high")
    if low is not None and high is not None:
        text += f" [{low:.4g}, {high:.4g}]"
    return text


# ---------------------------------------------------------------------------- evaluating
def evaluate(
    ws: Workspace,
    model: Any,
    dataset: Any,
    *,
    metrics: Sequence[str] | None = None,
    task: str | None = None,
    style: str | None = None,
    num_fewshot: int = 0,
    seed: int = 1234,
    limit: int | None = None,
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    cache: bool = True,
    progress: bool | None = None,
    lang: str | None = None,
    options: Mapping[str, Any] | None = None,
    mode: str = "auto",
    model_options: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Evaluate `model` on `dataset` and log it as a run (see the module docstring).

    `task` is "choice" (multiple choice: acc, acc_norm), "text" (generation scored against
    references) or "perplexity"; by default it follows the dataset and `metrics`. `options`
    are decoding settings (part of the identity and of every cached answer's key);
    `model_options` go to the adapter a model spec names (`concurrency`, `timeout`,
    `batch_size`, ...).
    """
    from nb_mlops.evals.datasets import load_items

    metrics = list(metrics or [])
    task = _task(task, metrics)
    if isinstance(model, str):
        adapter = as_adapter(model, workspace=ws, **dict(model_options or {}))
    elif model_options:
        raise EvalError("model_options go with a model spec (hf:, openai:, models:/, py:)")
    else:
        adapter = as_adapter(model)
    spec = model if isinstance(model, str) else None
    dataset, label = _source(ws, dataset)
    items = load_items(dataset, kind=None if task == "perplexity" else task, limit=limit)
    if not items:
        raise EvalError(f"dataset {label} has no items")
    if task is None:
        task = "choice" if "choices" in items[0] else "text"
    metrics = _metrics(task, metrics)
    identity = _probed(adapter).with_settings(dict(options or {}))
    store = EvalCache(ws) if cache else None
    cached = CachedAdapter(adapter, store, identity)
    data = _dataset_record(ws, dataset, label, items)
    show = progress if progress is not None else len(items) >= 50
    run = _start(ws, name, experiment, tags, identity, spec, data, task, metrics, num_fewshot, seed)
    with run:  # ends the run: finished, or failed/interrupted with the error
        try:
            run.ws.catalog.set("runs", run.run_id, {"caches": sorted(cached.keys)})
            if task == "choice":
                scored = _choice(cached, items, style, num_fewshot, seed, mode, show)
            elif task == "perplexity":
                scored = _perplexity(adapter, items, show)
            else:
                scored = _text(cached, items, metrics, lang, dict(options or {}), seed, show)
            versions = _versions(cached.seen, identity)
            result = EvalResult(
                run_id=run.run_id,
                run_name=run.name,
                identity=identity,
                dataset=data,
                task=task,
                n=scored.n,
                scores=scored.scores,
                errors=scored.errors,
                unparsed=scored.unparsed,
                versions=versions,
                cache={"hits": cached.hits, "asked": cached.asked},
                examples=scored.frame,
            )
            _log(run, result, sorted(cached.keys))
        finally:
            cached.close()
    return result


def record_eval(
    ws: Workspace,
    *,
    identity: ModelIdentity,
    source: Any,
    items: list[Mapping[str, Any]],
    task: str,
    scores: dict[str, dict[str, Any]],
    frame: Any,
    name: str,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Log an evaluation scored elsewhere (judge grades, RAG measures) as an eval run: the same
    record, metrics and per-item table as `evaluate`, so the scoreboard shows it. `source` is
    what the items were read from (a file, or the items themselves)."""
    source, label = _source(ws, source)
    data = _dataset_record(ws, source, label, [dict(i) for i in items])
    errors = sum(_errors(frame)) if frame is not None else 0
    run = _start(ws, name, experiment, tags, identity, None, data, task, list(scores), 0, 0, params)
    with run:
        result = EvalResult(
            run_id=run.run_id,
            run_name=run.name,
            identity=identity,
            dataset=data,
            task=task,
            n=len(items) - errors,
            scores=scores,
            errors=errors,
            examples=frame,
            extra=dict(extra or {}),
        )
        _log(run, result, [])
    return result


def _task(task: str | None, metrics: list[str]) -> str | None:
    if task is not None and task not in ("choice", "text", "perplexity"):
        raise EvalError(f"task {task!r}: choose choice, text or perplexity")
    if task is None and metrics:
        if "perplexity" in metrics:
            return "perplexity"
        if set(metrics) <= set(CHOICE_METRICS):
            return "choice"
        if set(metrics) <= set(TEXT_METRICS) | {"rouge"}:
            return "text"
    return task


def _metrics(task: str, metrics: list[str]) -> list[str]:
    known = {
        "choice": CHOICE_METRICS,
        "text": (*TEXT_METRICS, "rouge"),
        "perplexity": ("perplexity",),
    }[task]
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise EvalError(f"metric {unknown[0]!r} does not apply to a {task} task: use {known}")
    if not metrics:
        metrics = {
            "choice": list(CHOICE_METRICS),
            "text": list(DEFAULT_TEXT_METRICS),
            "perplexity": ["perplexity"],
        }[task]
    out: list[str] = []
    for m in metrics:
        for name in ("rouge1", "rouge2", "rougeL", "rougeLsum") if m == "rouge" else (m,):
            if name not in out:
                out.append(name)
    return out


def _probed(adapter: Adapter) -> ModelIdentity:
    """The adapter's identity with the version it reports serving now (one probe call)."""
    version = adapter.probe()
    identity = adapter.identity
    return identity.with_version(version) if version else identity


def _source(ws: Workspace, dataset: Any) -> tuple[Any, str]:
    """What to read, and the dataset's name for the record: `sample:NAME` as the shipped
    file, a path relative to the workspace when it is inside it."""
    if isinstance(dataset, str) and dataset.startswith("sample:"):
        from nb_mlops.evals.samples import sample_path

        return sample_path(dataset.partition(":")[2]), dataset
    if isinstance(dataset, str | os.PathLike):
        full = Path(dataset).absolute()
        try:
            return dataset, full.relative_to(ws.root.absolute()).as_posix()
        except ValueError:
            return dataset, str(dataset)
    return dataset, type(dataset).__name__


def _dataset_record(
    ws: Workspace, dataset: Any, label: str, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Name, hash and size of the dataset, and its data version when the file is snapshotted."""
    from nb_mlops.evals.datasets import dataset_hash

    record: dict[str, Any] = {"name": label, "items": len(items)}
    record["hash"] = dataset_hash(dataset)
    if isinstance(dataset, str | os.PathLike) and not label.startswith("sample:"):
        version = _data_version(ws, Path(dataset))
        if version is not None:
            record.update(version)
    return record


def _data_version(ws: Workspace, path: Path) -> dict[str, Any] | None:
    """The snapshotted version whose content the file has now, if any (nothing is snapshotted)."""
    from nb_mlops.data.snapshot import adopt_dvcfile, hash_data, relpath, versions_of

    full = path if path.is_absolute() else Path.cwd() / path
    try:
        full.resolve().relative_to(ws.root.resolve())
    except ValueError:
        return None
    rel = relpath(ws, full.absolute())
    adopt_dvcfile(ws, rel)
    docs = versions_of(ws, rel)
    if not docs:
        return None
    md5 = hash_data(ws, full.absolute()).md5
    doc = next((d for d in docs if d["md5"] == md5), None)
    if doc is None:
        return None
    return {"path": rel, "version": doc["version"], "md5": doc["md5"]}


def _start(
    ws: Workspace,
    name: str | None,
    experiment: str | None,
    tags: Mapping[str, Any] | None,
    identity: ModelIdentity,
    spec: str | None,
    data: Mapping[str, Any],
    task: str,
    metrics: list[str],
    num_fewshot: int,
    seed: int,
    extra_params: Mapping[str, Any] | None = None,
) -> Any:
    from nb_mlops.tracking.run import start_run

    params: dict[str, Any] = {
        "model": spec or identity.name,
        "model.provider": identity.provider,
        "model.name": identity.name,
        "dataset": data["name"],
        "dataset.hash": data["hash"],
        "task": task,
        "metrics": ",".join(metrics),
    }
    if identity.version:
        params["model.version"] = identity.version
    if identity.fingerprint:
        params["model.fingerprint"] = identity.fingerprint
    if identity.endpoint:
        params["model.endpoint"] = identity.endpoint
    if task == "choice":
        params["num_fewshot"] = num_fewshot
        params["fewshot_seed"] = seed
    for key, value in identity.settings.items():
        params[f"decoding.{key}"] = value
    params.update(extra_params or {})
    inputs = [data] if "version" in data else None
    label = Path(str(data["name"]).partition("sample:")[2] or str(data["name"])).stem
    return start_run(
        name or f"eval-{_short(identity.name)}-{_short(label)}",
        experiment=experiment or "evals",
        tags={KIND_TAG: "eval", **dict(tags or {})},
        params=params,
        inputs=inputs,
        workspace=ws,
    )


def _short(text: str) -> str:
    text = text.rstrip("/").rsplit("/", 1)[-1] or text
    keep = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
    return keep.strip("-")[:40] or "model"


def _versions(seen: Sequence[str | None], identity: ModelIdentity) -> dict[str, Any]:
    """The versions the model reported, in order, and a note when it changed mid-way."""
    spans: list[dict[str, Any]] = []
    for i, version in enumerate(seen):
        version = version or identity.version
        if spans and spans[-1]["version"] == version:
            spans[-1]["last"] = i + 1
        else:
            spans.append({"version": version, "first": i + 1, "last": i + 1})
    out: dict[str, Any] = {"reported": sorted({str(s["version"]) for s in spans})}
    if len(out["reported"]) > 1:
        parts = ", ".join(f"{s['version']} for calls {s['first']}-{s['last']}" for s in spans[:6])
        out["spans"] = spans
        out["change"] = f"the model reported {len(out['reported'])} versions: {parts}"
    return out


# ------------------------------------------------------------------------------ scoring
@dataclass
class Scored:
    n: int
    scores: dict[str, dict[str, Any]]
    frame: Any
    errors: int = 0
    unparsed: int = 0


def _choice(
    adapter: Adapter,
    items: list[dict[str, Any]],
    style: str | None,
    num_fewshot: int,
    seed: int,
    mode: str,
    progress: bool,
) -> Scored:
    from nb_mlops.evals.bootstrap import mean_ci
    from nb_mlops.evals.choice import multiple_choice

    result = multiple_choice(
        adapter,
        items,
        style=style or "plain",
        num_fewshot=num_fewshot,
        seed=seed,
        mode=mode,
        progress=progress,
    )
    frame = result.frame()
    scores: dict[str, dict[str, Any]] = {}
    for metric, column in (("acc", "correct"), ("acc_norm", "correct_norm")):
        if getattr(result, metric, None) is None or column not in frame:
            continue
        values = [float(v) for v, e in zip(frame[column], _errors(frame), strict=True) if not e]
        ci = mean_ci(values)
        scores[metric] = {
            "score": float(getattr(result, metric)),
            "stderr": ci["stderr"],
            "low": ci["low"],
            "high": ci["high"],
            "n": ci["n"],
            "method": "mean; stderr = sample std / sqrt(n) (lm-evaluation-harness)",
        }
    return Scored(
        n=int(result.n),
        scores=scores,
        frame=frame,
        errors=len(result.errors),
        unparsed=len(result.unparsed),
    )


def _errors(frame: Any) -> list[bool]:
    if "error" not in frame:
        return [False] * len(frame)
    return [isinstance(e, str) and bool(e) for e in frame["error"]]


def _text(
    adapter: Adapter,
    items: list[dict[str, Any]],
    metrics: list[str],
    lang: str | None,
    options: dict[str, Any],
    seed: int,
    progress: bool,
) -> Scored:
    import pandas as pd

    prompts = [str(item["prompt"]) for item in items]
    replies = _generate(adapter, prompts, options, progress)
    ok = [i for i, r in enumerate(replies) if r.ok and r.text is not None]
    rows = []
    for item, reply in zip(items, replies, strict=True):
        rows.append(
            {
                "id": str(item.get("id")),
                "prompt": item["prompt"],
                "prediction": reply.text,
                "reference": _as_text(item["reference"]),
                "version": reply.version,
                "cached": reply.cached,
                "error": reply.error,
            }
        )
    frame = pd.DataFrame(rows)
    scores: dict[str, dict[str, Any]] = {}
    if ok:
        predictions = [str(replies[i].text) for i in ok]
        references = [item_refs(items[i]) for i in ok]
        for metric in metrics:
            scores[metric], per_item = _text_score(metric, predictions, references, lang, seed)
            column = [None] * len(items)
            for i, value in zip(ok, per_item, strict=True):
                column[i] = value
            frame[metric] = column
    return Scored(n=len(ok), scores=scores, frame=frame, errors=len(items) - len(ok))


def item_refs(item: Mapping[str, Any]) -> list[str]:
    ref = item["reference"]
    return [str(r) for r in ref] if isinstance(ref, list | tuple) else [str(ref)]


def _as_text(ref: Any) -> str:
    return " | ".join(str(r) for r in ref) if isinstance(ref, list | tuple) else str(ref)


def _generate(
    adapter: Adapter, prompts: list[str], options: dict[str, Any], progress: bool
) -> list[Reply]:
    chunk = 64
    if not progress or len(prompts) <= chunk:
        return adapter.generate(prompts, **options)
    from tqdm.auto import tqdm

    out: list[Reply] = []
    with tqdm(total=len(prompts), desc="generating", unit="item") as bar:
        for start in range(0, len(prompts), chunk):
            part = prompts[start : start + chunk]
            out.extend(adapter.generate(part, **options))
            bar.update(len(part))
    return out


def _text_score(
    metric: str,
    predictions: list[str],
    references: list[list[str]],
    lang: str | None,
    seed: int,
) -> tuple[dict[str, Any], list[float]]:
    from nb_mlops.evals.bootstrap import bootstrap_ci, mean_ci
    from nb_mlops.evals.metrics import METRICS

    result = METRICS[metric](predictions, references, lang=lang)
    per_item = [float(v) for v in _per_item(result, metric)]
    score = float(result.scores.get(metric, result.score)) if result.scores else result.score
    record: dict[str, Any] = {"score": float(score), "n": len(predictions)}
    record["method"] = str(result.method)
    if metric in CORPUS_METRICS:
        low, high = bootstrap_ci(len(predictions), lambda idx: result.resample(idx), seed=seed)
        record.update(low=float(low), high=float(high), interval="bootstrap 95%, 1000 resamples")
    else:
        ci = mean_ci(per_item)
        record.update(stderr=ci["stderr"], low=ci["low"], high=ci["high"], interval="normal 95%")
    return record, per_item


def _per_item(result: Any, metric: str) -> list[float]:
    per = result.per_example
    if isinstance(per, Mapping):
        return list(per[metric])
    if per and isinstance(per[0], Mapping):
        return [p[metric] for p in per]
    return list(per)


def _perplexity(adapter: Adapter, items: list[dict[str, Any]], progress: bool) -> Scored:
    import pandas as pd

    from nb_mlops.evals.ppl import perplexity

    texts = [str(item.get("text") or item.get("prompt") or "") for item in items]
    result = perplexity(adapter, texts)
    frame = pd.DataFrame(
        {
            "id": [str(item.get("id")) for item in items],
            "text": texts,
            "perplexity": list(result.per_example),
        }
    )
    score = {"score": float(result.score), "n": len(texts), "method": str(result.method)}
    return Scored(n=len(texts), scores={"perplexity": score}, frame=frame)


# ------------------------------------------------------------------------------- logging
def _log(run: Any, result: EvalResult, cache_keys: list[str]) -> None:
    """The scores as metrics, the rows as a table, the whole record in the run's `eval`."""
    for metric, s in result.scores.items():
        run.log_metric(metric, s["score"])
        if s.get("stderr") is not None:
            run.log_metric(f"{metric}_stderr", s["stderr"])
    if result.errors:
        run.log_metric("errors", result.errors)
    if result.examples is not None:
        frame = result.examples.copy()
        for column in frame.columns:
            if frame[column].dtype == object:
                frame[column] = frame[column].map(_cell)
        run.table(frame, EXAMPLES_TABLE)
    record = result.to_dict()
    record.pop("run_id")
    record.pop("run_name")
    run.ws.catalog.set("runs", run.run_id, {"eval": record, "caches": cache_keys})


def _cell(value: Any) -> Any:
    """A table cell Parquet can hold in a column of strings (lists as JSON)."""
    import json

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)
