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
    "record_eval": "run",
    "Judge": "judge",
    "Verdict": "judge",
    "JudgeResult": "judging",
    "judge_answers": "judging",
    "judge_pairs": "judging",
    "items_from_runs": "judging",
    "parse_rating": "verdicts",
    "parse_preference": "verdicts",
    "ask": "ask",
    "Unparsed": "ask",
    "load_prompt": "prompts",
    "serve_standin_judge": "standin",
    "battles_from_runs": "judging",
    "AnnotationTask": "annotate",
    "AnnotationSession": "annotate",
    "Criterion": "annotate",
    "DEFAULT_CRITERIA": "annotate",
    "Label": "annotate",
    "Agreement": "agreement",
    "JudgeAgreement": "agreement",
    "cohen_kappa": "agreement",
    "krippendorff_alpha": "agreement",
    "judge_agreement": "agreement",
    "rater_agreement": "agreement",
    "ArenaRatings": "arena",
    "battles_frame": "arena",
    "bradley_terry": "arena",
    "elo": "arena",
    "rag_scores": "rag",
    "RagResult": "rag",
    "split_claims": "claims",
    "evaluate_rag": "ragrun",
}

__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, _WHERE)
