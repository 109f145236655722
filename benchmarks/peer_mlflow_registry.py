"""MLflow's side of the registry benchmark; runs inside .venv-mlflow (./dev setup).

Fits the same model as bench_registry.py (same data, same seed, same scikit-learn), then times
MLflow's registry calls against its default SQLite store. Prints one JSON object on stdout:

    .venv-mlflow/bin/python benchmarks/peer_mlflow_registry.py --registers 20
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import finish_peer, per_call, registry_arguments, summary

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


def main() -> None:
    args = registry_arguments(__doc__.splitlines()[0])

    import mlflow
    import mlflow.sklearn
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    X, y = make_classification(5000, 20, random_state=0)
    model = RandomForestClassifier(n_estimators=args.trees, random_state=0).fit(X, y)

    tmp = Path(tempfile.mkdtemp(prefix="peer-mlflow-registry-"))
    os.chdir(tmp)
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    client = MlflowClient()

    def register() -> None:
        with mlflow.start_run():
            # MLflow's default (skops) format wants the tree type named as trusted
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="rf",
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )

    result: dict[str, object] = {"tool": "mlflow", "version": mlflow.__version__}
    result["register"] = summary(per_call(register, args.registers, warmup=2))
    last = args.registers + 2
    turn = iter(range(10**9))

    def alias() -> None:
        client.set_registered_model_alias("rf", "production", 1 + next(turn) % last)

    result["set_alias"] = summary(per_call(alias, args.aliases, warmup=2))
    client.set_registered_model_alias("rf", "production", last)

    def load() -> None:
        mlflow.sklearn.load_model("models:/rf@production")

    result["load_by_alias"] = summary(per_call(load, args.loads, warmup=2))
    finish_peer(result, tmp)


if __name__ == "__main__":
    main()
