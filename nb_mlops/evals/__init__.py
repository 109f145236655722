"""LLM evaluation: models with an identity, text metrics, perplexity, benchmarks, eval runs.

Names load on first use, so `import nb_mlops.evals` stays cheap: the metrics need the `eval`
extra (sacrebleu, rouge-score), the local model adapter transformers and torch, Korean
morphemes the `ko` extra (kiwipiepy).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Adapter": "model",
    "CallableModel": "model",
    "EvalError": "model",
    "ModelIdentity": "model",
    "Reply": "model",
    "as_adapter": "model",
    "resolve": "model",
    "bleu": "metrics",
    "chrf": "metrics",
    "rouge": "metrics",
    "exact_match": "metrics",
    "token_f1": "metrics",
    "TextScore": "metrics",
    "bootstrap_ci": "bootstrap",
    "mean_ci": "bootstrap",
    "ChoiceResult": "choice",
    "parse_choice": "choice",
    "dataset_hash": "datasets",
    "list_samples": "samples",
    "perplexity_from_logprobs": "ppl",
    "EvalResult": "run",
    "Scoreboard": "scoreboard",
    "regressions": "scoreboard",
    "side_by_side": "scoreboard",
    "perplexity": "ppl",
    "HFModel": "hf",
    "EndpointModel": "endpoint",
    "multiple_choice": "choice",
    "load_items": "datasets",
    "sample_path": "samples",
    "build_tiny_lm": "tinylm",
    "evaluate": "run",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'nb_mlops.evals' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"nb_mlops.evals.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
