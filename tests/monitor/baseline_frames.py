"""Frames and helpers shared by the baseline tests (test_columntypes, test_profile,
test_violations, test_baselinejson, test_trainingdata)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nb_mlops.monitor.violations import Violations


def people(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A reference: a float, a wide integer, a small integer with gaps, text, true/false."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50.0, 10.0, n),
            "age": rng.integers(18, 90, n),
            "kids": rng.integers(0, 4, n).astype(float),
            "city": rng.choice(["Seoul", "Busan", "Incheon"], n, p=[0.5, 0.3, 0.2]),
            "member": rng.choice([True, False], n),
        }
    )
    frame.loc[::10, "kids"] = np.nan  # an integer column pandas holds as floats
    return frame


def kinds(result: Violations) -> list[tuple[str, str]]:
    return [(v["column"], v["kind"]) for v in result]
