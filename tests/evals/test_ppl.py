"""Sliding-window perplexity against a token-by-token computation, and from given log-probs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nb_mlops.evals.hf import HFModel
from nb_mlops.evals.model import CallableModel, EvalError, NotSupported
from nb_mlops.evals.ppl import (
    PerplexityResult,
    perplexity,
    perplexity_from_logprobs,
)
from nb_mlops.evals.tinylm import CORPUS

LONG = " ".join(CORPUS[:4]) + " " + " ".join(CORPUS[22:26])  # English then Korean, ~90 tokens


def token_by_token(lm: HFModel, text: str, window: int, stride: int, prefix: bool = True):
    """(summed log-prob, tokens) computed one token at a time: token j of the sequence is
    predicted by the first window that reaches it, window k reading tokens [k*stride,
    k*stride + window) and predicting the one after each; the model runs on exactly the tokens
    from that window's start up to token j."""
    import torch

    tok = lm.tokenizer
    seq = ([tok.eos_token_id] if prefix else []) + tok.encode(text)
    total = 0.0
    for j in range(1, len(seq)):
        k = 0 if j <= window else math.ceil((j - window) / stride)
        context = seq[k * stride : j]
        assert 1 <= len(context) <= window
        with torch.no_grad():
            logits = lm.model(torch.tensor([context])).logits[0, -1]
        total += float(logits.log_softmax(-1)[seq[j]])
    return total, len(seq) - 1


@pytest.mark.parametrize(("window", "stride"), [(16, 16), (16, 8), (16, 5), (7, 1)])
def test_long_text_equals_token_by_token(tiny_lm: HFModel, window: int, stride: int) -> None:
    assert len(tiny_lm.tokenizer.encode(LONG)) > 4 * window
    result = perplexity(tiny_lm, LONG, max_length=window, stride=stride)
    logprob, n = token_by_token(tiny_lm, LONG, window, stride)
    assert result.tokens == n
    assert result.nll == pytest.approx(-logprob, rel=1e-5)
    assert result.score == pytest.approx(math.exp(-logprob / n), rel=1e-5)
    assert result.per_example == [pytest.approx(result.score, rel=1e-12)]
    assert result.method == (
        f"sliding window, max_length={window}, stride={stride}, first token scored after BOS/EOS"
    )


def test_overlap_gives_context_and_changes_the_number(tiny_lm: HFModel) -> None:
    disjoint = perplexity(tiny_lm, LONG, max_length=16, stride=16)
    overlapping = perplexity(tiny_lm, LONG, max_length=16, stride=4)
    whole = perplexity(tiny_lm, LONG)  # one window holds the whole text
    assert disjoint.tokens == overlapping.tokens == whole.tokens
    assert abs(disjoint.score - overlapping.score) > 1e-3
    assert "max_length=256, stride=128" in whole.method
    logprob, _ = token_by_token(tiny_lm, LONG, 256, 128)
    assert whole.nll == pytest.approx(-logprob, rel=1e-5)


def test_first_token_unscored_without_prefix(tiny_lm: HFModel) -> None:
    result = perplexity(tiny_lm, LONG, max_length=16, stride=8, prefix=False)
    logprob, n = token_by_token(tiny_lm, LONG, 16, 8, prefix=False)
    assert result.tokens == n == len(tiny_lm.tokenizer.encode(LONG)) - 1
    assert result.nll == pytest.approx(-logprob, rel=1e-5)
    assert "first token unscored" in result.method


def test_corpus_and_per_text(tiny_lm: HFModel) -> None:
    texts = [LONG, CORPUS[5], "x", ""]
    result = perplexity(tiny_lm, texts, max_length=16, stride=8, batch_size=3)
    parts = [token_by_token(tiny_lm, t, 16, 8) for t in texts]
    assert result.per_example_tokens == [n for _, n in parts]
    assert parts[3] == (0.0, 0)
    for got, (logprob, n) in zip(result.per_example[:3], parts[:3], strict=True):
        assert got == pytest.approx(math.exp(-logprob / n), rel=1e-5)
    assert math.isnan(result.per_example[3])
    total = sum(lp for lp, _ in parts)
    assert result.score == pytest.approx(math.exp(-total / sum(n for _, n in parts)), rel=1e-5)
    assert result.per_example[1] < 3  # a sentence it was trained on
    data = result.to_dict()
    assert data["per_example"][3] is None
    assert data["n"] == 4 and data["tokens"] == result.tokens
    assert data["score"] == pytest.approx(result.score)
    assert data["method"] == result.method
    assert data["model"] == tiny_lm.identity.label


