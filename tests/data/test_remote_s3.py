"""Datasets on an S3 remote (moto on loopback): push and pull with their history, `dvc pull` of
what we pushed and our pull of what `dvc push` sent (the real dvc[s3] of `.venv-dvc`), and
one-line failures that leave nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import cli, cli_json
from loopback import free_port
from store.moto_s3 import Bucket

import nb_mlops as nm
from nb_mlops.errors import RemoteError

REPO = Path(__file__).resolve().parents[2]
DVC = Path(os.environ.get("NB_MLOPS_TEST_DVC", REPO / ".venv-dvc" / "bin" / "dvc"))

pytestmark = pytest.mark.slow


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """A command in `cwd` with the test's environment (fake AWS credentials, HOME in tmp)."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    if not DVC.exists():
        pytest.fail(f"the real dvc is needed at {DVC}: run `./dev setup` (or NB_MLOPS_TEST_DVC)")
    return run(cwd, str(DVC), *args)


def make_data(project: Path, rows: int = 3) -> None:
    (project / "data" / "sub").mkdir(parents=True, exist_ok=True)
    (project / "data" / "train.csv").write_text(
        "id,x\n" + "".join(f"{i},{i}\n" for i in range(rows))
    )
    (project / "data" / "sub" / "학습 데이터.txt").write_text("한국어\n", encoding="utf-8")
    (project / "labels.csv").write_text("id,y\n" + "".join(f"{i},{i % 2}\n" for i in range(rows)))


def fresh_copy(project: Path, where: Path) -> Path:
    """What a `git clone` of the project holds: its `.dvc` files and `.gitignore`s, no store."""
    where.mkdir()
    for path in project.rglob("*"):
        rel = path.relative_to(project)
        if rel.parts[0] in (".nbmlops", ".dvc", ".git") or not path.is_file():
            continue
        if path.suffix == ".dvc" or path.name == ".gitignore":
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, where / rel)
    run(where, "git", "init", "-q")
    return where


def same_bytes(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files
    )


@pytest.fixture
def pushed(s3: Bucket, project: Path) -> Path:
    """The project with two versions of a folder and one of a file, pushed to the bucket."""
    run(project, "git", "init", "-q")
    make_data(project, rows=3)
    nm.snapshot("data", "v1")
    make_data(project, rows=5)
    nm.snapshot("data", "v2")
    nm.snapshot("labels.csv", "labels")
    nm.add_remote("s3r", s3.url, endpoint_url=s3.endpoint, region="us-east-1")
    result = nm.push()
    objects = [k for k in s3.stored_keys() if "/files/md5/" in k]
    assert result.transfer.moved == len(objects) > 0
    return project


def test_remote_add_through_the_cli_and_the_magic_stores_no_credential(
    s3: Bucket, project: Path, ip
) -> None:
    out = cli_json(
        project,
        "remote",
        "add",
        "s3r",
        s3.url,
        "--endpoint-url",
        s3.endpoint,
        "--region",
        "us-east-1",
        "--profile",
        "default",
    )
    assert out["options"] == {
        "endpointurl": s3.endpoint,
        "region": "us-east-1",
        "profile": "default",
    }
    ip.run_line_magic("track", f"remote add other s3://{s3.name}/b --endpoint-url {s3.endpoint}")
    listed = cli(project, "remote", "list")
    assert (
        f"s3r (default)  {s3.url} (endpointurl={s3.endpoint}, region=us-east-1, " in listed.stdout
    )
    assert f"other  s3://{s3.name}/b (endpointurl={s3.endpoint})" in listed.stdout
    config = (project / ".nbmlops" / "config.toml").read_text()
    assert "testing" not in config and "secret" not in config.lower()  # the fake keys' value
    refused = cli(project, "remote", "list", "--region", "x")
    assert refused.returncode != 0
    assert "--endpoint-url, --region and --profile go with remote add" in refused.stderr


def test_our_pull_from_s3_brings_every_version(pushed: Path, s3: Bucket, tmp_path: Path) -> None:
    again = nm.push()
    assert again.transfer.moved == 0 and again.transfer.skipped > 0  # nothing moves twice
    clone = fresh_copy(pushed, tmp_path / "clone")
    cli_json(clone, "remote", "add", "s3r", s3.url, "--endpoint-url", s3.endpoint)
    cli_json(clone, "pull")
    assert same_bytes(pushed / "data", clone / "data")
    assert (clone / "labels.csv").read_bytes() == (pushed / "labels.csv").read_bytes()
    versions = cli_json(clone, "versions", "data")
    assert [v["message"] for v in versions["versions"]] == ["v1", "v2"]
    assert cli_json(clone, "pull")["moved"] == 0


def test_dvc_pull_from_the_same_url_finds_our_bytes(
    pushed: Path, s3: Bucket, tmp_path: Path
) -> None:
    clone = fresh_copy(pushed, tmp_path / "clone")
    dvc(clone, "init", "-q")
    dvc(clone, "remote", "add", "-d", "store", s3.url)
    dvc(clone, "remote", "modify", "store", "endpointurl", s3.endpoint)
    dvc(clone, "pull")
    assert same_bytes(pushed / "data", clone / "data")
    assert (clone / "labels.csv").read_bytes() == (pushed / "labels.csv").read_bytes()


def test_our_pull_finds_what_dvc_pushed(s3: Bucket, project: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    run(theirs, "git", "init", "-q")
    dvc(theirs, "init", "-q")
    make_data(theirs, rows=4)
    dvc(theirs, "add", "-q", "data", "labels.csv")
    dvc(theirs, "remote", "add", "-d", "store", s3.url)
    dvc(theirs, "remote", "modify", "store", "endpointurl", s3.endpoint)
    dvc(theirs, "push")
    clone = fresh_copy(theirs, tmp_path / "clone")
    cli_json(clone, "remote", "add", "s3r", s3.url, "--endpoint-url", s3.endpoint)
    out = cli_json(clone, "pull")
    assert out["failed"] == [] and out["moved"] > 0
    assert same_bytes(theirs / "data", clone / "data")
    assert (clone / "labels.csv").read_bytes() == (theirs / "labels.csv").read_bytes()


@pytest.mark.parametrize("fault", ["unreachable", "no-bucket", "no-credentials"])
def test_a_remote_that_cannot_serve_fails_in_one_line_and_writes_nothing(
    pushed: Path, s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries: seconds otherwise
    url, endpoint = s3.url, s3.endpoint
    if fault == "unreachable":
        endpoint = f"http://127.0.0.1:{free_port()}"
    elif fault == "no-bucket":
        url = f"s3://{s3.name}-gone/project"
    else:
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    nm.add_remote("broken", url, endpoint_url=endpoint)
    (pushed / "labels.csv").write_text("id,y\n9,9\n")
    nm.snapshot("labels.csv", "new")
    before = s3.stored_keys()
    with pytest.raises(RemoteError) as push_failed:
        nm.push(remote="broken")
    clone = fresh_copy(pushed, tmp_path / "clone")
    cli_json(clone, "remote", "add", "broken", url, "--endpoint-url", endpoint)
    pull_failed = cli(clone, "pull")
    for message in (str(push_failed.value), pull_failed.stderr.strip()):
        assert f"remote broken ({url})" in message and "\n" not in message, message
    assert pull_failed.returncode != 0 and "Traceback" not in pull_failed.stderr
    assert s3.stored_keys() == before
    assert not (clone / "data").exists() and not (clone / "labels.csv").exists()
    cache = clone / ".nbmlops" / "cache"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]
    assert "data has no versions yet" in cli(clone, "versions", "data").stderr
