"""The shipped sample sets: present, well formed, each question with exactly one right answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nb_mlops.evals.choice import multiple_choice
from nb_mlops.evals.datasets import load_items
from nb_mlops.evals.model import EvalError
from nb_mlops.evals.samples import list_samples, sample_path

CHOICE_SETS = ("choice_en", "choice_ko")
HELLASWAG_SETS = ("hellaswag_en", "hellaswag_ko")
TEXT_SETS = {
    "translate_en_ko": 20,
    "translate_ko_en": 20,
    "summary_en": 12,
    "summary_ko": 12,
    "qa_en": 20,
    "qa_ko": 20,
}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_names_and_paths():
    assert list_samples() == sorted([*CHOICE_SETS, *HELLASWAG_SETS, *TEXT_SETS])
    path = sample_path("choice_ko")
    assert path.is_file() and path.parent.name == "samples"
    assert path.parent.parent == Path(__file__).resolve().parents[2] / "nb_mlops" / "evals"
    assert sample_path("qa_en.jsonl") == sample_path("qa_en")
    with pytest.raises(
        EvalError, match=r"^no sample set 'mmlu'; the sets are choice_en, choice_ko"
    ):
        sample_path("mmlu")


@pytest.mark.parametrize("name", list_samples())
def test_files_are_utf8_json_lines(name):
    raw = sample_path(name).read_bytes()
    assert raw.endswith(b"\n") and b"\r" not in raw
    ids = [json.loads(line)["id" if b'"id"' in line else "ind"] for line in raw.splitlines()]
    assert len(ids) == len(set(ids))
    if name.endswith(("_ko", "_ko_en")) or name == "translate_en_ko":
        assert HANGUL.search(raw.decode("utf-8"))


@pytest.mark.parametrize("name", CHOICE_SETS)
def test_choice_sets(name):
    items = load_items(sample_path(name))
    assert len(items) >= 36
    subjects = {i["subject"] for i in items}
    assert subjects == {"science", "geography_history", "maths", "everyday"}
    for item in items:
        choices = item["choices"]
        assert len(choices) == 4, item["id"]
        # distinct choices: the gold index names exactly one valid answer
        assert len({c.strip().casefold() for c in choices}) == 4, item["id"]
        assert 0 <= item["answer"] < 4
    # the right answer is not always in the same place
    assert {i["answer"] for i in items} == {0, 1, 2, 3}
    assert max(sum(i["answer"] == k for i in items) for k in range(4)) <= len(items) // 2


@pytest.mark.parametrize("name", HELLASWAG_SETS)
def test_hellaswag_sets(name):
    items = load_items(sample_path(name))
    assert len(items) >= 12
    for item in items:
        assert len(set(item["choices"])) == 4 and item["subject"]
        raw = item["raw"]
        assert raw["ctx"] == f"{raw['ctx_a']} {raw['ctx_b']}"
        assert raw["ctx_b"] == raw["ctx_b"].lower()  # capitalize() changes nothing else
    assert {i["answer"] for i in items} == {0, 1, 2, 3}


@pytest.mark.parametrize(("name", "least"), TEXT_SETS.items())
def test_text_sets(name, least):
    items = load_items(sample_path(name), kind="text")
    assert len(items) >= least
    for item in items:
        assert item["prompt"].strip() and item["prompt"].endswith(":")
        refs = item["reference"] if isinstance(item["reference"], list) else [item["reference"]]
        assert refs and all(r.strip() for r in refs)
        if name.startswith("qa_"):
            assert isinstance(item["reference"], list)
        if name.startswith("translate_"):
            assert item["raw"]["source"] in item["prompt"]
        if name.startswith("summary_"):
            assert item["raw"]["document"] in item["prompt"]
            assert len(item["raw"]["document"]) > max(len(r) for r in refs)


class Oracle:
    """Knows the gold answers: log-likelihood 0 for the gold continuation of the question the
    context ends with, -9 for any other."""

    def __init__(self, items, style):
        from nb_mlops.evals.choice import choice_texts, question_text

        self.gold = {
            question_text(i, style): " " + choice_texts(i, style)[i["answer"]] for i in items
        }

    def loglikelihood(self, context, continuation):
        question = context.rsplit("\n\n", 1)[-1]
        return 0.0 if self.gold[question] == continuation else -9.0


@pytest.mark.parametrize(
    ("name", "style"),
    [("choice_en", "arc"), ("choice_ko", "plain"), ("hellaswag_en", "hellaswag")],
)
def test_samples_run_through_the_runner(name, style):
    items = load_items(sample_path(name))
    result = multiple_choice(Oracle(items, style), sample_path(name), style=style, num_fewshot=1)
    assert result.acc == 1.0 and result.acc_norm == 1.0 and result.n == len(items)
    assert len(result.per_subject) >= 4 or name.startswith("hellaswag")
