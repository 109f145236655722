"""Scrub: a leaked string out of every file of the store that can be rewritten, the rest listed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from nb_mlops.errors import NbMlopsError
from nb_mlops.redact import REDACTED
from nb_mlops.store import scrub as scrub_module
from nb_mlops.store.gc import GRACE_S, referenced
from nb_mlops.store.layout import RunFiles
from nb_mlops.store.scrub import MIN_LENGTH, scrub
from nb_mlops.store.workspace import Workspace

LEAK = "hunter2-plain-leak"


def _age(path: Path, seconds: float = 2 * GRACE_S) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def _files(ws: Workspace) -> dict[str, bytes]:
    return {str(p.relative_to(ws.home)): p.read_bytes() for p in ws.home.rglob("*") if p.is_file()}


def _holding(ws: Workspace, text: str = LEAK) -> set[str]:
    forms = {text.encode(), json.dumps(text)[1:-1].encode()}
    return {k for k, v in _files(ws).items() if any(f in v for f in forms)}


def _items(report) -> dict[str, tuple[str, str]]:
    return {i.path: (i.action, i.why) for i in report.items}


@pytest.mark.parametrize("secret", ["", "abc", "ACTED", None])
def test_short_or_empty_strings_are_refused_in_one_line(ws: Workspace, secret) -> None:
    with pytest.raises(NbMlopsError) as caught:
        scrub(ws, secret)
    assert "\n" not in str(caught.value) and "scrub" in str(caught.value)
    assert MIN_LENGTH == 4


def test_the_journal_is_rewritten_whole_and_every_replay_reloads(ws: Workspace) -> None:
    env = ws.objects.add_bytes(b'{"system": {}}')
    ws.catalog.put(
        "runs",
        "r1",
        {
            "run_id": "r1",
            "params": {"note": f"x {LEAK} y", LEAK: 1},
            "refs": [env],
            "env": {"packages": env},
        },
    )
    ws.catalog.set("runs", "r1", {("tags", "why"): LEAK})
    other = Workspace(ws.home)  # a second process's view: its own replay
    assert other.catalog.get("runs", "r1")["tags"]["why"] == LEAK
    lines_before = (ws.home / "catalog" / "journal.jsonl").read_bytes().count(b"\n")

    report = scrub(ws, LEAK)

    assert _items(report)["catalog/journal.jsonl"][0] == "rewrote"
    assert report.items[0].count >= 1
    journal = ws.home / "catalog" / "journal.jsonl"
    assert LEAK.encode() not in journal.read_bytes()
    assert journal.read_bytes().count(b"\n") == lines_before  # line for line
    for line in journal.read_text().splitlines():
        json.loads(line)
    doc = ws.catalog.get("runs", "r1")  # this process: reloaded at once
    assert doc["params"] == {"note": f"x {REDACTED} y", REDACTED: 1}
    assert doc["tags"]["why"] == REDACTED
    assert other.catalog.get("runs", "r1")["tags"]["why"] == REDACTED  # the other: on its read
    ws.catalog.set("runs", "r1", {"status": "finished"})  # and writes go on
    assert other.catalog.get("runs", "r1")["status"] == "finished"


def test_object_names_are_never_cut_into(ws: Workspace) -> None:
    md5 = ws.objects.add_bytes(b"some object")
    piece = md5[5:15]  # a string that happens to sit inside an object's name
    ws.catalog.put("runs", "r1", {"run_id": "r1", "refs": [md5], "note": f"leaked {piece}"})
    scrub(ws, piece)
    doc = ws.catalog.get("runs", "r1")
    assert doc["refs"] == [md5] and doc["note"] == f"leaked {REDACTED}"


def test_a_string_spanning_json_structure_is_reported(ws: Workspace) -> None:
    ws.catalog.put("runs", "r1", {"run_id": "r1", "a": "endswithzz", "b": 1})
    report = scrub(ws, 'endswithzz"')  # its quote is the JSON string's closing one
    assert _items(report)["catalog/journal.jsonl"][0] == "cannot rewrite"
    assert "spans JSON structure" in _items(report)["catalog/journal.jsonl"][1]
    assert ws.catalog.get("runs", "r1") == {"run_id": "r1", "a": "endswithzz", "b": 1}


def test_run_files_history_and_config(ws: Workspace) -> None:
    files = RunFiles(ws.run_dir("r1"))
    files.folder.mkdir(parents=True)
    ws.catalog.put("runs", "r1", {"run_id": "r1", "name": "r"})
    files.cells.write_text(json.dumps({"i": 1, "source": f"pw = '{LEAK}'"}) + "\n")
    files.metrics.write_text(f'["loss",0.5,0,1.0]\n["{LEAK}",NaN,0,1.5]\n')
    files.stdout.write_text(f"printed {LEAK}\n")
    files.stderr.write_text(f"warned {LEAK}\n")
    files.columns.write_bytes(b"PK fake npz with " + LEAK.encode())
    history = ws.history_file("s1")
    history.write_text(
        json.dumps({"i": 1, "source": "x = 1"}) + "\n" + json.dumps({"i": 2, "error": LEAK}) + "\n"
    )
    with ws.edit_config() as doc:
        doc["capture"] = {"note": LEAK}

    report = scrub(ws, LEAK)

    got = _items(report)
    for path in ("runs/r1/cells.jsonl", "runs/r1/metrics.jsonl", "runs/r1/stdout.txt"):
        assert got[path][0] == "rewrote", path
    assert got["runs/r1/stderr.txt"][0] == "rewrote"
    assert got["runs/r1/metrics.npz"][0] == "removed"
    assert got["history/s1.jsonl"][0] == "rewrote"
    assert got["config.toml"][0] == "rewrote"
    assert not _holding(ws)
    assert not files.columns.exists()
    assert files.metrics.read_text() == f'["loss",0.5,0,1.0]\n["{REDACTED}",NaN,0,1.5]\n'
    assert history.read_text().splitlines()[0] == json.dumps({"i": 1, "source": "x = 1"})
    assert ws.config["capture"]["note"] == REDACTED


def test_config_that_would_no_longer_parse_is_left_and_listed(ws: Workspace) -> None:
    (ws.home / "config.toml").write_text('note = "abcdefgh"\n')
    report = scrub(ws, 'defgh"')
    assert _items(report)["config.toml"] == ("cannot rewrite", "it would no longer parse as TOML")
    assert (ws.home / "config.toml").read_text() == 'note = "abcdefgh"\n'


def test_lines_appended_while_a_file_is_rewritten_are_kept(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = ws.history_file("s1")
    history.write_text(json.dumps({"i": 1, "source": LEAK}) + "\n")
    real = scrub_module.atomic_write

    def racing_write(path: Path, data: bytes, *args, **kwargs) -> None:
        if path == history:  # a kernel appends its next cell just before the rename
            with open(path, "a") as fh:
                fh.write(json.dumps({"i": 2, "source": f"late {LEAK}"}) + "\n")
        real(path, data, *args, **kwargs)

    monkeypatch.setattr(scrub_module, "atomic_write", racing_write)
    scrub(ws, LEAK)
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert lines == [{"i": 1, "source": REDACTED}, {"i": 2, "source": f"late {REDACTED}"}]


def test_view_objects_get_a_new_hash_and_their_references_follow(ws: Workspace) -> None:
    env = ws.objects.add_bytes(json.dumps({"system": {"executable": f"/x/{LEAK}/py"}}).encode())
    preview = ws.objects.add_bytes(f"<table><td>{LEAK}</td></table>".encode())
    ws.catalog.put(
        "runs",
        "r1",
        {
            "run_id": "r1",
            "env": {"packages": env},
            "tables": [{"name": "t", "preview": preview}],
            "refs": [env, preview],
        },
    )
    ws.catalog.put(
        "models", "m/1", {"name": "m", "version": 1, "env": {"packages": env}, "refs": [env]}
    )
    aside = ws.home / "catalog" / "journal.jsonl.damaged-20250101T000000-abcdef"
    aside.write_text(json.dumps({"op": "put", "tb": "runs", "id": "x", "doc": {"refs": [env]}}))
    backup = ws.home / "backups" / "format-1-20250101T000000Z" / "catalog" / "db.json"
    backup.parent.mkdir(parents=True)
    backup.write_text(json.dumps({"runs": {"1": {"refs": [env], "note": LEAK}}}))

    report = scrub(ws, LEAK)

    run = ws.catalog.get("runs", "r1")
    new_env, new_preview = run["env"]["packages"], run["tables"][0]["preview"]
    assert new_env != env and new_preview != preview
    assert run["refs"] == [new_env, new_preview]
    assert ws.catalog.get("models", "m/1")["refs"] == [new_env]
    assert not ws.objects.has(env) and not ws.objects.has(preview)
    assert json.loads(ws.objects.read_bytes(new_env))["system"]["executable"] == (
        f"/x/{REDACTED}/py"
    )
    assert referenced(ws) >= {new_env, new_preview}  # gc keeps them
    assert new_env in aside.read_text() and env not in aside.read_text()
    assert new_env in backup.read_text() and LEAK not in backup.read_text()
    assert not _holding(ws)
    rewritten = [i for i in report.items if i.path.startswith("cache/") and i.action == "rewrote"]
    assert len(rewritten) == 2


def test_data_model_artifact_and_binary_objects_are_listed_not_rewritten(
    ws: Workspace, tmp_path: Path
) -> None:
    artifact = ws.objects.add_bytes(f"config with {LEAK}".encode())
    image = ws.objects.add_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" + LEAK.encode())
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "rows.csv").write_text(f"id,text\n1,{LEAK}\n")
    tree = ws.objects.add(folder)
    member = ws.objects.listing(tree.md5)[0]["md5"]
    ws.catalog.put(
        "runs",
        "r1",
        {
            "run_id": "r1",
            "artifacts": [{"name": "cfg", "md5": artifact}],
            "figures": [{"name": "f", "kind": "matplotlib", "png": image}],
            "refs": [artifact, image],
        },
    )
    ws.catalog.put(
        "snapshots", "data@1", {"path": "data", "version": 1, "md5": tree.md5, "refs": [tree.md5]}
    )
    before = _files(ws)

    report = scrub(ws, LEAK)

    got = _items(report)
    assert _files(ws) == before  # nothing here could be rewritten
    for md5 in (artifact, member):
        action, why = got[str(ws.objects.path_of(md5).relative_to(ws.home))]
        assert action == "cannot rewrite" and "data, model or artifact object" in why
    action, why = got[str(ws.objects.path_of(image).relative_to(ws.home))]
    assert action == "cannot rewrite" and "binary" in why
    assert "runs/r1 (md5)" in got[str(ws.objects.path_of(artifact).relative_to(ws.home))][1]


def test_unreferenced_objects_go_unless_they_are_new(ws: Workspace) -> None:
    old = ws.objects.add_bytes(f"old garbage {LEAK}".encode())
    _age(ws.objects.path_of(old))
    new = ws.objects.add_bytes(f"just written {LEAK}".encode())
    report = scrub(ws, LEAK)
    got = _items(report)
    assert got[str(ws.objects.path_of(old).relative_to(ws.home))][0] == "removed"
    assert not ws.objects.has(old)
    action, why = got[str(ws.objects.path_of(new).relative_to(ws.home))]
    assert action == "cannot rewrite" and "run scrub again later" in why
    assert ws.objects.has(new)


def test_other_files_and_names_are_listed_without_the_string(ws: Workspace) -> None:
    model_copy = ws.model_dir("m", 1) / "model.pkl"
    model_copy.parent.mkdir(parents=True)
    model_copy.write_bytes(b"pickle " + LEAK.encode())
    named = ws.home / "tmp" / f"scratch-{LEAK}.txt"
    named.parent.mkdir(parents=True)
    named.write_text("nothing inside")
    report = scrub(ws, LEAK)
    got = _items(report)
    assert got["models/m/1/model.pkl"][0] == "cannot rewrite"
    assert "verified copy of a model" in got["models/m/1/model.pkl"][1]
    assert got[f"tmp/scratch-{REDACTED}.txt"] == ("cannot rewrite", "its name holds the string")
    text = report.to_text() + json.dumps(report.to_dict()) + report.to_html()
    assert LEAK not in text


def test_a_dry_run_changes_nothing_and_says_what_would(ws: Workspace) -> None:
    env = ws.objects.add_bytes(json.dumps({"x": LEAK}).encode())
    ws.catalog.put(
        "runs", "r1", {"run_id": "r1", "note": LEAK, "env": {"packages": env}, "refs": [env]}
    )
    (ws.home / "config.toml").write_text(f'note = "{LEAK}"\n')
    before = _files(ws)
    report = scrub(ws, LEAK, dry_run=True)
    assert _files(ws) == before
    actions = {i.action for i in report.items}
    assert actions == {"would rewrite"}
    assert report.to_text().startswith("dry run, nothing changed: would replace")
    assert report.to_dict()["dry_run"] is True
    assert ws.catalog.get("runs", "r1")["note"] == LEAK


def test_nothing_to_find(ws: Workspace) -> None:
    report = scrub(ws, "never-written-anywhere")
    assert report.items == [] and "in no file of the store" in report.to_text()


# ----------------------------------------------------------------- packed points (store/pack.py)
def _packed_run(ws: Workspace, run_id: str, points: list[tuple]) -> dict:
    from nb_mlops.store.pack import append_points

    where = append_points(ws, run_id, points)
    ws.catalog.put("runs", run_id, {"run_id": run_id, "status": "finished", "points": where})
    return where


def test_packed_points_are_scrubbed_and_the_other_lines_stay_put(ws: Workspace) -> None:
    from nb_mlops.store.pack import append_points, pack_path, read_run_points

    before = _packed_run(ws, "r0", [("clean", 1.0, 0, 1.0)])
    leaked = _packed_run(ws, "r1", [("loss", 0.5, 0, 1.0), (f"key {LEAK}", 2.0, 3, 1.5)])
    append_points(ws, "deleted", [(LEAK, 1.0, 0, 1.0)])  # a deleted run's dead line
    after = _packed_run(ws, "r2", [("clean", 3.0, 0, 2.0)])
    size = pack_path(ws).stat().st_size

    dry = scrub(ws, LEAK, dry_run=True)
    assert _items(dry)["runs/points.pack"][0] == "would rewrite"
    assert pack_path(ws).stat().st_size == size and "runs/points.pack" in _holding(ws)

    report = scrub(ws, LEAK)

    assert _items(report)["runs/points.pack"][0] == "rewrote"
    assert [i.count for i in report.items if i.path == "runs/points.pack"] == [2]
    assert not _holding(ws)
    doc = ws.catalog.get("runs", "r1")
    assert doc["points"]["offset"] >= size  # appended again, scrubbed
    assert read_run_points(ws, doc) == [("loss", 0.5, 0, 1.0), (f"key {REDACTED}", 2.0, 3, 1.5)]
    assert ws.catalog.get("runs", "r0")["points"] == before
    assert ws.catalog.get("runs", "r2")["points"] == after
    assert read_run_points(ws, ws.catalog.get("runs", "r0")) == [("clean", 1.0, 0, 1.0)]
    assert read_run_points(ws, ws.catalog.get("runs", "r2")) == [("clean", 3.0, 0, 2.0)]
    old = pack_path(ws).read_bytes()[leaked["offset"] : leaked["offset"] + leaked["length"]]
    assert old.strip() == b"" and old.endswith(b"\n")  # the old line blanked where it was
    assert scrub(ws, LEAK).items == []


def test_a_packed_cell_and_its_output_are_scrubbed(ws: Workspace) -> None:
    from nb_mlops.store.pack import append_points, read_run_cells, read_run_output

    extra = {"cells": [{"source": f"key = '{LEAK}'"}], "output": {"stdout": f"using {LEAK}\n"}}
    ws.catalog.put("runs", "r1", {"run_id": "r1", "points": append_points(ws, "r1", [], extra)})
    report = scrub(ws, LEAK)
    assert [i.count for i in report.items if i.path == "runs/points.pack"] == [2]
    doc = ws.catalog.get("runs", "r1")
    assert read_run_cells(ws, doc) == [{"source": f"key = '{REDACTED}'"}]
    assert read_run_output(ws, doc, "stdout") == f"using {REDACTED}\n"
    assert not _holding(ws)


def test_a_packed_line_the_string_spans_is_listed_and_kept(ws: Workspace) -> None:
    from nb_mlops.store.pack import read_run_points

    where = _packed_run(ws, "r1", [("endswithzz", 0.5, 0, 1.0)])
    report = scrub(ws, 'endswithzz"')
    assert _items(report)["runs/points.pack"] == (
        "cannot rewrite",
        "the string spans JSON structure here (it holds quotes or brackets)",
    )
    doc = ws.catalog.get("runs", "r1")
    assert doc["points"] == where
    assert read_run_points(ws, doc) == [("endswithzz", 0.5, 0, 1.0)]


def test_a_checkpoint_holding_the_string_is_replaced_by_a_scrubbed_one(ws: Workspace) -> None:
    """The checkpoint keeps the runs' params and tags as columns: after a scrub no byte of it
    holds the string, and the next cold reader starts from the fresh, scrubbed one."""
    for i in range(3):
        ws.catalog.put(
            "runs",
            f"r{i}",
            {"run_id": f"r{i}", "params": {"token": LEAK}, "tags": {"note": f"a {LEAK}"}},
        )
    assert ws.catalog.write_checkpoint()
    checkpoint = ws.home / "catalog" / "checkpoint.bin"
    assert LEAK.encode() in checkpoint.read_bytes()
    stale = ws.home / "catalog" / ".checkpoint.bin.tmp-1-abc"
    stale.write_bytes(checkpoint.read_bytes()[:200] + LEAK.encode())

    dry = scrub(ws, LEAK, dry_run=True)
    assert _items(dry)["catalog/checkpoint.bin"][0] == "would remove"
    assert LEAK.encode() in checkpoint.read_bytes()

    report = scrub(ws, LEAK)
    assert _items(report)["catalog/checkpoint.bin"][0] == "removed"
    assert not stale.exists()
    assert LEAK not in _holding(ws) and not _holding(ws)
    assert checkpoint.exists()  # written again, from the scrubbed journal
    fresh = Workspace(ws.home)
    assert fresh.catalog.get("runs", "r1")["params"]["token"] == REDACTED
    assert fresh.catalog.journal.base is not None
    assert fresh.catalog.column(("params", "token"))[0] == REDACTED
