"""RAG evaluation: is the answer faithful to the retrieved context, relevant to the question, and
is the retrieved context relevant to the question. In English and Korean.

Three measures per item, each a number in [0, 1] (embedding cosines in [-1, 1]):
- faithfulness: supported claims / claims of the answer;
- answer relevance: how directly the answer addresses the question;
- context relevance: relevant chunks / retrieved chunks (the precision of the retrieval).

Three ways to measure them, and every score names its way: `lexical` (content words shared,
fuzzily matched with rapidfuzz; Korean on kiwi morphemes so particles do not break a match),
`embeddings` (cosines of vectors from a function the user gives), and `judge` (an LLM asked with
our versioned prompts, `prompts/rag.<lang>.toml`). Nothing needs a network unless the judge does.
Each item keeps its explanation (which claim was unsupported, which chunk was irrelevant); an
item a judge could not answer readably after its retries is an error, never a score.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.evals.claims import Checked, RagItem, embedded, lexical, share
from nb_mlops.evals.model import EvalError
from nb_mlops.results import Result

MEASURES = ("faithfulness", "answer_relevance", "context_relevance")
METHODS = ("lexical", "embeddings", "judge")
THRESHOLDS: dict[str, dict[str, float]] = {
    "lexical": {"word": 85.0, "claim": 0.8, "context": 0.5},
    "embeddings": {"claim": 0.75, "context": 0.5},
    "judge": {},
}
"""Defaults per method. lexical: `word` = rapidfuzz fuzz.ratio (0-100) for two words to match,
`claim` = share of a claim's content words one context sentence must hold, `context` = share of
the question's content words a chunk must hold. embeddings: cosine a claim needs against its best
context sentence (`claim`) and a chunk against the question (`context`)."""
FIELDS = {
    "question": ("question", "user_input"),
    "answer": ("answer", "response"),
    "contexts": ("contexts", "retrieved_contexts", "context"),
}
"""Each field and the names it is read from, first found wins (ragas's names are accepted)."""
MAX_HTML_ROWS = 100
MAX_TEXT_ROWS = 30


# ---------------------------------------------------------------------------------- items
def rag_items(items: Any) -> list[RagItem]:
    """Validated items from a list of dicts or a DataFrame (see FIELDS); ids default to the
    position. A single string as `contexts` is one chunk."""
    if hasattr(items, "columns") and hasattr(items, "to_dict"):
        rows = items.to_dict("records")
    elif isinstance(items, Mapping | str) or not isinstance(items, Sequence):
        raise EvalError(
            f"RAG items: give a list of dicts or a DataFrame, not {type(items).__name__}"
        )
    else:
        rows = list(items)
    if not rows:
        raise EvalError("RAG items: none given (each needs question, answer and contexts)")
    out: list[RagItem] = []
    seen: set[str] = set()
    for position, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EvalError(f"RAG item {position}: a dict, not {type(row).__name__}")
        raw_id = row.get("id")
        item_id = str(position) if _missing(raw_id) else str(raw_id)
        where = f"RAG item {item_id!r}"
        if item_id in seen:
            raise EvalError(f"{where}: id is used by an earlier item")
        seen.add(item_id)
        question = _text_field(row, "question", where)
        answer = _text_field(row, "answer", where)
        contexts = _contexts(row, where)
        ref = row.get("reference")
        reference = None if _missing(ref) else _as_text(ref)
        out.append(RagItem(item_id, question, answer, contexts, reference))
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pick(row: Mapping[str, Any], name: str) -> Any:
    for key in FIELDS[name]:
        if key in row and not _missing(row[key]):
            return row[key]
    return None


def _text_field(row: Mapping[str, Any], name: str, where: str) -> str:
    value = _pick(row, name)
    if value is None:
        raise EvalError(f"{where}: no {name} (fields read: {', '.join(FIELDS[name])})")
    if not isinstance(value, str):
        raise EvalError(f"{where}: {name} is {type(value).__name__}, not text")
    if not value.strip():
        raise EvalError(f"{where}: {name} is empty")
    return value


def _contexts(row: Mapping[str, Any], where: str) -> tuple[str, ...]:
    value = _pick(row, "contexts")
    if value is None:
        raise EvalError(f"{where}: no contexts (the retrieved chunks, a list of strings)")
    chunks = [value] if isinstance(value, str) else value
    if isinstance(chunks, Mapping) or not hasattr(chunks, "__iter__"):
        raise EvalError(f"{where}: contexts is {type(value).__name__}, not a list of strings")
    chunks = list(chunks)
    if not chunks:
        raise EvalError(f"{where}: contexts is empty (give at least one retrieved chunk)")
    for i, chunk in enumerate(chunks):
        if not isinstance(chunk, str):
            raise EvalError(f"{where}: contexts[{i}] is {type(chunk).__name__}, not text")
        if not chunk.strip():
            raise EvalError(f"{where}: contexts[{i}] is empty")
    return tuple(chunks)


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " | ".join(str(v) for v in value)
    return str(value)


# ------------------------------------------------------------------------------ scoring
def rag_scores(
    items: Any,
    *,
    method: str = "lexical",
    lang: str | None = "en",
    judge: Any = None,
    embed: Callable[[list[str]], Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
    measures: Sequence[str] = MEASURES,
    retries: int | None = None,
) -> RagResult:
    """Faithfulness, answer relevance and context relevance of RAG `items`, by `method`.

    `method` is "lexical" (rapidfuzz word overlap, no model), "embeddings" (`embed(texts) ->
    (n, d)` array, a function of yours) or "judge" (`judge`: a model spec, a callable, an Adapter
    or a `Judge`; `retries` overrides the Judge's). `lang` is "en", "ko" or None (Korean when
    any text has Hangul); it picks the tokenizer and the judge's prompts. `thresholds` override
    THRESHOLDS for the method.
    """
    from nb_mlops.evals.tokenize import choose_lang

    rag = rag_items(items)
    wanted = _measures(measures)
    if method not in METHODS:
        raise EvalError(f"method={method!r}: choose {', '.join(METHODS)}")
    if embed is not None and method != "embeddings":
        raise EvalError(f"embed= goes with method='embeddings', not {method!r}")
    if judge is not None and method != "judge":
        raise EvalError(f"judge= goes with method='judge', not {method!r}")
    limits = _thresholds(method, thresholds)
    texts = [t for it in rag for t in (it.question, it.answer, *it.contexts)]
    lang = choose_lang(texts, None if lang is None else str(lang).lower())
    checked = [Checked(item) for item in rag]
    extra: dict[str, Any] = {}
    if method == "lexical":
        methods = lexical(checked, wanted, lang, limits)
    elif method == "embeddings":
        methods = embedded(checked, wanted, lang, limits, embed)
    else:
        methods, extra = judged(checked, wanted, lang, judge, retries)
    return summarize(checked, wanted, method, lang, limits, methods, **extra)


def _measures(measures: Sequence[str]) -> tuple[str, ...]:
    names = [measures] if isinstance(measures, str) else list(measures)
    if not names:
        raise EvalError(f"measures: give at least one of {', '.join(MEASURES)}")
    for name in names:
        if name not in MEASURES:
            raise EvalError(f"measure {name!r}: choose from {', '.join(MEASURES)}")
    return tuple(m for m in MEASURES if m in names)


def _thresholds(method: str, given: Mapping[str, float] | None) -> dict[str, float]:
    limits = dict(THRESHOLDS[method])
    for key, value in dict(given or {}).items():
        if key not in limits:
            known = ", ".join(limits) or "none"
            raise EvalError(f"threshold {key!r} does not apply to method {method!r} ({known})")
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise EvalError(f"threshold {key!r} must be a number, not {value!r}")
        low, high = (0, 100) if key == "word" else (-1 if method == "embeddings" else 0, 1)
        if not low <= value <= high:
            raise EvalError(f"threshold {key!r}={value!r} lies outside {low}..{high}")
        limits[key] = float(value)
    return limits


# --------------------------------------------------------------------------------- judge
JUDGE_PROMPTS = ("claims", "support", "answer_relevance", "context_relevance", "passage")


def judge_parts(judge: Any, retries: int | None) -> tuple[Any, Any, int, dict[str, Any]]:
    """Adapter, identity (probed), retries and decoding options of `judge`.

    A `Judge` (anything with an Adapter as `.adapter`) lends its identity, retries and
    options; anything else goes through `as_adapter`, is probed once, and is asked with no
    options and 2 retries.
    """
    from nb_mlops.evals.model import Adapter, ModelIdentity, as_adapter

    if judge is None:
        raise EvalError(
            "method='judge' needs judge=: a model spec, a callable, an Adapter or a Judge"
        )
    inner = getattr(judge, "adapter", None)
    if isinstance(inner, Adapter):
        adapter, identity = inner, getattr(judge, "identity", None)
        default = getattr(judge, "retries", 2)
        options = dict(getattr(judge, "options", None) or {})
    else:
        adapter, identity, default, options = as_adapter(judge), None, 2, {}
    if not isinstance(identity, ModelIdentity):
        version = adapter.probe()
        identity = adapter.identity.with_version(version) if version else adapter.identity
        identity = identity.with_settings(options)
    tries = default if retries is None else retries
    if isinstance(tries, bool) or not isinstance(tries, int) or tries < 0:
        raise EvalError(f"retries={tries!r}: give a whole number >= 0")
    return adapter, identity, tries, options


def judged(
    checked: list[Checked],
    measures: tuple[str, ...],
    lang: str,
    judge: Any,
    retries: int | None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Score `checked` in place by asking the judge our prompts (one prompt per item and
    measure: claims listed, then all of an item's claims checked in one numbered list; the
    answer rated 1-5, mapped to (rating - 1) / 4; all of an item's chunks judged in one list).
    Returns the method text per measure and the judge's record."""
    from nb_mlops.evals.ask import ask
    from nb_mlops.evals.claims import parse_claims, parse_judge_rating, set_faithfulness
    from nb_mlops.evals.prompts import load_prompt

    adapter, identity, tries, options = judge_parts(judge, retries)
    p = {name: load_prompt("rag", name, lang) for name in JUDGE_PROMPTS}
    seen: list[str | None] = []
    attempts = [0]

    def run(prompts: list[str], parse: Callable[[str], Any]) -> list[Any]:
        asked = ask(adapter, prompts, parse, retries=tries, options=options) if prompts else []
        seen.extend(a.version for a in asked)
        attempts[0] += sum(a.attempts for a in asked)
        return asked

    def passages(chunks: Sequence[str]) -> str:
        return "\n\n".join(p["passage"].render(number=i, text=t) for i, t in enumerate(chunks, 1))

    if "faithfulness" in measures:
        listed = run(
            [p["claims"].render(question=c.item.question, answer=c.item.answer) for c in checked],
            parse_claims,
        )
        todo = []
        for c, a in zip(checked, listed, strict=True):
            if not a.ok:
                c.errors["faithfulness"] = f"listing claims: {a.error}"
            elif a.value:
                todo.append((c, a.value))
        prompts = [
            p["support"].render(context=passages(c.item.contexts), claims=_numbered(claims))
            for c, claims in todo
        ]
        for (c, claims), a in zip(
            todo, _counted(run, prompts, [len(x) for _, x in todo]), strict=True
        ):
            if not a.ok:
                c.errors["faithfulness"] = f"checking claims: {a.error}"
                continue
            for claim, (ok, reason) in zip(claims, a.value, strict=True):
                c.claims.append(
                    {"claim": claim, "supported": ok, "score": None, "evidence": reason}
                )
            set_faithfulness(c)
    if "answer_relevance" in measures:
        rated = run(
            [p["answer_relevance"].render(question=c.item.question, answer=c.item.answer)
             for c in checked],
            parse_judge_rating,
        )  # fmt: skip
        for c, a in zip(checked, rated, strict=True):
            if not a.ok:
                c.errors["answer_relevance"] = a.error
                continue
            rating, reason = a.value
            c.values["answer_relevance"] = (rating - 1) / 4
            c.relevance_note = f"rated {rating:g}/5" + (f": {reason}" if reason else "")
    if "context_relevance" in measures:
        prompts = [
            p["context_relevance"].render(
                question=c.item.question, chunks=passages(c.item.contexts)
            )
            for c in checked
        ]
        counts = [len(c.item.contexts) for c in checked]
        for c, a in zip(checked, _counted(run, prompts, counts), strict=True):
            if not a.ok:
                c.errors["context_relevance"] = a.error
                continue
            for i, (ok, reason) in enumerate(a.value, 1):
                c.chunks.append({"chunk": i, "relevant": ok, "score": None, "reason": reason})
            c.values["context_relevance"] = share([ch["relevant"] for ch in c.chunks])
    version = p["claims"].version
    head = f"llm judge {identity.label}, prompt rag v{version} ({lang})"
    methods = {
        "faithfulness": f"{head}: supported claims / claims, listed and checked by the judge",
        "answer_relevance": f"{head}: rating 1-5 as (rating - 1) / 4",
        "context_relevance": f"{head}: chunks judged relevant / chunks",
    }
    record = {
        **identity.to_dict(),
        "label": identity.label,
        "reported": sorted({v for v in seen if v}),
        "retries": tries,
        "prompts": len(seen),
        "calls": attempts[0],
    }
    prompts_record = {"family": "rag", "lang": lang, "version": version}
    return methods, {"judge": record, "prompts": prompts_record}


def _numbered(lines: Sequence[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def _counted(run: Callable[..., list[Any]], prompts: list[str], counts: list[int]) -> list[Any]:
    """`run` over prompts whose answers must hold `counts[i]` numbered verdicts: one batch per
    count, so a short list is re-asked like any unreadable answer."""
    from nb_mlops.evals.claims import parse_verdicts

    out: list[Any] = [None] * len(prompts)
    for n in sorted(set(counts)):
        where = [i for i, k in enumerate(counts) if k == n]
        asked = run([prompts[i] for i in where], lambda text, n=n: parse_verdicts(text, n))
        for i, a in zip(where, asked, strict=True):
            out[i] = a
    return out


# ------------------------------------------------------------------------------ result
def summarize(
    checked: list[Checked],
    measures: tuple[str, ...],
    method: str,
    lang: str,
    limits: dict[str, float],
    methods: dict[str, str],
    **extra: Any,
) -> RagResult:
    """The result of scored items: a mean with a normal 95% interval per measure."""
    from nb_mlops.evals.bootstrap import mean_ci

    scores: dict[str, dict[str, Any]] = {}
    for m in measures:
        values = [c.values[m] for c in checked if c.values.get(m) is not None and m not in c.errors]
        if not values:
            continue
        ci = mean_ci([float(v) for v in values])
        floor = -1.0 if method == "embeddings" and m == "answer_relevance" else 0.0
        scores[m] = {
            "score": ci["mean"],
            "stderr": ci["stderr"],
            "low": max(floor, ci["low"]),
            "high": min(1.0, ci["high"]),
            "n": ci["n"],
            "errors": sum(m in c.errors for c in checked),
            "method": methods[m],
            "interval": f"normal 95%, clipped to {floor:g}..1",
        }
    rows = [item_row(c, measures) for c in checked]
    failures = [
        {"id": c.item.id, "measure": m, "error": e} for c in checked for m, e in c.errors.items()
    ]
    return RagResult(
        method=method,
        lang=lang,
        n=len(checked),
        measures=measures,
        scores=scores,
        methods={m: methods[m] for m in measures},
        rows=rows,
        errors=sum(bool(c.errors) for c in checked),
        failures=failures,
        thresholds=limits,
        **extra,
    )


def item_row(c: Checked, measures: tuple[str, ...]) -> dict[str, Any]:
    """One item's row for `RagResult.frame()` (and the run's examples table)."""
    it = c.item
    unsupported = [cl["claim"] for cl in c.claims if not cl["supported"]]
    irrelevant = [ch for ch in c.chunks if not ch["relevant"]]
    row: dict[str, Any] = {"id": it.id, "question": it.question, "answer": it.answer}
    row["contexts"] = list(it.contexts)
    if it.reference is not None:
        row["reference"] = it.reference
    for m in MEASURES:
        row[m] = None if m in c.errors else c.values.get(m)
    row["unsupported"] = " | ".join(unsupported) if "faithfulness" in measures else None
    row["irrelevant_chunks"] = (
        "; ".join(
            f"{ch['chunk']}: {_first_words(it.contexts[ch['chunk'] - 1])}" for ch in irrelevant
        )
        if "context_relevance" in measures
        else None
    )
    row["explanation"] = explain(c, measures)
    row["claims"] = [dict(cl) for cl in c.claims]
    row["chunks"] = [dict(ch) for ch in c.chunks]
    row["error"] = "; ".join(f"{m}: {e}" for m, e in c.errors.items()) or None
    return row


def _first_words(text: str, n: int = 6) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def _quote(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def _reason(claim: dict[str, Any]) -> str:
    """A judge's reason for its verdict on a claim (offline checks have a score instead)."""
    reason = claim.get("evidence") if claim.get("score") is None else None
    return f" ({_quote(reason, 60)[1:-1]})" if reason else ""


def explain(c: Checked, measures: tuple[str, ...]) -> str:
    """One readable line: which claims were unsupported, which chunks irrelevant, and why."""
    from nb_mlops.text import plural

    parts: list[str] = [f"{m.replace('_', ' ')} not scored (error)" for m in c.errors]
    if "faithfulness" in measures and "faithfulness" not in c.errors:
        bad = [cl for cl in c.claims if not cl["supported"]]
        if not c.claims:
            parts.append("no claims to check")
        elif bad:
            shown = "; ".join(_quote(cl["claim"]) + _reason(cl) for cl in bad[:3])
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            total = plural(len(c.claims), "claim")
            parts.append(f"{len(bad)} of {total} unsupported: {shown}{more}")
        else:
            n = len(c.claims)
            parts.append("the one claim supported" if n == 1 else f"all {n} claims supported")
    value = c.values.get("answer_relevance")
    if "answer_relevance" in measures and value is not None and "answer_relevance" not in c.errors:
        note = f" ({c.relevance_note})" if c.relevance_note else ""
        parts.append(f"answer relevance {value:.2f}{note}")
    if "context_relevance" in measures and "context_relevance" not in c.errors:
        bad_chunks = [str(ch["chunk"]) for ch in c.chunks if not ch["relevant"]]
        total = len(c.chunks)
        if bad_chunks:
            word = "chunk" if len(bad_chunks) == 1 else "chunks"
            parts.append(f"{word} {', '.join(bad_chunks)} of {total} irrelevant")
        else:
            parts.append("the one chunk relevant" if total == 1 else f"all {total} chunks relevant")
    return "; ".join(parts)


@dataclass(repr=False)
class RagResult(Result):
    """RAG scores: per measure a mean with a normal 95% interval, n and the method; per item a
    row with its values and explanation (`frame()`)."""

    method: str
    lang: str
    n: int
    measures: tuple[str, ...]
    scores: dict[str, dict[str, Any]]
    """Per scored measure: score, stderr, low, high, n, errors, method, interval (as
    EvalResult.scores). A measure no item could be scored on is left out."""
    methods: dict[str, str]
    rows: list[dict[str, Any]]
    errors: int = 0
    """Items with at least one measure in error (listed in `failures`, never scored)."""
    failures: list[dict[str, Any]] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    judge: dict[str, Any] | None = None
    """The judge's identity (provider, name, reported version, settings) and versions seen."""
    prompts: dict[str, Any] | None = None
    """The prompt family, language and version the judge was asked with."""
    run_id: str | None = None
    """The eval run it was logged as (`nm.evaluate_rag`), or None."""

    def score(self, measure: str) -> float:
        if measure not in self.scores:
            raise EvalError(f"measure {measure!r} was not scored (have {', '.join(self.scores)})")
        return float(self.scores[measure]["score"])

    def frame(self) -> Any:
        """One row per item: id, question, answer, contexts, the measures, unsupported,
        irrelevant_chunks, explanation, claims and chunks (the checks), error."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    @property
    def examples(self) -> Any:
        """The per-item rows as a DataFrame (the name EvalResult uses)."""
        return self.frame()

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "method": self.method,
            "lang": self.lang,
            "n": self.n,
            "scores": {k: dict(v) for k, v in self.scores.items()},
            "methods": dict(self.methods),
            "thresholds": dict(self.thresholds),
            "errors": self.errors,
            "failures": [dict(f) for f in self.failures],
            "judge": self.judge,
            "prompts": self.prompts,
            "items": [dict(r) for r in self.rows],
        }

    def _score_cell(self, m: str) -> str:
        from nb_mlops.evals.run import format_score

        s = self.scores.get(m)
        if s is None:
            return "not scored (no item could be)"
        errors = f", {s['errors']} errors" if s.get("errors") else ""
        return f"{format_score(s)}  n={s['n']}{errors}"

    def notes(self) -> list[str]:
        from nb_mlops.text import plural

        out = []
        if self.errors:
            first = self.failures[0]
            out.append(
                f"{plural(self.errors, 'item')} with errors (not scored), e.g. item "
                f"{first['id']} {first['measure']}: {first['error']}"
            )
        return out

    def to_text(self) -> str:
        from nb_mlops.text import plural

        run = f", run {self.run_id}" if self.run_id else ""
        lines = [f"RAG evaluation, {self.method} ({self.lang}): {plural(self.n, 'item')}{run}"]
        lines += [f"  {m:<18} {self._score_cell(m)}" for m in self.measures]
        lines.append("methods:")
        lines += [f"  {m}: {self.methods[m]}" for m in self.measures]
        lines.append("items:")
        for row in self.rows[:MAX_TEXT_ROWS]:
            error = f" [{row['error']}]" if row["error"] else ""
            lines.append(f"  {row['id']}: {row['explanation']}{error}")
        if len(self.rows) > MAX_TEXT_ROWS:
            lines.append(f"  ... {len(self.rows) - MAX_TEXT_ROWS} more (.frame() has them all)")
        lines += [f"note: {n}" for n in self.notes()]
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        head = esc(f"RAG evaluation, {self.method} ({self.lang}): {self.n} items")
        scores = "".join(
            f"<tr><td>{esc(m)}</td><td>{esc(self._score_cell(m))}</td>"
            f"<td>{esc(self.methods[m])}</td></tr>"
            for m in self.measures
        )
        cells = []
        for row in self.rows[:MAX_HTML_ROWS]:
            values = "".join(
                f"<td>{'-' if row[m] is None else f'{row[m]:.3g}'}</td>" for m in self.measures
            )
            cells.append(
                f"<tr><td>{esc(str(row['id']))}</td><td>{esc(row['question'])}</td>{values}"
                f"<td>{esc(row['explanation'])}</td><td>{esc(row['error'] or '')}</td></tr>"
            )
        more = len(self.rows) - MAX_HTML_ROWS
        tail = f"<div class='nbm-more'>{more:,} more items: .frame() has them all</div>"
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes())
        measure_heads = "".join(f"<th>{esc(m)}</th>" for m in self.measures)
        return (
            f"<div class='nbm-rag'><div><b>{head}</b></div>"
            "<table class='nbm-table'><tr><th>measure</th><th>score (95% interval)</th>"
            f"<th>method</th></tr>{scores}</table>"
            f"<table class='nbm-table'><tr><th>id</th><th>question</th>{measure_heads}"
            f"<th>explanation</th><th>error</th></tr>{''.join(cells)}</table>"
            f"{tail if more > 0 else ''}{f'<ul>{notes}</ul>' if notes else ''}</div>"
        )
