"""The transformers adapter: lm-eval's log-likelihood rules, batching, shared contexts, generation,
identity and loading errors, on the session's tiny local model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nb_mlops.evals.hf import HFModel
from nb_mlops.evals.model import EvalError, resolve
from nb_mlops.evals.tinylm import TAG
from nb_mlops.registry.fingerprint import fingerprint

QUESTION = "Question: Which city is the capital of South Korea?\nAnswer:"
REQUESTS = [
    (QUESTION, " Seoul"),
    (QUESTION, " Paris"),
    (QUESTION, " Paris, France"),
    (QUESTION, " 서울"),
    ("The cat sleeps on the", " warm mat by the window."),
    ("The cat sleeps on the ", "warm mat"),  # trailing space moves to the continuation
    ("", "The sun rises in the east."),  # empty context: the prefix token
    ("서울은 대한민국의", " 수도이다."),
    ("A week has seven days and a year has", " twelve months."),
    ("Water boils at", " one hundred degrees Celsius at sea level."),
]


def reference(model, tok, context: str, continuation: str) -> tuple[float, bool, int]:
    """lm-eval's rules written out for one request: one unpadded forward pass, no sharing."""
    import torch

    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    if context:
        ctx = tok.encode(context)
        cont = tok.encode(context + continuation)[len(ctx) :]
    else:
        ctx, cont = [tok.eos_token_id], tok.encode(continuation)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logprobs = model(ids[:, :-1]).logits[0].log_softmax(-1)[len(ctx) - 1 :]
    value = sum(float(logprobs[i, t]) for i, t in enumerate(cont))
    greedy = all(int(logprobs[i].argmax()) == t for i, t in enumerate(cont))
    return value, greedy, len(cont)


def test_loglikelihood_matches_the_rules_written_out(tiny_lm: HFModel) -> None:
    replies = tiny_lm.loglikelihood(REQUESTS)
    for (context, continuation), reply in zip(REQUESTS, replies, strict=True):
        value, greedy, n = reference(tiny_lm.model, tiny_lm.tokenizer, context, continuation)
        assert reply.ok, reply.error
        assert reply.value == pytest.approx(value, rel=1e-5, abs=1e-5)
        assert reply.greedy is greedy
        assert reply.tokens == n


def test_batched_equals_unbatched(tiny_lm_path: Path, tiny_lm: HFModel) -> None:
    big = HFModel(tiny_lm_path, batch_size=16).loglikelihood(REQUESTS * 3)
    one = HFModel(tiny_lm_path, batch_size=1).loglikelihood(REQUESTS * 3)
    four = tiny_lm.loglikelihood(REQUESTS * 3)
    for a, b, c in zip(big, one, four, strict=True):
        assert a.value == pytest.approx(b.value, rel=1e-5, abs=1e-5)
        assert c.value == pytest.approx(b.value, rel=1e-5, abs=1e-5)
        assert a.greedy is b.greedy is c.greedy
        assert a.tokens == b.tokens == c.tokens


def test_greedy_flags(tiny_lm: HFModel) -> None:
    known, shuffled, wrong = tiny_lm.loglikelihood(
        [
            ("The cat sleeps on the", " warm mat by the window."),
            ("The cat sleeps on the", " window by the warm mat."),
            ("Seoul is the capital city of", " France."),
        ]
    )
    assert known.greedy is True
    assert known.value > -1.0
    assert shuffled.greedy is False and wrong.greedy is False
    assert known.value > shuffled.value + 5
    assert known.value > wrong.value


def test_shared_context_runs_once_and_gives_the_same_numbers(tiny_lm: HFModel, monkeypatch) -> None:
    rows = []
    real = tiny_lm.logits

    def counting(ids):
        rows.append(ids.shape[0])
        return real(ids)

    monkeypatch.setattr(tiny_lm, "logits", counting)
    letters = [(QUESTION, f" {x}") for x in "ABCD"]  # " " + one letter token each
    nested = [(QUESTION, " Paris"), (QUESTION, " Paris, France")]  # one is a prefix of the other
    other = [(QUESTION, " 서울")]  # no token in common after the context
    assert tiny_lm.tokenizer.encode(" A")[0] == tiny_lm.tokenizer.encode(" Paris")[0]
    tiny_lm.loglikelihood(letters)
    assert rows == [1]  # the four letters share one row
    rows.clear()
    tiny_lm.loglikelihood(nested)
    assert rows == [1]  # " Paris" is read from the row of " Paris, France"
    rows.clear()
    grouped = tiny_lm.loglikelihood(letters + nested + other)
    assert sum(rows) == 2  # " A" .. " Paris" all inside the longest row; " 서울" its own
    rows.clear()
    alone = [tiny_lm.loglikelihood([r])[0] for r in letters + nested + other]
    assert sum(rows) == 7
    for a, b in zip(grouped, alone, strict=True):
        assert a.value == pytest.approx(b.value, rel=1e-5, abs=1e-5)
        assert a.greedy is b.greedy
    assert len({round(r.value, 4) for r in grouped[:4]}) == 4  # four different numbers