def test_model_given_as_path_or_spec(tiny_lm_path: Path, tiny_lm: HFModel) -> None:
    want = perplexity(tiny_lm, CORPUS[:3]).score
    assert perplexity(str(tiny_lm_path), CORPUS[:3]).score == pytest.approx(want, rel=1e-6)
    assert perplexity(f"hf:{tiny_lm_path}", CORPUS[:3]).score == pytest.approx(want, rel=1e-6)
    assert perplexity(tiny_lm_path, CORPUS[:3]).score == pytest.approx(want, rel=1e-6)


def test_bad_arguments(tiny_lm: HFModel, tmp_path: Path) -> None:
    cases = [
        ({"max_length": 300}, "between 1 and the model's window 256"),
        ({"max_length": 0}, "between 1 and the model's window"),
        ({"max_length": 16, "stride": 17}, "stride 17 must be between 1 and max_length 16"),
        ({"stride": 0}, "stride 0 must be between 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(EvalError, match=message):
            perplexity(tiny_lm, LONG, **kwargs)
    with pytest.raises(EvalError, match="text 1 is int, not a string"):
        perplexity(tiny_lm, ["ok", 3])
    with pytest.raises(NotSupported, match="perplexity_from_logprobs"):
        perplexity(CallableModel(lambda p: p), ["text"])
    with pytest.raises(EvalError, match="not a model"):
        perplexity(42, ["text"])
    with pytest.raises(EvalError, match="no such folder"):
        perplexity(f"hf:{tmp_path / 'nothing'}", ["text"])


def test_from_logprobs() -> None:
    flat = perplexity_from_logprobs([-1.0, -1.0, -1.0])
    assert flat.score == pytest.approx(math.e)
    assert flat.tokens == 3 and flat.per_example == [pytest.approx(math.e)]
    nested = perplexity_from_logprobs([[-1.0, -3.0], [-2.0], []])
    assert nested.per_example[:2] == [pytest.approx(math.exp(2.0)), pytest.approx(math.exp(2.0))]
    assert math.isnan(nested.per_example[2])
    assert nested.score == pytest.approx(math.exp(6.0 / 3))
    assert nested.per_example_tokens == [2, 1, 0]
    assert nested.to_dict()["per_example"][2] is None
    assert perplexity_from_logprobs([0, -2]).score == pytest.approx(math.e)  # ints count


def test_from_logprobs_agrees_with_the_model(tiny_lm: HFModel) -> None:
    import torch

    tok = tiny_lm.tokenizer
    seq = [tok.eos_token_id, *tok.encode(CORPUS[7])]
    with torch.no_grad():
        logprobs = tiny_lm.model(torch.tensor([seq[:-1]])).logits[0].log_softmax(-1)
    values = [float(logprobs[i, t]) for i, t in enumerate(seq[1:])]
    assert perplexity_from_logprobs(values).score == pytest.approx(
        perplexity(tiny_lm, CORPUS[7]).score, rel=1e-5
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ([], "no log-probs given"),
        ([[], []], "no log-probs given"),
        ([-1.0, 0.5], "token 1: 0.5 is not a log-probability"),
        ([-1.0, float("nan")], "token 1: nan is not a log-probability"),
        ([[-1.0], [-1.0, "x"]], "text 1, token 1: 'x' is not a log-probability"),
        ([[-1.0], -2.0], "text 1 is not a list of log-probs"),
        (["abc"], "text 0 is not a list of log-probs"),
        ([True, -1.0], "text 0 is not a list of log-probs"),
    ],
)
def test_from_logprobs_errors(given: list, message: str) -> None:
    with pytest.raises(EvalError, match=message) as info:
        perplexity_from_logprobs(given)
    assert "\n" not in str(info.value)


def test_text_and_html_forms_escape_user_text() -> None:
    result = PerplexityResult(
        per_example_nll=[2.0, 1.0],
        per_example_tokens=[2, 1],
        method="sliding window, max_length=8, stride=4, first token scored after BOS/EOS",
        model="<b>m</b>",
        texts=["<script>alert(1)</script>", "안녕하세요"],
    )
    page = result.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;m&lt;/b&gt;" in page and "안녕하세요" in page
    text = result.to_text()
    assert "perplexity 2.7183 over 3 tokens in 2 texts" in text
    assert "max_length=8, stride=4" in text
    many = PerplexityResult([1.0] * 25, [1] * 25, "m", texts=["t"] * 25)
    assert "... 5 more" in many.to_text() and "... 5 more" in many.to_html()
