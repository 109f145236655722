"""Multiple-choice benchmarks (ARC, HellaSwag, MMLU style) scored as lm-evaluation-harness does.

Log-likelihood mode, for each item: the context is the formatted question (after any few-shot
examples), each choice is asked as the continuation `" " + choice` (lm-eval's target delimiter),
`acc` picks the choice with the highest summed log-likelihood and `acc_norm` the highest
log-likelihood divided by the choice's length in characters (the choice text itself, without
the delimiter, as lm-eval counts it). Ties go to the first choice, as numpy's argmax does.

Formats (lm-eval's `doc_to_text` / `doc_to_choice`):
- arc: `Question: {question}\\nAnswer:`, choices as written;
- hellaswag: the context (led by the subject, HellaSwag's activity label, and `: `) and each
  ending cleaned as lm-eval's hellaswag task cleans them (strip, ` [title]` -> `. `, other
  `[...]` removed, double spaces made single);
- mmlu: `{question}\\nA. {choice 0}\\nB. {choice 1}...\\nAnswer:`, the choices asked being the
  letters (` A`, ` B`, ...), so acc_norm equals acc;
- plain: the question as written, choices as written.

Few-shot: `num_fewshot` examples, each `text + " " + gold choice`, joined and followed by a blank
line, then the question. They are drawn with one `random.Random(seed)` for the whole run, item
after item, as lm-eval's default sampler does: from the other items of the set (k + 1 drawn, the
item itself dropped, the first k kept; should copies of the item leave fewer than k, k are drawn
again from the set without it), or, when `fewshot` names another set, k drawn from it.
`fewshot` naming the same list or file as `items` counts as the same set.
`fewshot_sampler="first_n"` takes the first k instead (lm-eval's MMLU). The same items in the
same order and seed give the same prompts.

Generation mode (models that give no log-likelihoods, or `mode="generate"`): the MMLU-style
letter prompt for every style, the model's answer parsed for a letter (`B`, `(B)`, `Answer: C`,
`정답: B`, or the exact text of a choice). Unparseable answers count wrong and are listed in
`unparsed`. Items whose model call failed are listed in `errors` and left out of `n` and of
every score: an error is never scored as right or wrong.
"""

from __future__ import annotations

import html
import math
import os
import random
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.evals.datasets import LETTERS, load_items
from nb_mlops.evals.model import Adapter, EvalError, NotSupported, Reply, as_adapter
from nb_mlops.results import Result

STYLES = ("arc", "hellaswag", "mmlu", "plain")
MODES = ("auto", "loglikelihood", "generate")
SAMPLERS = ("random", "first_n")
TARGET_DELIMITER = " "
FEWSHOT_DELIMITER = "\n\n"
DEFAULT_GENERATE_OPTIONS: Mapping[str, Any] = {"max_new_tokens": 16, "temperature": 0.0}
CHUNK = 256
"""Requests per adapter call when a progress bar is shown (the adapter batches inside a call)."""


