"""Text metrics: BLEU and chrF through sacrebleu, ROUGE through rouge-score, exact match and
token F1 with SQuAD's normalisation. The libraries compute the numbers; this module feeds them,
names the tokenizer used and keeps what a bootstrap interval needs.

Scales: BLEU and chrF are sacrebleu's 0-100; ROUGE, exact match and token F1 are 0-1 (as
rouge-score and lm-evaluation-harness report them). `result.scale` says which (100 or 1).

`references` holds one string per prediction or a list of strings per prediction; the lists may
differ in length. BLEU and chrF get sacrebleu's reference streams, padded with None where an
example has fewer references (sacrebleu's own way to vary their number); ROUGE takes per example
the reference with the best F (rouge-score's `score_multi`); exact match and F1 the best match.

Korean (text with Hangul, or `lang="ko"`): ROUGE tokenizes into kiwi morphemes (see tokenize.py),
BLEU scores kiwi morphemes with sacrebleu's `tokenize="none"` (the offline counterpart of
sacrebleu's ko-mecab; without kiwipiepy, sacrebleu's `char`), chrF needs no tokenizer (character
n-grams), exact match and F1 compare morphemes with particles dropped. `.method` names the choice.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from nb_mlops.evals import tokenize as tok
from nb_mlops.evals.model import EvalError
from nb_mlops.results import Result
from nb_mlops.text import plural, text_table

References = Sequence[str | Sequence[str]]
"""One reference string, or a list of them, per prediction."""

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_ROUGE_TYPE = re.compile(r"rouge(?:[1-9]|L|Lsum)")
# sacrebleu tokenizers that fetch a model from the web on first use: nothing may download here.
_DOWNLOADING_TOKENIZERS = frozenset({"spm", "flores101", "flores200", "spBLEU-1K"})
_TITLES = {
    "bleu": "BLEU",
    "chrf": "chrF",
    "rouge": "ROUGE",
    "exact_match": "exact match",
    "f1": "token F1",
}


class TextScore(Result):
    """A corpus score with its per-example scores, the method that made it, and resampling.

    `scores` maps each score name (bleu; chrf; rouge1 ... rougeLsum; exact_match; f1) to its
    corpus value, `example_scores` the same names to one value per example. `score` and
    `per_example` are those of the first name. `resample(indices)` recomputes a corpus score
    on a resampled list of examples, for bootstrap intervals.
    """

    def __init__(
        self,
        name: str,
        scores: Mapping[str, float],
        example_scores: Mapping[str, list[float]],
        method: str,
        *,
        scale: float,
        resamplers: Mapping[str, Callable[[np.ndarray], float]],
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.scores = dict(scores)
        self.example_scores = {k: list(v) for k, v in example_scores.items()}
        self.method = method
        self.scale = scale
        self.details = dict(details or {})
        self._resamplers = dict(resamplers)

    @property
    def primary(self) -> str:
        """The score name `score` and `per_example` stand for."""
        return next(iter(self.scores))

    @property
    def score(self) -> float:
        return self.scores[self.primary]

    @property
    def per_example(self) -> list[float]:
        return self.example_scores[self.primary]

    @property
    def n(self) -> int:
        return len(self.per_example)

    def resample(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> float:
        """The corpus score `name` (default: the first) over the examples at `indices`, which
        may repeat: summed sufficient statistics for BLEU, a corpus chrF call for chrF, the mean
        of per-example scores for the rest."""
        key = self.primary if name is None else name
        if key not in self._resamplers:
            raise EvalError(f"{self.name} has no score {key!r}; it has {', '.join(self.scores)}")
        idx = np.asarray(indices, dtype=np.intp)
        if idx.ndim != 1 or idx.size == 0:
            raise EvalError("resample needs a non-empty list of example indices")
        if idx.min() < 0 or idx.max() >= self.n:
            raise EvalError(f"resample indices must lie in 0..{self.n - 1} for {self.n} examples")
        return float(self._resamplers[key](idx))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "scale": self.scale,
            "n": self.n,
            "method": self.method,
            "scores": dict(self.scores),
            "per_example": {k: list(v) for k, v in self.example_scores.items()},
            **self.details,
        }

    def _fmt(self, value: float) -> str:
        return f"{value:.2f}" if self.scale == 100 else f"{value:.4f}"

    def _type_rows(self) -> list[list[str]]:
        types = self.details.get("types", {})
        return [
            [t, self._fmt(d["precision"]), self._fmt(d["recall"]), self._fmt(d["fmeasure"])]
            for t, d in types.items()
        ]

    def _title(self) -> str:
        scale = "0-100" if self.scale == 100 else "0-1"
        return (
            f"{_TITLES.get(self.name, self.name)} over {plural(self.n, 'example')} (scale {scale})"
        )

    def to_text(self) -> str:
        lines = [self._title()]
        rows = self._type_rows()
        if rows:
            lines.append(text_table(["type", "precision", "recall", "F"], rows))
        else:
            lines.extend(f"{k} = {self._fmt(v)}" for k, v in self.scores.items())
        lines.append(f"method: {self.method}")
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        rows = self._type_rows()
        if rows:
            head = "<tr><th>type</th><th>precision</th><th>recall</th><th>F</th></tr>"
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows
            )
        else:
            head = "<tr><th>score</th><th>value</th></tr>"
            body = "".join(
                f"<tr><td>{esc(k)}</td><td>{esc(self._fmt(v))}</td></tr>"
                for k, v in self.scores.items()
            )
        return (
            f'<div class="nbm-textscore"><b>{esc(self._title())}</b>'
            f"<table>{head}{body}</table>"
            f"<div>method: <code>{esc(self.method)}</code></div></div>"
        )


# ---- input -----------------------------------------------------------------------------------


def _as_list(what: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)):
        raise EvalError(f"{what} must be a list with one entry per example, not a single string")
    if isinstance(value, Mapping):
        raise EvalError(f"{what} must be a list with one entry per example, not a mapping")
    try:
        return list(value)
    except TypeError:
        raise EvalError(f"{what} must be a list, not {type(value).__name__}") from None


def examples(
    predictions: Sequence[str], references: References
) -> tuple[list[str], list[list[str]]]:
    """Checked inputs: the predictions, and for each one its list of references.

    Raises EvalError for empty input, different lengths, non-strings and empty reference lists.
    """
    preds = _as_list("predictions", predictions)
    refs = _as_list("references", references)
    if len(preds) != len(refs):
        raise EvalError(
            f"predictions has {len(preds)} items but references has {len(refs)}: "
            "give one reference (or a list of references) per prediction"
        )
    if not preds:
        raise EvalError("nothing to score: predictions and references are both empty")
    for i, p in enumerate(preds):
        if not isinstance(p, str):
            raise EvalError(f"predictions[{i}] is {type(p).__name__}, not a string")
    out: list[list[str]] = []
    for i, r in enumerate(refs):
        items = [r] if isinstance(r, str) else _as_list(f"references[{i}]", r)
        if not items:
            raise EvalError(f"references[{i}] is empty: each prediction needs a reference")
        for j, x in enumerate(items):
            if not isinstance(x, str):
                raise EvalError(f"references[{i}][{j}] is {type(x).__name__}, not a string")
        out.append(items)
    return [str(p) for p in preds], [[str(x) for x in r] for r in out]


def _texts(preds: list[str], refs: list[list[str]]) -> Iterable[str]:
    yield from preds
    for r in refs:
        yield from r


def _streams(refs: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: stream k holds every example's k-th reference, None where missing."""
    width = max(len(r) for r in refs)
    return [[r[k] if k < len(r) else None for r in refs] for k in range(width)]


