"""A local S3-compatible server (moto, started once per session) and a bucket per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store.moto_s3 import Bucket, MotoServer, moto_session, new_bucket


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    yield from moto_session(tmp_path_factory.mktemp("moto"))


@pytest.fixture
def s3(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    """A fresh bucket on the moto server, the AWS environment pointed at fake credentials."""
    return new_bucket(moto, monkeypatch, tmp_path)
