"""Annotation tasks: creating and reopening, recording labels from several processes, resuming,
reading back past a torn line, agreement and arena rows from human labels."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_env

from nb_mlops.evals.agreement import cohen_kappa, judge_agreement, krippendorff_alpha
from nb_mlops.evals.annotate import (
    DEFAULT_CRITERIA,
    AnnotationSession,
    AnnotationTask,
    Criterion,
    Label,
)
from nb_mlops.evals.model import EvalError
from nb_mlops.store.workspace import Workspace


def rating_items(n: int = 5) -> list[dict]:
    return [
        {"id": f"q{i}", "prompt": f"Question {i}?", "response": f"Answer {i}.", "model": "m1"}
        for i in range(n)
    ]


def pair_items(n: int = 4) -> list[dict]:
    return [
        {
            "id": i,
            "prompt": f"Question {i}?",
            "response_a": f"First answer {i}",
            "response_b": f"Second answer {i}",
            "model_a": "alpha",
            "model_b": "beta",
        }
        for i in range(n)
    ]


def all_fives() -> dict[str, int]:
    return {c.name: 5 for c in DEFAULT_CRITERIA}


# ------------------------------------------------------------------------------- criteria
def test_default_criteria() -> None:
    assert [c.name for c in DEFAULT_CRITERIA] == [
        "fluency",
        "helpfulness",
        "faithfulness",
        "harmlessness",
    ]
    for c in DEFAULT_CRITERIA:
        assert c.scale == (1, 2, 3, 4, 5) and c.level == "ordinal"
        assert c.description and c.description_ko


def test_criterion_checks_its_fields() -> None:
    assert Criterion("tone", ["cold", "warm"], "nominal").scale == ("cold", "warm")
    assert Criterion("score", range(11), "interval").scale[-1] == 10
    with pytest.raises(EvalError, match="level is nominal, ordinal or interval, not 'ratio'"):
        Criterion("x", level="ratio")
    with pytest.raises(EvalError, match="at least 2 distinct values"):
        Criterion("x", (1,))
    with pytest.raises(EvalError, match="at least 2 distinct values"):
        Criterion("x", (1, 2, 1))
    with pytest.raises(EvalError, match="scale value True is not text or a number"):
        Criterion("x", (True, False))
    with pytest.raises(EvalError, match="scale is a list of values"):
        Criterion("x", "12345")
    with pytest.raises(EvalError, match="an interval scale holds numbers"):
        Criterion("x", ("low", "high"), "interval")
    with pytest.raises(EvalError, match="criterion name 'rater' is taken"):
        Criterion("rater")
    with pytest.raises(EvalError, match="one line of text"):
        Criterion("")
    assert Criterion("f").value(3.0) == 3 and isinstance(Criterion("f").value(3.0), int)
    with pytest.raises(EvalError, match="f: 6 is not on the scale 1, 2, 3, 4, 5"):
        Criterion("f").value(6)
    with pytest.raises(EvalError, match="not on the scale"):
        Criterion("f").value("3")


# ---------------------------------------------------------------------- creating, reopening
def test_task_is_created_once_and_reopened(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "chat-eval", pd.DataFrame(rating_items()))
    path = ws.home / "annotations" / "chat-eval" / "task.json"
    assert path.is_file()
    doc = json.loads(path.read_text())
    assert doc["mode"] == "rating" and len(doc["items"]) == 5 and doc["seed"] == 0
    assert [c["name"] for c in doc["criteria"]] == [c.name for c in DEFAULT_CRITERIA]
    assert not list(path.parent.glob(".*tmp*"))  # written through a temp file, then renamed
    assert task.mode == "rating" and task.items[0]["id"] == "q0"
    assert task.items[0]["model"] == "m1"

    again = AnnotationTask.open(ws, "chat-eval")
    assert again.items == task.items and again.criteria == task.criteria
    same = AnnotationTask.open(ws, "chat-eval", rating_items(), mode="rating")
    assert same.items == task.items

    with pytest.raises(EvalError, match="already exists with 5 items, not 6"):
        AnnotationTask.open(ws, "chat-eval", rating_items(6))
    changed = rating_items()
    changed[2]["response"] = "Another answer."
    with pytest.raises(EvalError, match="item 'q2' differs"):
        AnnotationTask.open(ws, "chat-eval", changed)
    with pytest.raises(EvalError, match="already exists with mode 'rating', not 'pairwise'"):
        AnnotationTask.open(ws, "chat-eval", mode="pairwise")
    with pytest.raises(EvalError, match=r"already exists with criteria \['fluency'"):
        AnnotationTask.open(ws, "chat-eval", criteria=["fluency"])
    with pytest.raises(EvalError, match="already exists with seed 0, not 7"):
        AnnotationTask.open(ws, "chat-eval", rating_items(), seed=7)
    assert json.loads(path.read_text())["items"] == doc["items"]  # untouched by refusals


def test_items_ids_fields_and_modes(ws: Workspace) -> None:
    plain = AnnotationTask.open(ws, "no-ids", [{"prompt": "p", "response": "r"}] * 3)
    assert [it["id"] for it in plain.items] == ["0", "1", "2"]
    pairs = AnnotationTask.open(ws, "pairs", pair_items())
    assert pairs.mode == "pairwise" and pairs.criteria == [] and pairs.choices == ("a", "b", "tie")
    assert pairs.items[1]["id"] == "1" and pairs.item(1)["response_b"] == "Second answer 1"
    frame = pd.DataFrame([{"id": 1, "prompt": "p", "response": "r", "context": float("nan")}])
    task = AnnotationTask.open(ws, "nan-context", frame)
    assert "context" not in task.items[0]  # an empty optional field is left out
    custom = AnnotationTask.open(
        ws, "custom", rating_items(2), criteria=["fluency", {"name": "tone", "scale": ["a", "b"]}]
    )
    assert [c.name for c in custom.criteria] == ["fluency", "tone"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "../up"}, "annotation task name '../up' cannot name a file"),
        ({"name": ".hidden"}, "cannot name a file"),
        ({"name": "a b"}, "cannot name a file"),
        ({"items": [{"id": "x", "prompt": "p"}]}, "item 'x' has no 'response'"),
        (
            {"items": [{"prompt": "p", "response": "r"}, {"prompt": "p"}]},
            "item '1' has no 'response'",
        ),
        (
            {"items": [{"id": 1, "prompt": "p", "response": "r"}] * 2},
            "item id '1' is used twice",
        ),
        (
            {"items": [{"prompt": "p", "response_a": "a"}]},
            "item '0' has no 'response_b'",
        ),
        ({"items": [], "mode": "rating"}, "at least one item"),
        ({"items": "text"}, "items are a DataFrame or a list of dicts"),
        ({"items": ["text"]}, "item 0 is a str"),
        ({"mode": "ranking"}, "mode is 'rating' or 'pairwise', not 'ranking'"),
        ({"criteria": ["politeness"]}, "no default criterion named 'politeness'"),
        ({"criteria": ["fluency", "fluency"]}, "criterion 'fluency' is given twice"),
        ({"criteria": [{"scale": [1, 2]}]}, "a criterion needs a name and a scale"),
        ({"items": pair_items(), "criteria": ["fluency"]}, "a pairwise task has no criteria"),
        ({"seed": 1.5}, "seed is a whole number"),
    ],
)
def test_open_refuses_bad_tasks(ws: Workspace, kwargs: dict, message: str) -> None:
    args = {"name": "t", "items": rating_items(2), **kwargs}
    with pytest.raises(EvalError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AnnotationTask.open(ws, args.pop("name"), args.pop("items"), **args)
    assert not (ws.home / "annotations" / "t").exists() or not list(
        (ws.home / "annotations" / "t").iterdir()
    )


def test_opening_a_task_that_does_not_exist(ws: Workspace) -> None:
    with pytest.raises(
        EvalError, match=r"no annotation task named 'ghost'.*give items to create it"
    ):
        AnnotationTask.open(ws, "ghost")
    folder = ws.home / "annotations" / "broken"
    folder.mkdir(parents=True)
    (folder / "task.json").write_text("{not json")
    with pytest.raises(EvalError, match=r"task\.json is damaged"):
        AnnotationTask.open(ws, "broken")


def test_open_finds_the_workspace_from_the_environment(ws: Workspace) -> None:
    AnnotationTask.open(ws, "here", rating_items(1))
    assert AnnotationTask.open(None, "here").items[0]["id"] == "q0"


# ---------------------------------------------------------------------- recording, reading
def test_record_correct_skip_and_progress(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "t", rating_items(5))
    assert task.next_item("ann") == "q0" and task.progress("ann") == (0, 5)
    first = task.record("ann", "q0", {**all_fives(), "fluency": 2}, seconds=4.25)
    assert isinstance(first, Label) and first.values["fluency"] == 2 and first.seconds == 4.25
    task.record("ann", "q1", None, skipped=True, seconds=1)
    assert task.next_item("ann") == "q2"
    assert task.progress("ann") == (2, 5)
    assert task.counts("ann") == {"labelled": 1, "skipped": 1, "total": 5}
    # a later label for the same item replaces the earlier one, a skip included
    task.record("ann", "q0", all_fives(), seconds=2)
    task.record("ann", "q1", all_fives())
    labels = task.labels("ann")
    assert [lb.item for lb in labels] == ["q0", "q1"]
    assert labels[0].values["fluency"] == 5 and labels[0].seconds == 2
    assert task.counts("ann") == {"labelled": 2, "skipped": 0, "total": 5}
    task.record("ann", "q4", all_fives())
    task.record("ann", "q3", {"fluency": 1}, skipped=True)  # partial values kept on a skip
    assert task.next_item("ann") == "q2"
    assert [lb.item for lb in task.labels("ann", include_skipped=True)] == ["q0", "q1", "q3", "q4"]
    task.record("ann", "q2", all_fives())
    assert task.next_item("ann") is None and task.progress("ann") == (5, 5)
    lines = (ws.home / "annotations" / "t" / "labels" / "ann.jsonl").read_text().splitlines()
    assert len(lines) == 7 and len({json.loads(x)["id"] for x in lines}) == 7
    assert task.raters() == ["ann"]


def test_labels_of_several_raters_and_the_frame(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "t", rating_items(3))
    task.record("bob", "q1", all_fives(), seconds=3)
    task.record("ann", "q0", {**all_fives(), "helpfulness": 4})
    task.record("ann", "q2", None, skipped=True)
    assert task.raters() == ["ann", "bob"]
    assert [(lb.rater, lb.item) for lb in task.labels()] == [("ann", "q0"), ("bob", "q1")]
    frame = task.frame()
    assert list(frame.columns) == [
        "rater",
        "item",
        "fluency",
        "helpfulness",
        "faithfulness",
        "harmlessness",
        "seconds",
        "time",
        "skipped",
        "label",
    ]
    assert len(frame) == 3 and frame["skipped"].tolist() == [False, True, False]
    assert frame.loc[0, "helpfulness"] == 4
    assert len(task.frame(include_skipped=False)) == 2
    assert AnnotationTask.open(ws, "empty", rating_items(1)).frame().empty


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.record("", "q0", all_fives()), "rater name '' cannot name a file"),
        (lambda t: t.record("a/b", "q0", all_fives()), "rater name 'a/b' cannot name a file"),
        (lambda t: t.record("ann", "q9", all_fives()), "has no item 'q9'"),
        (lambda t: t.record("ann", "q0", {"fluency": 5}), "no value for 'helpfulness'"),
        (lambda t: t.record("ann", "q0", {**all_fives(), "fluency": 0}), "fluency: 0 is not on"),
        (lambda t: t.record("ann", "q0", {**all_fives(), "tone": 1}), "no criterion 'tone'"),
        (lambda t: t.record("ann", "q0", [5, 5]), "label values are a dict"),
        (lambda t: t.record("ann", "q0", all_fives(), seconds=-1), "seconds is a time spent"),
        (lambda t: t.record("ann", "q0", all_fives(), seconds="1"), "seconds is a time spent"),
        (lambda t: t.record("ann", "q0", all_fives(), shown=("a", "b")), "shown is the layout"),
        (lambda t: t.sides("q0", "ann"), "rates one response; it has no sides"),
        (lambda t: t.battles(), "battles need pairs"),
        (lambda t: t.agreement("tone"), "has no criterion 'tone'"),
    ],
)
def test_rating_failures(ws: Workspace, call, message: str) -> None:
    task = AnnotationTask.open(ws, "t", rating_items(2))
    with pytest.raises(EvalError, match=message):
        call(task)
    assert task.labels() == []


def test_pairwise_sides_choice_and_battles(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "duel", pair_items(200), seed=3)
    layouts = [task.sides(str(i), "ann") for i in range(200)]
    assert set(layouts) == {("a", "b"), ("b", "a")}
    assert 70 < layouts.count(("b", "a")) < 130  # drawn per item, about half each way
    assert layouts == [task.sides(i, "ann") for i in range(200)]  # the same every time
    assert layouts != [task.sides(i, "bob") for i in range(200)]  # per rater too
    other_seed = AnnotationTask.open(ws, "duel2", pair_items(200), seed=4)
    assert layouts != [other_seed.sides(i, "ann") for i in range(200)]

    label = task.record("ann", 0, {"choice": "B"}, shown=["b", "a"], seconds=5)
    assert label.values == {"choice": "b"} and label.shown == ("b", "a")
    default = task.record("ann", 1, {"choice": "tie"})
    assert default.shown == task.sides(1, "ann")
    task.record("bob", 0, {"choice": "a"}, shown="ab")
    task.record("bob", 2, None, skipped=True)
    frame = task.frame()
    assert list(frame.columns[:4]) == ["rater", "item", "choice", "shown"]
    assert frame.loc[0, "shown"] == "ba"
    battles = task.battles()
    assert battles[["item", "winner", "judge"]].values.tolist() == [
        ["0", "model_b", "human:ann"],
        ["1", "tie", "human:ann"],
        ["0", "model_a", "human:bob"],
    ]
    assert set(battles["model_a"]) == {"alpha"} and set(battles["model_b"]) == {"beta"}
    for bad, message in [
        ({"choice": "left"}, "choice is 'a', 'b' or 'tie', not 'left'"),
        ({"winner": "a"}, "only 'choice', not 'winner'"),
        ({}, "choice is 'a', 'b' or 'tie', not None"),
    ]:
        with pytest.raises(EvalError, match=message):
            task.record("ann", 3, bad)
    with pytest.raises(EvalError, match="shown is"):
        task.record("ann", 3, {"choice": "a"}, shown=("a", "a"))
    with pytest.raises(EvalError, match="one thing to agree on, 'choice'"):
        task.agreement("fluency")
    # ann and bob both labelled item 0: ann chose b, bob chose a
    agreement = task.agreement()
    (choice,) = agreement.criteria
    assert (choice.criterion, choice.level, choice.scale) == (
        "choice",
        "nominal",
        ["a", "b", "tie"],
    )
    assert choice.raters == ["ann", "bob"] and choice.units == 1
    assert choice.pairs[0].n == 1 and choice.pairs[0].percent == 0.0
    assert task.agreement("choice").to_dict() == agreement.to_dict()


def test_battles_need_model_names(ws: Workspace) -> None:
    items = [{k: v for k, v in it.items() if k != "model_b"} for it in pair_items(2)]
    task = AnnotationTask.open(ws, "anon", items)
    assert task.battles().empty  # nothing labelled yet
    task.record("ann", 0, {"choice": "a"})
    with pytest.raises(EvalError, match="item '0' has no model_a/model_b"):
        task.battles()


def test_human_battles_feed_judge_agreement(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "duel", pair_items(4))
    for item, (ann, bob) in enumerate([("a", "a"), ("b", "b"), ("tie", "a"), ("a", "b")]):
        task.record("ann", item, {"choice": ann})
        task.record("bob", item, {"choice": bob})
    llm = [
        {"judge": "gpt", "item": str(i), "model_a": "beta", "model_b": "alpha", "winner": w}
        for i, w in enumerate(["model_b", "model_a", "model_b", "model_b"])
    ]  # the judge saw the models the other way round: model_b here is alpha
    result = judge_agreement(pd.concat([task.battles(), pd.DataFrame(llm)]))
    ann = result.table("human:ann")
    # ann: alpha, beta, tie, alpha; gpt: alpha, beta, alpha, alpha; bob: alpha, beta, alpha, beta
    assert ann.loc["gpt"].tolist() == pytest.approx([3 / 4, 4, 1.0, 3])
    assert ann.loc["human:bob"].tolist() == pytest.approx([2 / 4, 4, 2 / 3, 3])
    assert result.table("gpt").loc["human:bob"].tolist() == pytest.approx([3 / 4, 4, 3 / 4, 4])
    choice = task.agreement()["choice"]
    ann_row, bob_row = ["a", "b", "tie", "a"], ["a", "b", "a", "b"]
    assert choice.alpha == pytest.approx(krippendorff_alpha([ann_row, bob_row]))
    assert choice.pairs[0].kappa == pytest.approx(cohen_kappa(ann_row, bob_row))
    assert choice.pairs[0].percent == 0.5


def test_agreement_from_labels(ws: Workspace) -> None:
    task = AnnotationTask.open(
        ws,
        "t",
        rating_items(12),
        criteria=[Criterion("score", (1, 2, 3, 4, 5), "interval"), "fluency"],
    )
    hayes = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    }
    for rater, row in hayes.items():
        for i, v in enumerate(row):
            if v is not None:
                task.record(rater, f"q{i}", {"score": v, "fluency": v})
            else:
                task.record(rater, f"q{i}", {"score": 1}, skipped=True)  # a skip is no label
    result = task.agreement()
    data = list(hayes.values())
    assert result["score"].alpha == pytest.approx(krippendorff_alpha(data, level="interval"))
    assert result["fluency"].alpha == pytest.approx(krippendorff_alpha(data, level="ordinal"))
    assert result["score"].raters == ["A", "B", "C"]
    only = task.agreement("fluency")
    assert [c.criterion for c in only.criteria] == ["fluency"]
    assert "fluency (ordinal): 3 raters" in only.to_text()


# ----------------------------------------------------------------- crashes, resuming, processes
def test_a_torn_last_line_is_ignored_and_the_next_label_lands_whole(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "t", rating_items(3))
    task.record("ann", "q0", all_fives())
    path = ws.home / "annotations" / "t" / "labels" / "ann.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"id":"dead","rater":"ann","item":"q1","val')  # killed mid-write
    assert [lb.item for lb in task.labels("ann")] == ["q0"]
    assert task.next_item("ann") == "q1"
    task.record("ann", "q1", all_fives())
    lines = path.read_bytes().split(b"\n")
    assert lines[1].startswith(b'{"id":"dead"') and json.loads(lines[2])["item"] == "q1"
    assert [lb.item for lb in task.labels("ann")] == ["q0", "q1"]
    with open(path, "ab") as f:  # garbage, and a line that is JSON but no label
        f.write(b"\x00\xff garbage\n[1, 2]\n")
    task.record("ann", "q2", all_fives())
    assert [lb.item for lb in task.labels("ann")] == ["q0", "q1", "q2"]
    assert task.next_item("ann") is None


RESUME = r"""
import json, sys
from nb_mlops.evals.annotate import AnnotationTask
from nb_mlops.store.workspace import open_workspace