def _mean_resampler(values: list[float]) -> Callable[[np.ndarray], float]:
    array = np.asarray(values, dtype=float)
    return lambda idx: float(np.mean(array[idx]))


def _mean(values: list[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=float)))


# ---- BLEU and chrF ---------------------------------------------------------------------------


def bleu(
    predictions: Sequence[str],
    references: References,
    *,
    lang: str | None = None,
    tokenize: str | None = None,
    lowercase: bool = False,
) -> TextScore:
    """Corpus BLEU by sacrebleu (`BLEU().corpus_score`), 0-100, with sacrebleu's sentence BLEU
    per example and its signature in `.method`.

    `tokenize` is a sacrebleu tokenizer name ('13a', 'intl', 'char', 'zh', 'none', ...) or
    'kiwi' (Korean morphemes, scored with 'none'); by default '13a', and for Korean 'kiwi'
    ('char' without kiwipiepy). Tokenizers that download a model (spm, flores) are refused.
    """
    from sacrebleu.metrics import BLEU

    preds, refs = examples(predictions, references)
    note = ""
    if tokenize is None:
        if tok.choose_lang(_texts(preds, refs), lang) == "ko":
            tokenize = "kiwi" if tok.load_kiwi() is not None else "char"
            if tokenize == "char":
                note = " (Korean as characters: kiwipiepy not installed)"
        else:
            tokenize = BLEU.TOKENIZER_DEFAULT
    elif lang is not None:
        tok.choose_lang((), lang)
    if tokenize == "kiwi":
        version = tok.kiwi_version()
        preds = [tok.kiwi_segmented(p) for p in preds]
        refs = [[tok.kiwi_segmented(r) for r in rs] for rs in refs]
        sacre_tokenize = "none"
        note = f" (kiwi morphemes, kiwipiepy {version})"
    elif tokenize in _DOWNLOADING_TOKENIZERS:
        raise EvalError(
            f"sacrebleu tokenizer {tokenize!r} downloads a model; use 13a, intl, char or kiwi"
        )
    elif tokenize not in BLEU.TOKENIZERS:
        known = ", ".join(
            [*(t for t in BLEU.TOKENIZERS if t not in _DOWNLOADING_TOKENIZERS), "kiwi"]
        )
        raise EvalError(f"unknown BLEU tokenizer {tokenize!r}; known: {known}")
    else:
        sacre_tokenize = tokenize
    try:
        corpus_metric = BLEU(tokenize=sacre_tokenize, lowercase=lowercase)
        sentence_metric = BLEU(tokenize=sacre_tokenize, lowercase=lowercase, effective_order=True)
    except Exception as exc:  # a tokenizer whose package is missing (ja-mecab, ko-mecab)
        reason = " ".join(str(exc).split())  # one line: sacrebleu's message spans several
        raise EvalError(f"sacrebleu tokenizer {tokenize!r} cannot be used here: {reason}") from exc

    corpus = corpus_metric.corpus_score(preds, _streams(refs))
    signature = str(corpus_metric.get_signature())

    per_example: list[float] = []
    stats: list[list[int]] = []
    for pred, rs in zip(preds, refs, strict=True):
        sentence = sentence_metric.sentence_score(pred, rs)
        per_example.append(float(sentence.score))
        stats.append([sentence.sys_len, sentence.ref_len, *sentence.counts, *sentence.totals])

    resample = _bleu_resampler(corpus_metric, np.asarray(stats, dtype=np.int64))
    if resample(np.arange(len(preds))) != corpus.score:
        # sacrebleu changed how sentence statistics add up: stay correct, pay a corpus call each.
        resample = _corpus_resampler(corpus_metric.corpus_score, preds, refs)
    return TextScore(
        "bleu",
        {"bleu": float(corpus.score)},
        {"bleu": per_example},
        signature + note,
        scale=100,
        resamplers={"bleu": resample},
        details={
            "signature": signature,
            "counts": list(corpus.counts),
            "totals": list(corpus.totals),
            "precisions": [float(p) for p in corpus.precisions],
            "bp": float(corpus.bp),
            "sys_len": int(corpus.sys_len),
            "ref_len": int(corpus.ref_len),
        },
    )


