"""Helpers for tests that need a real (tiny) transformers model on disk.

`tests/evals/conftest.py` builds one per session with `tiny_lm_folder` and offers it as the
`tiny_lm_path` / `tiny_lm` fixtures; a test that needs its own variant (another seed, an
untrained one) calls `build` into its `tmp_path`. Nothing here downloads anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LMEVAL_VENV = REPO / ".venv-lmeval"
LMEVAL = LMEVAL_VENV / "bin" / "lm_eval"

TRAIN_STEPS = 100
"""Enough for the tiny model to know every corpus sentence from a prompt's start (greedy)."""

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def build(folder: Path, **options: Any) -> Path:
    """The tiny LM in `folder` (trained TRAIN_STEPS steps unless told otherwise)."""
    from nb_mlops.evals.tinylm import build_tiny_lm

    options.setdefault("train_steps", TRAIN_STEPS)
    return build_tiny_lm(folder, **options)


def offline_env(**extra: str) -> dict[str, str]:
    """This process's environment with the Hugging Face libraries held offline."""
    return {**os.environ, **OFFLINE, **extra}


def write_arc_task(folder: Path, task: str, items: list[dict[str, Any]]) -> Path:
    """`items` ({question, choices, answer}) as JSON lines, and beside them an lm-eval task YAML
    with the ARC prompt, acc and acc_norm; returns the data file."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "items.jsonl"
    with data.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    (folder / f"{task}.yaml").write_text(
        f"task: {task}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\n'
        'doc_to_target: "{{answer}}"\n'
        "metric_list:\n"
        "  - metric: acc\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
        "  - metric: acc_norm\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n",
        encoding="utf-8",
    )
    return data
