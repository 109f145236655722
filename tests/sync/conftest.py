"""One real MLflow tracking server for the sync tests (SQLite backend, loopback), started once
and stopped at the end. Tests keep apart by experiment and model names of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sync.mlflow_server import MlflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def uri(mlflow_server: MlflowServer) -> str:
    return mlflow_server.uri


@pytest.fixture
def unique() -> str:
    """A suffix for experiment and model names no other test uses."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def client(uri: str):
    """MLflow's own client, to read what the sync left on the server."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)
