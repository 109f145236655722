"""A real `mlflow server` on loopback, from `.venv-mlflow` (its pins never meet ours), with a
SQLite backend and its artifacts in a folder of the caller's. Used by tests/sync and by
benchmarks/bench_mlflow_sync.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MLFLOW_VENV = Path(os.environ.get("NB_MLOPS_TEST_MLFLOW_VENV", REPO / ".venv-mlflow"))
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """`mlflow server` started in `folder` (db.sqlite, artifacts/, server.log); `uri` once up."""

    def __init__(self, folder: Path, workers: int = 2) -> None:
        if not (MLFLOW_VENV / "bin" / "mlflow").exists():
            raise RuntimeError(f"no MLflow server in {MLFLOW_VENV}: run ./dev setup first")
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        self.proc = subprocess.Popen(
            [
                str(MLFLOW_VENV / "bin" / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{folder / 'db.sqlite'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait()

    def _wait(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer in {timeout} s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return (self.folder / "server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Stop the server and its workers (its own process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
