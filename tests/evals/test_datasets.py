"""Loading evaluation items: every source and layout to one shape, every bad row named."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nb_mlops.evals.datasets import dataset_hash, load_items
from nb_mlops.evals.model import EvalError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


ARC_ROWS = [
    {
        "id": "Mercury_1",
        "question": "Which is a gas?",
        "choices": {"text": ["ice", "steam", "rock", "wood"], "label": ["A", "B", "C", "D"]},
        "answerKey": "B",
    },
    {
        "id": "Mercury_2",
        "question": "Which is a liquid?",
        "choices": {"text": ["water", "iron", "salt"], "label": ["1", "2", "3"]},
        "answerKey": "1",
    },
]


def test_arc_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "arc.jsonl", ARC_ROWS)
    items = load_items(path)
    assert [(i["id"], i["answer"], len(i["choices"])) for i in items] == [
        ("Mercury_1", 1, 4),
        ("Mercury_2", 0, 3),
    ]
    assert items[0]["choices"] == ["ice", "steam", "rock", "wood"]
    assert items[0]["question"] == "Which is a gas?" and items[0]["subject"] is None
    assert items[0]["raw"]["answerKey"] == "B"
    assert load_items(str(path), limit=1) == items[:1]


def test_hellaswag_layout_from_a_list():
    rows = [
        {
            "ind": 4,
            "activity_label": "Baking",
            "ctx_a": "She mixes the dough.",
            "ctx_b": "then she",
            "endings": ["bakes it.", "eats the bowl."],
            "label": "0",
        },
        {"ind": 5, "ctx": "He opens the door and", "endings": ["walks in.", "flies."], "label": 1},
    ]
    items = load_items(rows)
    assert items[0]["question"] == "She mixes the dough. Then she"
    assert items[0]["choices"] == ["bakes it.", "eats the bowl."]
    assert (items[0]["id"], items[0]["answer"], items[0]["subject"]) == ("4", 0, "Baking")
    assert (items[1]["question"], items[1]["answer"]) == ("He opens the door and", 1)


def test_mmlu_csv_with_letter_columns_and_json_choices(tmp_path):
    path = tmp_path / "mmlu.csv"
    path.write_text(
        "question,A,B,C,D,answer,subject\n"
        "2+2?,3,4,5,6,B,maths\n"
        '"Capital of Korea, today?",Busan,Seoul,Incheon,Daegu,1,geography\n',
        encoding="utf-8",
    )
    items = load_items(path)
    assert [i["answer"] for i in items] == [1, 1]
    assert items[1]["choices"] == ["Busan", "Seoul", "Incheon", "Daegu"]
    assert items[1]["question"] == "Capital of Korea, today?" and items[1]["subject"] == "geography"
    assert [i["id"] for i in items] == ["0", "1"]
    listed = tmp_path / "plain.csv"
    listed.write_text(
        'question,choices,answer\nPick one,"[""red"", ""blue""]",blue\n', encoding="utf-8"
    )
    (item,) = load_items(listed)
    assert item["choices"] == ["red", "blue"] and item["answer"] == 1


def test_parquet_with_list_and_struct_columns(tmp_path):
    path = tmp_path / "arc.parquet"
    pq.write_table(pa.Table.from_pylist(ARC_ROWS), path)
    items = load_items(path)
    assert [i["answer"] for i in items] == [1, 0]
    assert items[1]["choices"] == ["water", "iron", "salt"]
    plain = tmp_path / "mmlu.parquet"
    frame = pd.DataFrame(
        {"question": ["q1", "q2"], "choices": [["a", "b"], ["c", "d"]], "answer": [1, 0]}
    )
    frame.to_parquet(plain)
    assert [i["answer"] for i in load_items(plain)] == [1, 0]


def test_dataframe_with_numpy_values():
    frame = pd.DataFrame(
        {
            "question": ["q1", "q2"],
            "choices": [["a", "b", "c"], ["d", "e", "f"]],
            "answer": [2, 0],
            "subject": ["x", None],
        }
    )
    items = load_items(frame)
    assert [type(i["answer"]) for i in items] == [int, int]
    assert items[0]["choices"] == ["a", "b", "c"] and items[1]["subject"] is None
    json.dumps(items)  # plain Python values throughout


class FakeDataset:
    """What load_items sees of a datasets.Dataset: column_names and rows as dicts."""

    def __init__(self, rows):
        self.rows = rows
        self.column_names = list(rows[0])

    def __iter__(self):
        return iter(self.rows)


def test_a_dataset_object_and_a_dataset_dict():
    rows = [
        {"question": "q", "choices": ["a", "b"], "answer": "B"},
        {"question": "r", "choices": ["a", "b"], "answer": "a"},
    ]
    items = load_items(FakeDataset(rows))
    assert [i["answer"] for i in items] == [1, 0]

    class FakeDict(dict):
        column_names = {"train": ["question"], "test": ["question"]}  # noqa: RUF012

    with pytest.raises(EvalError, match=r"^dataset has splits train, test: pass one, e.g. "):
        load_items(FakeDict())


def test_text_items():
    rows = [
        {"id": "t1", "prompt": "Translate: cat", "reference": "고양이"},
        {"id": "t2", "source": "dog", "references": ["개", "강아지"]},
        {"id": "t3", "question": "Who?", "answers": {"text": ["Ann", "Anne"], "answer_start": [0]}},
        {"id": "t4", "input": "x", "target": '["a", "b"]'},
    ]
    items = load_items(rows, kind="text")
    assert [(i["prompt"], i["reference"]) for i in items] == [
        ("Translate: cat", "고양이"),
        ("dog", ["개", "강아지"]),
        ("Who?", ["Ann", "Anne"]),
        ("x", ["a", "b"]),
    ]
    with pytest.raises(EvalError, match=r"^list row 0: no reference: give one of reference, "):
        load_items([{"prompt": "p"}], kind="text")
    with pytest.raises(EvalError, match=r"^list row 0: references\[1\] must be non-empty text"):
        load_items([{"prompt": "p", "references": ["a", ""]}], kind="text")
    with pytest.raises(EvalError, match=r"^list row 0: no prompt: give one of prompt, input"):
        load_items([{"reference": "r"}], kind="text")


def test_kind_none_follows_the_first_row():
    assert load_items([{"question": "q", "choices": ["a", "b"], "answer": 0}], kind=None)[0][
        "choices"
    ] == ["a", "b"]
    assert load_items([{"prompt": "p", "reference": "r"}], kind=None)[0]["reference"] == "r"
    raw = load_items([{"text": "just text"}], kind=None)
    assert raw == [{"text": "just text", "id": "0"}]


def test_normalized_items_load_again_unchanged(tmp_path):
    path = write_jsonl(tmp_path / "arc.jsonl", ARC_ROWS)
    items = load_items(path)
    assert load_items(items) == items


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"question": "q", "choices": ["a", "b", "c", "d"], "answer": 5},
            "line 2: answer 5 is out of range for 4 choices",
        ),
        (
            {"question": "q", "choices": ["a", "b"], "answer": "E"},
            "line 2: answer 'E' is out of range for 2 choices",
        ),
        (
            {"question": "q", "choices": ["a", "b"], "answer": "maybe"},
            "line 2: answer 'maybe' is neither an index, a letter nor a choice",
        ),
        ({"question": "q", "choices": ["a", "b"]}, "line 2: no answer: give the correct choice"),
        ({"question": "q", "choices": "a", "answer": 0}, "line 2: choices must be a list"),
        ({"question": "q", "choices": ["a"], "answer": 0}, r"line 2: choices has 1 choice\(s\)"),
        ({"question": "q", "choices": ["a", ""], "answer": 0}, r"line 2: choices\[1\] is empty"),
        ({"question": "", "choices": ["a", "b"], "answer": 0}, "line 2: question must be non-emp"),
        ({"prompt": "p"}, "line 2: not a multiple-choice row"),
        (
            {**ARC_ROWS[0], "answerKey": "E"},
            "line 2: answerKey 'E' is not one of the labels A, B, C, D",
        ),
        (
            {"ctx": "c", "endings": ["x", "y"], "label": ""},
            "line 2: no label: give the correct choice",
        ),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, row, message):
    good = {"question": "fine", "choices": ["a", "b"], "answer": 0}
    path = write_jsonl(tmp_path / "bad.jsonl", [good, row])
    with pytest.raises(EvalError) as info:
        load_items(path)
    text = str(info.value)
    assert text.startswith(f"{path} ") and "\n" not in text
    assert __import__("re").search(message, text), text


def test_bad_files(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(EvalError, match=r"^dataset .*nope.jsonl: no such file$"):
        load_items(missing)
    other = tmp_path / "data.txt"
    other.write_text("x", "utf-8")
    with pytest.raises(EvalError, match=r"^dataset .*data.txt: unknown format '.txt'; use .jsonl"):
        load_items(other)
    with pytest.raises(EvalError, match="is a folder, not a file"):
        load_items(tmp_path)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"question": "q", "choices": ["a", "b"], "answer": 0}\n\n{oops\n', "utf-8")
    with pytest.raises(EvalError, match=r"broken.jsonl line 3: not JSON \("):
        load_items(broken)
    array = tmp_path / "list.jsonl"
    array.write_text("[1, 2]\n", "utf-8")
    with pytest.raises(EvalError, match=r"list.jsonl line 1: expected an object, got a list"):
        load_items(array)
    whole = tmp_path / "obj.json"
    whole.write_text('{"rows": []}', "utf-8")
    with pytest.raises(EvalError, match=r"obj.json: expected a list of objects, got an object"):
        load_items(whole)
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text('question,choices,answer\nq,"[""a"",""b""]",9\n', "utf-8")
    with pytest.raises(EvalError, match=r"bad.csv line 2: answer 9 is out of range for 2 choices"):
        load_items(csv_path)
    fake_parquet = tmp_path / "x.parquet"
    fake_parquet.write_bytes(b"not parquet")
    with pytest.raises(EvalError, match=r"x.parquet: not a Parquet file"):
        load_items(fake_parquet)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"question": "caf\xe9"}\n')
    with pytest.raises(EvalError, match=r"latin.jsonl: not UTF-8 text"):
        load_items(latin)


def test_bad_sources_and_duplicate_ids(tmp_path):
    with pytest.raises(EvalError, match="dataset of type int: give a file path"):
        load_items(3)
    with pytest.raises(EvalError, match="list row 0: expected a dict, got str"):
        load_items(["q"])
    with pytest.raises(EvalError, match="kind 'qa'"):
        load_items([], kind="qa")
    rows = [{"id": "a", "question": "q", "choices": ["x", "y"], "answer": 0}] * 2
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(EvalError, match=r"dup.jsonl line 2: id 'a' is already used by line 1"):
        load_items(path)
    frame = pd.DataFrame({"question": ["q"], "choices": [["x", "y"]], "answer": [7]})
    with pytest.raises(EvalError, match=r"^DataFrame row 0: answer 7 is out of range"):
        load_items(frame)


def test_dataset_hash(tmp_path):
    path = write_jsonl(tmp_path / "arc.jsonl", ARC_ROWS)
    assert dataset_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset_hash(str(path)) == dataset_hash(path)
    rows = [{"question": "q", "choices": ["a", "b"], "answer": 1}]
    same = [{"answer": 1, "choices": ["a", "b"], "question": "q"}]  # key order does not count
    assert dataset_hash(rows) == dataset_hash(same) == dataset_hash(pd.DataFrame(rows))
    assert dataset_hash(FakeDataset(rows)) == dataset_hash(rows)
    assert dataset_hash(rows) != dataset_hash([{**rows[0], "answer": 0}])
    assert len(dataset_hash(rows)) == 64
    with pytest.raises(EvalError, match="no such file"):
        dataset_hash(tmp_path / "gone.csv")