# ----------------------------------------------------------------------------- formats
def clean_hellaswag(text: str) -> str:
    """A HellaSwag context or ending cleaned the way lm-eval's hellaswag task cleans it."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def question_text(item: Mapping[str, Any], style: str) -> str:
    """The formatted question: the context every choice continues."""
    question = item["question"]
    if style == "arc":
        return f"Question: {question}\nAnswer:"
    if style == "hellaswag":
        subject = item.get("subject")
        return clean_hellaswag(f"{subject}: {question}" if subject else question)
    if style == "mmlu":
        return letter_prompt(item, style)
    return question


def choice_texts(item: Mapping[str, Any], style: str) -> list[str]:
    """What is asked after the context, one per choice (before the target delimiter)."""
    choices = list(item["choices"])
    if style == "mmlu":
        return list(LETTERS[: len(choices)])
    if style == "hellaswag":
        return [clean_hellaswag(c) for c in choices]
    return choices


def letter_prompt(item: Mapping[str, Any], style: str) -> str:
    """The MMLU-style prompt: the question, one lettered line per choice, `Answer:`."""
    if style == "hellaswag":
        question = question_text(item, style)
        choices = choice_texts(item, style)
    else:
        question = str(item["question"]).strip()
        choices = list(item["choices"])
    lines = [question]
    lines.extend(f"{LETTERS[j]}. {c}" for j, c in enumerate(choices))
    lines.append("Answer:")
    return "\n".join(lines)


def shot_text(item: Mapping[str, Any], style: str, letters: bool) -> str:
    """One worked example: the question, the target delimiter, the gold answer."""
    if letters:
        return letter_prompt(item, style) + TARGET_DELIMITER + LETTERS[item["answer"]]
    gold = choice_texts(item, style)[item["answer"]]
    return question_text(item, style) + TARGET_DELIMITER + gold


# ---------------------------------------------------------------------------- few-shot
class ShotSampler:
    """Draws the few-shot examples of each item in turn from one seeded generator."""

    def __init__(self, pool: list[dict[str, Any]], seed: int, same_set: bool, method: str) -> None:
        self.pool = pool
        self.rnd = random.Random(seed)
        self.same_set = same_set
        self.method = method

    def draw(self, item: Mapping[str, Any], k: int) -> list[dict[str, Any]]:
        if k == 0:
            return []
        if self.method == "first_n":
            pool = [x for x in self.pool if not same_doc(x, item)] if self.same_set else self.pool
            return self.enough(pool, k, k)[:k]
        if not self.same_set:
            return self.rnd.sample(self.enough(self.pool, k, k), k)
        drawn = self.rnd.sample(self.enough(self.pool, k + 1, k), k + 1)
        shots = [x for x in drawn if not same_doc(x, item)][:k]
        if len(shots) < k:
            others = [x for x in self.pool if not same_doc(x, item)]
            shots = self.rnd.sample(self.enough(others, k, k), k)
        return shots

    def enough(self, pool: list[dict[str, Any]], needed: int, k: int) -> list[dict[str, Any]]:
        if len(pool) < needed:
            if self.same_set:
                where = "the set (the item itself is never its own shot)"
            else:
                where = "the few-shot set"
            raise EvalError(f"num_fewshot {k} needs {needed} items in {where}; it has {len(pool)}")
        return pool


def same_doc(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two items are the same document (as lm-eval compares them: whole rows)."""
    return (a.get("raw") or a) == (b.get("raw") or b)


# ------------------------------------------------------------------------------ parsing
ANSWER_MARK = re.compile(
    r"(?:(?i:answer)|정답|답)\s*(?:(?i:is)|은|는|이|:)?\s*:?\s*[(\[]?\s*([A-Za-z])(?![A-Za-z])"
)
BRACKETED = re.compile(r"[(\[]([A-Z])[)\]]")
STANDALONE = re.compile(r"(?<![A-Za-z])([A-Z])(?![A-Za-z])")


def parse_choice(text: str, choices: Sequence[str]) -> int | None:
    """The choice a generated answer names, or None: the exact text of a choice, a letter after
    `Answer`/`정답`/`답`, a bracketed letter `(B)`, or the first standalone capital letter among
    the choices' letters (an `A` or `I` followed by a lowercase word is read as a word)."""
    letters = LETTERS[: len(choices)]
    answer = unicodedata.normalize("NFKC", text).strip()
    if not answer:
        return None
    bare = answer.rstrip(".").strip().casefold()
    for j, choice in enumerate(choices):
        if bare == choice.strip().rstrip(".").casefold():
            return j
    for pattern in (ANSWER_MARK, BRACKETED):
        for match in pattern.finditer(answer):
            letter = match.group(1).upper()
            if letter in letters:
                return letters.index(letter)
    for match in STANDALONE.finditer(answer):
        letter = match.group(1)
        rest = answer[match.end() : match.end() + 2]
        if letter in "AI" and len(rest) == 2 and rest[0] == " " and rest[1].islower():
            continue  # "A cat ...", "I think ...": a word, not a letter
        if letter in letters:
            return letters.index(letter)
    return None


# ------------------------------------------------------------------------------ result
def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def mean_stderr(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n - 1) over sqrt(n), as lm-eval's mean_stderr; None below 2."""
    n = len(values)
    if n < 2:
        return None
    mu = sum(values) / n
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (n - 1)) / math.sqrt(n)


