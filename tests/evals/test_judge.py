"""The judge: prompts rendered from versioned package data, retries, errors never scored,
pairwise judging in both orders (a first-position judge comes out all ties)."""

from __future__ import annotations

import re

import pytest

from nb_mlops.evals.judge import Judge, conversation
from nb_mlops.evals.model import EvalError
from nb_mlops.evals.prompts import load_prompt


class Scripted:
    """A stand-in judge answering from a list per prompt kind, counting its calls."""

    def __init__(self, answers: list[str], version: str = "judge-7") -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.version = version

    def generate(self, prompt: str, **options: object) -> str:
        self.prompts.append(prompt)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer == "RAISE":
            raise TimeoutError("the judge timed out")
        return answer


class FirstWins:
    """A stand-in judge that always prefers the reply shown first."""

    def generate(self, prompt: str, **options: object) -> str:
        return "The first reply is better.\n[[A]]"


class Overlap:
    """A stand-in judge preferring the reply that contains the word 'Paris' (position-free)."""

    def generate(self, prompt: str, **options: object) -> str:
        a = prompt.split("### Assistant A:")[-1].split("[End of conversation A]")[0]
        b = prompt.split("### Assistant B:")[-1].split("[End of conversation B]")[0]
        if ("Paris" in a) == ("Paris" in b):
            return "[[C]]"
        return "[[A]]" if "Paris" in a else "[[B]]"


ITEM = {"question": "What is the capital of France?", "answer": "Paris.", "reference": "Paris"}
PAIR = {
    "question": "What is the capital of France?",
    "answer_a": "Paris.",
    "answer_b": "Lyon.",
    "model_a": "m1",
    "model_b": "m2",
}


def test_grade_reads_the_rating_and_keeps_the_rationale() -> None:
    model = Scripted(["Correct and short.\nRating: [[9]]"])
    judge = Judge(model)
    [verdict] = judge.grade([ITEM])
    assert verdict.ok and verdict.rating == 9.0
    assert verdict.rationale == "Correct and short."
    assert verdict.attempts == 1 and verdict.version == "judge-7"
    prompt = model.prompts[0]
    assert "What is the capital of France?" in prompt and "Paris." in prompt
    assert "[Reference]\nParis\n[End of reference]" in prompt


def test_malformed_output_is_asked_again_then_read() -> None:
    model = Scripted(["I think it is good", "Rating: [[12]]", "Rating: [[6]]"])
    [verdict] = Judge(model, retries=2).grade([ITEM])
    assert verdict.rating == 6.0 and verdict.attempts == 3


def test_unreadable_after_retries_is_an_error_not_a_score() -> None:
    model = Scripted(["no idea"])
    [verdict] = Judge(model, retries=1).grade([ITEM])
    assert not verdict.ok and verdict.rating is None
    assert verdict.error.startswith("unparsed: no rating")
    assert verdict.attempts == 2 and len(model.prompts) == 2


def test_a_failing_call_is_retried_then_recorded_as_an_error() -> None:
    model = Scripted(["RAISE"])
    [verdict] = Judge(model, retries=2).grade([ITEM])
    assert verdict.rating is None and "TimeoutError: the judge timed out" in verdict.error
    assert verdict.attempts == 3


def test_a_failure_then_success_counts_the_attempts() -> None:
    model = Scripted(["RAISE", "Rating: [[4]]"])
    [verdict] = Judge(model).grade([ITEM])
    assert verdict.ok and verdict.rating == 4.0 and verdict.attempts == 2


def test_first_position_judge_gives_only_ties_and_is_flagged() -> None:
    pairs = [dict(PAIR, question=f"q{i}") for i in range(5)]
    verdicts = Judge(FirstWins()).compare(pairs)
    assert [v.winner for v in verdicts] == ["tie"] * 5
    assert all(v.inconsistent for v in verdicts)
    assert all(v.first["verdict"] == "A" and v.swapped["verdict"] == "A" for v in verdicts)


def test_a_position_free_judge_keeps_its_verdict_in_both_orders() -> None:
    pairs = [PAIR, dict(PAIR, answer_a="Lyon.", answer_b="Paris."), dict(PAIR, answer_b="Paris")]
    verdicts = Judge(Overlap()).compare(pairs)
    assert [v.winner for v in verdicts] == ["a", "b", "tie"]
    assert not any(v.inconsistent for v in verdicts)