def test_context_encoded_once_per_distinct_context(tiny_lm: HFModel, monkeypatch) -> None:
    seen: list[str] = []
    real = tiny_lm.encode

    def spy(texts, add_special_tokens=None):
        seen.extend(texts)
        return real(texts, add_special_tokens)

    monkeypatch.setattr(tiny_lm, "encode", spy)
    tiny_lm.loglikelihood([(QUESTION, f" {c}") for c in ("Seoul", "Paris", "Busan", "Tokyo")])
    assert seen.count(QUESTION) == 1


def test_left_truncation_to_the_window(tiny_lm_path: Path, tiny_lm: HFModel) -> None:
    import torch

    small = HFModel(tiny_lm_path, max_length=8)
    context, continuation = "The children play football in the park after", " school."
    got = small.loglikelihood([(context, continuation)])[0]
    tok = tiny_lm.tokenizer
    ctx = tok.encode(context)
    cont = tok.encode(context + continuation)[len(ctx) :]
    kept = (ctx + cont)[-9:]  # max_length + 1 tokens, the last one only a target
    with torch.no_grad():
        logprobs = tiny_lm.model(torch.tensor([kept[:-1]])).logits[0].log_softmax(-1)
    want = sum(float(logprobs[8 - len(cont) + i, t]) for i, t in enumerate(cont))
    assert len(ctx) + len(cont) > 9
    assert got.value == pytest.approx(want, rel=1e-5)
    full = tiny_lm.loglikelihood([(context, continuation)])[0]
    assert abs(full.value - got.value) > 1e-3  # the cut context really changed the number


def test_edge_requests_answer_without_spoiling_the_others(tiny_lm_path: Path) -> None:
    small = HFModel(tiny_lm_path, max_length=4)
    replies = small.loglikelihood(
        [
            ("The cat", ""),
            ("The cat", " sleeps on the warm mat by the window."),
            ("just one",),
            (1, "x"),
            ("The", " cat"),
        ]
    )
    assert (replies[0].value, replies[0].tokens, replies[0].greedy) == (0.0, 0, True)
    assert "more than the window of 4" in replies[1].error
    assert "pair" in replies[2].error
    assert "must be text" in replies[3].error
    assert replies[4].ok and replies[4].value < 0
    assert HFModel(tiny_lm_path).loglikelihood([]) == []


def test_generate_is_deterministic_batched_and_stops(tiny_lm_path: Path) -> None:
    prompts = ["The sun rises in", "서울은", "Water boils at", "The cat sleeps on the warm mat by"]
    model = HFModel(tiny_lm_path, batch_size=4, max_new_tokens=12)
    first = model.generate(prompts)
    again = model.generate(prompts)
    alone = [
        HFModel(tiny_lm_path, batch_size=1).generate([p], max_new_tokens=12)[0] for p in prompts
    ]
    assert [r.text for r in first] == [r.text for r in again] == [r.text for r in alone]
    assert first[0].text.startswith(" the east and sets in the west")
    assert first[1].text.startswith(" 대한민국의 수도이다")
    assert all(r.tokens is not None and 0 < r.tokens <= 12 for r in first)
    cut = model.generate(prompts[:1], stop=[" and"])[0]
    assert cut.text == " the east"
    short = model.generate(prompts[:1], max_new_tokens=2)[0]
    assert short.tokens == 2 and short.text == " the east"
    empty = model.generate([""], max_new_tokens=5)[0]
    assert empty.ok and empty.text
    bad = model.generate(["The sun", None])
    assert bad[0].ok and "must be text" in bad[1].error
    with pytest.raises(EvalError, match="max_new_tokens must be >= 1"):
        model.generate(prompts, max_new_tokens=0)


