"""The tiny local LM: loads as a transformers model, is deterministic, learns its corpus."""

from __future__ import annotations

import json
from pathlib import Path

import lm_fixtures
import pytest

from nb_mlops.evals.model import EvalError
from nb_mlops.evals.tinylm import CORPUS, TAG, build_tiny_lm, tag_of
from nb_mlops.registry.fingerprint import fingerprint


def load(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def test_loads_with_auto_classes_and_says_what_it_is(tiny_lm_path: Path) -> None:
    model, tok = load(tiny_lm_path)
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert (model.config.n_layer, model.config.n_embd) == (2, 32)
    assert model.config.vocab_size == len(tok)
    info = json.loads((tiny_lm_path / "config.json").read_text())["nb_mlops_tiny_lm"]
    assert info["tag"] == TAG
    assert "stand-in" in info["note"]
    assert info["train_steps"] == lm_fixtures.TRAIN_STEPS
    assert tag_of(model.config) == f"{TAG} seed=0 steps={lm_fixtures.TRAIN_STEPS}"
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<pad>"
    assert tok.eos_token_id != tok.pad_token_id
    assert tok.model_max_length == model.config.n_positions == 256


@pytest.mark.parametrize(
    "text",
    [
        "The cat sleeps on the mat.",
        "학교에 갔습니다",
        "섞인 text: 한국어 and English 😀",
        "ünïcödé",
    ],
)
def test_byte_level_tokenizer_round_trips_any_text(tiny_lm_path: Path, text: str) -> None:
    _, tok = load(tiny_lm_path)
    ids = tok.encode(text)
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_same_arguments_same_model_other_seed_other_weights(tmp_path: Path) -> None:
    import torch

    state = torch.random.get_rng_state()
    a = build_tiny_lm(tmp_path / "a", train_steps=5)
    b = build_tiny_lm(tmp_path / "b", train_steps=5)
    c = build_tiny_lm(tmp_path / "c", seed=1, train_steps=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the user's RNG is left alone
    fa, fb, fc = (fingerprint(load(p)[0]) for p in (a, b, c))
    assert fa == fb != fc
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


def test_training_fits_the_corpus(tmp_path: Path, tiny_lm_path: Path) -> None:
    import torch

    untrained, tok = load(build_tiny_lm(tmp_path / "raw", train_steps=0))
    trained, tok2 = load(tiny_lm_path)
    assert tok.get_vocab() == tok2.get_vocab()

    def loss(model, text: str) -> float:
        ids = torch.tensor([tok.encode(text)])
        with torch.no_grad():
            return float(model(ids, labels=ids).loss)

    for text in (CORPUS[0], CORPUS[-1]):
        assert loss(untrained, text) > 5.0  # about log(vocab): noise
        assert loss(trained, text) < 0.5


def test_own_texts_and_sizes(tmp_path: Path) -> None:
    folder = build_tiny_lm(
        tmp_path / "m", ["alpha beta gamma", "감마 델타"], n_layer=1, n_embd=16, n_head=4
    )
    model, tok = load(folder)
    assert (model.config.n_layer, model.config.n_embd, model.config.n_head) == (1, 16, 4)
    assert json.loads((folder / "config.json").read_text())["nb_mlops_tiny_lm"]["texts"] == 2
    assert tok.decode(tok.encode("감마 alpha")) == "감마 alpha"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"texts": []}, "at least one non-empty text"),
        ({"texts": ["  ", ""]}, "at least one non-empty text"),
        ({"n_embd": 30, "n_head": 4}, "n_embd 30 is not a multiple of n_head 4"),
        ({"train_steps": -1}, "train_steps must be >= 0"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(EvalError, match=message) as info:
        build_tiny_lm(tmp_path / "m", **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "m").exists()
