"""Fixtures for tests/evals: one tiny local causal LM per test session (see lm_fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lm_fixtures
import pytest


@pytest.fixture(scope="session")
def tiny_lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the tiny GPT-2 and its tokenizer, built once per session."""
    return lm_fixtures.build(tmp_path_factory.mktemp("tiny-lm") / "model")


@pytest.fixture(scope="session")
def tiny_lm(tiny_lm_path: Path) -> Any:
    """The tiny LM as an HFModel (batch_size 4), shared by the session's tests."""
    from nb_mlops.evals.hf import HFModel

    return HFModel(tiny_lm_path, batch_size=4)
