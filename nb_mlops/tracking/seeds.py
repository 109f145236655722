"""Seeding the random number generators a cell is likely to use, and saying which were seeded."""

from __future__ import annotations

import operator
import random
import sys

from nb_mlops.errors import InvalidValue


def apply_seed(seed: int) -> dict[str, int]:
    """Seed Python's `random`, NumPy's global generator, and torch/TensorFlow when imported.

    NumPy is imported if installed (a cell that imports it after this line must still see the
    seed); torch and TensorFlow are seeded only when the kernel has already imported them, so a
    tracked cell never pays for importing a framework it does not use.
    """
    original = seed
    try:
        seed = operator.index(seed) if not isinstance(seed, bool) else None
    except TypeError:
        seed = None
    if seed is None or not 0 <= seed < 2**32:
        raise InvalidValue(f"seed must be an integer in [0, 2**32), got {original!r}")
    done = {"random": seed}
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    else:
        np.random.seed(seed)
        done["numpy"] = seed
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "manual_seed"):
        torch.manual_seed(seed)
        done["torch"] = seed
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(getattr(tf, "random", None), "set_seed"):
        tf.random.set_seed(seed)
        done["tensorflow"] = seed
    return done
