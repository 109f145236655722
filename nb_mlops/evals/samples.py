"""Small evaluation sets written for nb-mlops, in English and Korean, shipped in the package.

They are for examples, tests and a first look at a model, not for comparing models in earnest:
a few dozen items each, our own questions and sentences (none taken from ARC, HellaSwag, MMLU
or the Korean leaderboard sets). All are JSON lines in UTF-8, read with `load_items`:

- `choice_en`, `choice_ko`: 40 four-choice questions each (MMLU layout: `question`, `choices`,
  `answer` as an index, `subject` one of science, geography_history, maths, everyday);
- `hellaswag_en`, `hellaswag_ko`: 14 sentence completions each (HellaSwag layout:
  `activity_label`, `ctx_a`, `ctx_b`, `endings`, `label`);
- `translate_en_ko`, `translate_ko_en`: 22 sentence pairs each (`prompt`, `source`, `reference`,
  a list where a sentence has several fair translations);
- `summary_en`, `summary_ko`: 12 short texts each with a one-sentence reference summary;
- `qa_en`, `qa_ko`: 20 short-answer questions each, `reference` the list of accepted answers.
"""

from __future__ import annotations

from pathlib import Path

from nb_mlops.evals.model import EvalError

FOLDER = Path(__file__).with_name("samples")
SUFFIX = ".jsonl"


def list_samples() -> list[str]:
    """Names of the shipped sample sets, sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in FOLDER.glob(f"*{SUFFIX}"))


def sample_path(name: str) -> Path:
    """The file of the sample set `name` (with or without `.jsonl`)."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    names = list_samples()
    if stem not in names:
        raise EvalError(f"no sample set {name!r}; the sets are {', '.join(names)}")
    return FOLDER / f"{stem}{SUFFIX}"
