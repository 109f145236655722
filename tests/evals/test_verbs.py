"""The issue-14 verbs as users call them: `nm.annotate`, `nm.rater_agreement`,
`nm.judge_agreement`, `nm.arena`, and their CLI commands (one command table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, cli_json

import nb_mlops as nm
from nb_mlops.evals.judge import Judge
from nb_mlops.evals.model import EvalError

PAIRS = [
    {
        "id": f"q{i}",
        "question": f"question {i}",
        "answer_a": f"good answer {i}",
        "answer_b": f"weak answer {i}",
        "model_a": "alpha",
        "model_b": "beta",
    }
    for i in range(6)
]


def prefers_good(prompt: str, **options: object) -> str:
    """A stand-in judge: the reply with the word 'good' wins, wherever it is shown."""
    a = prompt.split("### Assistant A:")[-1].split("[End of conversation A]")[0]
    return "[[A]]" if "good" in a else "[[B]]"


def test_annotate_creates_then_resumes_a_task(ws) -> None:
    session = nm.annotate("pairs", PAIRS, rater="alice")
    assert session.task.mode == "pairwise"  # the judge's field names are understood
    assert session.task.item("q0")["response_a"] == "good answer 0"
    session.task.record("alice", "q0", {"choice": "a"})
    again = nm.annotate("pairs", rater="alice")
    assert again.task.next_item("alice") == "q1"
    assert "1 of 6" in again.to_text()


def test_judge_agreement_with_humans_with_and_without_ties(ws) -> None:
    task = nm.annotate("pairs", PAIRS, rater="alice").task
    for i in range(6):  # alice agrees with the judge on 4, ties once, disagrees once
        choice = {4: "tie", 5: "b"}.get(i, "a")
        task.record("alice", f"q{i}", {"choice": choice})
    judged = nm.judge(Judge(prefers_good), PAIRS)
    table = nm.judge_agreement(judged, "pairs")
    frame = table.frame()
    row = frame[(frame["judge"] == judged.judge_label) & (frame["other"] == "human:alice")]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["agreement_with_ties"] == pytest.approx(4 / 6)
    assert row["agreement_without_ties"] == pytest.approx(4 / 5)
    by_run = nm.judge_agreement(judged.runs[0], "pairs").frame()
    assert by_run.equals(frame)


def test_rater_agreement_uses_kappa_and_alpha(ws) -> None:
    items = [{"id": str(i), "prompt": f"p{i}", "response": f"r{i}"} for i in range(5)]
    task = nm.annotate("ratings", items, rater="a", criteria=["fluency"]).task
    for i, (x, y) in enumerate([(1, 1), (2, 2), (3, 3), (4, 5), (5, 5)]):
        task.record("a", str(i), {"fluency": x})
        task.record("b", str(i), {"fluency": y})
    agreement = nm.rater_agreement("ratings")
    [fluency] = agreement.frame().to_dict("records")
    assert fluency["level"] == "ordinal" and fluency["percent_agreement"] == pytest.approx(0.8)
    assert 0.8 < fluency["alpha"] < 1.0
    text = agreement.to_text()
    assert "fluency" in text and "alpha" in text.lower() and "kappa" in text.lower()


def test_arena_from_judge_results_runs_and_rows(ws) -> None:
    judged = nm.judge(Judge(prefers_good), PAIRS)
    ratings = nm.arena(judged, bootstrap=50)
    assert list(ratings.ratings.index) == ["alpha", "beta"]
    by_run = nm.arena(runs=judged.runs, bootstrap=50)
    assert by_run.ratings.round(6).equals(ratings.ratings.round(6))
    rows = [{"model_a": "x", "model_b": "y", "winner": "model_a"}] * 3 + [
        {"model_a": "x", "model_b": "y", "winner": "model_b"}
    ]
    online = nm.arena(rows, method="elo")
    assert online.ratings["x"] > online.ratings["y"]
    with pytest.raises(EvalError, match="method 'glicko'"):
        nm.arena(rows, method="glicko")
    with pytest.raises(EvalError, match="arena needs battles or runs"):
        nm.arena()


def test_cli_annotate_agreement_and_arena(project: Path) -> None:
    path = project / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in PAIRS), encoding="utf-8")
    made = cli_json(project, "annotate", "pairs", "pairs.jsonl", "--rater", "alice")
    assert made["rater"] == "alice" and made["total"] == 6 and made["next_item"] == "q0"
    needs = cli(project, "annotate", "pairs")
    assert needs.returncode != 0 and "annotate needs --rater" in needs.stderr
    battles = project / "battles.csv"
    battles.write_text(
        "model_a,model_b,winner\n" + "x,y,model_a\n" * 5 + "x,y,tie\ny,x,model_b\n",
        encoding="utf-8",
    )
    ratings = cli_json(project, "arena", "battles.csv", "--bootstrap", "20")
    assert ratings["ratings"]["x"] > ratings["ratings"]["y"]
    elo = cli(project, "arena", "battles.csv", "--elo", "--k", "16")
    assert elo.returncode == 0 and "K=16" in elo.stdout
    bad = cli(project, "arena", "battles.csv", "--k", "16")
    assert bad.returncode != 0 and "--k goes with --elo" in bad.stderr
    wrong = project / "wrong.csv"
    wrong.write_text("model_a,model_b,winner\nx,y,model_c\n", encoding="utf-8")
    refused = cli(project, "arena", "wrong.csv")
    assert refused.returncode != 0 and "model_c" in refused.stderr
