"""The sync state file: written whole, read back, and a damaged one dropped with a note."""

from __future__ import annotations

import pytest

from nb_mlops.store.syncstate import read_state, state_key, syncing, write_state
from nb_mlops.store.workspace import Workspace


def test_round_trip_and_keys(ws: Workspace) -> None:
    key = state_key("mlflow", "http://a:5000", "exp")
    assert key.startswith("mlflow-") and key != state_key("mlflow", "http://a:5000", "")
    assert read_state(ws, key) == ({}, None)
    with syncing(ws, key):
        write_state(ws, key, {"runs": {"abc": {"remote": "r1", "sent": {"m": 3}}}})
    state, note = read_state(ws, key)
    assert note is None and state["runs"]["abc"]["sent"] == {"m": 3}
    assert ws.sync_state_file(key).parent == ws.home / "sync"
    assert not [p for p in ws.sync_state_file(key).parent.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("content", [b"{broken", b"[1, 2]", b'{"format": 99}', b"\xff\xfe"])
def test_a_damaged_state_is_empty_with_a_note(ws: Workspace, content: bytes) -> None:
    key = state_key("mlflow", "http://a:5000")
    path = ws.sync_state_file(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    state, note = read_state(ws, key)
    assert state == {} and note is not None and str(path) in note


def test_keys_are_plain_names(ws: Workspace) -> None:
    with pytest.raises(ValueError):
        ws.sync_state_file("../escape")
