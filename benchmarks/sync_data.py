"""The runs the MLflow sync benchmark moves, made the same way on both sides (stdlib only: the
peer script in .venv-mlflow imports this file too).

Run i has 5 params, and `points` metric points spread over 4 metrics (steps 0, 1, 2, ...),
each value a function of (run, metric, step), so both sides send the same numbers.
"""

from __future__ import annotations

METRICS = ("loss", "acc", "f1", "lr")


def params(i: int) -> dict[str, str]:
    return {
        "model": "rf" if i % 2 else "gbm",
        "depth": str(i % 17),
        "seed": str(i),
        "lr": str(0.001 * (i % 7 + 1)),
        "batch": str(32 * (i % 4 + 1)),
    }


def points(i: int, count: int) -> list[tuple[str, float, int]]:
    """(metric, value, step) in logging order: step by step, the 4 metrics at each step."""
    out = []
    step = 0
    while len(out) < count:
        for k, key in enumerate(METRICS):
            if len(out) == count:
                break
            out.append((key, ((i * 31 + step * 7 + k) % 1000) / 1000, step))
        step += 1
    return out
