"""Garbage collection: what is kept (referenced or young) and what goes (old and unreferenced)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from nb_mlops.store.gc import GRACE_S, GcReport, collect, referenced
from nb_mlops.store.workspace import Workspace
from nb_mlops.text import human_bytes

HOUR = 3600.0


def _age(path: Path, seconds: float = HOUR) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def _old_bytes(ws: Workspace, data: bytes) -> str:
    md5 = ws.objects.add_bytes(data)
    _age(ws.objects.path_of(md5))
    return md5


def _old_tree(ws: Workspace, src: Path, files: dict[str, bytes]) -> tuple[str, list[str]]:
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    info = ws.objects.add(src)
    members = [e["md5"] for e in ws.objects.listing(info.md5)]
    for md5 in [info.md5, *members]:
        _age(ws.objects.path_of(md5))
    return info.md5, members


def _on_disk(ws: Workspace) -> set[str]:
    return {md5 for md5, _ in ws.objects.all_objects()}


def _snapshot(path: str, md5: str) -> dict:
    """A dataset version record holding the fields every one has, keeping `md5` alive."""
    return {"path": path, "version": 1, "md5": md5, "refs": [md5]}


def _orphan_run(ws: Workspace, run_id: str, data: bytes, age: float = HOUR) -> Path:
    folder = ws.run_dir(run_id)
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_bytes(data)
    (folder / "sub").mkdir()
    (folder / "sub" / "cell.py").write_bytes(b"x = 1\n")
    _age(folder / "sub", age)
    _age(folder, age)
    return folder


def test_referenced_objects_stay_and_old_unreferenced_ones_go(
    ws: Workspace, tmp_path: Path
) -> None:
    by_run = _old_bytes(ws, b"artifact of a run")
    by_model = _old_bytes(ws, b"model weights")
    env_doc = _old_bytes(ws, b'{"python": "3.11"}')
    tree, members = _old_tree(ws, tmp_path / "data", {"a.csv": b"1,2\n", "b/c.csv": b"3,4\n"})
    junk1 = _old_bytes(ws, b"nobody wants me")
    junk2 = _old_bytes(ws, b"x" * 5000)
    ws.catalog.put("runs", "r1", {"run_id": "r1", "refs": [by_run, env_doc]})
    ws.catalog.put("models", "clf/1", {"name": "clf", "version": 1, "refs": [by_model]})
    ws.catalog.put("snapshots", "s1", _snapshot("data", tree))
    ws.catalog.put("aliases", "clf@prod", {"name": "clf", "alias": "prod", "refs": None})  # no refs
    ws.catalog.put("evals", "e1", {"refs": ["not-a-hash", 7]})  # ignored, not fatal

    keep = {by_run, by_model, env_doc, tree, *members}
    assert referenced(ws) >= {by_run, by_model, env_doc, tree}
    sizes = dict(ws.objects.all_objects())
    report = collect(ws)

    assert isinstance(report, GcReport)
    assert _on_disk(ws) == keep
    assert sorted(report.removed) == sorted([junk1, junk2])
    assert report.objects_removed == 2
    assert report.bytes_freed == sizes[junk1] + sizes[junk2] == len(b"nobody wants me") + 5000
    assert report.objects_kept == len(keep)
    assert report.run_folders_removed == 0
    assert report.to_dict()["bytes_freed"] == report.bytes_freed
    assert "2 objects" in str(report)
    # every kept object still reads back whole
    assert ws.objects.read_bytes(by_run) == b"artifact of a run"
    ws.objects.checkout_tree(tree, tmp_path / "restored")
    assert (tmp_path / "restored" / "b" / "c.csv").read_bytes() == b"3,4\n"

    again = collect(ws)  # nothing left to do
    assert (again.objects_removed, again.bytes_freed, again.objects_kept) == (0, 0, len(keep))


def test_a_file_shared_by_a_kept_and_a_dropped_folder_stays(ws: Workspace, tmp_path: Path) -> None:
    kept_tree, kept_members = _old_tree(ws, tmp_path / "v2", {"same.txt": b"S", "new.txt": b"N"})
    old_tree, old_members = _old_tree(ws, tmp_path / "v1", {"same.txt": b"S", "old.txt": b"O"})
    ws.catalog.put("snapshots", "v2", _snapshot("v2", kept_tree))
    report = collect(ws)
    shared = set(kept_members) & set(old_members)
    assert len(shared) == 1
    assert _on_disk(ws) == {kept_tree, *kept_members}
    assert set(report.removed) == {old_tree, *(set(old_members) - shared)}


def test_dropping_the_reference_lets_the_object_go(ws: Workspace) -> None:
    md5 = _old_bytes(ws, b"once wanted")
    ws.catalog.put("runs", "r1", {"run_id": "r1", "refs": [md5]})
    assert collect(ws).objects_removed == 0
    ws.catalog.set("runs", "r1", {"refs": []})
    assert collect(ws).removed == [md5]
    assert not ws.objects.has(md5)


def test_references_written_by_another_process_count(ws: Workspace) -> None:
    from nb_mlops.store.catalog import Catalog

    md5 = _old_bytes(ws, b"kept by someone else")
    ws.catalog.sync()
    Catalog(ws.home / "catalog").put("models", "m/1", {"name": "m", "version": 1, "refs": [md5]})
    assert collect(ws).objects_removed == 0
    assert ws.objects.has(md5)


def test_young_unreferenced_objects_are_kept(ws: Workspace) -> None:
    fresh = ws.objects.add_bytes(b"just stored, record not written yet")
    older = _old_bytes(ws, b"old junk")
    near = ws.objects.add_bytes(b"almost old enough")
    _age(ws.objects.path_of(near), GRACE_S - 60)

    report = collect(ws)

    assert report.removed == [older]
    assert ws.objects.has(fresh)
    assert ws.objects.has(near)
    assert report.objects_kept == 2
    # with a shorter grace the same objects go
    assert set(collect(ws, grace_s=30).removed) == {near}
    assert set(collect(ws, grace_s=0).removed) == {fresh}


def test_an_object_stored_again_just_now_is_within_the_grace(ws: Workspace) -> None:
    """Another process stores bytes the cache already has (unreferenced, old) and is about to
    write the record that refers to them: gc running in between must not take them away."""
    md5 = _old_bytes(ws, b"dataset bytes seen before")
    assert ws.objects.add_bytes(b"dataset bytes seen before") == md5  # stored again, now
    report = collect(ws)
    ws.catalog.put("snapshots", "s", _snapshot("s", md5))  # the record lands after the gc
    assert report.removed == []
    assert ws.objects.has(md5)


def test_orphan_run_folders_are_removed(ws: Workspace) -> None:
    live = _orphan_run(ws, "live-run", b"a" * 100)
    ws.catalog.put("runs", "live-run", {"run_id": "live-run"})
    orphan = _orphan_run(ws, "orphan-run", b"b" * 300)
    young = _orphan_run(ws, "young-run", b"c" * 10, age=0)
    stray_file = ws.runs_dir / "notes.txt"
    stray_file.write_text("not a run folder")
    _age(stray_file)

    report = collect(ws)

    assert not orphan.exists()
    assert live.is_dir() and (live / "metrics.jsonl").read_bytes() == b"a" * 100
    assert young.is_dir()
    assert stray_file.exists()
    assert report.run_folders_removed == 1
    assert report.bytes_freed == 300 + len(b"x = 1\n")


def test_dry_run_removes_nothing(ws: Workspace) -> None:
    junk = _old_bytes(ws, b"j" * 123)
    kept = _old_bytes(ws, b"kept")
    ws.catalog.put("runs", "r", {"run_id": "r", "refs": [kept]})
    orphan = _orphan_run(ws, "orphan", b"o" * 50)
    temp = ws.objects.objects_dir / ".tmp-leftover"
    temp.write_bytes(b"half")
    _age(temp, HOUR + 60)  # temps go after an hour
    before_objects = _on_disk(ws)

    report = collect(ws, dry_run=True)

    assert report.removed == [junk]
    assert report.objects_removed == 1
    assert report.run_folders_removed == 1
    assert report.bytes_freed == 123 + 50 + len(b"x = 1\n")
    assert report.temps_removed == 0
    assert _on_disk(ws) == before_objects
    assert orphan.is_dir()
    assert temp.exists()

    real = collect(ws)
    assert real.bytes_freed == report.bytes_freed
    assert real.temps_removed == 1
    assert not temp.exists()
    assert _on_disk(ws) == {kept}


def test_stale_temporary_files_go_and_fresh_ones_stay(ws: Workspace) -> None:
    md5 = ws.objects.add_bytes(b"anything")
    prefix_dir = ws.objects.path_of(md5).parent
    stale = prefix_dir / ".tmp-abc"
    stale.write_bytes(b"half an object")
    _age(stale, HOUR + 60)  # temps go after an hour
    fresh = prefix_dir / ".tmp-def"
    fresh.write_bytes(b"being written now")
    report = collect(ws)
    assert report.temps_removed == 1
    assert not stale.exists()
    assert fresh.exists()
    assert ws.objects.has(md5)  # young, so kept


def test_gc_of_an_empty_store(ws: Workspace) -> None:
    report = collect(ws)
    assert report.to_dict() == {
        "objects_removed": 0,
        "run_folders_removed": 0,
        "temps_removed": 0,
        "bytes_freed": 0,
        "objects_kept": 0,
        "kept_for_set_aside": 0,
        "set_aside_copies": [],
        "staging_removed": 0,
        "eval_caches_removed": 0,
        "checkpoint": False,  # an empty store has no journal to checkpoint
    }


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB")],
)
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


# ------------------------------------------------------------ records that repair set aside
def _damage_line_of(ws: Workspace, doc_id: str) -> bytes:
    """Break, by hand, the journal line that puts `doc_id`; return the line as it was."""
    journal = ws.home / "catalog" / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if f'"id":"{doc_id}"'.encode() in line)
    original = lines[index]
    lines[index] = original.replace(b'"doc":{', b'"doc":{oops ', 1)
    journal.write_bytes(b"".join(lines))
    return original


def test_objects_named_only_by_set_aside_lines_survive_gc(ws: Workspace, tmp_path: Path) -> None:
    artifact = _old_bytes(ws, b"the only copy of a run's artifact")
    tree, members = _old_tree(ws, tmp_path / "out", {"a.txt": b"A", "b/c.txt": b"C"})
    junk = _old_bytes(ws, b"nobody wants me")
    doc = {"run_id": "r1", "name": "precious", "refs": [artifact, tree]}
    ws.catalog.put("runs", "r1", doc)
    ws.catalog.put("runs", "r2", {"run_id": "r2"})
    original = _damage_line_of(ws, "r1")

    kept, dropped, aside = ws.catalog.repair()
    assert (kept, dropped) == (1, 1) and aside is not None
    assert ws.catalog.get("runs", "r1") is None  # the record is gone from the catalog

    report = collect(ws, grace_s=0)  # gc --now
    named = {artifact, tree, *members}
    assert _on_disk(ws) == named
    assert report.removed == [junk]
    assert report.kept_for_set_aside == len(named)
    assert report.set_aside_copies == [str(aside)]
    assert report.to_dict()["kept_for_set_aside"] == len(named)
    assert f"{len(named)} only because records that repair set aside name them" in str(report)
    assert str(aside) in str(report)

    # the record, fixed by hand and put back, finds its objects; gc keeps them as referenced
    fixed = json.loads(original)["doc"]
    ws.catalog.put("runs", "r1", fixed)
    again = collect(ws, grace_s=0)
    assert _on_disk(ws) == named
    assert again.kept_for_set_aside == 0 and again.set_aside_copies == []
    ws.objects.checkout_tree(tree, tmp_path / "restored")
    assert (tmp_path / "restored" / "b" / "c.txt").read_bytes() == b"C"
    aside.unlink()
    assert collect(ws, grace_s=0).removed == []
    assert _on_disk(ws) == named


def test_deleting_the_set_aside_copy_lets_gc_free_what_only_it_named(ws: Workspace) -> None:
    artifact = _old_bytes(ws, b"named by a damaged record only")
    ws.catalog.put("runs", "r1", {"run_id": "r1", "refs": [artifact]})
    _damage_line_of(ws, "r1")
    _, _, aside = ws.catalog.repair()
    assert aside is not None

    dry = collect(ws, grace_s=0, dry_run=True)
    assert (dry.removed, dry.kept_for_set_aside) == ([], 1)
    assert ws.objects.has(artifact)

    aside.unlink()
    assert collect(ws, grace_s=0).removed == [artifact]


def test_any_hash_in_a_set_aside_line_counts_however_damaged(ws: Workspace) -> None:
    """A set-aside line is read leniently: a hash anywhere in it, even in a line that is not
    JSON at all, keeps its object; a longer hex string (a sha256) does not match."""
    named = _old_bytes(ws, b"named in a torn line")
    other = _old_bytes(ws, b"not named")
    journal = ws.home / "catalog" / "journal.jsonl"
    ws.catalog.put("runs", "r0", {"run_id": "r0"})
    with open(journal, "ab") as fh:
        fh.write(f'{{"op":"put","tb":"runs" ,, "x": "{named}" sha {other}ff\n'.encode())
    ws.catalog.repair()
    report = collect(ws, grace_s=0)
    assert report.removed == [other]
    assert ws.objects.has(named)


# ---------------------------------------------------------- what killed processes left
def test_temps_go_after_an_hour_whatever_the_grace_for_objects(ws: Workspace) -> None:
    folder = ws.objects.objects_dir / "ab"
    folder.mkdir(parents=True)
    half_hour = folder / ".tmp-half-an-hour-old"
    half_hour.write_bytes(b"maybe still being written")
    _age(half_hour, HOUR / 2)
    stale = folder / ".tmp-over-an-hour-old"
    stale.write_bytes(b"left by a killed process")
    _age(stale, HOUR + 60)

    report = collect(ws, grace_s=0)  # gc --now: objects at once, temps still after an hour

    assert report.temps_removed == 1
    assert half_hour.exists()
    assert not stale.exists()


def test_nm_gc_sweeps_stale_checkout_staging_and_counts_it(ws: Workspace, project: Path) -> None:
    import nb_mlops as nm
    from nb_mlops.data.checkout import STAGING_SUFFIX

    (project / "data").mkdir()
    (project / "data" / "t.csv").write_text("a\n1\n")
    nm.snapshot("data/t.csv")
    staging = project / "data" / f".t.csv{STAGING_SUFFIX}"
    (staging / "0").mkdir(parents=True)
    (staging / "0" / "part").write_bytes(b"half a checkout")
    for path in (staging / "0" / "part", staging / "0", staging):
        _age(path, HOUR + 60)

    assert nm.gc(dry_run=True).staging_removed == 0
    assert staging.exists()
    report = nm.gc()
    assert report.staging_removed == 1
    assert report.to_dict()["staging_removed"] == 1
    assert "1 checkout staging folders" in str(report)
    assert not staging.exists()
    assert (project / "data" / "t.csv").read_text() == "a\n1\n"