def test_sampling_with_a_seed_repeats(tiny_lm: HFModel) -> None:
    import torch

    state = torch.random.get_rng_state()
    a = tiny_lm.generate(["The"] * 3, temperature=1.5, seed=7, max_new_tokens=8)
    b = tiny_lm.generate(["The"] * 3, temperature=1.5, seed=7, max_new_tokens=8)
    assert [r.text for r in a] == [r.text for r in b]
    assert torch.equal(torch.random.get_rng_state(), state)


def test_identity(tiny_lm_path: Path, tiny_lm: HFModel) -> None:
    from transformers import AutoModelForCausalLM

    ident = tiny_lm.identity
    assert ident.provider == "hf"
    assert ident.name == str(tiny_lm_path)
    assert ident.version.startswith(TAG)
    assert ident.fingerprint == fingerprint(AutoModelForCausalLM.from_pretrained(tiny_lm_path))
    assert ident.settings["max_length"] == 256
    assert ident.settings["temperature"] == 0.0
    assert ident.settings["dtype"] == "float32"
    other = HFModel(tiny_lm_path, max_new_tokens=5, temperature=0.7)
    assert other.identity.key() == ident.key()  # same weights: the same cached answers
    assert other.identity.settings["max_new_tokens"] == 5


def test_version_is_what_config_json_recorded(tmp_path: Path, tiny_lm_path: Path) -> None:
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(tiny_lm_path, folder)
    config = json.loads((folder / "config.json").read_text())
    config["_name_or_path"] = "acme/base-7b"
    (folder / "config.json").write_text(json.dumps(config))
    assert HFModel(folder).identity.version == "acme/base-7b"


def test_spec_and_registered_identity_assignment(tiny_lm_path: Path) -> None:
    from nb_mlops.evals.model import ModelIdentity

    model = resolve(f"hf:{tiny_lm_path}", batch_size=2)
    assert isinstance(model, HFModel) and model.batch_size == 2
    model.identity = ModelIdentity(provider="registry", name="tiny", version="3")
    assert model.identity.version == "3"


@pytest.mark.parametrize("what", ["missing", "file", "no-config", "garbage"])
def test_loading_errors_name_the_path(tmp_path: Path, what: str) -> None:
    folder = tmp_path / "m"
    if what == "file":
        folder.write_text("not a folder")
    elif what != "missing":
        folder.mkdir()
    if what == "garbage":
        (folder / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(EvalError) as info:
        HFModel(folder)
    message = str(info.value)
    assert str(folder) in message and "\n" not in message
    expected = {
        "missing": "no such folder",
        "file": "not a transformers model folder",
        "no-config": "not a transformers model folder",
        "garbage": "cannot load a causal LM",
    }[what]
    assert expected in message


def test_missing_transformers_says_what_to_install(
    tmp_path: Path, tiny_lm_path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(EvalError, match=r'pip install "nb-mlops\[eval\]"') as info:
        HFModel(tiny_lm_path)
    assert str(tiny_lm_path) in str(info.value)


def test_bad_options(tiny_lm_path: Path) -> None:
    for bad in (0, "auto", 2.5):
        with pytest.raises(EvalError, match="batch_size must be a whole number >= 1"):
            HFModel(tiny_lm_path, batch_size=bad)
    with pytest.raises(EvalError, match="unknown dtype 'float33'"):
        HFModel(tiny_lm_path, dtype="float33")


def test_logits_budget_caps_the_rows_of_a_pass(tiny_lm_path: Path, monkeypatch) -> None:
    import nb_mlops.evals.hf as hf

    model = HFModel(tiny_lm_path, batch_size=16)
    want = model.loglikelihood(REQUESTS)
    sizes: list[tuple[int, int]] = []
    real = model.logits

    def spy(ids):
        sizes.append(tuple(ids.shape))
        return real(ids)

    monkeypatch.setattr(model, "logits", spy)
    vocab = model.model.config.vocab_size
    monkeypatch.setattr(hf, "LOGITS_BUDGET", 2 * 20 * vocab)  # two rows of 20 tokens
    got = model.loglikelihood(REQUESTS)
    assert len(sizes) > 1
    assert all(rows * width <= max(40, width) for rows, width in sizes)
    assert [r.value for r in got] == pytest.approx([r.value for r in want], rel=1e-5, abs=1e-5)
