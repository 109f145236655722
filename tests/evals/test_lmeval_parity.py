"""Our numbers against lm-evaluation-harness's, on the same tiny local model and the same task.

lm-eval runs in its own venv (`.venv-lmeval`, made by `./dev setup`) as a subprocess, offline,
on a dozen ARC-style items written here as a local task (YAML + JSON lines) with `--log_samples`.
Compared, item by item: the log-likelihood of every choice (HFModel.loglikelihood directly, then
through the multiple-choice runner) within 1e-4, the greedy flags, the choice picked by acc and
by acc_norm; then acc and acc_norm (and their standard errors) over the set.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import lm_fixtures
import pytest

from nb_mlops.evals.hf import HFModel

pytestmark = pytest.mark.slow

TASK = "nbm_parity_arc"
TOL = 1e-4

ITEMS = [
    ("Which city is the capital of South Korea?", ["Paris", "Seoul", "Busan", "Tokyo"], 1),
    ("Where does the sun rise?", ["in the west", "in the north", "in the east", "at noon"], 2),
    ("How many days are in a week?", ["seven", "five", "twelve", "ten"], 0),
    ("What is ice?", ["a gas", "frozen water", "a metal", "a plant"], 1),
    ("Which animal is a mammal that lives in the sea?", ["a bee", "a cat", "a tree", "a whale"], 3),
    ("What do bees carry between flowers?", ["pollen", "water", "iron", "sound"], 0),
    (
        "At what temperature does water boil at sea level?",
        ["zero", "fifty", "one hundred", "ten"],
        2,
    ),
    ("How many sides does a triangle have?", ["four", "three", "six", "one"], 1),
    ("대한민국의 수도는 어디인가?", ["부산", "파리", "서울", "도쿄"], 2),
    ("고래는 어디에 사는가?", ["바다", "사막", "하늘", "도서관"], 0),
    ("일주일은 며칠인가?", ["오 일", "열두 일", "십 일", "칠 일"], 3),
    ("얼음은 무엇인가?", ["기체", "물이 언 고체", "금속", "식물"], 1),
]


def write_task(folder: Path) -> Path:
    """The items as JSON lines and an ARC-style lm-eval task YAML beside them; the data file."""
    rows = [
        {"id": f"q{i:02d}", "question": question, "choices": choices, "answer": answer}
        for i, (question, choices, answer) in enumerate(ITEMS)
    ]
    return lm_fixtures.write_arc_task(folder, TASK, rows)


@pytest.fixture(scope="module")
def lmeval(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """lm-eval's run of the task on the tiny model: its samples (by doc_id) and its results."""
    if not lm_fixtures.LMEVAL.exists():
        pytest.fail(
            f"lm-evaluation-harness is not installed in {lm_fixtures.LMEVAL_VENV}: run ./dev setup "
            "(it builds .venv-lmeval; this comparison must run, never be skipped)"
        )
    root = tmp_path_factory.mktemp("lmeval")
    data = write_task(root / "task")
    out = root / "out"
    done = subprocess.run(
        [
            str(lm_fixtures.LMEVAL),
            "--model",
            "hf",
            "--model_args",
            f"pretrained={tiny_lm_path}",
            "--tasks",
            TASK,
            "--include_path",
            str(root / "task"),
            "--device",
            "cpu",
            "--log_samples",
            "--output_path",
            str(out),
        ],
        cwd=root,
        env=lm_fixtures.offline_env(HF_HOME=str(root / "hf-home")),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"lm_eval failed ({done.returncode}):\n{done.stderr[-4000:]}"
    samples_files = list(out.rglob(f"samples_{TASK}_*.jsonl"))
    results_files = list(out.rglob("results_*.json"))
    assert len(samples_files) == 1 and len(results_files) == 1, sorted(out.rglob("*"))
    samples = [json.loads(line) for line in samples_files[0].read_text("utf-8").splitlines()]
    results = json.loads(results_files[0].read_text("utf-8"))["results"][TASK]
    return {"samples": {s["doc_id"]: s for s in samples}, "results": results, "data": data}


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def their_choices(sample: dict[str, Any]) -> tuple[list[tuple[str, str]], list[float], list[bool]]:
    """lm-eval's requests for one item (context, continuation) and its (value, greedy) answers."""
    args = sample["arguments"]
    requests = [(args[f"gen_args_{j}"]["arg_0"], args[f"gen_args_{j}"]["arg_1"]) for j in range(4)]
    values = [float(r[0]) for r in sample["filtered_resps"]]
    greedy = [str(r[1]) == "True" for r in sample["filtered_resps"]]
    return requests, values, greedy


def test_every_choice_loglikelihood_equals_lmeval(lmeval: dict, tiny_lm_path: Path) -> None:
    samples = lmeval["samples"]
    assert sorted(samples) == list(range(len(ITEMS)))
    model = HFModel(tiny_lm_path, batch_size=16)  # lm-eval ran one request at a time
    for doc_id, sample in samples.items():
        question, choices, answer = ITEMS[doc_id]
        requests, values, greedy = their_choices(sample)
        assert requests == [(f"Question: {question}\nAnswer:", " " + c) for c in choices]
        replies = model.loglikelihood(requests)
        ours = [r.value for r in replies]
        assert ours == pytest.approx(values, abs=TOL), f"item {doc_id}"
        assert [r.greedy for r in replies] == greedy, f"item {doc_id}"
        picked = argmax(ours)
        picked_norm = argmax([v / len(c) for v, c in zip(ours, choices, strict=True)])
        assert picked == argmax(values), f"item {doc_id}"
        assert float(picked == answer) == sample["acc"], f"item {doc_id}"
        assert float(picked_norm == answer) == sample["acc_norm"], f"item {doc_id}"
    spread = {argmax(their_choices(s)[1]) for s in samples.values()}
    assert len(spread) > 1  # the model does not pick one position everywhere: picks are tested


def test_multiple_choice_runner_equals_lmeval(lmeval: dict, tiny_lm_path: Path) -> None:
    from nb_mlops.evals.choice import multiple_choice

    model = HFModel(tiny_lm_path, batch_size=8)
    result = multiple_choice(model, lmeval["data"], style="arc")
    assert len(result.rows) == len(ITEMS) and result.n == len(ITEMS)
    for doc_id, row in enumerate(result.rows):
        sample = lmeval["samples"][doc_id]
        requests, values, _ = their_choices(sample)
        choices = ITEMS[doc_id][1]
        assert row["prompt"] == requests[0][0]
        assert row["loglikelihoods"] == pytest.approx(values, abs=TOL), f"item {doc_id}"
        assert row["picked"] == argmax(values), f"item {doc_id}"
        normed = [v / len(c) for v, c in zip(values, choices, strict=True)]
        assert row["picked_norm"] == argmax(normed), f"item {doc_id}"
        assert float(row["correct"]) == sample["acc"], f"item {doc_id}"
        assert float(row["correct_norm"]) == sample["acc_norm"], f"item {doc_id}"
    theirs = lmeval["results"]
    assert result.acc == pytest.approx(theirs["acc,none"], abs=1e-12)
    assert result.acc_norm == pytest.approx(theirs["acc_norm,none"], abs=1e-12)
    assert result.acc_stderr == pytest.approx(theirs["acc_stderr,none"], abs=1e-9)
    assert result.acc_norm_stderr == pytest.approx(theirs["acc_norm_stderr,none"], abs=1e-9)
