"""Perplexity of a causal LM on texts, by the sliding-window method, or from given log-probs.

A text of n tokens rarely fits one forward pass, so it is read through windows of `max_length`
input tokens that start every `stride` tokens. Each token is scored once, by the first window
that predicts it, and sees as context everything from that window's start up to itself: with
`stride == max_length` the windows do not overlap (the first token of each new window has only
one token before it), with a smaller stride each newly scored token keeps at least
`max_length - stride + 1` tokens of context. Windows of all texts are batched together.

The first token of a text has nothing before it. By default the model's prefix token (BOS, else
EOS) goes in front, so every token of the text is scored, as lm-eval's rolling log-likelihood
does; `prefix=False` (or a tokenizer with neither token) leaves the first token unscored, as
Hugging Face's perplexity guide does. `.method` says which.

Perplexity = exp(total negative log-likelihood / tokens scored): over the corpus for `.score`,
per text for `.per_example` (NaN for a text with no scored token).
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.evals.model import Adapter, EvalError, NotSupported
from nb_mlops.results import Result

SHOWN = 20
"""Texts listed in the text and HTML forms (all of them are in `.to_dict()`)."""


@dataclass(repr=False)
class PerplexityResult(Result):
    """Corpus perplexity (`.score`), per-text perplexity, tokens scored and how."""

    per_example_nll: list[float]
    per_example_tokens: list[int]
    method: str
    model: str | None = None
    texts: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Tokens scored over all texts."""
        return sum(self.per_example_tokens)

    @property
    def nll(self) -> float:
        """Total negative log-likelihood (nats) over all scored tokens."""
        return sum(self.per_example_nll)

    @property
    def score(self) -> float:
        """exp(total NLL / total tokens): the corpus perplexity."""
        return math.exp(self.nll / self.tokens) if self.tokens else math.nan

    @property
    def per_example(self) -> list[float]:
        """Each text's own perplexity (NaN when none of its tokens was scored)."""
        return [
            math.exp(nll / n) if n else math.nan
            for nll, n in zip(self.per_example_nll, self.per_example_tokens, strict=True)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": _finite(self.score),
            "per_example": [_finite(v) for v in self.per_example],
            "per_example_tokens": list(self.per_example_tokens),
            "per_example_nll": list(self.per_example_nll),
            "tokens": self.tokens,
            "nll": self.nll,
            "n": len(self.per_example_tokens),
            "method": self.method,
            "model": self.model,
        }

    def _rows(self) -> list[tuple[str, str, str]]:
        out = []
        for i, (ppl, n) in enumerate(zip(self.per_example, self.per_example_tokens, strict=True)):
            if i == SHOWN:
                break
            label = self.texts[i] if i < len(self.texts) else str(i)
            label = label if len(label) <= 60 else label[:57] + "..."
            out.append((label, _fmt(ppl), str(n)))
        return out

    def _head(self) -> str:
        who = f"{self.model}: " if self.model else ""
        return (
            f"{who}perplexity {_fmt(self.score)} over {self.tokens} tokens in "
            f"{len(self.per_example_tokens)} texts"
        )

    def to_text(self) -> str:
        lines = [self._head(), f"method: {self.method}"]
        lines.extend(f"  {ppl:>10}  {n:>6}  {label}" for label, ppl, n in self._rows())
        more = len(self.per_example_tokens) - SHOWN
        if more > 0:
            lines.append(f"  ... {more} more")
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        body = "".join(
            f"<tr><td>{e(label)}</td><td>{e(ppl)}</td><td>{e(n)}</td></tr>"
            for label, ppl, n in self._rows()
        )
        more = len(self.per_example_tokens) - SHOWN
        tail = f"<div>... {more} more</div>" if more > 0 else ""
        return (
            f"<div class='nbm-perplexity'><div><b>{e(self._head())}</b></div>"
            f"<div>method: <code>{e(self.method)}</code></div>"
            "<table class='nbm-table'><tr><th>text</th><th>perplexity</th><th>tokens</th></tr>"
            f"{body}</table>{tail}</div>"
        )


