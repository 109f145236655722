"""Helpers for tests that need a real (tiny) transformers model on disk.

`tests/evals/conftest.py` builds one per session with `tiny_lm_folder` and offers it as the
`tiny_lm_path` / `tiny_lm` fixtures; a test that needs its own variant (another seed, an
untrained one) calls `build` into its `tmp_path`. Nothing here downloads anything.
"""

from __future__ import annotations

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
