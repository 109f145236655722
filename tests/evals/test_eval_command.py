"""`nb-mlops eval` and `%track eval`: one command table entry, the same verbs."""

from __future__ import annotations

import json

from conftest import cli, cli_json
from eval_toys import CHOICE_ITEMS, write_jsonl

MODEL = """
import re
version = "toy-1"
def loglikelihood(context, continuation):
    i = int(re.findall(r"question (\\d+)", context)[-1])
    gold = ["red", "green", "blue"][i % 3]
    return -1.0 if continuation.strip() == gold else -4.0
def generate(prompt, **options):
    return "A"
"""


def test_cli_eval_then_board_items_and_regressions(project):
    (project / "toy_llm.py").write_text(MODEL)
    write_jsonl(project / "mc.jsonl", CHOICE_ITEMS)
    out = cli_json(project, "eval", "py:toy_llm:generate", "mc.jsonl", "--mode", "generate")
    assert out["task"] == "choice" and out["n"] == 12
    first = cli_json(project, "eval", "py:toy_llm", "mc.jsonl", "-n", "toy-ll")
    assert first["scores"]["acc"]["score"] == 1.0
    assert first["model"]["version"] == "toy-1"
    board = cli_json(project, "eval", "--board")
    assert len(board["rows"]) == 2
    items = cli_json(project, "eval", "--items", "toy-ll")
    assert len(items["rows"]) == 12
    text = cli(project, "eval", "--regressions", out["run_id"], first["run_id"])
    assert text.returncode == 0, text.stderr
    assert "went from right to wrong" in text.stdout
    runs = cli_json(project, "runs", "tags.`nbmlops.kind` = 'eval'")
    assert len(runs["runs"]) == 2


def test_cli_eval_errors_are_one_line(project):
    bad = cli(project, "eval", "nomodel", "x.jsonl")
    assert bad.returncode != 0
    assert "name a model as hf:PATH" in bad.stderr and "Traceback" not in bad.stderr
    write_jsonl(project / "mc.jsonl", [{"id": "1", "question": "q", "choices": ["a"], "answer": 3}])
    (project / "toy_llm.py").write_text(MODEL)
    bad = cli(project, "eval", "py:toy_llm", "mc.jsonl")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "mc.jsonl" in bad.stderr
    usage = cli(project, "eval", "--board", "--items", "x")
    assert usage.returncode != 0 and "choose one of" in usage.stderr


def test_magic_eval_shows_the_board(ip, project):
    (project / "toy_llm.py").write_text(MODEL)
    write_jsonl(project / "mc.jsonl", CHOICE_ITEMS)
    ip.run_cell("import sys; sys.path.insert(0, '.')")
    result = ip.run_line_magic("track", "eval py:toy_llm mc.jsonl")
    assert result is None or "acc" in str(result)
    board = ip.run_line_magic("track", "eval --board")
    assert board is None or "toy" in str(board)
    assert json.loads(cli(project, "eval", "--board", "--json").stdout)["rows"]
