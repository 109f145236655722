"""`models:/NAME@ALIAS` as an evaluation model: a registered transformers folder or callable."""

from __future__ import annotations

import pytest
from eval_toys import CHOICE_ITEMS

import nb_mlops as nm
from nb_mlops.evals.model import EvalError


class Sayer:
    """A picklable model object: generate() answers with a fixed letter."""

    version = "ignored: the registry's version wins"

    def __init__(self, letter: str) -> None:
        self.letter = letter

    def generate(self, prompt: str, **options) -> str:
        return self.letter


def test_a_registered_transformers_folder_is_evaluated_with_the_registry_identity(ws, tiny_lm_path):
    version = nm.register_model("tiny", tiny_lm_path)
    nm.set_alias("tiny", "prod", version.version)
    result = nm.evaluate("models:/tiny@prod", CHOICE_ITEMS[:4], style="arc")
    identity = result.identity
    assert (identity.provider, identity.name, identity.version) == ("registry", "tiny", "1")
    assert identity.fingerprint == version.fingerprint
    direct = nm.evaluate(f"hf:{tiny_lm_path}", CHOICE_ITEMS[:4], style="arc")
    # the same weights, so the same answers, whichever way the model was named
    assert result.score("acc") == direct.score("acc")
    assert result.score("acc_norm") == direct.score("acc_norm")
    doc = ws.catalog.get("runs", result.run_id)
    assert doc["params"]["model"] == "models:/tiny@prod"
    assert doc["params"]["model.version"] == "1"


def test_a_registered_callable_and_a_version_moved_by_its_alias(ws):
    nm.register_model("letters", Sayer("A"))
    nm.register_model("letters", Sayer("B"))
    nm.set_alias("letters", "prod", 1)
    first = nm.evaluate("models:/letters@prod", CHOICE_ITEMS, mode="generate")
    nm.set_alias("letters", "prod", 2)
    second = nm.evaluate("models:/letters@prod", CHOICE_ITEMS, mode="generate")
    assert first.score("acc") == pytest.approx(4 / 12)  # answer 0 (A) for items 0, 3, 6, 9
    assert second.score("acc") == pytest.approx(4 / 12)
    board = nm.eval_scoreboard()
    assert board.rows[-1]["differences"][0].startswith("reported version 1 -> 2")
    assert "weights fingerprint" in " ".join(board.rows[-1]["differences"])


def test_a_registered_model_that_cannot_answer_is_refused(ws):
    nm.register_model("table", {"weights": [1, 2]})
    with pytest.raises(EvalError, match="is not a model"):
        nm.evaluate("models:/table@latest", CHOICE_ITEMS)
