"""The MLflow tracking server a sync talks to: its URI checked, its client opened, its errors
turned into one line naming the server.

The URI is recorded in the store (the sync state's name) and shown in messages, so it may not
carry credentials: MLflow's client reads them from MLFLOW_TRACKING_USERNAME/PASSWORD or
MLFLOW_TRACKING_TOKEN. Its request retries are shortened for the sync unless the user set them:
MLflow's defaults wait minutes on a server that is down.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from nb_mlops.errors import SyncError
from nb_mlops.redact import redact_text

__all__ = ["Server", "check_tracking_uri", "open_server"]

_SCHEMES = ("http://", "https://")
_QUIET_ENV = {
    # no "View run at ..." lines printed by the client when a run ends
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # a server that is down fails in seconds, not after MLflow's minutes of back-off
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
}
_MLFLOW_LOGGERS = ("mlflow", "alembic", "urllib3")
T = TypeVar("T")


def check_tracking_uri(uri: object) -> str:
    """The URI stripped, or a one-line SyncError: http(s) only, no credentials in it."""
    if not isinstance(uri, str) or not uri.strip():
        raise SyncError("the tracking URI is empty: give the MLflow server's http(s) URL")
    uri = uri.strip().rstrip("/")
    if any(ord(c) < 32 or c.isspace() for c in uri):
        raise SyncError(f"the tracking URI {uri!r} holds a space or control character")
    if not uri.lower().startswith(_SCHEMES) or len(uri.split("://", 1)[1]) == 0:
        raise SyncError(
            f"the tracking URI {uri!r} is not an http(s) URL of an MLflow tracking server "
            "(start one with `mlflow server`)"
        )
    shown = redact_text(uri)
    if shown != uri or "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        raise SyncError(
            f"the tracking URI {shown} holds credentials; give them through "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    return uri


class Server:
    """MLflow's client for one tracking server, counting the requests it makes.

    `call` runs one client method and turns MLflow's and the network's errors into a SyncError
    naming the server and what was being done.
    """

    def __init__(self, uri: str, client: Any) -> None:
        self.uri = uri
        self.client = client
        self.requests = 0
        self._count = threading.Lock()

    def call(self, what: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._count:
            self.requests += 1
        try:
            return method(*args, **kwargs)
        except SyncError:
            raise
        except Exception as exc:  # MLflow's, requests' and the server's errors all end here
            raise SyncError(f"MLflow at {self.uri}: {what}: {first_line(exc)}") from exc

    def is_missing(self, exc: BaseException) -> bool:
        """Whether a SyncError came from a RESOURCE_DOES_NOT_EXIST answer."""
        cause = exc.__cause__
        return getattr(cause, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"

    def is_refusal(self, exc: BaseException) -> bool:
        """Whether a SyncError is the server failing one request (a value it will not take, a
        run in a state that forbids it, an error of its own on that request), not the server
        being out of reach (refused connections, names that do not resolve, time-outs)."""
        return _network_failure(str(exc.__cause__ or exc)) is None

    def is_taken(self, exc: BaseException) -> bool:
        """Whether a SyncError came from a RESOURCE_ALREADY_EXISTS answer."""
        cause = exc.__cause__
        return getattr(cause, "error_code", None) == "RESOURCE_ALREADY_EXISTS"


_NETWORK = (
    (("NameResolutionError", "Failed to resolve"), "its host name does not resolve"),
    (("Connection refused", "NewConnectionError"), "nothing answers there (connection refused)"),
    (("timed out", "Timeout"), "it did not answer in time"),
    (("RemoteDisconnected", "Connection aborted", "Connection reset"), "the connection broke"),
)


def _network_failure(text: str) -> str | None:
    """A few words for a request that never reached the server (None for any other error)."""
    if "API request to" in text and "failed with exception" in text:
        for marks, said in _NETWORK:
            if any(m in text for m in marks):
                return said
    return None


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (MLflow's carry whole responses); the
    network's failures said in a few words."""
    text = str(getattr(exc, "message", None) or exc).strip()
    said = _network_failure(text)
    if said is not None:
        return said
    line = text.splitlines()[0] if text else type(exc).__name__
    return redact_text(line[:300])


@contextmanager
def open_server(uri: str) -> Iterator[Server]:
    """The client of the tracking server at `uri` (checked), quiet while the sync runs."""
    uri = check_tracking_uri(uri)
    with _quiet():
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise SyncError(
                "syncing with MLflow needs its client: pip install 'nb-mlops[mlflow]'"
            ) from None
        server = Server(uri, MlflowClient(tracking_uri=uri, registry_uri=uri))
        server.call("reach the server", server.client.search_experiments, max_results=1)
        yield server


@contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's environment settings above (unless the user set them) and its loggers held
    at ERROR while the sync runs (its warnings about pickles it writes for us are noise); both
    put back after."""
    set_here = [k for k in _QUIET_ENV if k not in os.environ]
    for key in set_here:
        os.environ[key] = _QUIET_ENV[key]
    levels = {}
    for name in _MLFLOW_LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        if logger.getEffectiveLevel() < logging.ERROR:
            logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for key in set_here:
            os.environ.pop(key, None)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
