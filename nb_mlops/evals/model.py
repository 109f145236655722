"""What the evaluator calls: a model with an identity, asked in batches.

A user's model is any callable `generate(prompt, **options) -> str`, optionally with
`loglikelihood(context, continuation) -> float` (or the batched `generate_batch(prompts,
**options)` / `loglikelihood_batch(pairs)`). `as_adapter` wraps one in an `Adapter`, the one
interface the benchmark runner, the metrics and the evaluation run use; the transformers and
OpenAI-compatible adapters (evals/hf.py, evals/endpoint.py) implement it directly.

Every answer is a `Reply` that carries the version the provider reported for that call, and an
error instead of a value when the call failed: an error is recorded as an error, never as a score.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nb_mlops.errors import NbMlopsError


class EvalError(NbMlopsError):
    """An evaluation cannot start or go on: a model spec, a dataset or a metric is at fault."""


class NotSupported(EvalError):
    """The model cannot do what was asked (log-likelihoods from a generate-only model)."""


@dataclass
class Reply:
    """One answer of a model: generated `text` or the log-likelihood `value` of a continuation.

    `version` is what the provider reported for this very call (an endpoint's `model` field,
    which can differ from the name requested); `error` says why there is no answer.
    """

    text: str | None = None
    value: float | None = None
    greedy: bool | None = None
    """For a log-likelihood: whether the continuation is what greedy decoding would produce."""
    tokens: int | None = None
    """For a log-likelihood: how many tokens the continuation scored."""
    version: str | None = None
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("text", "value", "greedy", "tokens", "version", "error"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        known = ("text", "value", "greedy", "tokens", "version", "error")
        return cls(**{k: data[k] for k in known if k in data})


@dataclass(frozen=True)
class ModelIdentity:
    """Which model answered: enough to tell two versions behind one name apart.

    `provider` is hf, openai, registry or python; `name` what the user named (a folder, the
    requested model, `models:/NAME/3`, `module:attr`); `version` what the provider reports (an
    endpoint's `model` field, a registry version); `fingerprint` the weights' fingerprint for a
    local model (the registry's); `settings` the decoding settings. Keys never go in here.
    """

    provider: str
    name: str
    version: str | None = None
    fingerprint: str | None = None
    endpoint: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def with_version(self, version: str | None) -> ModelIdentity:
        return replace(self, version=version)

    def with_settings(self, settings: Mapping[str, Any]) -> ModelIdentity:
        return replace(self, settings={**self.settings, **settings})

    def key(self) -> str:
        """What separates cached answers: the model as reported, not how it is asked."""
        doc = {
            "provider": self.provider,
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "endpoint": self.endpoint,
        }
        raw = json.dumps(doc, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    @property
    def label(self) -> str:
        """Short name for tables: the name, and the version or fingerprint when known."""
        if self.version and self.version != self.name:
            return f"{self.name} ({self.version})"
        if self.fingerprint:
            return f"{self.name} ({self.fingerprint[:10]})"
        return self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "endpoint": self.endpoint,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelIdentity:
        return cls(
            provider=str(data.get("provider") or "python"),
            name=str(data.get("name") or ""),
            version=data.get("version"),
            fingerprint=data.get("fingerprint"),
            endpoint=data.get("endpoint"),
            settings=dict(data.get("settings") or {}),
        )

    def differences(self, other: ModelIdentity) -> list[str]:
        """What differs between two identities, one phrase each (empty when the same model)."""
        out = []
        for attr, what in (
            ("provider", "provider"),
            ("name", "name"),
            ("endpoint", "endpoint"),
            ("version", "reported version"),
            ("fingerprint", "weights fingerprint"),
        ):
            a, b = getattr(self, attr), getattr(other, attr)
            if a != b:
                short = (lambda v: v[:12] if v else v) if attr == "fingerprint" else (lambda v: v)
                out.append(f"{what} {short(a)} -> {short(b)}")
        keys = sorted(set(self.settings) | set(other.settings))
        for key in keys:
            a, b = self.settings.get(key), other.settings.get(key)
            if a != b:
                out.append(f"{key} {a!r} -> {b!r}")
        return out


class Adapter:
    """A model the evaluator can call in batches; subclasses set `identity` and answer.

    `generate` and `loglikelihood` return one Reply per request, in order, and never raise for
    one bad request: its Reply carries the error. `probe` asks an endpoint which version it
    serves now (None when the model has no such notion).
    """

    identity: ModelIdentity
    supports_loglikelihood: bool = False

    def generate(self, prompts: Sequence[str], **options: Any) -> list[Reply]:
        raise NotSupported(f"{self.identity.label} cannot generate text")

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Reply]:
        raise NotSupported(
            f"{self.identity.label} gives no log-likelihoods; use the generation mode "
            "(the model's answer is parsed for a letter)"
        )

    def probe(self) -> str | None:
        return None

    def close(self) -> None:
        """Release what the adapter holds (connections, a pool)."""


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class CallableModel(Adapter):
    """A plain callable (or an object with `generate`) as an Adapter.

    Batched forms are used when the object has them: `generate_batch(prompts, **options)`,
    `loglikelihood_batch(pairs)`. Its `version` attribute (if any) is the reported version.
    """

    def __init__(self, model: Any, name: str | None = None, provider: str = "python") -> None:
        gen = getattr(model, "generate", None)
        if not callable(gen):
            gen = model if callable(model) else None
        ll = getattr(model, "loglikelihood", None)
        self._generate_batch = getattr(model, "generate_batch", None)
        self._ll_batch = getattr(model, "loglikelihood_batch", None)
        forms = (gen, ll, self._generate_batch, self._ll_batch)
        if not any(callable(f) for f in forms):
            raise EvalError(
                f"{_describe(model)} is not a model: give a callable generate(prompt) -> str "
                "or an object with generate() or loglikelihood() (or their _batch forms)"
            )
        self._model = model
        self._generate = gen
        self._ll = ll if callable(ll) else None
        self.supports_loglikelihood = self._ll is not None or callable(self._ll_batch)
        version = getattr(model, "version", None)
        self.identity = ModelIdentity(
            provider=provider,
            name=name or _describe(model),
            version=str(version) if isinstance(version, str | int) else None,
        )

    def _version(self) -> str | None:
        version = getattr(self._model, "version", None)
        return str(version) if isinstance(version, str | int) else None

    def generate(self, prompts: Sequence[str], **options: Any) -> list[Reply]:
        if callable(self._generate_batch):
            try:
                texts = list(self._generate_batch(list(prompts), **options))
            except Exception as exc:
                return [Reply(error=_error_text(exc)) for _ in prompts]
            return [self._text_reply(t) for t in _exact(texts, len(prompts), "generate_batch")]
        if self._generate is None:
            return super().generate(prompts, **options)
        out = []
        for prompt in prompts:
            try:
                out.append(self._text_reply(self._generate(prompt, **options)))
            except Exception as exc:
                out.append(Reply(error=_error_text(exc)))
        return out

    def _text_reply(self, text: Any) -> Reply:
        if not isinstance(text, str):
            return Reply(error=f"the model returned {type(text).__name__}, not text")
        return Reply(text=text, version=self._version())

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[Reply]:
        if not self.supports_loglikelihood:
            return super().loglikelihood(requests)
        if callable(self._ll_batch):
            try:
                values = list(self._ll_batch([tuple(r) for r in requests]))
            except Exception as exc:
                return [Reply(error=_error_text(exc)) for _ in requests]
            return [
                self._value_reply(v) for v in _exact(values, len(requests), "loglikelihood_batch")
            ]
        out = []
        assert self._ll is not None
        for context, continuation in requests:
            try:
                out.append(self._value_reply(self._ll(context, continuation)))
            except Exception as exc:
                out.append(Reply(error=_error_text(exc)))
        return out

    def _value_reply(self, value: Any) -> Reply:
        greedy = None
        if isinstance(value, tuple) and len(value) == 2:  # lm-eval's (logprob, is_greedy)
            value, greedy = value
        try:
            number = float(value)
        except (TypeError, ValueError):
            return Reply(error=f"the model returned {type(value).__name__}, not a number")
        if number != number or number > 1e-9:
            return Reply(error=f"a log-likelihood must be a number <= 0, got {number!r}")
        return Reply(value=number, greedy=greedy, version=self._version())


def _exact(values: list[Any], n: int, what: str) -> list[Any]:
    if len(values) != n:
        raise EvalError(f"{what} returned {len(values)} answers for {n} requests")
    return values


def _describe(obj: Any) -> str:
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    module = getattr(target, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(target, "__qualname__", repr(obj))
    return f"{module}:{name}"


def as_adapter(model: Any, **options: Any) -> Adapter:
    """An Adapter for `model`: an Adapter as is, a spec string resolved (`hf:PATH`,
    `openai:BASE_URL#MODEL`, `models:/NAME@ALIAS`, `py:module:attr`), a callable wrapped."""
    if isinstance(model, Adapter):
        return model
    if isinstance(model, str):
        return resolve(model, **options)
    return CallableModel(model)


SPEC_HELP = (
    "name a model as hf:PATH (a local transformers folder), openai:BASE_URL#MODEL, "
    "models:/NAME@ALIAS (a registered model) or py:module:attr (a callable)"
)

Resolver = Callable[[str], Adapter]


def resolve(spec: str, *, workspace: Any = None, **options: Any) -> Adapter:
    """The Adapter a model spec names (see SPEC_HELP); `options` go to the adapter."""
    spec = spec.strip()
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise EvalError(f"model {spec!r}: {SPEC_HELP}")
    if scheme == "hf":
        from nb_mlops.evals.hf import HFModel

        return HFModel(rest, **options)
    if scheme == "openai":
        from nb_mlops.evals.endpoint import EndpointModel

        base, hash_, name = rest.rpartition("#")
        if not hash_ or not base or not name:
            raise EvalError(f"model {spec!r}: write openai:BASE_URL#MODEL")
        return EndpointModel(base, name, **options)
    if scheme == "models":
        from nb_mlops.evals.registered import registered_model

        return registered_model(spec, workspace=workspace, **options)
    if scheme == "py":
        return _python_model(spec, rest)
    raise EvalError(f"model {spec!r}: unknown kind {scheme!r}; {SPEC_HELP}")


def _python_model(spec: str, target: str) -> Adapter:
    """`py:module:attr` (a callable or model object) or `py:module` (a module with generate()
    and/or loglikelihood())."""
    obj = python_target(spec, what="model")
    if isinstance(obj, Adapter):
        return obj
    return CallableModel(obj, name=target)


def python_target(spec: str, *, what: str = "model") -> Any:
    """The object `py:module:attr` (or the module `py:module`) names; modules are found on
    sys.path and then in the cwd (a file beside the notebook or the shell's cwd)."""
    import importlib
    import os
    import sys

    scheme, _, target = spec.partition(":")
    module_name, _, attr = target.partition(":")
    if scheme != "py" or not module_name:
        raise EvalError(f"{what} {spec!r}: write py:module:attr")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise EvalError(f"{what} {spec!r}: cannot import {module_name}: {exc}") from None
    for part in attr.split(".") if attr else ():
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise EvalError(f"{what} {spec!r}: {module_name} has no {attr}") from None
    return obj
