"""The catalog API: many readers and writers, documents that never change, TinyDB queries, find."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tinydb import Query, where
from tinydb.table import Document

from nb_mlops.store import journal as journal_mod
from nb_mlops.store.catalog import Catalog


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "catalog"


def _journal_bytes(folder: Path) -> bytes:
    path = folder / "journal.jsonl"
    return path.read_bytes() if path.exists() else b""


# --------------------------------------------------------------- two processes, one folder
def test_two_catalogs_see_each_others_writes(folder: Path) -> None:
    a, b = Catalog(folder), Catalog(folder)
    assert b.sync() is False  # no journal yet
    a.put("runs", "r1", {"run_id": "r1", "status": "running"})
    assert b.sync() is True
    assert b.sync() is False  # nothing new
    assert b.get("runs", "r1") == {"run_id": "r1", "status": "running"}

    b.set("runs", "r1", {"status": "done"})
    b.put("runs", "r2", {"run_id": "r2"})
    assert a.sync() is True
    assert a.docs("runs") == {
        "r1": {"run_id": "r1", "status": "done"},
        "r2": {"run_id": "r2"},
    }
    a.delete("runs", "r2")
    assert ("runs", "r2") not in b
    assert b.docs("runs") == {"r1": {"run_id": "r1", "status": "done"}}


def test_a_set_applies_to_the_document_another_process_wrote_last(folder: Path) -> None:
    """Sets are field changes, not whole-document writes: interleaved writers keep both fields."""
    a, b = Catalog(folder), Catalog(folder)
    a.put("runs", "r", {"params": {}})
    b.sync()
    a.set("runs", "r", {("params", "lr"): 0.1})
    b.set("runs", "r", {("params", "bs"): 32})  # b had not replayed a's set before writing
    assert a.get("runs", "r") == {"params": {"lr": 0.1, "bs": 32}}
    assert b.get("runs", "r") == {"params": {"lr": 0.1, "bs": 32}}


def test_locked_check_then_write_sees_the_latest_state(folder: Path) -> None:
    a, b = Catalog(folder), Catalog(folder)
    a.sync()
    b.put("aliases", "prod", {"target": "m1"})
    with a.locked():
        # inside the lock the replay is up to date without another call to sync
        assert "prod" in a.journal.tables.get("aliases", {})
        a.set("aliases", "prod", {"target": "m2"})  # re-entrant
    assert b.get("aliases", "prod") == {"target": "m2"}


_WRITER = """
import sys
from pathlib import Path
from nb_mlops.store.catalog import Catalog
cat = Catalog(Path(sys.argv[1]))
tag = sys.argv[2]
for i in range(150):
    cat.put("runs", f"{tag}-{i}", {"run_id": f"{tag}-{i}", "i": i})
    cat.set("counters", "shared", {(tag,): i})
