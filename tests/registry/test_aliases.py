"""Aliases: moves, their history, rollback, protection, and two processes moving one alias."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_env

import nb_mlops as nm
from nb_mlops.errors import InvalidName, ModelNotFound, NbMlopsError, RefusedError
from nb_mlops.registry.aliases import pointed_stack


@pytest.fixture
def model(ws) -> str:
    for i in range(4):
        nm.register_model("clf", {"weights": [i]})
    return "clf"


def _moves(name: str, alias: str | None = None) -> list[tuple]:
    return [(e["event"], e["from"], e["to"]) for e in nm.alias_history(name, alias)]


def test_set_moves_and_records_who_when_why(model: str, monkeypatch) -> None:
    monkeypatch.setenv("NB_MLOPS_USER", "ada")
    first = nm.set_alias(model, "production", 1, why="launch")
    assert (first.from_version, first.to_version, first.changed) == (None, 1, True)
    assert str(first) == "clf@production: moved from nothing to version 1"
    nm.set_alias(model, "production", "v2", why="better recall")
    assert nm.get_model_version("models:/clf@production").version == 2
    history = nm.alias_history(model, "production")
    assert [(e["from"], e["to"], e["why"]) for e in history] == [
        (None, 1, "launch"),
        (1, 2, "better recall"),
    ]
    assert all(e["by"].startswith("ada@") and e["at"] for e in history)
    assert history[0]["at"] <= history[1]["at"]


def test_setting_the_same_version_changes_nothing(model: str) -> None:
    nm.set_alias(model, "staging", 2)
    again = nm.set_alias(model, "staging", 2)
    assert not again.changed and "nothing changed" in str(again)
    assert len(nm.alias_history(model, "staging")) == 1


def test_aliases_show_on_versions(model: str) -> None:
    nm.set_alias(model, "production", 1)
    nm.set_alias(model, "champion", 1)
    nm.set_alias(model, "staging", 3)
    assert nm.get_model_version(model, 1).aliases == ["champion", "production"]
    assert nm.get_model_version(model, 3).aliases == ["staging"]


def test_rollback_goes_back_step_by_step(model: str) -> None:
    for v in (1, 2, 3):
        nm.set_alias(model, "production", v)
    back = nm.rollback(model, "production", why="v3 broke checkout")
    assert (back.event, back.from_version, back.to_version) == ("rollback", 3, 2)
    assert "rolled back from version 3 to version 2" in str(back)
    assert nm.rollback(model, "production").to_version == 1
    with pytest.raises(NbMlopsError, match="no earlier version to roll back to"):
        nm.rollback(model, "production")
    nm.set_alias(model, "production", 4)
    assert nm.rollback(model, "production").to_version == 1
    assert _moves(model, "production")[-2:] == [("set", 1, 4), ("rollback", 4, 1)]


def test_rollback_skips_versions_deleted_or_archived_since(model: str) -> None:
    for v in (1, 2, 3):
        nm.set_alias(model, "production", v)
    nm.archive_model_version(model, 2)
    assert nm.rollback(model, "production").to_version == 1


def test_pointed_stack_replays_the_history() -> None:
    h = [{"event": "set", "to": 1}, {"event": "set", "to": 2}, {"event": "set", "to": 3}]
    assert pointed_stack(h) == [1, 2, 3]
    assert pointed_stack([*h, {"event": "rollback", "to": 2}]) == [1, 2]
    assert pointed_stack([*h, {"event": "remove", "to": None}, {"event": "set", "to": 4}]) == [4]


def test_protected_alias_needs_force(model: str) -> None:
    nm.set_alias(model, "production", 1, protect=True)
    with pytest.raises(RefusedError, match=r"clf@production is protected .*--force"):
        nm.set_alias(model, "production", 2)
    with pytest.raises(RefusedError, match="protected"):
        nm.delete_alias(model, "production")
    with pytest.raises(RefusedError, match="protected"):
        nm.protect_alias(model, "production", False)
    assert nm.get_model_version("models:/clf@production").version == 1
    moved = nm.set_alias(model, "production", 2, force=True, why="hotfix")
    assert moved.to_version == 2
    with pytest.raises(RefusedError, match="protected"):
        nm.rollback(model, "production")
    assert nm.rollback(model, "production", force=True).to_version == 1
    history = nm.alias_history(model, "production")
    assert [e["forced"] for e in history] == [False, True, True]
    nm.protect_alias(model, "production", False, force=True)
    nm.set_alias(model, "production", 3)  # no longer protected


def test_protect_an_existing_alias(model: str) -> None:
    nm.set_alias(model, "staging", 1)
    out = nm.protect_alias(model, "staging", why="release freeze")
    assert str(out) == "clf@staging is now protected"
    assert _moves(model, "staging") == [("set", None, 1), ("protect", 1, 1)]
    with pytest.raises(ModelNotFound, match="no alias 'nope' to protect"):
        nm.protect_alias(model, "nope")


def test_remove_keeps_history_and_protection_goes(model: str) -> None:
    nm.set_alias(model, "staging", 2, protect=True)
    removed = nm.delete_alias(model, "staging", force=True, why="retired")
    assert "removed clf@staging" in str(removed)
    with pytest.raises(ModelNotFound, match="has no alias 'staging'"):
        nm.load_model("models:/clf@staging")
    assert _moves(model, "staging") == [("set", None, 2), ("remove", 2, None)]
    nm.set_alias(model, "staging", 3)  # a fresh start, unprotected
    with pytest.raises(ModelNotFound, match="no alias 'gone'"):
        nm.delete_alias(model, "gone")


def test_bad_alias_moves_are_refused(model: str) -> None:
    with pytest.raises(ModelNotFound, match=r"clf has no version 9 \(versions: 1, 2, 3, 4\)"):
        nm.set_alias(model, "production", 9)
    with pytest.raises(ModelNotFound, match="no model named 'ghost'"):
        nm.set_alias("ghost", "production", 1)
    with pytest.raises(InvalidName, match="alias 'prod/eu'"):
        nm.set_alias(model, "prod/eu", 1)
    with pytest.raises(InvalidName, match="latest"):
        nm.set_alias(model, "latest", 1)
    with pytest.raises(ModelNotFound, match="not a version number"):
        nm.set_alias(model, "production", "two")
    nm.archive_model_version(model, 4)
    with pytest.raises(RefusedError, match="version 4 is archived"):
        nm.set_alias(model, "production", 4)
    with pytest.raises(ModelNotFound, match="no alias 'production' to roll back"):
        nm.rollback(model, "production")
    assert nm.alias_history(model) == []


_MOVER = """
import sys, time
import nb_mlops as nm
target, other, start = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
for i in range(20):  # alternating between its own two versions: never a no-op move
    nm.set_alias("clf", "production", target if i % 2 == 0 else other, why=f"p{target}-{i}")
