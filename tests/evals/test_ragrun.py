"""`nm.evaluate_rag` and `nb-mlops rag`: RAG measures logged as an eval run whose items keep
their explanations, shown on the scoreboard and in its drill-down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, cli_json

import nb_mlops as nm
from nb_mlops.evals.model import EvalError
from nb_mlops.notebook.widgets.scoreboard import ScoreboardWidget

ITEMS = [
    {
        "id": "eiffel",
        "question": "How tall is the Eiffel Tower?",
        "answer": "The Eiffel Tower is 330 metres tall. It was finished in 1999.",
        "contexts": [
            "The Eiffel Tower is 330 metres tall and stands in Paris.",
            "Bananas are rich in potassium and grow in the tropics.",
        ],
    },
    {
        "id": "seoul",
        "question": "What is the capital of South Korea?",
        "answer": "Seoul is the capital of South Korea.",
        "contexts": ["Seoul is the capital and largest city of South Korea."],
    },
]


def test_evaluate_rag_logs_a_run_with_explanations(ws) -> None:
    result = nm.evaluate_rag(ITEMS, system="wiki-rag")
    assert result.run_id
    assert result.score("faithfulness") == pytest.approx((0.5 + 1.0) / 2)
    assert result.score("context_relevance") == pytest.approx((0.5 + 1.0) / 2)
    doc = nm.get_run(result.run_id).to_dict()
    assert doc["eval"]["task"] == "rag" and doc["eval"]["model"]["name"] == "wiki-rag"
    assert doc["eval"]["rag"]["methods"]["faithfulness"].startswith("lexical")
    assert doc["params"]["rag.method"] == "lexical"
    assert doc["metrics"]["faithfulness"] == pytest.approx(0.75)
    frame = nm.eval_examples(result.run_id).to_frame()
    eiffel = frame[frame["id"] == "eiffel"].iloc[0]
    assert "1999" in eiffel["unsupported"] and "chunk 2" in eiffel["explanation"]
    [row] = nm.eval_scoreboard().rows
    assert row["label"] == "wiki-rag" and row["task"] == "rag"
    widget = ScoreboardWidget(nm.eval_scoreboard())
    assert "It was finished in 1999." in widget.items.value


def test_regressions_between_two_rag_runs_use_faithfulness(ws) -> None:
    good = [dict(ITEMS[0], answer="The Eiffel Tower is 330 metres tall."), ITEMS[1]]
    first = nm.evaluate_rag(good, system="v1")
    second = nm.evaluate_rag(ITEMS, system="v2")
    found = nm.eval_regressions(first.run_id, second.run_id)
    assert found.criterion == "faithfulness >= 1"
    assert [r["id"] for r in found.to_dict()["regressed"]] == ["eiffel"]


def test_evaluate_rag_errors_name_the_fault(ws) -> None:
    with pytest.raises(EvalError, match="contexts"):
        nm.evaluate_rag([{"question": "q", "answer": "a"}])
    with pytest.raises(EvalError, match="method="):
        nm.evaluate_rag(ITEMS, method="magic")
    assert len(nm.runs()) == 0  # nothing half-logged


def test_cli_rag_reads_a_file(project: Path) -> None:
    path = project / "rag.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in ITEMS), encoding="utf-8")
    out = cli_json(project, "rag", "rag.jsonl", "--system", "cli-rag")
    assert out["run_id"] and out["scores"]["faithfulness"]["score"] == pytest.approx(0.75)
    bad = cli(project, "rag", "rag.jsonl", "--method", "judge")
    assert bad.returncode != 0 and "--method judge needs --judge" in bad.stderr
    wrong = cli(project, "rag", "rag.jsonl", "--threshold", "claim")
    assert wrong.returncode != 0 and "NAME=NUMBER" in wrong.stderr