ROW_COLUMNS = (
    "id",
    "subject",
    "gold",
    "loglikelihoods",
    "picked",
    "picked_norm",
    "correct",
    "correct_norm",
    "prompt",
    "answer",
    "error",
)


@dataclass(repr=False)
class ChoiceResult(Result):
    """Accuracy of a multiple-choice run, with one row per item.

    `n` counts scored items (errors left out); `acc_norm` is None in generation mode;
    `per_subject` maps each subject to its `n`, `acc` and `acc_norm`; `errors` lists
    `{"id", "error"}`, `unparsed` lists `{"id", "answer"}` (answers counted wrong).
    """

    style: str
    mode: str
    num_fewshot: int
    seed: int
    rows: list[dict[str, Any]]
    model: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scored = [r for r in self.rows if not r["error"]]
        right = [float(r["correct"]) for r in scored]
        norm = [float(r["correct_norm"]) for r in scored if r["correct_norm"] is not None]
        self.n = len(scored)
        self.acc = mean(right)
        self.acc_stderr = mean_stderr(right)
        has_norm = self.mode == "loglikelihood" and len(norm) == len(scored)
        self.acc_norm = mean(norm) if has_norm else None
        self.acc_norm_stderr = mean_stderr(norm) if has_norm else None
        self.errors = [{"id": r["id"], "error": r["error"]} for r in self.rows if r["error"]]
        self.unparsed = [
            {"id": r["id"], "answer": r["answer"]}
            for r in scored
            if self.mode == "generate" and r["picked"] is None
        ]
        self.per_subject = self.subjects(scored)

    def subjects(self, scored: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in scored:
            if row["subject"] is not None:
                groups.setdefault(str(row["subject"]), []).append(row)
        out = {}
        for subject in sorted(groups):
            rows = groups[subject]
            norm = [float(r["correct_norm"]) for r in rows if r["correct_norm"] is not None]
            out[subject] = {
                "n": len(rows),
                "acc": mean([float(r["correct"]) for r in rows]),
                "acc_norm": mean(norm) if self.acc_norm is not None else None,
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "mode": self.mode,
            "num_fewshot": self.num_fewshot,
            "seed": self.seed,
            "model": dict(self.model),
            "n": self.n,
            "acc": self.acc,
            "acc_stderr": self.acc_stderr,
            "acc_norm": self.acc_norm,
            "acc_norm_stderr": self.acc_norm_stderr,
            "per_subject": {k: dict(v) for k, v in self.per_subject.items()},
            "errors": [dict(e) for e in self.errors],
            "unparsed": [dict(u) for u in self.unparsed],
            "rows": [dict(r) for r in self.rows],
        }

    def frame(self) -> Any:
        """The rows as a pandas DataFrame, one per item, columns in ROW_COLUMNS order (object
        columns: a missing value stays None, not NaN)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(ROW_COLUMNS), dtype=object)

    def headline(self) -> str:
        how = "log-likelihood" if self.mode == "loglikelihood" else "generation"
        return f"multiple choice ({self.style}, {self.num_fewshot}-shot, {how}): {self.n} scored"

    def score_lines(self) -> list[tuple[str, str]]:
        lines = [("acc", score_text(self.acc, self.acc_stderr))]
        if self.acc_norm is not None:
            lines.append(("acc_norm", score_text(self.acc_norm, self.acc_norm_stderr)))
        return lines

    def notes(self) -> list[str]:
        notes = []
        if self.errors:
            notes.append(f"{len(self.errors)} failed (not scored): {self.errors[0]['error']}")
        if self.unparsed:
            notes.append(f"{len(self.unparsed)} answers could not be parsed (counted wrong)")
        return notes

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        lines = [self.model.get("name", "model") + ": " + self.headline()]
        lines.extend(f"  {name:<9} {value}" for name, value in self.score_lines())
        if self.per_subject:
            table = [
                [s, str(v["n"]), fmt(v["acc"]), fmt(v["acc_norm"])]
                for s, v in self.per_subject.items()
            ]
            lines.append(text_table(["subject", "n", "acc", "acc_norm"], table))
        lines.extend(f"  note: {note}" for note in self.notes())
        for u in self.unparsed[:5]:
            lines.append(f"  unparsed {u['id']}: {u['answer']!r}")
        return "\n".join(lines)

    def to_html(self) -> str:
        e = html.escape
        name = e(str(self.model.get("name", "model")))
        scores = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in self.score_lines())
        parts = [
            f"<div class='nbm-choice'><div><b>{name}</b>: {e(self.headline())}</div>",
            f"<table class='nbm-table'><tr><th>metric</th><th>score ± stderr</th></tr>{scores}",
            "</table>",
        ]
        if self.per_subject:
            body = "".join(
                f"<tr><td>{e(s)}</td><td>{v['n']}</td><td>{e(fmt(v['acc']))}</td>"
                f"<td>{e(fmt(v['acc_norm']))}</td></tr>"
                for s, v in self.per_subject.items()
            )
            parts.append(
                "<table class='nbm-table'><tr><th>subject</th><th>n</th><th>acc</th>"
                f"<th>acc_norm</th></tr>{body}</table>"
            )
        notes = [e(n) for n in self.notes()]
        notes.extend(f"unparsed {e(u['id'])}: {e(repr(u['answer']))}" for u in self.unparsed[:20])
        notes.extend(f"error {e(x['id'])}: {e(x['error'])}" for x in self.errors[:20])
        if notes:
            parts.append("<ul>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>")
        parts.append("</div>")
        return "".join(parts)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def score_text(value: float | None, stderr: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" + (f" ± {stderr:.4f}" if stderr is not None else "")


# -------------------------------------------------------------------------------- runner
def multiple_choice(
    model: Any,
    items: Any,
    *,
    style: str = "plain",
    num_fewshot: int = 0,
    fewshot: Any = None,
    seed: int = 1234,
    mode: str = "auto",
    progress: bool = False,
    batch_size: int | None = None,
    fewshot_sampler: str = "random",
    description: str | None = None,
    generate_options: Mapping[str, Any] | None = None,
) -> ChoiceResult:
    """Score `model` on multiple-choice `items` (see the module docstring for the conventions).

    `items` and `fewshot` are anything `load_items` reads. `mode="auto"` uses log-likelihoods
    when the model gives them and generation otherwise. `batch_size` is how many requests go to
    the adapter per call (all at once by default, 256 with a progress bar). `description` leads
    every prompt (`{subject}` replaced by the item's subject, underscores as spaces), as an
    lm-eval task's description does. `generate_options` go to `generate` in generation mode
    (default: 16 new tokens, temperature 0).
    """
    check_options(style, mode, num_fewshot, fewshot_sampler, batch_size)
    docs = load_items(items, kind="choice")
    if not docs:
        raise EvalError("multiple choice: the set has no items")
    adapter = as_adapter(model)
    if mode == "auto":
        mode = "loglikelihood" if adapter.supports_loglikelihood else "generate"
    elif mode == "loglikelihood" and not adapter.supports_loglikelihood:
        raise NotSupported(
            f"{adapter.identity.label} gives no log-likelihoods; use mode='generate'"
        )
    letters = mode == "generate" or style == "mmlu"
    for doc in docs:
        if letters and len(doc["choices"]) > len(LETTERS):
            raise EvalError(
                f"item {doc['id']}: {len(doc['choices'])} choices, more than letters A-Z name"
            )
    same_set = fewshot is None or fewshot is items or same_file(fewshot, items)
    pool = docs if same_set else load_items(fewshot, kind="choice")
    sampler = ShotSampler(pool, seed, same_set, fewshot_sampler)
    prompts = []
    for doc in docs:
        shots = sampler.draw(doc, num_fewshot)
        head = lead(description, doc)
        examples = "".join(shot_text(s, style, letters) + FEWSHOT_DELIMITER for s in shots)
        question = letter_prompt(doc, style) if mode == "generate" else question_text(doc, style)
        prompts.append(head + examples + question)
    chunk = batch_size or (CHUNK if progress else None)
    if mode == "generate":
        options = dict(DEFAULT_GENERATE_OPTIONS if generate_options is None else generate_options)
        rows = generate_rows(adapter, docs, prompts, options, chunk, progress)
    else:
        rows = loglikelihood_rows(adapter, docs, prompts, style, chunk, progress)
    return ChoiceResult(
        style=style,
        mode=mode,
        num_fewshot=num_fewshot,
        seed=seed,
        rows=rows,
        model=adapter.identity.to_dict(),
    )


def check_options(
    style: str, mode: str, num_fewshot: int, sampler: str, batch_size: int | None
) -> None:
    if style not in STYLES:
        raise EvalError(f"style {style!r}: choose one of {', '.join(STYLES)}")
    if mode not in MODES:
        raise EvalError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    if sampler not in SAMPLERS:
        raise EvalError(f"fewshot_sampler {sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0:
        raise EvalError(f"num_fewshot {num_fewshot!r}: give a whole number >= 0")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise EvalError(f"batch_size {batch_size!r}: give a whole number >= 1")


def same_file(a: Any, b: Any) -> bool:
    paths = (str, os.PathLike)
    return isinstance(a, paths) and isinstance(b, paths) and Path(a).resolve() == Path(b).resolve()


def lead(description: str | None, doc: Mapping[str, Any]) -> str:
    if not description:
        return ""
    subject = str(doc.get("subject") or "").replace("_", " ")
    return description.replace("{subject}", subject)


def ask(
    call: Any, requests: list[Any], chunk: int | None, progress: bool, what: str
) -> list[Reply]:
    """`call(requests)` in chunks (one call when `chunk` is None), with a tqdm bar if asked."""
    size = chunk or max(len(requests), 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(requests), desc=what, unit="request")
    out: list[Reply] = []
    try:
        for start in range(0, len(requests), size):
            part = requests[start : start + size]
            got = list(call(part))
            if len(got) != len(part):
                raise EvalError(f"the model returned {len(got)} answers for {len(part)} requests")
            out.extend(got)
            if bar is not None:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()
    return out


def loglikelihood_rows(
    adapter: Adapter,
    docs: list[dict[str, Any]],
    prompts: list[str],
    style: str,
    chunk: int | None,
    progress: bool,
) -> list[dict[str, Any]]:
    continuations = [choice_texts(doc, style) for doc in docs]
    requests = [
        (prompt, TARGET_DELIMITER + c)
        for prompt, conts in zip(prompts, continuations, strict=True)
        for c in conts
    ]
    replies = ask(adapter.loglikelihood, requests, chunk, progress, "log-likelihoods")
    rows = []
    at = 0
    for doc, prompt, conts in zip(docs, prompts, continuations, strict=True):
        answers = replies[at : at + len(conts)]
        at += len(conts)
        row = base_row(doc, prompt)
        failed = [(j, r) for j, r in enumerate(answers) if not r.ok or r.value is None]
        if failed:
            j, reply = failed[0]
            row["error"] = f"choice {j}: {reply.error or 'no log-likelihood'}"
            rows.append(row)
            continue
        lls = [float(r.value) for r in answers if r.value is not None]
        normed = [ll / len(c) for ll, c in zip(lls, conts, strict=True)]
        picked, picked_norm = argmax(lls), argmax(normed)
        row.update(
            loglikelihoods=lls,
            picked=picked,
            picked_norm=picked_norm,
            correct=picked == doc["answer"],
            correct_norm=picked_norm == doc["answer"],
        )
        rows.append(row)
    return rows


def generate_rows(
    adapter: Adapter,
    docs: list[dict[str, Any]],
    prompts: list[str],
    options: dict[str, Any],
    chunk: int | None,
    progress: bool,
) -> list[dict[str, Any]]:
    replies = ask(
        lambda part: adapter.generate(part, **options), prompts, chunk, progress, "answers"
    )
    rows = []
    for doc, prompt, reply in zip(docs, prompts, replies, strict=True):
        row = base_row(doc, prompt)
        if not reply.ok or reply.text is None:
            row["error"] = reply.error or "no text"
            rows.append(row)
            continue
        picked = parse_choice(reply.text, doc["choices"])
        row.update(answer=reply.text, picked=picked, correct=picked == doc["answer"])
        rows.append(row)
    return rows


def base_row(doc: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row.update(id=doc["id"], subject=doc.get("subject"), gold=doc["answer"], prompt=prompt)
    return row


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value, the first one on a tie (numpy's argmax)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best
