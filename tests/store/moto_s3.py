"""A local S3-compatible server for the S3 remote tests: moto in server mode, run from
`.venv-moto` (its pins never meet ours) on a free loopback port, stopped by its own pid.

`aws_env` points every AWS client of the test (ours, and `dvc` in a subprocess that inherits
the environment) at fake credentials and at config files in the test's own folder, with HOME
moved there too: no test reads or writes the user's `~/.aws`.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackServer

REPO = Path(__file__).resolve().parents[2]
MOTO_VENV = Path(os.environ.get("NB_MLOPS_TEST_MOTO_VENV", REPO / ".venv-moto"))
MOTO_SERVER = MOTO_VENV / "bin" / "moto_server"
KEY_ID = "testing"
SECRET = "testing"  # moto checks no signature; real-looking keys would only trip scanners


class MotoServer(LoopbackServer):
    """`moto_server` listening on 127.0.0.1 (its log in `folder`); `endpoint` once it answers."""

    name = "moto_server"

    def __init__(self, folder: Path) -> None:
        if not MOTO_SERVER.exists():
            raise RuntimeError(
                f"no moto server at {MOTO_SERVER}: run ./dev setup (or set NB_MLOPS_TEST_MOTO_VENV)"
            )
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "LANG": "C.UTF-8"}
        argv = [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", "{port}"]
        super().__init__(argv, folder, "moto.log", env=env, timeout_s=60.0)
        self.endpoint = self.url

    def make_bucket(self, name: str) -> None:
        """Create a bucket (moto takes an unsigned PUT, so no AWS client is needed)."""
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200, answer.status

    def fs(self) -> Any:
        """An s3fs file system on the server with the fake keys, for looking at what landed."""
        import s3fs

        return s3fs.S3FileSystem(
            key=KEY_ID,
            secret=SECRET,
            client_kwargs={"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            skip_instance_cache=True,
            use_listings_cache=False,
        )


def moto_session(folder: Path) -> Any:
    """The body of a session fixture: one server for the session, a clear failure (never a
    skip) when `.venv-moto` is missing."""
    try:
        server = MotoServer(folder)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Bucket:
    """A fresh bucket of the server for one test; `url` is a remote URL with a prefix in it."""

    server: MotoServer
    name: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def url(self) -> str:
        return f"s3://{self.name}/project"

    def stored_keys(self) -> list[str]:
        """Every key in the bucket, without the bucket's name."""
        fs = self.server.fs()
        return sorted(k.split("/", 1)[1] for k in fs.find(self.name))

    def multipart_uploads(self) -> list[Any]:
        return (
            self.server.fs().call_s3("list_multipart_uploads", Bucket=self.name).get("Uploads", [])
        )


def aws_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Fake credentials in the usual variables; no AWS setting of the user's; HOME in `home`."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no 1 s probe of 169.254.169.254


def new_bucket(server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    """The body of a per-test fixture: the environment set, and a bucket of the test's own."""
    aws_env(monkeypatch, tmp_path / "home")
    bucket = Bucket(server, f"nbm-{uuid.uuid4().hex[:12]}")
    server.make_bucket(bucket.name)
    return bucket
