"""A local Hugging Face transformers causal LM as an evaluation model (`hf:PATH`).

Log-likelihoods follow lm-evaluation-harness's `HFLM` to the token, so the multiple-choice
numbers can be compared with lm-eval's item by item:

* Trailing whitespace of a context moves to the start of its continuation. The pair is encoded
  as `whole = encode(context + continuation)`, `context_enc = encode(context)` and
  `continuation_enc = whole[len(context_enc):]`; the model reads `context_enc +
  continuation_enc`. An empty context becomes the model's prefix token (BOS, else EOS), unless
  the continuation already starts with it.
* Sequences longer than the window are cut from the left to `max_length + 1` tokens; the last
  token is only a target. The score is the sum of the continuation tokens' log-softmax values
  (computed in float32), and `greedy` says whether the argmax at every continuation position is
  the continuation's token.

Batching: requests are sorted by length (longest first, as lm-eval does) and run `batch_size`
rows at a time, right-padded: a causal model's logits at a position never see what comes after
it, so padding on the right cannot change a row's numbers and no attention mask is needed.

A shared context is encoded once: each distinct context string is tokenized once per call, and
requests whose model input is the same row, or a prefix of another request's row (an untruncated
one), are read from that one row instead of being run again. All single-token continuations of
one context (" A" / " B" / " C" / " D") therefore cost one forward row together, like lm-eval's
one-token grouping; a choice that is a prefix of another ("Paris" / "Paris, France") rides on the
longer one. Multi-token choices that differ early each run their own row, in the same batch.

Generation is batched with left padding, greedy unless `temperature > 0`, and returns only the
new text, cut at the first stop string.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.evals.model import Adapter, EvalError, ModelIdentity, Reply
from nb_mlops.evals.torch_state import quiet_transformers, seeded

INSTALL_HINT = 'pip install "nb-mlops[eval]"'
DEFAULT_MAX_LENGTH = 2048
"""The window when neither the config nor the tokenizer names one (lm-eval's default too)."""
_TOKENIZER_INFINITY = int(1e30)
_GENERATION = {"max_new_tokens": 64, "temperature": 0.0}
LOGITS_BUDGET = 1 << 28
"""Logits one forward pass may hold (rows x width x vocabulary): 1 GiB in float32. A batch of
long rows from a large vocabulary gets fewer rows, down to one, whatever `batch_size` says."""


@dataclass
class _Row:
    """One log-likelihood request, encoded: `full` = context tokens + continuation tokens."""

    index: int
    context: list[int]
    full: list[int]
    cont_len: int
    offset: int = 0
    """Tokens cut from the left to fit the window (0 when the row fits)."""
    riders: list[_Row] = field(default_factory=list)
    """Requests read from this row's logits instead of running their own."""


class HFModel(Adapter):
    """A transformers causal LM in a local folder, asked in batches (see the module docstring).

    `path` is the folder (as given: it is the identity's name); `batch_size` rows per forward
    pass; `max_length` the window in tokens (default: the config's `n_positions` /
    `max_position_embeddings`, else the tokenizer's limit, else 2048); `dtype` "auto" (as saved),
    "float32", "bfloat16", ... ; `generation_defaults` go to every `generate` call
    (`max_new_tokens`, `temperature`, `stop`, `top_p`, `seed`, ...).
    """

    supports_loglikelihood = True

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 16,
        max_length: int | None = None,
        device: str = "cpu",
        dtype: Any = None,
        **generation_defaults: Any,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise EvalError(
                f"hf:{path}: batch_size must be a whole number >= 1, got {batch_size!r}"
            )
        self.path = path
        self.batch_size = int(batch_size)
        self.device = device
        self._torch, self._model, self.tokenizer = _load(path, device, dtype)
        self.max_length = int(max_length) if max_length else _window(self._model, self.tokenizer)
        if self.max_length < 1:
            raise EvalError(f"hf:{path}: max_length must be >= 1, got {max_length}")
        self.generation_defaults = {**_GENERATION, **generation_defaults}
        self._dtype = str(self._model.dtype).removeprefix("torch.")
        self._identity: ModelIdentity | None = None

    # ------------------------------------------------------------------ identity
    @property
    def identity(self) -> ModelIdentity:  # type: ignore[override]
        """provider "hf", the folder as named, the weights' fingerprint (computed on first use,
        the registry's), the config's recorded name or tiny-LM tag as version, and settings."""
        if self._identity is None:
            from nb_mlops.registry.fingerprint import fingerprint

            self._identity = ModelIdentity(
                provider="hf",
                name=str(self.path),
                version=_version(self.path, self._model.config),
                fingerprint=fingerprint(self._model),
                settings=self.settings,
            )
        return self._identity

    @identity.setter
    def identity(self, value: ModelIdentity) -> None:
        self._identity = value

    @property
    def settings(self) -> dict[str, Any]:
        """How this model is asked: the window, the dtype and the decoding defaults."""
        return {"max_length": self.max_length, "dtype": self._dtype, **self.generation_defaults}

    @property
    def model(self) -> Any:
        """The loaded transformers model (for perplexity and for users who need it)."""
        return self._model

    @property
    def prefix_token_id(self) -> int | None:
        """What an empty context is replaced by: BOS, else EOS (lm-eval's rule)."""
        tok = self.tokenizer
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def encode(
        self, texts: Sequence[str], add_special_tokens: bool | None = None
    ) -> list[list[int]]:
        """Token ids of each text, in one tokenizer call. By default the tokenizer's own special
        tokens are added unless a text already starts with the prefix token (as lm-eval does)."""
        if not texts:
            return []
        if add_special_tokens is not None:
            return self._encode(list(texts), add_special_tokens)
        prefix = self.prefix_token_id
        mark = self.tokenizer.decode([prefix]) if prefix is not None else None
        flags = [not (mark and t.startswith(mark)) for t in texts]
        out: list[list[int]] = [[] for _ in texts]
        for flag in (True, False):
            picked = [i for i, f in enumerate(flags) if f == flag]
            if picked:
                for i, ids in zip(
                    picked, self._encode([texts[i] for i in picked], flag), strict=True
                ):
                    out[i] = ids
        return out

    def _encode(self, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
        enc = self.tokenizer(texts, add_special_tokens=add_special_tokens)
        return [list(ids) for ids in enc["input_ids"]]

    # ------------------------------------------------------------ log-likelihood
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Reply]:
        """log P(continuation | context) for each (context, continuation), in request order."""
        replies: list[Reply | None] = [None] * len(requests)
        rows = self._rows(requests, replies)
        hosts = _hosts(rows)
        for batch in self.chunks(hosts, [len(h.full) - h.offset - 1 for h in hosts]):
            try:
                self._score(batch, replies)
            except Exception as exc:
                text = _error_text(exc)
                for host in batch:
                    for row in (host, *host.riders):
                        replies[row.index] = Reply(error=text)
        return [r if r is not None else Reply(error="not scored") for r in replies]

    def _rows(self, requests: Sequence[tuple[str, str]], replies: list[Reply | None]) -> list[_Row]:
        """Encode the requests as lm-eval does; bad ones get their error Reply here."""
        pairs: list[tuple[int, str, str]] = []
        empty: list[tuple[int, str]] = []
        for i, request in enumerate(requests):
            try:
                context, continuation = request
            except (TypeError, ValueError):
                replies[i] = Reply(error="a request is a (context, continuation) pair")
                continue
            if not isinstance(context, str) or not isinstance(continuation, str):
                replies[i] = Reply(error="context and continuation must be text")
                continue
            spaces = len(context) - len(context.rstrip())
            if spaces:
                context, continuation = context[:-spaces], context[-spaces:] + continuation
            if context:
                pairs.append((i, context, continuation))
            else:
                empty.append((i, continuation))
        # each distinct context is encoded once; whole strings once each
        contexts = sorted({c for _, c, _ in pairs})
        context_ids = dict(zip(contexts, self.encode(contexts), strict=True))
        wholes = self.encode([c + k for _, c, k in pairs])
        rows: list[_Row] = []
        for (i, context, continuation), whole in zip(pairs, wholes, strict=True):
            ctx = context_ids[context]
            if ctx:
                rows.append(self._row(i, ctx, whole[len(ctx) :], replies))
            else:  # a context that encodes to nothing counts as empty
                empty.append((i, context + continuation))
        conts = self.encode([k for _, k in empty], add_special_tokens=False)
        prefix = self.prefix_token_id
        for (i, _), cont in zip(empty, conts, strict=True):
            if cont and prefix is not None and cont[0] == prefix:
                rows.append(self._row(i, cont[:1], cont[1:], replies))
            elif prefix is None:
                replies[i] = Reply(
                    error="an empty context needs a BOS or EOS token; the tokenizer has none"
                )
            else:
                rows.append(self._row(i, [prefix], cont, replies))
        return [r for r in rows if replies[r.index] is None]

    def _row(self, i: int, ctx: list[int], cont: list[int], replies: list[Reply | None]) -> _Row:
        if not cont:  # nothing to score: log 1 = 0
            replies[i] = Reply(value=0.0, greedy=True, tokens=0)
        elif len(cont) > self.max_length:
            replies[i] = Reply(
                error=f"the continuation has {len(cont)} tokens, more than the window of "
                f"{self.max_length}"
            )
        full = ctx + cont
        return _Row(i, ctx, full, len(cont), offset=max(0, len(full) - self.max_length - 1))

    def _score(self, batch: list[_Row], replies: list[Reply | None]) -> None:
        torch = self._torch
        inputs = [h.full[h.offset : -1] for h in batch]
        width = max(len(x) for x in inputs)
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        for r, x in enumerate(inputs):
            ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        logits = self.logits(ids)
        # every scored position of the batch in one gather: log-softmax only where it is read
        rows: list[_Row] = []
        at: list[int] = []
        places: list[int] = []
        targets: list[int] = []
        for r, host in enumerate(batch):
            for row in (host, *host.riders):
                end = len(row.full) - 1 - row.offset  # where its input ends in the host's
                rows.append(row)
                at.extend([r] * row.cont_len)
                places.extend(range(end - row.cont_len, end))
                targets.extend(row.full[-row.cont_len :])
        where = (torch.tensor(at), torch.tensor(places))
        logprobs = logits[where].float().log_softmax(dim=-1)
        target = torch.tensor(targets, device=logprobs.device)
        picked = logprobs.gather(1, target.unsqueeze(1)).squeeze(1).tolist()
        hits = (logprobs.argmax(dim=-1) == target).tolist()
        start = 0
        for row in rows:
            stop = start + row.cont_len
            replies[row.index] = Reply(
                value=sum(picked[start:stop]), greedy=all(hits[start:stop]), tokens=row.cont_len
            )
            start = stop

    def chunks(
        self, rows: Sequence[Any], widths: Sequence[int], size: int | None = None
    ) -> Iterator[list[Any]]:
        """`rows` (sorted longest first, `widths` their input lengths) in forward-pass batches:
        at most `size` rows (default `batch_size`) and LOGITS_BUDGET logits (one row at least)."""
        config = getattr(self._model.config, "text_config", None) or self._model.config
        vocab = int(getattr(config, "vocab_size", None) or len(self.tokenizer))
        start = 0
        while start < len(rows):
            fit = max(1, LOGITS_BUDGET // max(1, widths[start] * vocab))
            stop = min(len(rows), start + min(size or self.batch_size, fit))
            yield list(rows[start:stop])
            start = stop

    def logits(self, ids: Any) -> Any:
        """The model's logits for a right-padded batch of token ids (no attention mask: in a
        causal model nothing after a position reaches it, so the padding cannot either)."""
        with self._torch.inference_mode(), quiet_transformers():  # quiet: "pass an attention_mask"
            return self._model(ids.to(self.device), use_cache=False).logits

    # ---------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[str], **options: Any) -> list[Reply]:
        """Continue each prompt (greedy unless temperature > 0); only the new text, cut at the
        first `stop` string. Options override the defaults given at construction."""
        opts = {**self.generation_defaults, **options}
        stop = opts.pop("stop", None) or []
        stop = [stop] if isinstance(stop, str) else [s for s in stop if s]
        max_new = int(opts.pop("max_new_tokens", 64))
        temperature = float(opts.pop("temperature", 0.0) or 0.0)
        seed = opts.pop("seed", None)
        if max_new < 1:
            raise EvalError(f"hf:{self.path}: max_new_tokens must be >= 1, got {max_new}")
        replies: list[Reply | None] = [None] * len(prompts)
        good = [i for i, p in enumerate(prompts) if isinstance(p, str)]
        for i in set(range(len(prompts))) - set(good):
            replies[i] = Reply(error="a prompt must be text")
        keep = max(1, self.max_length - max_new)
        prefix = self.prefix_token_id
        encoded = [  # an empty prompt starts from the prefix token, as an empty context does
            ids or ([prefix] if prefix is not None else [])
            for ids in self.encode([prompts[i] for i in good])
        ]
        order = sorted(range(len(good)), key=lambda j: -len(encoded[j]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = [encoded[j][-keep:] for j in chunk]
            try:
                texts = self._generate(batch, max_new, temperature, seed, stop, opts)
            except Exception as exc:
                for j in chunk:
                    replies[good[j]] = Reply(error=_error_text(exc))
                continue
            for j, (text, n) in zip(chunk, texts, strict=True):
                replies[good[j]] = Reply(text=text, tokens=n)
        return [r if r is not None else Reply(error="not generated") for r in replies]

    def _generate(
        self,
        batch: list[list[int]],
        max_new: int,
        temperature: float,
        seed: Any,
        stop: list[str],
        opts: Mapping[str, Any],
    ) -> list[tuple[str, int]]:
        torch = self._torch
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        width = max(len(x) for x in batch)
        ids = torch.full((len(batch), width), pad if pad is not None else 0, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, x in enumerate(batch):  # left padding: every prompt ends at the last column
            if x:
                ids[r, width - len(x) :] = torch.tensor(x, dtype=torch.long)
                mask[r, width - len(x) :] = 1
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new,
            "pad_token_id": pad,
            "do_sample": temperature > 0,
            **{k: v for k, v in opts.items() if v is not None},
        }
        if temperature > 0:
            kwargs["temperature"] = temperature
        if stop:
            kwargs["stopping_criteria"] = _stop_criteria(torch, tok, width, stop)
        with (
            torch.inference_mode(),
            seeded(torch, seed),
            quiet_transformers(),
        ):
            out = self._model.generate(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs
            )
        ends = {tok.eos_token_id, pad} - {None}
        results = []
        for row in out[:, width:].tolist():
            n = len(row)
            for k, t in enumerate(row):
                if t in ends:
                    n = k
                    break
            text = tok.decode(row[:n], skip_special_tokens=True)
            results.append((_cut(text, stop), n))
        return results


# ---------------------------------------------------------------------- loading
def _load(path: str | Path, device: str, dtype: Any) -> tuple[Any, Any, Any]:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise EvalError(f"hf:{path}: no such folder")
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise EvalError(f"hf:{path}: not a transformers model folder (no config.json)")
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise EvalError(
            f"hf:{path}: the transformers adapter needs transformers and torch "
            f"({exc.name} is missing): {INSTALL_HINT}"
        ) from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    want = _dtype(torch, dtype, path)
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=want)
        model.to(device)
        model.eval()
    except Exception as exc:
        raise EvalError(f"hf:{path}: cannot load a causal LM: {_error_text(exc)}") from None
    return torch, model, tokenizer


def _dtype(torch: Any, dtype: Any, path: Any) -> Any:
    if dtype is None or dtype == "auto":
        return "auto"
    if isinstance(dtype, str):
        found = getattr(torch, dtype.removeprefix("torch."), None)
        if not isinstance(found, torch.dtype):
            raise EvalError(f"hf:{path}: unknown dtype {dtype!r} (try float32 or bfloat16)")
        return found
    return dtype


def _window(model: Any, tokenizer: Any) -> int:
    """The model's window: its config first, then the tokenizer, then 2048 (lm-eval's order)."""
    config = getattr(model.config, "text_config", None) or model.config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit < _TOKENIZER_INFINITY:
        return int(limit)
    return DEFAULT_MAX_LENGTH


def _version(path: str | Path, config: Any) -> str | None:
    """What the folder says it is: the `_name_or_path` its config.json recorded (a fine-tune's
    base, written by older transformers), else our tiny-LM tag, else None. transformers itself
    sets `_name_or_path` to the folder it loaded from (nothing new), so the file is read."""
    from nb_mlops.evals.tinylm import tag_of

    try:
        recorded = json.loads((Path(path).expanduser() / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        recorded = {}
    name = recorded.get("_name_or_path") if isinstance(recorded, dict) else None
    if isinstance(name, str) and name.strip():
        return name
    return tag_of(config)


# ------------------------------------------------------------------- batching
def _hosts(rows: list[_Row]) -> list[_Row]:
    """The rows that run, longest first; every other row rides on one whose input contains its
    own (the same input row, or an untruncated row its input is a prefix of)."""
    rows = sorted(rows, key=lambda r: (-len(r.full), tuple(r.full)))
    hosts: list[_Row] = []
    same: dict[tuple[int, ...], _Row] = {}
    by_context: dict[tuple[int, ...], list[_Row]] = {}
    for row in rows:
        key = tuple(row.full[row.offset : -1])
        host = same.get(key)
        if host is None and not row.offset:
            need = row.full[:-1]
            for candidate in by_context.get(tuple(row.context), ()):
                if candidate.full[: len(need)] == need:
                    host = candidate
                    break
        if host is not None:
            host.riders.append(row)
            continue
        hosts.append(row)
        same[key] = row
        if not row.offset:
            by_context.setdefault(tuple(row.context), []).append(row)
    return hosts


# ---------------------------------------------------------------------- helpers
def _stop_criteria(torch: Any, tokenizer: Any, width: int, stop: list[str]) -> Any:
    """Stop each row once its new text holds a stop string (rows stop on their own)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopStrings(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [
                any(s in tokenizer.decode(row[width:], skip_special_tokens=True) for s in stop)
                for row in input_ids.tolist()
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopStrings()])


def _cut(text: str, stop: list[str]) -> str:
    cut = len(text)
    for s in stop:
        at = text.find(s)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def _error_text(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
