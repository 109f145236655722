"""Data drift on a 10,000-row batch of 50 mixed columns against a 10,000-row reference (and a
1,000-row one), nb-mlops beside Evidently's default data-drift preset on the same frames.

    .venv/bin/python benchmarks/bench_drift.py          # about a minute; needs .venv-evidently

nb-mlops: `nm.monitor.drift(reference, current)` in process, median of 7 after one warm-up.
Evidently (its own venv, made by `./dev setup`): `Report([DataDriftPreset()]).run(current,
reference)` in a fresh process that reads the same frames from Parquet, median of 7 runs in that
process after one warm-up (import and file reading not timed). Both answer the same question
(per column test, statistic, drift flag; dataset drift).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
EVIDENTLY = HERE.parent / ".venv-evidently" / "bin" / "python"
ROUNDS = 7

PEER = """
import json, statistics, sys, time, warnings
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
warnings.simplefilter("ignore")
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
def once():
    return Report([DataDriftPreset()]).run(cur, ref)
once()
took = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); once(); took.append(time.perf_counter() - t0)
print(json.dumps({"median": statistics.median(took), "min": min(took)}))
"""


def batch(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    """30 float, 10 eight-category, 5 binary and 5 wide-integer columns."""
    columns: dict[str, object] = {f"n{i}": rng.normal(shift, 1, rows) for i in range(30)}
    columns.update({f"c{i}": rng.choice(list("abcdefgh"), rows) for i in range(10)})
    columns.update({f"b{i}": rng.choice(["yes", "no"], rows) for i in range(5)})
    columns.update({f"i{i}": rng.integers(0, 1000, rows) for i in range(5)})
    return pd.DataFrame(columns)


def ours(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    import nb_mlops as nm

    nm.monitor.drift(reference, current)
    took = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        nm.monitor.drift(reference, current)
        took.append(time.perf_counter() - t0)
    return {"median": float(np.median(took)), "min": min(took)}


def theirs(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    if not EVIDENTLY.exists():
        sys.exit(f"no {EVIDENTLY}: run ./dev setup (it builds .venv-evidently)")
    with tempfile.TemporaryDirectory() as tmp:
        ref, cur = Path(tmp, "ref.parquet"), Path(tmp, "cur.parquet")
        reference.to_parquet(ref)
        current.to_parquet(cur)
        out = subprocess.run(
            [str(EVIDENTLY), "-c", PEER, str(ref), str(cur), str(ROUNDS)],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    rng = np.random.default_rng(12)
    rows = []
    for ref_rows in (10_000, 1_000):
        reference, current = batch(rng, ref_rows, 0.0), batch(rng, 10_000, 0.2)
        a, b = ours(reference, current), theirs(reference, current)
        rows.append((ref_rows, a, b))
    print("| reference × batch (50 columns) | nb-mlops median | Evidently median | ratio |")
    print("| --- | --- | --- | --- |")
    for ref_rows, a, b in rows:
        ratio = a["median"] / b["median"]
        print(
            f"| {ref_rows:,} × 10,000 | {a['median'] * 1000:.0f} ms | "
            f"{b['median'] * 1000:.0f} ms | {ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()
