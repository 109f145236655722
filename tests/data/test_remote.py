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


# -- S3 options (the server itself is in test_remote_s3.py) ----------------------------------


def test_s3_options_are_kept_under_dvc_s_names(ws: Workspace) -> None:
    r = add_remote(
        ws,
        "team",
        "s3://team-data/project",
        endpoint_url="http://127.0.0.1:9000",
        region="eu-west-1",
        profile="team",
    )
    options = {"endpointurl": "http://127.0.0.1:9000", "region": "eu-west-1", "profile": "team"}
    assert r == Remote("team", "s3://team-data/project", True, options)
    assert ws.config["remotes"]["team"] == {"url": "s3://team-data/project", **options}
    assert r.storage_options() == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
        "profile": "team",
    }
    assert get_remote(ws, "team").options == options
    add_remote(
        ws,
        "team",
        "s3://team-data/project",
        endpointurl="http://127.0.0.1:9000",
        region="eu-west-1",
        profile="team",
    )  # the same again, DVC's spelling: allowed
    with pytest.raises(RemoteError, match=r"already exists at s3://team-data/project with other"):
        add_remote(ws, "team", "s3://team-data/project", region="us-east-1")
    assert Remote("plain", "s3://b/p").storage_options() == {}


@pytest.mark.parametrize(
    "option",
    ["secret_access_key", "access_key_id", "aws_access_key_id", "session_token", "password"],
)
def test_a_credential_given_as_an_option_is_refused(ws: Workspace, option: str) -> None:
    with pytest.raises(RemoteError) as refused:
        add_remote(ws, "team", "s3://team-data/p", **{option: "wJalrXUtnFEMI/K7MDENG"})
    message = str(refused.value)
    assert message.startswith(f"remote team: {option} is a credential; nb-mlops never stores")
    assert "AWS_ACCESS_KEY_ID" in message and "wJalr" not in message
    assert list_remotes(ws) == [] and "wJalr" not in ws.config_path.read_text()


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("/srv/a", {"region": "eu-west-1"}, r"region applies to s3:// remotes only, not /srv/a"),
        ("s3://b/p", {"jobs": "4"}, r"unknown option 'jobs' \(known: endpointurl, region, profile"),
        ("s3://b/p", {"endpoint_url": "ftp://host"}, "is not an http:// or https:// URL"),
        ("s3://b/p", {"endpoint_url": "http://a b"}, "is not an http:// or https:// URL"),
        ("s3://b/p", {"endpoint_url": "http://me:hunter2@host"}, "holds a password or token"),
        ("s3://b/p", {"region": "eu west"}, "is not a region name"),
        ("s3://b/p", {"profile": "a]\n[b"}, "is not a profile name"),
        ("s3://b/p", {"region": 5}, "region must be text, not int"),
        ("s3:///p", {}, r"the URL names no bucket \(s3://BUCKET/PREFIX\)"),
    ],
)
def test_bad_s3_options_are_refused_in_one_line(
    ws: Workspace, url: str, options: dict, message: str
) -> None:
    with pytest.raises(RemoteError, match=message) as refused:
        add_remote(ws, "team", url, **options)
    assert str(refused.value).startswith("remote team") and "\n" not in str(refused.value)
    assert "hunter2" not in str(refused.value)
    assert list_remotes(ws) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("region = 5", r"\[remotes.team\]: remote team: region must be text, not int"),
        ('endpointurl = "file:///x"', "endpointurl 'file:///x' is not an http"),
        ('secret_access_key = "wJalrXUtnFEMI"', "secret_access_key is a credential"),
        ('endpoint_url = "http://x"', None),  # a spelling of endpointurl: accepted
        ('endpoint = "http://x"', r"unknown option 'endpoint'"),
    ],
)
def test_options_read_back_from_a_hand_edited_config_are_checked(
    ws: Workspace, entry: str, message: str | None
) -> None:
    ws.config_path.write_text(
        f'[remotes.team]\nurl = "s3://team-data/p"\n{entry}\n', encoding="utf-8"
    )
    if message is None:
        assert get_remote(ws, "team").options == {"endpointurl": "http://x"}
        return
    with pytest.raises(RemoteError, match=message) as refused:
        list_remotes(ws)
    assert str(refused.value).startswith(f"{ws.config_path}: [remotes.team]: remote team: ")
    assert "wJalr" not in str(refused.value) and "\n" not in str(refused.value)
