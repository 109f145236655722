"""LLM evaluation: models with an identity, text metrics, perplexity, benchmarks, eval runs.

Names load on first use, so `import nb_mlops.evals` stays cheap: the metrics need the `eval`
extra (sacrebleu, rouge-score), the local model adapter transformers and torch, Korean
morphemes the `ko` extra (kiwipiepy).
"""

from __future__ import annotations

from nb_mlops.lazy import exports

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
__getattr__, __dir__ = exports(__name__, _WHERE)