nm.set_alias("clf", "production", target, why=f"p{target}-final")
"""


@pytest.mark.slow
def test_two_processes_moving_one_alias(model: str, project: Path, ws) -> None:
    """Both processes' moves are all in the history, in one consistent order, nothing lost."""
    import time

    nm.set_alias(model, "production", 1)
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MOVER, str(v), str(w), str(start)],
            cwd=project,
            env=run_env(project),
            stderr=subprocess.PIPE,
        )
        for v, w in ((2, 1), (3, 4))
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    ws.catalog.sync()
    history = nm.alias_history(model, "production")
    whys = [e["why"] for e in history]
    for v in (2, 3):
        assert [w for w in whys if w.startswith(f"p{v}-")] == [
            *(f"p{v}-{i}" for i in range(20)),
            f"p{v}-final",
        ]
    # every move starts where the one before it ended: no update was lost
    for before, after in itertools.pairwise(history):
        assert after["from"] == before["to"]
    final = nm.get_model_version("models:/clf@production").version
    assert final == history[-1]["to"] and history[-1]["why"].endswith("-final")


def test_protecting_in_place_is_a_protect_event_and_rollback_still_goes_back(model: str) -> None:
    nm.set_alias(model, "production", 1)
    nm.set_alias(model, "production", 2)
    out = nm.set_alias(model, "production", 2, protect=True)
    assert out.event == "protect" and str(out) == "clf@production is now protected"
    with pytest.raises(RefusedError, match="protected"):
        nm.rollback(model, "production")
    back = nm.rollback(model, "production", force=True)
    assert (back.from_version, back.to_version, back.changed) == (2, 1, True)


def test_rollback_never_lands_where_it_is(model: str) -> None:
    for v in (2, 1, 2):
        nm.set_alias(model, "production", v)
    nm.archive_model_version(model, 1)
    with pytest.raises(
        NbMlopsError, match="versions 1 it pointed at before are deleted or archived"
    ):
        nm.rollback(model, "production")


def test_a_protection_change_made_with_a_move_is_in_the_history(model: str) -> None:
    from nb_mlops.registry.views import history_view

    nm.set_alias(model, "production", 2)
    nm.set_alias(model, "production", 3, protect=True)
    nm.set_alias(model, "production", 2, protect=False, force=True)
    history = nm.alias_history(model, "production")
    assert [e.get("protection") for e in history] == [None, "protect", "unprotect"]
    assert [e["protected"] for e in history] == [False, True, False]
    text = str(history_view(nm.workspace(), model, "production"))
    assert "set +protect" in text and "set -protect" in text