def _bleu_resampler(metric: Any, stats: np.ndarray) -> Callable[[np.ndarray], float]:
    """BLEU of a resample from per-sentence statistics [sys_len, ref_len, counts, totals],
    through sacrebleu's public `BLEU.compute_bleu` with the corpus metric's settings."""
    order = metric.max_ngram_order

    def resample(idx: np.ndarray) -> float:
        total = [int(v) for v in stats[idx].sum(axis=0)]
        return metric.compute_bleu(
            correct=total[2 : 2 + order],
            total=total[2 + order :],
            sys_len=total[0],
            ref_len=total[1],
            smooth_method=metric.smooth_method,
            smooth_value=metric.smooth_value,
            effective_order=metric.effective_order,
            max_ngram_order=order,
        ).score

    return resample


def _corpus_resampler(
    corpus_score: Callable[..., Any], preds: list[str], refs: list[list[str]]
) -> Callable[[np.ndarray], float]:
    def resample(idx: np.ndarray) -> float:
        picked = [int(i) for i in idx]
        sub_refs = [refs[i] for i in picked]
        return float(corpus_score([preds[i] for i in picked], _streams(sub_refs)).score)

    return resample


def _chrf_fast_resampler(
    metric: Any, preds: list[str], refs: list[list[str]], score: float
) -> Callable[[np.ndarray], float] | None:
    """chrF of a resample from summed per-sentence statistics, or None when not possible.

    sacrebleu keeps these statistics behind underscore names (they serve its own paired
    bootstrap); calling the corpus chrF per resample instead costs about 0.4 s per resample at
    1,000 items. So they are used only after they reproduce the corpus score exactly on this
    very corpus, which also guards against a sacrebleu release that changes them.
    """
    try:
        stats = np.asarray(metric._extract_corpus_statistics(preds, _streams(refs)))  # noqa: SLF001
        from_stats = metric._compute_score_from_stats  # noqa: SLF001
        if from_stats(list(stats.sum(axis=0))).score != score:
            return None
    except (AttributeError, TypeError, ValueError):
        return None

    def resample(idx: np.ndarray) -> float:
        return float(from_stats(list(stats[idx].sum(axis=0))).score)

    return resample


