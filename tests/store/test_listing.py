"""Folder listings are parsed and checked in one place, whoever wrote them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nb_mlops.errors import ObjectCorrupt, RefusedError
from nb_mlops.store.listing import is_safe_relpath, linked_folder, parse_listing
from nb_mlops.store.objects import ObjectStore

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def listing(*relpaths: str, md5: str = MD5) -> bytes:
    return json.dumps([{"md5": md5, "relpath": r} for r in relpaths]).encode()


def test_a_sound_listing_parses() -> None:
    entries = parse_listing(listing("a.csv", "sub dir/b 한글.txt", "..hidden", "a..b"), "x")
    assert [e["relpath"] for e in entries] == ["a.csv", "sub dir/b 한글.txt", "..hidden", "a..b"]


@pytest.mark.parametrize(
    "relpath",
    ["../victim.txt", "a/../../b", "/etc/passwd", "a//b", "a/./b", "./a", "a/", "", "..", "a\0b"],
)
def test_paths_that_leave_the_folder_are_refused(relpath: str) -> None:
    assert not is_safe_relpath(relpath)
    with pytest.raises(ObjectCorrupt, match=r"folder object remote x lists an unsafe path"):
        parse_listing(listing("fine.txt", relpath), "remote x")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "is not valid JSON"),
        (b'{"md5": "x"}', "not a list of md5/relpath entries"),
        (listing("a", md5="0" * 31), "not a list of md5/relpath entries"),
        (listing("a", md5=MD5 + ".dir"), "not a list of md5/relpath entries"),
        (json.dumps([{"md5": MD5, "relpath": 3}]).encode(), "not a list of md5/relpath entries"),
        (listing("a.csv", "a.csv"), "lists 'a.csv' twice"),
    ],
)
def test_malformed_listings_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ObjectCorrupt, match=message):
        parse_listing(data, "somewhere")


def test_a_path_both_file_and_folder_is_refused() -> None:
    with pytest.raises(ObjectCorrupt, match="lists 'a/b' both as a file and as a folder"):
        parse_listing(listing("a/b", "a/b/c.txt"), "x")


def test_linked_folder_finds_a_link_on_the_way(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real" / "deeper").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "real" / "link")
    os.symlink(outside / "f", root / "file-link")
    assert linked_folder(root, ["a.txt", "real/deeper/b.txt", "not/yet/made.txt"]) is None
    assert linked_folder(root, ["file-link"]) is None  # a last part: replaced, not written through
    assert linked_folder(root, ["real/link/x.txt"]) == root / "real" / "link"
    assert linked_folder(root, ["real/link/deep/x.txt"]) == root / "real" / "link"


def test_checkout_tree_writes_nothing_through_a_link(tmp_path: Path) -> None:
    # The registry's model folders are checked out with checkout_tree (issue 10, point 1).
    store = ObjectStore(tmp_path / "cache")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "weights.bin").write_bytes(b"weights")
    dir_md5 = store.add(src).md5
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, dest / "sub")
    with pytest.raises(RefusedError, match=r"dest/sub is a symbolic link \(to .*outside\)"):
        store.checkout_tree(dir_md5, dest, prune=True)
    assert list(outside.iterdir()) == []
    (dest / "sub").unlink()
    store.checkout_tree(dir_md5, dest, prune=True)
    assert (dest / "sub" / "weights.bin").read_bytes() == b"weights"