task = AnnotationTask.open(open_workspace(), "resume")
rater, count = sys.argv[1], int(sys.argv[2])
for _ in range(count):
    item = task.next_item(rater)
    task.record(rater, item, {"choice": "a"}, shown=task.sides(item, rater), seconds=1.5)
sides = [task.sides(i, rater) for i in range(6)]
print(json.dumps({"next": task.next_item(rater), "sides": sides}))
"""


def run_python(project: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project,
        env=run_env(project),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_resume_in_another_process(ws: Workspace, project: Path) -> None:
    task = AnnotationTask.open(ws, "resume", pair_items(6))
    task.record("ann", 0, {"choice": "b"})
    first = run_python(project, RESUME, "ann", "2")  # a kernel labels two more, then dies
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["next"] == "3"
    assert [tuple(s) for s in out["sides"]] == [task.sides(i, "ann") for i in range(6)]
    assert task.next_item("ann") == "3"  # this process sees what the other one recorded
    assert [lb.item for lb in task.labels("ann")] == ["0", "1", "2"]
    second = run_python(project, RESUME, "ann", "3")  # a new kernel goes on where it stopped
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["next"] is None
    assert task.progress("ann") == (6, 6)
    assert task.labels("ann")[0].values == {"choice": "b"}


WRITER = r"""
import sys, time
from pathlib import Path
from nb_mlops.evals.annotate import AnnotationTask
from nb_mlops.store.workspace import open_workspace