def perplexity(
    model: Any,
    texts: str | Sequence[str],
    *,
    stride: int | None = None,
    max_length: int | None = None,
    batch_size: int | None = None,
    prefix: bool = True,
) -> PerplexityResult:
    """Perplexity of a causal LM on `texts` by the sliding-window method (module docstring).

    `model` is an `HFModel`, a local transformers folder, or `hf:PATH`. `max_length` is the
    window in input tokens (default: the model's), `stride` how far windows move (default: half
    the window), `batch_size` windows per forward pass (default: the model's).
    """
    from nb_mlops.evals.hf import HFModel

    lm = _model(model, HFModel)
    docs = [texts] if isinstance(texts, str) else list(texts)
    for i, text in enumerate(docs):
        if not isinstance(text, str):
            raise EvalError(f"perplexity: text {i} is {type(text).__name__}, not a string")
    window = int(max_length) if max_length is not None else lm.max_length
    if not 1 <= window <= lm.max_length:
        raise EvalError(
            f"perplexity: max_length {max_length} must be between 1 and the model's window "
            f"{lm.max_length}"
        )
    step = int(stride) if stride is not None else max(1, window // 2)
    if not 1 <= step <= window:
        raise EvalError(
            f"perplexity: stride {stride} must be between 1 and max_length {window} "
            "(a larger stride would skip tokens)"
        )
    size = int(batch_size) if batch_size is not None else lm.batch_size
    if size < 1:
        raise EvalError(f"perplexity: batch_size must be >= 1, got {batch_size}")
    start = lm.prefix_token_id if prefix else None
    encoded = lm.encode(docs, add_special_tokens=False)
    sequences = [([start] if start is not None else []) + ids for ids in encoded]
    windows = [w for i, seq in enumerate(sequences) for w in windows_of(i, seq, window, step)]
    nll = [0.0] * len(docs)
    counts = [0] * len(docs)
    windows.sort(key=lambda w: -len(w[1]))
    for chunk in lm.chunks(windows, [len(w[1]) - 1 for w in windows], size):
        for text, value, n in _score(lm, chunk):
            nll[text] += value
            counts[text] += n
    first = "first token scored after BOS/EOS" if start is not None else "first token unscored"
    method = f"sliding window, max_length={window}, stride={step}, {first}"
    return PerplexityResult(
        per_example_nll=nll,
        per_example_tokens=counts,
        method=method,
        model=lm.identity.label,
        texts=docs,
    )


def windows_of(
    text: int, seq: list[int], window: int, stride: int
) -> list[tuple[int, list[int], int]]:
    """(text index, window tokens, how many of its last targets are new) for one sequence.

    A window starting at b reads seq[b : b + window] and predicts seq[b + 1 : b + window + 1];
    the tokens it predicts that no earlier window predicted are its new ones.
    """
    out = []
    done = 0  # the last position already predicted
    begin = 0
    n = len(seq)
    while done < n - 1:
        last = min(begin + window, n - 1)
        out.append((text, seq[begin : last + 1], last - done))
        done = last
        begin += stride
    return out


def _score(lm: Any, chunk: list[tuple[int, list[int], int]]) -> list[tuple[int, float, int]]:
    """Summed NLL of each window's new tokens, in one right-padded forward pass."""
    import torch

    width = max(len(tokens) - 1 for _, tokens, _ in chunk)
    ids = torch.zeros((len(chunk), width), dtype=torch.long)
    for r, (_, tokens, _) in enumerate(chunk):
        ids[r, : len(tokens) - 1] = torch.tensor(tokens[:-1], dtype=torch.long)
    logits = lm.logits(ids)
    out = []
    for r, (text, tokens, new) in enumerate(chunk):
        end = len(tokens) - 1
        logprobs = logits[r, end - new : end].float().log_softmax(dim=-1)
        target = torch.tensor(tokens[-new:], device=logprobs.device)
        picked = logprobs.gather(1, target.unsqueeze(1)).squeeze(1)
        out.append((text, -float(picked.sum()), new))
    return out


def perplexity_from_logprobs(
    token_logprobs: Sequence[float] | Sequence[Sequence[float]], *, method: str | None = None
) -> PerplexityResult:
    """Perplexity from token log-probs the user already has (natural log, one per scored token):
    a list per text, or one flat list for a single text. `method` names where they came from."""
    items = list(token_logprobs)
    if not items:
        raise EvalError("perplexity_from_logprobs: no log-probs given")
    nested = not _is_number(items[0])
    texts = items if nested else [items]
    nll: list[float] = []
    counts: list[int] = []
    for i, values in enumerate(texts):
        if _is_number(values) or isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            raise EvalError(
                f"perplexity_from_logprobs: text {i} is not a list of log-probs "
                "(give one list per text, or one flat list)"
            )
        total = 0.0
        n = 0
        for j, value in enumerate(values):
            if not _is_number(value) or not math.isfinite(value) or value > 1e-9:
                raise EvalError(
                    f"perplexity_from_logprobs: text {i}, token {j}: {value!r} is not a "
                    "log-probability (a finite number <= 0)"
                )
            total -= float(value)
            n += 1
        nll.append(total)
        counts.append(n)
    if not sum(counts):
        raise EvalError("perplexity_from_logprobs: no log-probs given")
    return PerplexityResult(
        per_example_nll=nll,
        per_example_tokens=counts,
        method=method or "from token log-probs given by the caller",
    )


def _model(model: Any, hf_model: type) -> Any:
    if isinstance(model, hf_model):
        return model
    if isinstance(model, str | Path):
        spec = str(model)
        return hf_model(spec[3:] if spec.startswith("hf:") else spec)
    if isinstance(model, Adapter):
        raise NotSupported(
            f"perplexity needs a local transformers model (hf:PATH); {model.identity.label} "
            "gives no token log-probs here: use perplexity_from_logprobs with your own"
        )
    raise EvalError(
        f"perplexity: {type(model).__name__} is not a model; give an HFModel, a local "
        "transformers folder or hf:PATH"
    )


def _is_number(value: Any) -> bool:
    """A real number (numpy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4f}"
