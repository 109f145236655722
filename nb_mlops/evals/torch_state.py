"""Scoped changes to torch's and transformers' process-wide state, put back afterwards.

Evaluating or building a model must not leave the user's session changed: their global RNG
stream, transformers' log level and progress bars stay theirs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def seeded(torch: Any, seed: int | None) -> Iterator[None]:
    """torch's global RNG seeded for the block (unchanged when `seed` is None), put back after."""
    if seed is None:
        yield
        return
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' progress bars and info logs off for the block, as they were afterwards."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