"""


def test_real_processes_writing_at_once_lose_nothing(folder: Path) -> None:
    folder.mkdir()
    Catalog(folder).put("counters", "shared", {})
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), tag]) for tag in ("p", "q")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = _journal_bytes(folder).splitlines(keepends=True)
    assert len(lines) == 1 + 2 * 300
    for line in lines:
        assert line.endswith(b"\n")
        json.loads(line)  # every record landed whole
    cat = Catalog(folder)
    assert len(cat.docs("runs")) == 300
    assert cat.get("counters", "shared") == {"p": 149, "q": 149}


# ------------------------------------------------------------- documents never change
def test_a_held_document_never_changes_after_later_writes(folder: Path) -> None:
    cat = Catalog(folder)
    cat.put("runs", "r", {"status": "running", "metrics": {"acc": 0.5}, "tags": ["a"]})
    held = cat.get("runs", "r")
    held_metrics = held["metrics"]
    other = Catalog(folder)
    other_held = other.get("runs", "r")

    cat.set("runs", "r", {"status": "done", ("metrics", "acc"): 0.9, ("metrics", "f1"): 0.7})
    other.sync()

    assert held == {"status": "running", "metrics": {"acc": 0.5}, "tags": ["a"]}
    assert held_metrics == {"acc": 0.5}
    assert other_held == {"status": "running", "metrics": {"acc": 0.5}, "tags": ["a"]}
    assert cat.get("runs", "r") == {
        "status": "done",
        "metrics": {"acc": 0.9, "f1": 0.7},
        "tags": ["a"],
    }

    before_put = cat.get("runs", "r")
    cat.put("runs", "r", {"status": "replaced"})
    cat.delete("runs", "r")
    assert before_put["status"] == "done"
    assert before_put["metrics"] == {"acc": 0.9, "f1": 0.7}


def test_the_callers_dict_is_not_kept_by_put(folder: Path) -> None:
    cat = Catalog(folder)
    mine = {"params": {"lr": 0.1}}
    cat.put("runs", "r", mine)
    mine["params"]["lr"] = 99
    mine["extra"] = 1
    assert cat.get("runs", "r") == {"params": {"lr": 0.1}}


def test_searched_documents_do_not_change_either(folder: Path) -> None:
    cat = Catalog(folder)
    cat.put("runs", "r", {"status": "running", "m": {"acc": 1}})
    found = cat.search("runs", where("status") == "running")
    cat.set("runs", "r", {"status": "done", ("m", "acc"): 2})
    assert found == [{"status": "running", "m": {"acc": 1}}]


# ----------------------------------------------------------------------- TinyDB queries
def _three_runs(cat: Catalog) -> None:
    cat.put("runs", "r1", {"run_id": "r1", "status": "done", "metrics": {"acc": 0.7}, "n": 1})
    cat.put("runs", "r2", {"run_id": "r2", "status": "failed", "metrics": {"acc": 0.2}, "n": 2})
    cat.put("runs", "r3", {"run_id": "r3", "status": "done", "metrics": {"acc": 0.9}, "n": 3})
    cat.put("models", "m1", {"name": "m1", "status": "done"})


def test_tinydb_queries(folder: Path) -> None:
    cat = Catalog(folder)
    _three_runs(cat)

    done = cat.search("runs", where("status") == "done")
    assert sorted(d["run_id"] for d in done) == ["r1", "r3"]
    assert all(isinstance(d, Document) for d in done)
    assert sorted(d.doc_id for d in done) == ["r1", "r3"]  # ids are the run ids

    good = cat.table("runs").search(where("metrics")["acc"] > 0.5)
    assert sorted(d["run_id"] for d in good) == ["r1", "r3"]
    q = Query()
    assert [d["run_id"] for d in cat.table("runs").search((q.n >= 2) & (q.status == "done"))] == [
        "r3"
    ]
    assert cat.table("runs").count(q.run_id.matches(r"r[12]")) == 2
    assert cat.table("runs").get(doc_id="r2")["status"] == "failed"
    assert len(cat.table("runs")) == 3
    assert cat.search("evals", where("x") == 1) == []  # a table nobody wrote
    assert [d["name"] for d in cat.search("models", where("status") == "done")] == ["m1"]


def test_tinydb_queries_see_other_processes_writes(folder: Path) -> None:
    reader, writer = Catalog(folder), Catalog(folder)
    table = reader.table("runs")
    assert table.search(where("status") == "done") == []
    _three_runs(writer)
    assert len(table.search(where("status") == "done")) == 2  # no stale query cache
    writer.set("runs", "r2", {"status": "done"})
    assert len(table.search(where("status") == "done")) == 3
    writer.delete("runs", "r1")
    assert sorted(d.doc_id for d in table.search(where("status") == "done")) == ["r2", "r3"]


def test_writing_through_tinydb_is_refused_and_leaves_no_trace(folder: Path) -> None:
    cat = Catalog(folder)
    with pytest.raises(TypeError, match=r"Catalog\.put/set/delete"):
        cat.table("runs").insert({"run_id": "sneaky"})
    assert _journal_bytes(folder) == b""
    # the refused write must not linger in this process's view of the catalog either
    assert cat.docs("runs") == {}
    assert cat.search("runs", where("run_id") == "sneaky") == []


def test_removing_through_tinydb_is_refused_and_leaves_no_trace(folder: Path) -> None:
    cat = Catalog(folder)
    _three_runs(cat)
    before = _journal_bytes(folder)
    with pytest.raises(TypeError, match=r"Catalog\.put/set/delete"):
        cat.table("runs").remove(where("status") == "done")
    with pytest.raises(TypeError):
        cat.table("runs").update({"status": "hacked"}, where("run_id") == "r2")
    assert _journal_bytes(folder) == before
    assert sorted(cat.docs("runs")) == ["r1", "r2", "r3"]
    assert cat.get("runs", "r2")["status"] == "failed"
    assert _ids(cat.find("runs", "status", "done")) == ["r1", "r3"]


def test_updating_through_tinydb_is_refused_and_changes_no_document(folder: Path) -> None:
    cat = Catalog(folder)
    cat.put("runs", "r", {"run_id": "r", "status": "failed"})
    held = cat.get("runs", "r")
    with pytest.raises(TypeError, match=r"Catalog\.put/set/delete"):
        cat.table("runs").update({"status": "hacked"}, where("status") == "failed")
    assert held == {"run_id": "r", "status": "failed"}  # a held document never changes
    assert cat.get("runs", "r") == {"run_id": "r", "status": "failed"}
    assert _ids(cat.find("runs", "status", "failed")) == ["r"]


def test_inserting_into_a_non_empty_table_is_refused(folder: Path) -> None:
    cat = Catalog(folder)
    _three_runs(cat)
    before = _journal_bytes(folder)
    with pytest.raises(TypeError):
        cat.table("runs").insert({"run_id": "r4"})
    with pytest.raises(TypeError):
        cat.table("runs").insert_multiple([{"run_id": "r5"}])
    assert _journal_bytes(folder) == before
    assert sorted(Catalog(folder).docs("runs")) == ["r1", "r2", "r3"]


# -------------------------------------------------------------------------------- find
def _ids(docs: list[dict]) -> list[str]:
    return sorted(d["run_id"] for d in docs)


def test_find_index_follows_put_set_delete(folder: Path) -> None:
    cat = Catalog(folder)
    _three_runs(cat)
    assert _ids(cat.find("runs", "status", "done")) == ["r1", "r3"]
    assert _ids(cat.find("runs", ("metrics", "acc"), 0.2)) == ["r2"]

    cat.set("runs", "r2", {"status": "done", ("metrics", "acc"): 0.95})
    assert _ids(cat.find("runs", "status", "done")) == ["r1", "r2", "r3"]
    assert cat.find("runs", "status", "failed") == []
    assert cat.find("runs", ("metrics", "acc"), 0.2) == []
    assert _ids(cat.find("runs", ("metrics", "acc"), 0.95)) == ["r2"]

    cat.delete("runs", "r1")
    assert _ids(cat.find("runs", "status", "done")) == ["r2", "r3"]

    cat.put("runs", "r3", {"run_id": "r3", "status": "archived"})  # replace drops old values
    assert _ids(cat.find("runs", "status", "done")) == ["r2"]
    assert _ids(cat.find("runs", "status", "archived")) == ["r3"]
    assert cat.find("runs", ("metrics", "acc"), 0.9) == []
    assert _ids(cat.find("runs", ("metrics", "acc"), None)) == ["r3"]  # missing field

    cat.put("runs", "r1", {"run_id": "r1", "status": "done"})  # back after a delete
    assert _ids(cat.find("runs", "status", "done")) == ["r1", "r2"]
    assert cat.find("models", "status", "done") == [{"name": "m1", "status": "done"}]


def test_find_index_follows_another_catalogs_writes(folder: Path) -> None:
    mine, theirs = Catalog(folder), Catalog(folder)
    _three_runs(mine)
    assert _ids(mine.find("runs", "status", "done")) == ["r1", "r3"]  # index built now

    theirs.set("runs", "r1", {"status": "failed"})
    theirs.delete("runs", "r3")
    theirs.put("runs", "r4", {"run_id": "r4", "status": "done"})
    assert _ids(mine.find("runs", "status", "done")) == ["r4"]
    assert _ids(mine.find("runs", "status", "failed")) == ["r1", "r2"]


def test_find_index_survives_another_catalogs_compaction(folder: Path) -> None:
    mine, theirs = Catalog(folder), Catalog(folder)
    _three_runs(mine)
    assert _ids(mine.find("runs", "status", "done")) == ["r1", "r3"]
    theirs.journal.append(
        {"op": "set", "tb": "runs", "id": "r2", "set": [[["n"], i]]}
        for i in range(journal_mod._COMPACT_MIN_RECORDS)
    )
    theirs.set("runs", "r3", {"status": "failed"})
    assert len(_journal_bytes(folder).splitlines()) <= 5  # compacted
    assert _ids(mine.find("runs", "status", "done")) == ["r1"]
    assert _ids(mine.find("runs", "status", "failed")) == ["r2", "r3"]
    assert mine.get("runs", "r2")["n"] == journal_mod._COMPACT_MIN_RECORDS - 1


def test_find_on_a_value_nobody_has(folder: Path) -> None:
    cat = Catalog(folder)
    assert cat.find("runs", "status", "done") == []
    cat.put("runs", "r", {"run_id": "r", "status": "done"})
    assert _ids(cat.find("runs", "status", "done")) == ["r"]


def test_newest_follows_puts_sets_deletes_and_other_writers(folder: Path) -> None:
    cat, other = Catalog(folder), Catalog(folder)
    for i, start in enumerate(["2026-01-01", "2026-03-01", "2026-02-01"]):
        cat.put("runs", f"r{i}", {"key": "k", "start": start})
    cat.put("runs", "x", {"key": "other", "start": "2027-01-01"})
    assert cat.newest("runs", "key", "k")["start"] == "2026-03-01"
    cat.set("runs", "r1", {"status": "finished"})  # an update keeps the newest newest
    assert cat.newest("runs", "key", "k") == {
        "key": "k",
        "start": "2026-03-01",
        "status": "finished",
    }
    other.put("runs", "r3", {"key": "k", "start": "2026-04-01"})  # another process, newer
    assert cat.newest("runs", "key", "k")["start"] == "2026-04-01"
    cat.delete("runs", "r3")
    assert cat.newest("runs", "key", "k")["start"] == "2026-03-01"
    cat.set("runs", "r1", {"key": "moved"})  # leaves the group
    assert cat.newest("runs", "key", "k")["start"] == "2026-02-01"
    assert cat.newest("runs", "key", "moved")["start"] == "2026-03-01"
    assert cat.newest("runs", "key", "nothing") is None


def test_a_batch_lands_in_one_write_and_only_at_its_end(tmp_path) -> None:
    from nb_mlops.store.catalog import Catalog

    cat = Catalog(tmp_path / "catalog")
    other = Catalog(tmp_path / "catalog")  # another reader of the same files
    with cat.batch():
        cat.put("models", "m/1", {"name": "m", "version": 1})
        cat.set("registered_models", "m", {"last_version": 1})
        assert other.get("models", "m/1") is None  # nothing written yet
    lines = (tmp_path / "catalog" / "journal.jsonl").read_bytes().splitlines()
    assert len(lines) == 2
    assert other.get("models", "m/1") == {"name": "m", "version": 1}


def test_a_failed_batch_writes_nothing(tmp_path) -> None:
    import pytest

    from nb_mlops.store.catalog import Catalog

    cat = Catalog(tmp_path / "catalog")
    with pytest.raises(RuntimeError), cat.batch():
        cat.put("models", "m/1", {"name": "m"})
        raise RuntimeError("boom")
    assert cat.get("models", "m/1") is None
    cat.put("models", "m/2", {"name": "m"})  # and the catalog writes as usual afterwards
    assert cat.get("models", "m/2") == {"name": "m"}


# --------------------------------------------------- records of the wrong shape, end to end
def _store_with_one_of_each(project: Path) -> dict[str, str]:
    """A run (with params and a metric), a dataset version, a model version and an alias."""
    import nb_mlops as nm

    (project / "t.csv").write_text("a,b\n1,2\n")
    nm.snapshot("t.csv", message="v1")
    with nm.start_run("shaped") as run:
        nm.log_params({"lr": 0.1})
        nm.log_metric("acc", 0.9)
        run.model({"w": 1}, "clf")
    nm.set_alias("clf", "prod", 1)
    return {"run": run.run_id}


_BAD_LINES = {
    "runs": lambda ids: {
        "op": "set",
        "tb": "runs",
        "id": ids["run"],
        "set": [[["metrics"], "oops"]],
    },
    "snapshots": lambda ids: {
        "op": "set",
        "tb": "snapshots",
        "id": "t.csv@1",
        "set": [[["size"], "big"]],
    },
    "models": lambda ids: {"op": "set", "tb": "models", "id": "clf/1", "set": [[["tags"], "oops"]]},
    "registered_models": lambda ids: {
        "op": "set",
        "tb": "registered_models",
        "id": "clf",
        "set": [[["hooks"], 7]],
    },
    "aliases": lambda ids: {
        "op": "set",
        "tb": "aliases",
        "id": "clf@prod",
        "set": [[["history"], "x"]],
    },
}


@pytest.mark.parametrize("table", sorted(_BAD_LINES))
def test_a_record_of_the_wrong_type_is_one_line_naming_repair_then_repair_fixes_it(
    project: Path, capsys: pytest.CaptureFixture[str], table: str
) -> None:
    from nb_mlops.cli import main
    from nb_mlops.store.workspace import open_workspace

    ids = _store_with_one_of_each(project)
    ws = open_workspace()
    journal = ws.home / "catalog" / "journal.jsonl"
    lines = journal.read_bytes().count(b"\n")
    with open(journal, "a") as fh:
        fh.write(json.dumps(_BAD_LINES[table](ids)) + "\n")
    commands = [["runs"], ["show", ids["run"]], ["versions", "t.csv"], ["models"], ["model", "clf"]]
    capsys.readouterr()
    for argv in commands:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert f"{journal} is damaged at line {lines + 1}" in err
        assert "nb-mlops repair" in err

    assert main(["repair"]) == 0
    assert "set 1 damaged lines aside" in capsys.readouterr().out
    for argv in commands:
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    assert "Traceback" not in capsys.readouterr().err