def chrf(
    predictions: Sequence[str],
    references: References,
    *,
    word_order: int = 0,
    lowercase: bool = False,
    lang: str | None = None,
) -> TextScore:
    """Corpus chrF by sacrebleu (`CHRF().corpus_score`), 0-100; `word_order=2` is chrF++.

    chrF counts character n-grams, so Korean needs no tokenizer; `lang` only adds that note.
    Resampling sums sacrebleu's per-sentence chrF statistics (see `_chrf_fast_resampler`);
    where that is not possible it calls the corpus chrF on each resample (slow).
    """
    from sacrebleu.metrics import CHRF

    preds, refs = examples(predictions, references)
    korean = tok.choose_lang(_texts(preds, refs), lang) == "ko"
    corpus_metric = CHRF(word_order=word_order, lowercase=lowercase)
    corpus = corpus_metric.corpus_score(preds, _streams(refs))
    signature = str(corpus_metric.get_signature())
    sentence_metric = CHRF(word_order=word_order, lowercase=lowercase)
    per_example = [
        float(sentence_metric.sentence_score(p, rs).score)
        for p, rs in zip(preds, refs, strict=True)
    ]

    resampler = _chrf_fast_resampler(corpus_metric, preds, refs, float(corpus.score))
    if resampler is None:  # sacrebleu changed its statistics: stay correct, pay a corpus call each
        resampler = _corpus_resampler(corpus_metric.corpus_score, preds, refs)

    note = " (Korean: character n-grams as written)" if korean else ""
    return TextScore(
        "chrf",
        {"chrf": float(corpus.score)},
        {"chrf": per_example},
        signature + note,
        scale=100,
        resamplers={"chrf": resampler},
        details={"signature": signature},
    )


# ---- ROUGE -----------------------------------------------------------------------------------


def _rouge_types(types: str | Sequence[str]) -> tuple[str, ...]:
    chosen = (types,) if isinstance(types, str) else tuple(types)
    if not chosen:
        raise EvalError("rouge needs at least one type, e.g. rouge1")
    for t in chosen:
        if not isinstance(t, str) or not _ROUGE_TYPE.fullmatch(t):
            raise EvalError(f"unknown ROUGE type {t!r}; use rouge1..rouge9, rougeL or rougeLsum")
    if len(set(chosen)) != len(chosen):
        raise EvalError(f"ROUGE types repeat: {', '.join(chosen)}")
    return chosen


