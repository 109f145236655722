"""Judging as eval runs: grades per answering model, pairwise verdicts with position
consistency, arena battles, items taken from earlier evaluation runs, `nm.judge` and the CLI,
all against the stand-in judge served over HTTP on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli, cli_json

import nb_mlops as nm
from nb_mlops.evals.judge import Judge
from nb_mlops.evals.judging import items_from_runs, judge_answers, judge_pairs
from nb_mlops.evals.model import EvalError
from nb_mlops.evals.scoreboard import examples, scoreboard
from nb_mlops.evals.standin import VERSION, serve_standin_judge

QUESTIONS = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Which planet is the largest?", "Jupiter is the largest planet."),
    ("What gas do plants take in?", "Plants take in carbon dioxide."),
    ("Who wrote Hamlet?", "William Shakespeare wrote Hamlet."),
]
GOOD = [ref for _, ref in QUESTIONS]
BAD = ["I do not know.", "Bananas are yellow.", "Maybe water?", "A famous writer."]


@pytest.fixture(scope="module")
def standin():
    with serve_standin_judge() as server:
        yield server


@pytest.fixture(scope="module")
def biased():
    with serve_standin_judge(position_bias=True) as server:
        yield server


def graded_items() -> list[dict]:
    items = []
    for model, answers in (("good", GOOD), ("bad", BAD)):
        for i, ((q, ref), a) in enumerate(zip(QUESTIONS, answers, strict=True)):
            items.append(
                {"id": f"{model}-{i}", "question": q, "answer": a, "reference": ref, "model": model}
            )
    return items


def pair_items() -> list[dict]:
    return [
        {
            "id": str(i),
            "question": q,
            "answer_a": GOOD[i],
            "answer_b": BAD[i],
            "reference": ref,
            "model_a": "good",
            "model_b": "bad",
        }
        for i, (q, ref) in enumerate(QUESTIONS)
    ]


def test_grades_are_logged_as_one_eval_run_per_model(ws, standin) -> None:
    result = judge_answers(ws, Judge(standin.spec), graded_items())
    assert len(result.runs) == 2
    assert result.scores["good"]["score"] == 10.0  # the reference itself: full overlap
    assert result.scores["bad"]["score"] < 3.0
    assert result.scores["good"]["n"] == 4 and result.errors == 0
    board = scoreboard(ws)
    rows = {r["label"]: r for r in board.rows}
    assert set(rows) == {"good", "bad"} and rows["good"]["task"] == "judge"
    assert rows["good"]["scores"]["judge_rating"]["score"] == 10.0
    frame = examples(ws, result.runs[0])
    assert list(frame["rating"].astype(float)) == [10.0] * 4
    assert frame["rationale"].str.contains("STAND-IN JUDGE").all()
    doc = nm.get_run(result.runs[0]).to_dict()
    record = doc["eval"]
    assert record["judge"]["judge"]["version"] == VERSION
    assert record["judge"]["prompt"] == {"family": "judge", "lang": "en", "version": "1"}
    assert doc["params"]["judge.prompt_version"] == "1"


def test_pairwise_runs_give_battles_and_a_consistent_judge(ws, standin) -> None:
    result = judge_pairs(ws, Judge(standin.spec), pair_items())
    assert result.consistency["judged"] == 4 and result.consistency["inconsistent"] == 0
    battles = result.battles()
    assert list(battles["winner"]) == ["model_a"] * 4
    assert set(battles.columns) >= {"model_a", "model_b", "winner", "judge"}
    assert result.scores["good"]["wins"] == 4 and result.scores["bad"]["losses"] == 4
    votes = result.votes()
    assert list(votes.columns) == ["judge", "item", "model_a", "model_b", "winner"]
    [row] = [r for r in scoreboard(ws).rows if r["task"] == "judge-pair"]
    assert row["scores"]["position_inconsistency"]["score"] == 0.0


def test_first_position_judge_comes_out_all_ties(ws, biased) -> None:
    result = judge_pairs(ws, Judge(biased.spec), pair_items())
    assert list(result.battles()["winner"]) == ["tie"] * 4
    assert result.consistency == {
        "pairs": 4,
        "judged": 4,
        "inconsistent": 4,
        "rate": 1.0,
        "favoured_first": 4,
    }
    assert "position inconsistency 100.0%" in result.to_text()


def test_failed_verdicts_are_errors_never_scores(ws) -> None:
    def broken(prompt: str, **options: object) -> str:
        if "Bananas" in prompt:
            return "I refuse to grade."
        return "Rating: [[6]]"

    result = judge_answers(ws, Judge(broken, retries=1), graded_items())
    frame = result.frame
    failed = frame[frame["error"].notna()]
    assert len(failed) == 1 and failed.iloc[0]["id"] == "bad-1"
    assert failed.iloc[0]["rating"] is None or failed.iloc[0]["rating"] != failed.iloc[0]["rating"]
    assert failed.iloc[0]["attempts"] == 2
    assert result.scores["bad"]["n"] == 3 and result.scores["bad"]["score"] == 6.0
    assert "1 verdict failed after retries" in result.to_text()
    doc = nm.get_run(result.runs[1]).to_dict()
    assert doc["metrics"]["errors"] == 1


def test_items_from_runs_grade_and_compare_earlier_evaluations(ws, standin) -> None:
    data = [{"id": str(i), "prompt": q, "reference": ref} for i, (q, ref) in enumerate(QUESTIONS)]

    def knows(prompt: str) -> str:
        return dict(QUESTIONS)[prompt]

    def shrugs(prompt: str) -> str:
        return "no idea"

    good = nm.evaluate(knows, data, metrics=["f1"], name="good")
    bad = nm.evaluate(shrugs, data, metrics=["f1"], name="bad")
    single = items_from_runs(ws, [good.run_id])
    assert len(single) == 4 and single[0]["answer"] == QUESTIONS[0][1]
    result = nm.judge(Judge(standin.spec), runs=[good.run_id, bad.run_id])
    assert result.mode == "pair"
    assert set(result.battles()["winner"]) == {"model_a"}
    with pytest.raises(EvalError, match="one evaluation run to grade or two to compare"):
        items_from_runs(ws, [good.run_id, bad.run_id, good.run_id])


def test_nm_judge_reads_a_file_and_takes_a_spec(project: Path, standin) -> None:
    path = project / "answers.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in graded_items()), encoding="utf-8")
    result = nm.judge(standin.spec, str(path), lang="ko")
    assert result.mode == "single" and result.prompt["lang"] == "ko"
    assert result.scores["good"]["score"] == 10.0
    doc = nm.get_run(result.runs[0]).to_dict()
    assert doc["eval"]["dataset"]["name"] == "answers.jsonl"


def test_nm_judge_refuses_bad_calls(standin) -> None:
    with pytest.raises(EvalError, match="judge needs items or runs"):
        nm.judge(standin.spec)
    with pytest.raises(EvalError, match="mode 'triple'"):
        nm.judge(standin.spec, graded_items(), mode="triple")
    with pytest.raises(EvalError, match="item good-0: no model_a"):
        nm.judge(standin.spec, graded_items(), mode="pair")
    with pytest.raises(EvalError, match="id 'x' appears twice"):
        nm.judge(standin.spec, [{"id": "x", "question": "q", "answer": "a"}] * 2)
    same = [dict(pair_items()[0], model_b="good")]
    with pytest.raises(EvalError, match="model_a and model_b are both 'good'"):
        nm.judge(standin.spec, same)


def test_cli_judge_grades_a_file_and_errors_in_one_line(project: Path, standin) -> None:
    path = project / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in pair_items()), encoding="utf-8")
    out = cli_json(project, "judge", standin.spec, "pairs.jsonl")
    assert out["mode"] == "pair" and out["consistency"]["inconsistent"] == 0
    assert [i["winner"] for i in out["items"]] == ["a"] * 4
    bad = cli(project, "judge", standin.spec)
    assert bad.returncode != 0 and "judge needs ITEMS or --runs" in bad.stderr
    missing = cli(project, "judge", standin.spec, "nope.jsonl")
    assert missing.returncode != 0 and "nope.jsonl" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
