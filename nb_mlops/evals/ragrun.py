"""A RAG evaluation as a run: the three measures with intervals, one row per item with its
explanation (which claim was unsupported, which chunk was off the point), on the scoreboard."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nb_mlops.evals.model import ModelIdentity
from nb_mlops.evals.rag import RagResult, rag_scores
from nb_mlops.store.workspace import Workspace

LIST_COLUMNS = ("contexts", "claims", "chunks")


def evaluate_rag(
    ws: Workspace,
    items: Any,
    *,
    system: str = "rag",
    name: str | None = None,
    experiment: str | None = None,
    tags: Mapping[str, Any] | None = None,
    **options: Any,
) -> RagResult:
    """Score RAG items (`rag_scores` with `options`) and log them as an eval run of `system`
    (the RAG pipeline under test: the scoreboard row's name), task "rag"."""
    from nb_mlops.evals.datasets import read_rows
    from nb_mlops.evals.run import record_eval

    source = items
    if isinstance(items, str | os.PathLike):
        items = [row.data for row in read_rows(items)]
    result = rag_scores(items, **options)
    record = result.to_dict()
    record.pop("items")
    record.pop("run_id")
    params: dict[str, Any] = {"rag.method": result.method, "rag.lang": result.lang}
    for key, value in (result.judge or {}).items():
        if isinstance(value, str):
            params[f"judge.{key}"] = value
    logged = record_eval(
        ws,
        identity=ModelIdentity(provider="rag", name=system),
        source=source if isinstance(source, str | os.PathLike) else list(items),
        items=[{"id": r["id"]} for r in result.rows],
        task="rag",
        scores=result.scores,
        frame=result.frame(),
        name=name or f"rag-{system}",
        experiment=experiment,
        tags=tags,
        params=params,
        extra={"rag": {k: v for k, v in record.items() if k not in ("scores", "n", "errors")}},
    )
    result.run_id = logged.run_id
    return result