def rouge(
    predictions: Sequence[str],
    references: References,
    *,
    types: str | Sequence[str] = ROUGE_TYPES,
    lang: str | None = None,
    tokenizer: Any = None,
    use_stemmer: bool = False,
) -> TextScore:
    """ROUGE by rouge-score's `RougeScorer`: `scores[type]` is the mean F over examples (0-1),
    `score` that of the first type; precision and recall per type are in `to_dict()`.

    English keeps rouge-score's own tokenizer (and its Porter stemmer with `use_stemmer`);
    Korean uses kiwi morphemes, or Unicode words without kiwipiepy. `tokenizer` (any object
    with `.tokenize(text) -> list[str]`) overrides both; rouge-score then never stems.
    With several references an example scores against the best one (`score_multi`).
    """
    from rouge_score import rouge_scorer

    kinds = _rouge_types(types)
    preds, refs = examples(predictions, references)
    if tokenizer is not None:
        if not callable(getattr(tokenizer, "tokenize", None)):
            raise EvalError("rouge tokenizer must have a tokenize(text) -> list[str] method")
        if use_stemmer:
            raise EvalError("use_stemmer works with the built-in tokenizers only: stem in yours")
        if lang is not None:
            tok.choose_lang((), lang)
        method = (
            getattr(tokenizer, "method", "") or f"custom tokenizer ({type(tokenizer).__name__})"
        )
    elif tok.choose_lang(_texts(preds, refs), lang) == "ko":
        tokenizer = tok.korean_tokenizer(use_stemmer)
        method = tokenizer.method
    else:
        method = "rouge-score default tokenizer" + (", Porter stemmer" if use_stemmer else "")
    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=use_stemmer, tokenizer=tokenizer)

    parts: dict[str, dict[str, list[float]]] = {
        k: {"precision": [], "recall": [], "fmeasure": []} for k in kinds
    }
    for pred, rs in zip(preds, refs, strict=True):
        result = scorer.score(rs[0], pred) if len(rs) == 1 else scorer.score_multi(rs, pred)
        for k in kinds:
            parts[k]["precision"].append(float(result[k].precision))
            parts[k]["recall"].append(float(result[k].recall))
            parts[k]["fmeasure"].append(float(result[k].fmeasure))

    per_type = {
        k: {
            "precision": _mean(p["precision"]),
            "recall": _mean(p["recall"]),
            "fmeasure": _mean(p["fmeasure"]),
            "per_example": p,
        }
        for k, p in parts.items()
    }
    return TextScore(
        kinds[0] if len(kinds) == 1 else "rouge",
        {k: per_type[k]["fmeasure"] for k in kinds},
        {k: parts[k]["fmeasure"] for k in kinds},
        method,
        scale=1,
        resamplers={k: _mean_resampler(parts[k]["fmeasure"]) for k in kinds},
        details={"types": per_type},
    )


# ---- exact match and token F1 ----------------------------------------------------------------


def _f1(pred: list[str], gold: list[str]) -> float:
    """Token F1 of two token lists; two empty answers agree (SQuAD 2.0's rule)."""
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _answer_score(
    name: str,
    predictions: Sequence[str],
    references: References,
    lang: str | None,
    one: Callable[[tok.AnswerNormalizer, str, str], float],
) -> TextScore:
    preds, refs = examples(predictions, references)
    normalizer = tok.AnswerNormalizer(tok.choose_lang(_texts(preds, refs), lang))
    per_example = [
        max(one(normalizer, p, r) for r in rs) for p, rs in zip(preds, refs, strict=True)
    ]
    return TextScore(
        name,
        {name: _mean(per_example)},
        {name: per_example},
        normalizer.method,
        scale=1,
        resamplers={name: _mean_resampler(per_example)},
    )


def exact_match(
    predictions: Sequence[str], references: References, *, lang: str | None = None
) -> TextScore:
    """Share of predictions equal to a reference after SQuAD normalisation (0-1).

    Korean text compares kiwi morphemes without particles, so '학교에' matches '학교로'.
    """
    return _answer_score(
        "exact_match",
        predictions,
        references,
        lang,
        lambda n, p, r: float(n.key(p) == n.key(r)),
    )


def token_f1(
    predictions: Sequence[str], references: References, *, lang: str | None = None
) -> TextScore:
    """Mean SQuAD token F1 (0-1), each prediction against its best reference.

    Korean text counts kiwi morphemes without particles ('학교에 갔다' and '집에 갔다' share
    가/었/다: F1 0.75), or Unicode words without kiwipiepy.
    """
    return _answer_score(
        "f1", predictions, references, lang, lambda n, p, r: _f1(n.tokens(p), n.tokens(r))
    )


# ---- registry --------------------------------------------------------------------------------


def _rouge_of(kind: str) -> Callable[..., TextScore]:
    def score(predictions: Sequence[str], references: References, **options: Any) -> TextScore:
        return rouge(predictions, references, types=(kind,), **options)

    score.__name__ = score.__qualname__ = kind
    score.__doc__ = f"{kind} alone: see `rouge`."
    return score


METRICS: dict[str, Callable[..., TextScore]] = {
    "bleu": bleu,
    "chrf": chrf,
    **{kind: _rouge_of(kind) for kind in ROUGE_TYPES},
    "rouge": rouge,
    "exact_match": exact_match,
    "f1": token_f1,
}
"""Metric name -> function(predictions, references, **options) -> TextScore."""


def metric(name: str) -> Callable[..., TextScore]:
    """The metric function called `name` in METRICS; EvalError naming the known ones."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise EvalError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
