"""The multiple-choice runner: lm-evaluation-harness's prompts, picks, norms and standard errors,
checked against numbers worked out by hand from log-likelihoods the test chooses."""

from __future__ import annotations

import html
import math

import pytest

from nb_mlops.evals.choice import (
    ChoiceResult,
    clean_hellaswag,
    multiple_choice,
    parse_choice,
)
from nb_mlops.evals.model import Adapter, EvalError, ModelIdentity, NotSupported, Reply


class TableModel:
    """Log-likelihoods looked up by (last line of the question, continuation); records calls."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table
        self.calls: list[list[tuple[str, str]]] = []

    def loglikelihood_batch(self, pairs):
        self.calls.append(list(pairs))
        out = []
        for context, continuation in pairs:
            question = context.split("\n")[-2] if "\n" in context else context
            out.append(self.table[(question, continuation)])
        return out


def toy_items():
    # gold, and the log-likelihoods of " " + each choice: see test_acc_and_acc_norm_by_hand
    return [
        {"id": "cat", "question": "q1", "choices": ["cat", "elephant"], "answer": 1},
        {"id": "yes", "question": "q2", "choices": ["yes", "no"], "answer": 0},
        {"id": "rgb", "question": "q3", "choices": ["red", "blue", "green"], "answer": 2},
        {"id": "tie", "question": "q4", "choices": ["up", "down"], "answer": 0},
        {"id": "len", "question": "q5", "choices": ["a", "bb"], "answer": 1},
    ]


TOY_LL = {
    ("Question: q1", " cat"): -4.0,
    ("Question: q1", " elephant"): -6.0,
    ("Question: q2", " yes"): -1.0,
    ("Question: q2", " no"): -2.0,
    ("Question: q3", " red"): -3.0,
    ("Question: q3", " blue"): -3.0,
    ("Question: q3", " green"): -5.0,
    ("Question: q4", " up"): -2.0,
    ("Question: q4", " down"): -2.0,
    ("Question: q5", " a"): -1.0,
    ("Question: q5", " bb"): -1.9,
}


def test_acc_and_acc_norm_by_hand():
    model = TableModel(TOY_LL)
    result = multiple_choice(model, toy_items(), style="arc")
    rows = {r["id"]: r for r in result.rows}
    # acc: highest log-likelihood, first index on a tie
    #   q1 -4 > -6 -> 0 (gold 1, wrong); q2 -> 0 right; q3 tie -3/-3 -> 0 wrong;
    #   q4 tie -> 0 right; q5 -1 > -1.9 -> 0 wrong
    assert [rows[i]["picked"] for i in ("cat", "yes", "rgb", "tie", "len")] == [0, 0, 0, 0, 0]
    # acc_norm: divided by the characters of the choice, without the leading space
    #   q1 -4/3, -6/8 -> 1 right; q2 -1/3, -2/2 -> 0 right; q3 -1, -0.75, -1 -> 1 wrong;
    #   q4 -1, -0.5 -> 1 wrong; q5 -1/1, -1.9/2 = -0.95 -> 1 right (with the space counted,
    #   -1/2 > -1.9/3 would pick 0)
    assert [rows[i]["picked_norm"] for i in ("cat", "yes", "rgb", "tie", "len")] == [1, 0, 1, 1, 1]
    assert result.n == 5
    assert result.acc == pytest.approx(2 / 5)
    assert result.acc_norm == pytest.approx(3 / 5)
    # sample std (n - 1) / sqrt(n): two 1s and three 0s around 0.4 -> squares sum to 1.2
    expected = math.sqrt(1.2 / 4) / math.sqrt(5)
    assert result.acc_stderr == pytest.approx(expected, rel=1e-12)
    assert result.acc_norm_stderr == pytest.approx(expected, rel=1e-12)
    assert rows["rgb"]["loglikelihoods"] == [-3.0, -3.0, -5.0]
    assert rows["cat"]["correct"] is False and rows["cat"]["correct_norm"] is True
    # every choice asked once, after the formatted question, with the target delimiter
    (call,) = model.calls
    assert call[:2] == [("Question: q1\nAnswer:", " cat"), ("Question: q1\nAnswer:", " elephant")]
    assert len(call) == 11


def test_per_subject_and_forms():
    items = toy_items()
    for item, subject in zip(items, ["<b>maths</b>", "art", "art", "art", "maths"], strict=True):
        item["subject"] = subject
    result = multiple_choice(TableModel(TOY_LL), items, style="arc")
    assert result.per_subject["art"] == {"n": 3, "acc": pytest.approx(2 / 3), "acc_norm": 1 / 3}
    assert result.per_subject["maths"]["n"] == 1
    data = result.to_dict()
    assert data["acc"] == pytest.approx(0.4) and data["mode"] == "loglikelihood"
    assert len(data["rows"]) == 5 and data["errors"] == [] and data["unparsed"] == []
    text = result.to_text()
    assert "acc       0.4000 ± 0.2449" in text and "acc_norm  0.6000" in text
    page = result.to_html()
    assert "<b>maths</b>" not in page and html.escape("<b>maths</b>") in page
    frame = result.frame()
    assert list(frame["id"]) == ["cat", "yes", "rgb", "tie", "len"]
    assert frame["correct"].tolist() == [False, True, False, True, False]
    assert frame["error"].tolist() == [None] * 5 and frame["answer"].tolist() == [None] * 5
    assert isinstance(result, ChoiceResult)


def six_items():
    return [
        {
            "id": f"q{i}",
            "question": f"What is {i} plus {i}?",
            "choices": [str(2 * i), str(2 * i + 1), str(2 * i + 2)],
            "answer": 0,
        }
        for i in range(6)
    ]


class Flat:
    def loglikelihood(self, context, continuation):
        return -1.0


def test_fewshot_prompt_exact_and_never_the_item():
    result = multiple_choice(Flat(), six_items(), style="arc", num_fewshot=2, seed=1234)
    prompts = [r["prompt"] for r in result.rows]
    # random.Random(1234) draws 3 items per item in turn: [3, 0, 4] for q0 (q0 itself dropped),
    # then [0, 4, 5] for q1, ... and [5, 4, 3] for q5, which drops q5 and keeps 4, 3.
    assert prompts[0] == (
        "Question: What is 3 plus 3?\nAnswer: 6\n\n"
        "Question: What is 4 plus 4?\nAnswer: 8\n\n"
        "Question: What is 0 plus 0?\nAnswer:"
    )
    assert prompts[5] == (
        "Question: What is 4 plus 4?\nAnswer: 8\n\n"
        "Question: What is 3 plus 3?\nAnswer: 6\n\n"
        "Question: What is 5 plus 5?\nAnswer:"
    )
    again = multiple_choice(Flat(), six_items(), style="arc", num_fewshot=2, seed=1234)
    assert [r["prompt"] for r in again.rows] == prompts
    other = multiple_choice(Flat(), six_items(), style="arc", num_fewshot=2, seed=7)
    assert [r["prompt"] for r in other.rows] != prompts
    # with every other item as a shot, the item's own question appears only once, at the end
    full = multiple_choice(Flat(), six_items(), style="arc", num_fewshot=5)
    for i, row in enumerate(full.rows):
        assert row["prompt"].count(f"What is {i} plus {i}?") == 1
        assert row["prompt"].endswith(f"What is {i} plus {i}?\nAnswer:")
        assert row["prompt"].count("\n\n") == 5


def test_fewshot_from_another_set_and_first_n():
    shots = [
        {"id": "s0", "question": "Shot zero?", "choices": ["x", "y"], "answer": 1},
        {"id": "s1", "question": "Shot one?", "choices": ["x", "y"], "answer": 0},
    ]
    result = multiple_choice(Flat(), six_items()[:2], style="plain", num_fewshot=1, fewshot=shots)
    for row in result.rows:
        assert row["prompt"].startswith(("Shot zero? y\n\n", "Shot one? x\n\n"))
    first = multiple_choice(
        Flat(),
        six_items()[:2],
        style="mmlu",
        num_fewshot=2,
        fewshot=shots,
        fewshot_sampler="first_n",
        description="About {subject}:\n\n",
    )
    assert first.rows[0]["prompt"] == (
        "About :\n\n"
        "Shot zero?\nA. x\nB. y\nAnswer: B\n\n"
        "Shot one?\nA. x\nB. y\nAnswer: A\n\n"
        "What is 0 plus 0?\nA. 0\nB. 1\nC. 2\nAnswer:"
    )
    with pytest.raises(EvalError, match=r"num_fewshot 6 needs 7 items in the set \(the item"):
        multiple_choice(Flat(), six_items(), num_fewshot=6)
    with pytest.raises(
        EvalError, match="num_fewshot 3 needs 3 items in the few-shot set; it has 2"
    ):
        multiple_choice(Flat(), six_items(), num_fewshot=3, fewshot=shots)


def test_mmlu_prompt_and_letter_continuations():
    item = {
        "id": "m1",
        "question": "  Which number is even?  ",
        "choices": ["3", "4", "5", "7"],
        "answer": 1,
        "subject": "high_school_maths",
    }
    model = TableModel({("D. 7", " A"): -3.0, ("D. 7", " B"): -1.0})
    model.table.update({("D. 7", " C"): -2.0, ("D. 7", " D"): -4.0})
    result = multiple_choice(model, [item], style="mmlu")
    (call,) = model.calls
    prompt = "Which number is even?\nA. 3\nB. 4\nC. 5\nD. 7\nAnswer:"
    assert call == [(prompt, " A"), (prompt, " B"), (prompt, " C"), (prompt, " D")]
    assert result.acc == 1.0 and result.acc_norm == 1.0  # one letter each: norm = acc
    assert result.acc_stderr is None  # one item: no sample std


def test_hellaswag_context_and_endings():
    item = {
        "ind": 7,
        "activity_label": "Fixing a tap",
        "ctx_a": "A man turns off the water. [step]",
        "ctx_b": "then HE",
        "endings": ["takes the handle off [title] Done.", " paints  the sink."],
        "label": "0",
    }
    seen = []

    class Record:
        def loglikelihood(self, context, continuation):
            seen.append((context, continuation))
            return -float(len(continuation))

    result = multiple_choice(Record(), [item], style="hellaswag")
    # ctx_a + " " + ctx_b.capitalize(), led by the activity label, brackets removed
    context = "Fixing a tap: A man turns off the water. Then he"
    assert seen == [(context, " takes the handle off. Done."), (context, " paints the sink.")]
    assert result.rows[0]["id"] == "7" and result.rows[0]["subject"] == "Fixing a tap"
    assert clean_hellaswag("  a [title] b [header] c  ") == "a. b c"


@pytest.mark.parametrize(
    ("answer", "picked"),
    [
        ("B", 1),
        ("(C)", 2),
        ("Answer: D", 3),
        ("The answer is c.", 2),
        ("정답: B", 1),
        ("정답은 C입니다.", 2),
        ("답: (A)", 0),
        ("Ｂ", 1),
        ("B. Rome", 1),
        ("I think it is D", 3),
        ("Rome", 1),
        ("paris.", 0),
        ("A cat sat down", None),
        ("E", None),
        ("", None),
        ("no idea", None),
    ],
)
def test_parse_choice(answer, picked):
    assert parse_choice(answer, ["Paris", "Rome", "Berlin", "Madrid"]) == picked


class Scripted(Adapter):
    """A generate-only adapter answering from a script, failing where the script says so."""

    def __init__(self, answers: dict[str, str | None]) -> None:
        self.answers = answers
        self.options: list[dict] = []
        self.identity = ModelIdentity(provider="python", name="scripted")

    def generate(self, prompts, **options):
        self.options.append(options)
        out = []
        for prompt in prompts:
            question = prompt.split("\n")[0]
            text = self.answers[question]
            out.append(Reply(error="HTTP 500") if text is None else Reply(text=text))
        return out


def test_generation_mode_parses_lists_unparsed_and_errors():
    items = [
        {"id": "a", "question": "qa", "choices": ["w", "x", "y", "z"], "answer": 1},
        {"id": "b", "question": "qb", "choices": ["w", "x", "y", "z"], "answer": 2},
        {"id": "c", "question": "qc", "choices": ["w", "x", "y", "z"], "answer": 0},
        {"id": "d", "question": "qd", "choices": ["w", "x", "y", "z"], "answer": 3},
        {"id": "e", "question": "qe", "choices": ["w", "x", "y", "z"], "answer": 3},
    ]
    model = Scripted({"qa": "B", "qb": "정답: C", "qc": "I cannot say", "qd": None, "qe": "A"})
    result = multiple_choice(model, items, style="arc")  # auto: no log-likelihoods
    assert result.mode == "generate"
    assert model.options == [{"max_new_tokens": 16, "temperature": 0.0}]
    assert result.n == 4  # the failed call is not scored
    assert result.acc == pytest.approx(2 / 4)  # a, b right; c unparsed (wrong); e wrong
    assert result.acc_norm is None and result.acc_norm_stderr is None
    assert result.errors == [{"id": "d", "error": "HTTP 500"}]
    assert result.unparsed == [{"id": "c", "answer": "I cannot say"}]
    rows = {r["id"]: r for r in result.rows}
    assert rows["d"]["correct"] is None and rows["d"]["error"] == "HTTP 500"
    assert rows["a"]["prompt"] == "qa\nA. w\nB. x\nC. y\nD. z\nAnswer:"
    assert rows["b"]["answer"] == "정답: C" and rows["b"]["picked"] == 2
    assert "1 failed (not scored)" in result.to_text()
    assert "could not be parsed" in result.to_text()


def test_loglikelihood_errors_are_listed_not_scored():
    class Flaky:
        def loglikelihood(self, context, continuation):
            if "broken" in context and continuation == " y":
                raise TimeoutError("timed out")
            return -1.0 if continuation == " x" else -2.0

    items = [
        {"id": "ok", "question": "fine", "choices": ["x", "y"], "answer": 0},
        {"id": "bad", "question": "broken", "choices": ["x", "y"], "answer": 0},
    ]
    result = multiple_choice(Flaky(), items)
    assert result.n == 1 and result.acc == 1.0
    assert result.errors == [{"id": "bad", "error": "choice 1: TimeoutError: timed out"}]
    assert result.frame()["error"].tolist()[1].startswith("choice 1")


def test_chunks_and_progress(capsys):
    model = TableModel(TOY_LL)
    result = multiple_choice(model, toy_items(), style="arc", batch_size=4, progress=True)
    assert [len(c) for c in model.calls] == [4, 4, 3]
    assert result.acc == pytest.approx(0.4)
    assert "log-likelihoods" in capsys.readouterr().err


def test_bad_items_and_options():
    with pytest.raises(EvalError, match=r"^list row 1: answer 5 is out of range for 4 choices$"):
        multiple_choice(
            Flat(),
            [
                {"question": "q", "choices": list("abcd"), "answer": 0},
                {"question": "q", "choices": list("abcd"), "answer": 5},
            ],
        )
    with pytest.raises(EvalError, match="style 'squad': choose one of arc, hellaswag, mmlu"):
        multiple_choice(Flat(), six_items(), style="squad")
    with pytest.raises(EvalError, match="mode 'fast'"):
        multiple_choice(Flat(), six_items(), mode="fast")
    with pytest.raises(EvalError, match="num_fewshot -1"):
        multiple_choice(Flat(), six_items(), num_fewshot=-1)
    with pytest.raises(EvalError, match="the set has no items"):
        multiple_choice(Flat(), [])
    with pytest.raises(NotSupported, match="no log-likelihoods; use mode='generate'"):
        multiple_choice(Scripted({}), six_items(), mode="loglikelihood")
    many = [{"id": "big", "question": "q", "choices": [str(i) for i in range(27)], "answer": 0}]
    with pytest.raises(EvalError, match="item big: 27 choices, more than letters A-Z name"):
        multiple_choice(Flat(), many, style="mmlu")


def test_items_from_a_file(tmp_path):
    path = tmp_path / "arc.jsonl"
    path.write_text(
        '{"id": "x1", "question": "q1", "choices": {"text": ["cat", "elephant"], '
        '"label": ["A", "B"]}, "answerKey": "B"}\n',
        encoding="utf-8",
    )
    result = multiple_choice(TableModel(TOY_LL), str(path), style="arc")
    assert result.rows[0]["gold"] == 1 and result.acc == 0.0 and result.acc_norm == 1.0
    with path.open("a", encoding="utf-8") as f:
        f.write('{"id": "x2", "question": "q2", "choices": ["yes", "no"], "answer": 0}\n')
    # the same file named twice is one set: an item is never its own shot
    shots = multiple_choice(Flat(), path, style="arc", num_fewshot=1, fewshot=str(path))
    assert [r["prompt"].split("\n")[0] for r in shots.rows] == ["Question: q2", "Question: q1"]