rater, shared_from, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
task = AnnotationTask.open(open_workspace(), "race")
(folder / f"ready-{rater}").touch()
deadline = time.monotonic() + 60
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("the barrier never opened")
    time.sleep(0.001)
for i in range(200):
    task.record(rater, str(i), {"choice": "a"}, seconds=0.5)
    if i % 2 == 0:  # and, interleaved, a rater working from both processes at once
        task.record("shared", str(shared_from + i // 2), {"choice": "tie"})
print("done")
"""


@pytest.mark.slow
def test_two_raters_at_once_from_two_processes(
    ws: Workspace, project: Path, tmp_path: Path
) -> None:
    task = AnnotationTask.open(ws, "race", pair_items(200))
    folder = tmp_path / "barrier"
    folder.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, rater, start, str(folder)],
            cwd=project,
            env=run_env(project),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rater, start in (("alice", "0"), ("bob", "100"))
    ]
    deadline = time.monotonic() + 60
    while not all((folder / f"ready-{r}").exists() for r in ("alice", "bob")):
        assert time.monotonic() < deadline, "the writers never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    (folder / "go").touch()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    labels = task.labels()
    assert len(labels) == 600
    keys = [(lb.rater, lb.item) for lb in labels]
    assert len(set(keys)) == 600
    for rater in ("alice", "bob", "shared"):
        assert sorted(int(lb.item) for lb in task.labels(rater)) == list(range(200))
    # every line on disk is one whole label: none lost, torn, or written twice
    lines = []
    for rater in ("alice", "bob", "shared"):
        path = ws.home / "annotations" / "race" / "labels" / f"{rater}.jsonl"
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 600
    assert len({doc["id"] for doc in lines}) == 600
    assert task.progress("shared") == (200, 200)


# --------------------------------------------------------------------------------- session
def test_session_text_html_and_dict(ws: Workspace) -> None:
    items = [*rating_items(4), {"id": "<b>x</b>", "prompt": "p", "response": "r"}]
    task = AnnotationTask.open(ws, "demo", items)
    task.record("ann", "q0", {**all_fives(), "fluency": 3}, seconds=10)
    task.record("ann", "q1", all_fives(), seconds=20)
    task.record("ann", "q2", None, skipped=True, seconds=3)
    task.record("ann", "q3", all_fives(), seconds=30)
    session = AnnotationSession(task, "ann")
    text = session.to_text()
    assert "annotation task demo (rating), rater ann: 3 of 5 labelled, 1 skipped" in text
    assert "median 15 s per item" in text
    assert "next: item <b>x</b>" in text
    assert "fluency" in text and "3: 1  4: 0  5: 2" in text
    markup = session.to_html()
    assert "<b>x</b>" not in markup and "&lt;b&gt;x&lt;/b&gt;" in markup
    doc = session.to_dict()
    assert doc["labelled"] == 3 and doc["skipped"] == 1 and doc["total"] == 5
    assert doc["summary"]["fluency"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 2}
    assert doc["next_item"] == "<b>x</b>"
    task.record("ann", "<b>x</b>", all_fives())
    task.record("ann", "q2", all_fives())
    assert "all done" in AnnotationSession(task, "ann").to_text()
    with pytest.raises(EvalError, match="rater name 'a b' cannot name a file"):
        AnnotationSession(task, "a b")


def test_session_of_a_pairwise_task(ws: Workspace) -> None:
    task = AnnotationTask.open(ws, "duel", pair_items(4))
    for item, choice in enumerate(["a", "a", "tie"]):
        task.record("ann", item, {"choice": choice})
    session = AnnotationSession(task, "ann")
    assert "choices  A 2, B 0, tie 1" in session.to_text()
    assert session.to_dict()["summary"] == {"choice": {"a": 2, "b": 0, "tie": 1}}
    assert "3 of 4 labelled, 0 skipped" in str(session)
