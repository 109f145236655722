"""DVC's cache as a source of versions: a crafted one cannot make us write outside the workspace
(issue 10, point 1b)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import cli, cli_json

import nb_mlops as nm


def put_object(cache: Path, data: bytes, suffix: str = "") -> str:
    h = hashlib.md5(data).hexdigest() + suffix
    path = cache / "files" / "md5" / h[:2] / h[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return h


@pytest.fixture
def crafted(project: Path, tmp_path: Path) -> dict[str, Path | str]:
    """A DVC project whose cache holds a listing that leaves the folder, and `data.dvc` naming
    it; `victim.txt` beside the project is what `data/../../victim.txt` reaches."""
    cache = project / ".dvc" / "cache"
    cache.mkdir(parents=True)
    payload = put_object(cache, b"pwned\n")
    listing = json.dumps([{"md5": payload, "relpath": "../../victim.txt"}]).encode()
    dir_md5 = put_object(cache, listing, ".dir")
    (project / "data.dvc").write_text(
        f"outs:\n- md5: {dir_md5}\n  size: 6\n  nfiles: 1\n  hash: md5\n  path: data\n"
    )
    victim = tmp_path / "victim.txt"
    victim.write_text("original\n")
    return {"victim": victim, "md5": dir_md5}


def versions_recorded(project: Path) -> list[str]:
    out = cli(project, "versions", "data", "--json")
    return [] if out.returncode else [v["md5"] for v in json.loads(out.stdout)["versions"]]


@pytest.mark.slow
@pytest.mark.parametrize("args", [["status", "data"], ["checkout", "data", "current"]])
def test_checkout_and_status_refuse_a_crafted_dvc_cache(
    project: Path, crafted: dict, args: list[str]
) -> None:
    out = cli(project, *args)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith(f"nb-mlops: error: data.dvc names {crafted['md5']}, which ")
    assert "DVC's cache holds damaged" in lines[-1]
    assert "lists an unsafe path: '../../victim.txt'" in lines[-1]
    assert crafted["victim"].read_text() == "original\n"
    assert not (project / "data").exists()
    assert versions_recorded(project) == []


@pytest.mark.slow
def test_a_snapshot_replaces_a_dvc_file_naming_a_crafted_listing(
    project: Path, crafted: dict
) -> None:
    (project / "data").mkdir()
    (project / "data" / "mine.txt").write_text("the real data\n")
    out = cli(project, "snapshot", "data")
    assert out.returncode == 0, out.stderr
    assert "replaced data.dvc, which could not be used (data.dvc names" in out.stdout
    assert "lists an unsafe path: '../../victim.txt'" in out.stdout
    done = cli_json(project, "snapshot", "data")  # the version just made
    assert done["version"] == 1 and done["created"] is False
    assert crafted["victim"].read_text() == "original\n"
    assert versions_recorded(project) == [done["md5"]]
    assert crafted["md5"] not in (project / "data.dvc").read_text()


def test_a_dvc_cache_missing_a_file_is_still_quiet(project: Path) -> None:
    # Only a damaged listing is an error: DVC's cache lacking a file is ordinary (`dvc gc`).
    cache = project / ".dvc" / "cache"
    listing = json.dumps([{"md5": "0" * 32, "relpath": "a.txt"}]).encode()
    dir_md5 = put_object(cache, listing, ".dir")
    (project / "data.dvc").write_text(f"outs:\n- md5: {dir_md5}\n  hash: md5\n  path: data\n")
    text = str(nm.status("data"))
    assert text == (
        f"data: not in the workspace; data.dvc names {dir_md5}, which no cache here holds "
        "(fetch it with `pull`, or `dvc pull`)"
    )
