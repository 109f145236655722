"""`Monitor.observe` on a 10,000-row batch of 50 columns (drift + metrics + model guard), beside
Evidently computing the same window's drift and classification quality.

    .venv/bin/python benchmarks/bench_observe.py        # about two minutes; needs .venv-evidently

nb-mlops: a monitor over a gradient-boosting classifier (reference 10,000 rows with labels), one
`observe(batch, labels=...)` per day: the model predicts, the batch is stored, the window's
accuracy/F1/AUC, the estimated accuracy (CBPE), input drift over 50 columns, prediction drift,
the fingerprint of the served model and the alerts are computed and written. Median of 7 (each
into a new window), after one warm-up; and 7 more into one window that grows (each observe then
recomputes the whole window: 20k, 30k, ... rows).
Evidently (its own venv): `Report([DataDriftPreset(), ClassificationPreset()])` on the same
frames with the same predictions, timed alone (no storage, no model call): median of 7.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
EVIDENTLY = HERE.parent / ".venv-evidently" / "bin" / "python"
ROUNDS = 7
ROWS = 10_000

PEER = """
import json, statistics, sys, time, warnings
import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.presets import ClassificationPreset, DataDriftPreset
warnings.simplefilter("ignore")
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
features = [c for c in ref.columns if c not in ("target", "prediction")]
definition = DataDefinition(
    numerical_columns=[c for c in features if not c.startswith(("c", "b"))],
    categorical_columns=[c for c in features if c.startswith(("c", "b"))],
    classification=[BinaryClassification(target="target", prediction_labels="prediction")],
)
def once():
    r = Dataset.from_pandas(ref, data_definition=definition)
    c = Dataset.from_pandas(cur, data_definition=definition)
    return Report([DataDriftPreset(columns=features), ClassificationPreset()]).run(c, r)
once()
took = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); once(); took.append(time.perf_counter() - t0)
print(json.dumps({"median": statistics.median(took), "min": min(took)}))
"""


def frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """30 float, 10 eight-category, 5 binary and 5 integer columns."""
    cols: dict[str, object] = {f"n{i}": rng.normal(shift, 1, rows) for i in range(30)}
    cols.update({f"c{i}": rng.choice(list("abcdefgh"), rows) for i in range(10)})
    cols.update({f"b{i}": rng.choice(["yes", "no"], rows) for i in range(5)})
    cols.update({f"i{i}": rng.integers(0, 1000, rows) for i in range(5)})
    return pd.DataFrame(cols)


def labels(x: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    score = x["n0"] + 0.5 * x["n1"] - 0.3 * (x["c0"] == "a") + rng.normal(0, 0.7, len(x))
    return (score > 0).astype(int).to_numpy()


def model_for(reference: pd.DataFrame, y: np.ndarray):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    cats = [c for c in reference.columns if c.startswith(("c", "b"))]
    encode = make_column_transformer(
        (OrdinalEncoder(), cats), remainder="passthrough", verbose_feature_names_out=False
    )
    return make_pipeline(encode, HistGradientBoostingClassifier(max_iter=50, random_state=0)).fit(
        reference, y
    )


def ours(folder: Path, reference, y_ref, batches) -> dict[str, float]:
    from nb_mlops.monitor import Monitor, MonitorAlert
    from nb_mlops.store.workspace import open_workspace

    warnings.simplefilter("ignore", MonitorAlert)
    ws = open_workspace(folder / ".nbmlops")
    model = model_for(reference, y_ref)
    mon = Monitor("bench", model=model, reference=reference.assign(target=y_ref), target="target",
                  ws=ws)  # fmt: skip
    x0, y0 = batches[0]
    mon.observe(x0, labels=y0, timestamp="2026-01-01")  # warm-up
    new, grow, given = [], [], []
    for day, (x, y) in enumerate(batches[1:], start=2):
        t0 = time.perf_counter()
        mon.observe(x, labels=y, timestamp=f"2026-01-{day:02d}")
        new.append(time.perf_counter() - t0)
    for hour, (x, y) in enumerate(batches[1:], start=1):
        t0 = time.perf_counter()
        mon.observe(x, labels=y, timestamp=f"2026-02-01T{hour:02d}:00:00")
        grow.append(time.perf_counter() - t0)
    predict = []
    for day, (x, y) in enumerate(batches[1:], start=1):
        t0 = time.perf_counter()
        preds, probs = model.predict(x), model.predict_proba(x)
        predict.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mon.observe(x, predictions=preds, probabilities=probs, labels=y,
                    timestamp=f"2026-03-{day:02d}")  # fmt: skip
        given.append(time.perf_counter() - t0)
    return {
        "new": statistics.median(new),
        "new_max": max(new),
        "grow": statistics.median(grow),
        "grow_last": grow[-1],
        "given": statistics.median(given),
        "predict": statistics.median(predict),
        "preds": model.predict(x0),
    }


def peer(folder: Path, reference, y_ref, x, y, preds) -> dict[str, float] | None:
    if not EVIDENTLY.exists():
        print(f"no {EVIDENTLY}: run ./dev setup for the Evidently side", file=sys.stderr)
        return None
    ref = reference.assign(target=y_ref, prediction=y_ref)
    cur = x.assign(target=y, prediction=preds)
    ref.to_parquet(folder / "ref.parquet")
    cur.to_parquet(folder / "cur.parquet")
    script = folder / "peer.py"
    script.write_text(PEER)
    done = subprocess.run(
        [str(EVIDENTLY), str(script), str(folder / "ref.parquet"), str(folder / "cur.parquet"),
         str(ROUNDS)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    rng = np.random.default_rng(0)
    reference = frame(rng, ROWS)
    y_ref = labels(reference, rng)
    batches = []
    for i in range(ROUNDS + 1):
        x = frame(rng, ROWS, shift=0.05 * i)
        batches.append((x, labels(x, rng)))
    with tempfile.TemporaryDirectory() as tmp:
        got = ours(Path(tmp), reference, y_ref, batches)
        x, y = batches[1]
        other = peer(Path(tmp), reference, y_ref, x, y, got.pop("preds"))
    ms = {k: v * 1000 for k, v in got.items()}
    print(f"observe 10,000 rows x 50 columns into a new window: median {ms['new']:.0f} ms "
          f"(max {ms['new_max']:.0f} ms), of which the model's predict + predict_proba "
          f"{ms['predict']:.0f} ms")  # fmt: skip
    print(f"the same with predictions and probabilities given: median {ms['given']:.0f} ms")
    print(f"into one growing window (20k..80k rows recomputed): median {ms['grow']:.0f} ms, "
          f"{ms['grow_last']:.0f} ms at 80k rows")  # fmt: skip
    if other:
        print(f"Evidently, drift + classification presets on the same batch: median "
              f"{other['median'] * 1000:.0f} ms; ours (new window) / Evidently = "
              f"{got['new'] / other['median']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
