"""A real `mlflow server` on loopback, from `.venv-mlflow` (its pins never meet ours), with a
SQLite backend and its artifacts in a folder of the caller's. Used by tests/sync and by
benchmarks/bench_mlflow_sync.py."""

from __future__ import annotations

import os
from pathlib import Path

from loopback import LoopbackServer, free_port

REPO = Path(__file__).resolve().parents[2]
MLFLOW_VENV = Path(os.environ.get("NB_MLOPS_TEST_MLFLOW_VENV", REPO / ".venv-mlflow"))
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"

__all__ = ["MLFLOW_PYTHON", "MlflowServer", "free_port"]


class MlflowServer(LoopbackServer):
    """`mlflow server` started in `folder` (db.sqlite, artifacts/, server.log); `uri` once up."""

    name = "mlflow server"

    def __init__(self, folder: Path, workers: int = 2) -> None:
        mlflow = MLFLOW_VENV / "bin" / "mlflow"
        if not mlflow.exists():
            raise RuntimeError(f"no MLflow server in {MLFLOW_VENV}: run ./dev setup first")
        argv = [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'db.sqlite'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(workers),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        super().__init__(argv, folder, "server.log", env=env, probe="/health")
        self.uri = self.url