def test_pairwise_prompt_swaps_the_replies() -> None:
    model = Scripted(["[[A]]", "[[B]]"])
    [verdict] = Judge(model).compare([PAIR])
    first, swapped = model.prompts
    assert first.index("Paris.") < first.index("Lyon.")
    assert swapped.index("Lyon.") < swapped.index("Paris.")
    # A as shown (Paris) and B when swapped (Paris again): consistent, a wins
    assert verdict.winner == "a" and not verdict.inconsistent


def test_an_error_in_either_order_makes_the_pair_an_error() -> None:
    model = Scripted(["[[A]]", "garbage", "garbage", "garbage"])
    [verdict] = Judge(model, retries=2).compare([PAIR])
    assert verdict.winner is None and verdict.error.startswith("swapped: unparsed")


def test_multi_turn_conversation_is_rendered_in_order() -> None:
    item = {
        "turns": ["Hi, I need a city.", "Which is the capital of Korea?"],
        "answers": ["Sure, ask away.", "Seoul."],
        "reference": [None, "Seoul"],
    }
    model = Scripted(["Rating: [[10]]"])
    Judge(model).grade([item])
    prompt = model.prompts[0]
    order = [prompt.index(t) for t in ("Hi, I need", "Sure, ask", "Which is the", "Seoul.")]
    assert order == sorted(order)
    assert "[Reference]\nSeoul\n" in prompt


def test_korean_prompts_are_used_and_versioned() -> None:
    model = Scripted(["정확한 답입니다.\nRating: [[8]]"])
    judge = Judge(model, lang="ko")
    [verdict] = judge.grade([{"question": "한국의 수도는?", "answer": "서울입니다."}])
    assert verdict.rating == 8.0
    assert "### 사용자:" in model.prompts[0] and "어시스턴트" in model.prompts[0]
    assert judge.prompt_record() == {"family": "judge", "lang": "ko", "version": "1"}


def test_user_text_with_braces_is_left_as_written() -> None:
    model = Scripted(["Rating: [[5]]"])
    Judge(model).grade([{"question": "Format {answer} and {reference_block}", "answer": "{x}"}])
    assert "Format {answer} and {reference_block}" in model.prompts[0]
    assert "{x}" in model.prompts[0]


def test_identity_names_the_judge_version_and_settings() -> None:
    judge = Judge(Scripted(["Rating: [[5]]"], version="v9"), options={"temperature": 0.2})
    record = judge.to_dict()
    assert record["judge"]["version"] == "v9"
    assert record["judge"]["settings"]["temperature"] == 0.2
    assert record["prompt"]["version"] == load_prompt("judge", "single").version


def test_every_prompt_version_is_stated() -> None:
    for lang in ("en", "ko"):
        for name in ("single", "pair"):
            prompt = load_prompt("judge", name, lang)
            assert re.fullmatch(r"\d+", prompt.version)
            assert "[[" in prompt.template


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"answer": "x"}, "item 0: no question"),
        ({"question": "q"}, "item 0: no answer"),
        ({"turns": ["a", "b"], "answers": ["x"]}, "2 user turns but 1 replies"),
        ({"turns": "a", "answers": ["x"]}, "turns must be a non-empty list"),
        ({"question": 3, "answer": "x"}, "non-text value"),
        ({"turns": ["a"], "answers": ["x"], "reference": ["r", "s"]}, "2 references for 1"),
    ],
)
def test_bad_items_are_named(item: dict, message: str) -> None:
    with pytest.raises(EvalError, match=message):
        conversation(item, where="item 0")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(EvalError, match="retries=-1"):
        Judge(FirstWins(), retries=-1)
    with pytest.raises(EvalError, match="lang='fr'"):
        Judge(FirstWins(), lang="fr")
    with pytest.raises(EvalError, match="1 user turns but 2 replies in answer_b"):
        Judge(FirstWins()).compare([{"turns": ["q"], "answers_a": ["x"], "answers_b": ["y", "z"]}])
