"""Registry benchmark: nb-mlops in process, side by side with MLflow's model registry (SQLite).

    ./dev setup                                         # once: MLflow in .venv-mlflow
    .venv/bin/python benchmarks/bench_registry.py       # ~2 minutes on 2 cores

Measures (medians, per call, after warm-up), both tools on the same fitted RandomForest (100
trees, 5,000 x 20 samples, same scikit-learn):
  1. registering a version (nb-mlops: nm.register_model, which also fingerprints the fitted
     state; MLflow: log_model with registered_model_name inside a run);
  2. moving an alias (nm.set_alias vs set_registered_model_alias);
  3. loading by alias (nm.load_model("models:/rf@production"), hash checked, vs
     mlflow.sklearn.load_model);
  4. what the fingerprint costs beside saving the model: a RandomForest of 500 trees and a torch
     MLP of 25M parameters (fingerprint vs joblib.dump / torch.save to a file).
Results go to benchmarks/results/registry-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import (  # noqa: E402
    figure,
    machine,
    per_call,
    registry_arguments,
    shown,
    summary,
    write_json_out,
)

PEER_PYTHON = HERE.parent / ".venv-mlflow" / "bin" / "python"  # MLflow, built by ./dev setup
RESULTS = HERE / "results"


def ours(args: argparse.Namespace) -> dict[str, object]:
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import nb_mlops as nm

    X, y = make_classification(5000, 20, random_state=0)
    model = RandomForestClassifier(n_estimators=args.trees, random_state=0).fit(X, y)
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    try:
        nm.init(tmp)
        out: dict[str, object] = {"tool": "nb-mlops"}
        out["register"] = summary(
            per_call(lambda: nm.register_model("rf", model), args.registers, warmup=2)
        )
        last = args.registers + 2
        turn = iter(range(10**9))
        out["set_alias"] = summary(
            per_call(
                lambda: nm.set_alias("rf", "production", 1 + next(turn) % last),
                args.aliases,
                warmup=2,
            )
        )
        nm.set_alias("rf", "production", last)
        out["load_by_alias"] = summary(
            per_call(lambda: nm.load_model("models:/rf@production"), args.loads, warmup=2)
        )
    finally:
        nm.api.reset()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def fingerprint_cost(trees: int = 500) -> dict[str, object]:
    """Fingerprint time beside the time to save the same model (the save happens anyway)."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from nb_mlops.registry.fingerprint import fingerprint

    out: dict[str, object] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench-fp-"))
    try:
        X, y = make_classification(20000, 20, random_state=0)
        forest = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=-1).fit(X, y)
        out[f"forest_{trees}_trees"] = {
            "fingerprint": summary(per_call(lambda: fingerprint(forest), 5, warmup=1)),
            "joblib_dump": summary(
                per_call(lambda: joblib.dump(forest, tmp / "f.joblib"), 5, warmup=1)
            ),
            "bytes": (tmp / "f.joblib").stat().st_size,
        }
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(
            torch.nn.Linear(4096, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 2048)
        )
        params = sum(p.numel() for p in net.parameters())
        out["torch_mlp"] = {
            "parameters": params,
            "fingerprint": summary(per_call(lambda: fingerprint(net), 5, warmup=1)),
            "torch_save": summary(
                per_call(lambda: torch.save(net.state_dict(), tmp / "w.pt"), 5, warmup=1)
            ),
            "bytes": (tmp / "w.pt").stat().st_size,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def peer(args: argparse.Namespace) -> dict[str, object] | None:
    if not PEER_PYTHON.exists():
        print(f"(no {PEER_PYTHON}: run ./dev setup for MLflow)")
        return None
    cmd = [
        str(PEER_PYTHON),
        str(HERE / "peer_mlflow_registry.py"),
        f"--registers={args.registers}",
        f"--aliases={args.aliases}",
        f"--loads={args.loads}",
        f"--trees={args.trees}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    args = registry_arguments(__doc__.splitlines()[0], ours=True)
    result = {
        "machine": machine(),
        "nb_mlops": ours(args),
        "mlflow": None if args.no_peer else peer(args),
    }
    cost = fingerprint_cost(args.fingerprint_trees) if args.fingerprint_trees > 0 else {}
    result["fingerprint_cost"] = cost
    print(f"{'operation':<16}{'nb-mlops':>12}{'MLflow':>12}{'ratio':>9}")
    for key in ("register", "set_alias", "load_by_alias"):
        a = result["nb_mlops"][key]["median"]
        b = result["mlflow"][key]["median"] if result["mlflow"] else None
        ratio = f"{b / a:.1f}x" if b else "-"
        peer_ms = f"{b * 1e3:.2f} ms" if b else "-"
        print(f"{key:<16}{a * 1e3:>9.2f} ms{peer_ms:>12}{ratio:>9}")
    for label, d in result["fingerprint_cost"].items():
        save = d.get("joblib_dump") or d.get("torch_save")
        print(
            f"fingerprint {label}: {d['fingerprint']['median'] * 1e3:.0f} ms "
            f"(saving it: {save['median'] * 1e3:.0f} ms, {d['bytes'] / 2**20:.1f} MiB)"
        )
    if args.json_out:
        labels = {
            "register": "register a version",
            "set_alias": "move an alias",
            "load_by_alias": "load by alias",
        }
        found = [
            figure(key, label, result["nb_mlops"][key]["median"]) for key, label in labels.items()
        ]
        for label, d in cost.items():
            found.append(
                figure(f"fingerprint.{label}", f"fingerprint, {label}", d["fingerprint"]["median"])
            )
            save = "joblib_dump" if "joblib_dump" in d else "torch_save"
            found.append(
                figure(f"{save}.{label}", f"{save}, {label}", d[save]["median"], control=True)
            )
        print(f"results: {shown(write_json_out(args.json_out, result, found))}")
        return
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"registry-{stamp}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"results: {path}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - t0:.0f} s")
