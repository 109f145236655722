"""Folder listings are parsed and checked in one place, whoever wrote them."""

from __future__ import annotations

import json

import pytest

from nb_mlops.errors import ObjectCorrupt
from nb_mlops.store.listing import is_safe_relpath, parse_listing

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
