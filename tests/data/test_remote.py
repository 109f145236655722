"""Remotes: their configuration in config.toml (moving objects is tests/store/test_transfer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nb_mlops.data.remote import Remote, add_remote, get_remote, list_remotes, remove_remote
from nb_mlops.errors import RemoteError
from nb_mlops.store.workspace import Workspace

# -- configuration --------------------------------------------------------------------------


def test_add_list_get_remove_keeps_comments(ws: Workspace, tmp_path: Path) -> None:
    config = ws.home / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + "\n# my own note\n[capture]\nenv = ['A']  # keep\n",
        encoding="utf-8",
    )
    first = add_remote(ws, "origin", "../remote")
    assert first == Remote("origin", "../remote", default=True)  # the first becomes the default
    add_remote(ws, "backup.2", "memory://bucket")
    assert [r.name for r in list_remotes(ws)] == ["origin", "backup.2"]
    assert get_remote(ws, None).name == "origin"
    assert get_remote(ws, "backup.2").url == "memory://bucket"

    text = config.read_text(encoding="utf-8")
    assert "# nb-mlops settings for this workspace" in text
    assert "# my own note" in text and "env = ['A']  # keep" in text
    assert 'url = "../remote"' in text  # stored as given; resolved only when used
    assert ws.config["remotes"]["origin"]["url"] == "../remote"  # the cached config was dropped

    add_remote(ws, "backup.2", "memory://bucket", default=True)  # same URL: allowed, now default
    assert get_remote(ws, None).name == "backup.2"
    assert ws.config["core"]["default"] == "backup.2"

    remove_remote(ws, "backup.2")
    assert [r.name for r in list_remotes(ws)] == ["origin"]
    assert "default" not in ws.config.get("core", {})
    assert get_remote(ws, None).name == "origin"  # the only remote serves as the default
    assert "# my own note" in config.read_text(encoding="utf-8")
    with pytest.raises(RemoteError, match=r"no remote named backup.2 .*%track remote add"):
        remove_remote(ws, "backup.2")


def test_duplicate_name_needs_the_same_url(ws: Workspace) -> None:
    add_remote(ws, "origin", "/srv/a")
    add_remote(ws, "origin", "/srv/a")
    with pytest.raises(RemoteError, match="already exists with URL /srv/a"):
        add_remote(ws, "origin", "/srv/b")
    assert get_remote(ws, "origin").url == "/srv/a"


@pytest.mark.parametrize("name", ["", "a b", "../x", ".hidden", "x/y", "원격", "-x", "a" * 65])
def test_bad_names_are_refused(ws: Workspace, name: str) -> None:
    with pytest.raises(RemoteError, match="bad remote name"):
        add_remote(ws, name, "/srv/a")
    assert list_remotes(ws) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [("", "URL is empty"), ("nosuch://x", "unknown protocol 'nosuch'"), ("/a\nb", "control")],
)
def test_bad_urls_are_refused(ws: Workspace, url: str, message: str) -> None:
    with pytest.raises(RemoteError, match=message):
        add_remote(ws, "origin", url)


@pytest.mark.parametrize(
    "url",
    ["sftp://me:hunter2-secret@host/store", "memory://bucket?token=ghp_0123456789abcdefghij0123"],
)
def test_credentials_in_a_url_are_refused_and_not_stored(ws: Workspace, url: str) -> None:
    with pytest.raises(RemoteError, match="holds a password or token") as refused:
        add_remote(ws, "origin", url)
    assert "hunter2" not in str(refused.value) and "ghp_" not in str(refused.value)
    assert list_remotes(ws) == []
    assert "hunter2" not in ws.config_path.read_text() and "ghp_" not in ws.config_path.read_text()


def test_get_remote_says_what_is_missing(ws: Workspace) -> None:
    with pytest.raises(RemoteError, match=r"no default remote.*%track remote add NAME URL"):
        get_remote(ws, None)
    add_remote(ws, "origin", "/srv/a")
    with pytest.raises(RemoteError, match=r"no remote named nope \(remotes: origin\)"):
        get_remote(ws, "nope")
    # hand-written config: two remotes, no default; then a default that names nothing
    (ws.home / "config.toml").write_text(
        '[remotes.a]\nurl = "/a"\n[remotes.b]\nurl = "/b"\n', encoding="utf-8"
    )
    with pytest.raises(RemoteError, match="no default remote among a, b"):
        get_remote(ws, None)
    (ws.home / "config.toml").write_text(
        '[core]\ndefault = "gone"\n[remotes.a]\nurl = "/a"\n', encoding="utf-8"
    )
    with pytest.raises(RemoteError, match=r"default remote gone .* is not defined"):
        get_remote(ws, None)
