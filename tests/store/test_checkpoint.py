"""The catalog checkpoint: a cold reader starts from it and replays only the journal's tail;
a missing, stale, damaged or foreign one is never trusted, and the store opens with every
record whatever happens to it (real subprocesses for kills and concurrency)."""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from nb_mlops.store import checkpoint as ckpt
from nb_mlops.store.catalog import COLUMN_FIELDS, COLUMN_SECTIONS, SHAPES, Catalog
from nb_mlops.store.columns import MISSING, summary_of
from nb_mlops.store.journal import Journal

ROOT = Path(__file__).resolve().parents[2]


def _run(i: int, rng: random.Random) -> dict:
    doc = {
        "run_id": f"r{i:05d}",
        "name": f"n{i % 7}",
        "experiment": "e",
        "status": "running",
        "start": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000000+00:00",
        "params": {"lr": rng.choice([0.1, 0.01]), "model": rng.choice(["rf", "gbm"])},
        "metrics": {},
        "tags": {"team": "a"} if i % 3 else {},
        "source": {"kind": "cell", "key": f"k{i % 4}"} if i % 2 else None,
    }
    if i % 5 == 0:
        doc["params"]["odd"] = [1, 2] if i % 10 else None
    return doc


def _fill(cat: Catalog, start: int, n: int, seed: int = 0) -> None:
    rng = random.Random(seed + start)
    for i in range(start, start + n):
        cat.put("runs", f"r{i:05d}", _run(i, rng))
        cat.set(
            "runs",
            f"r{i:05d}",
            {"status": "finished", "metrics": {"acc": rng.random(), "loss": float("nan")}},
        )
    cat.put("models", f"m{start}", {"name": f"m{start}", "version": 1})


def _truth(folder: Path) -> dict:
    """The journal replayed in full, with no checkpoint: what every reader must see."""
    journal = Journal(folder / "journal.jsonl", shapes=SHAPES)
    journal.sync()
    return {tb: dict(docs) for tb, docs in journal.tables.items()}


def _seen(folder: Path) -> tuple[dict, Catalog]:
    cat = Catalog(folder, SHAPES)
    cat.journal.on_stale = None
    cat.sync()
    tables = {tb: dict(cat.docs(tb).items()) for tb in cat.tables()}
    return tables, cat


def _same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _columns_match(cat: Catalog, truth: dict) -> None:
    runs = truth.get("runs", {})
    cols = cat.run_columns()
    assert sorted(i for i in cols.ids if i is not None) == sorted(runs)
    paths = [*COLUMN_FIELDS, ("params", "lr"), ("params", "odd"), ("metrics", "acc")]
    for path in paths:
        col = cat.column(path)
        for doc_id, doc in runs.items():
            cur: object = doc
            for key in path:
                cur = cur.get(key, MISSING) if isinstance(cur, dict) else MISSING
            got = col[cols.row[doc_id]]
            assert repr(got) == repr(cur), (path, doc_id)


def _summaries_match(cat: Catalog, truth: dict) -> None:
    """Every summary the checkpoint gives is the run's own; a damaged one is not given."""
    cols = cat.run_columns()
    given = 0
    for doc_id, doc in truth.get("runs", {}).items():
        got = cols.base_summary(cols.row[doc_id])
        if got is not None:
            given += 1
            assert _same(got, summary_of(doc, COLUMN_FIELDS, COLUMN_SECTIONS)), doc_id
    if cat.journal.base is not None and cat.journal.base.zdict:
        assert given > 0


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    _fill(cat, 0, 300)
    cat.delete("runs", "r00007")
    cat.set("runs", "r00008", {("params", "extra"): "x"})
    assert cat.write_checkpoint()
    return folder


def test_a_cold_reader_starts_from_the_checkpoint_and_replays_the_tail(folder: Path) -> None:
    cat = Catalog(folder, SHAPES)
    _fill(cat, 300, 50)
    cat.set("runs", "r00003", {"status": "failed"})
    cat.delete("runs", "r00004")
    tables, fresh = _seen(folder)
    assert fresh.journal.base is not None  # it did start from the checkpoint
    truth = _truth(folder)
    assert _same(tables, truth)
    _columns_match(fresh, truth)
    # the indexes read columns: the newest run of a name, and a cell's previous run
    newest = fresh.newest("runs", "name", "n3")
    want = max((d for d in truth["runs"].values() if d["name"] == "n3"), key=lambda d: d["start"])
    assert newest == want
    assert {d["run_id"] for d in fresh.find("runs", ("source", "key"), "k1")} == {
        i for i, d in truth["runs"].items() if (d.get("source") or {}).get("key") == "k1"
    }


def test_a_reader_follows_writes_made_after_it_opened(folder: Path) -> None:
    _, reader = _seen(folder)
    assert reader.journal.base is not None
    before = reader.column(("metrics", "acc"))[:]
    writer = Catalog(folder, SHAPES)
    writer.set("runs", "r00010", {("metrics", "acc"): 2.5})
    writer.delete("runs", "r00011")
    _fill(writer, 400, 3)
    truth = _truth(folder)
    assert _same(dict(reader.docs("runs").items()), truth["runs"])
    _columns_match(reader, truth)
    assert before != reader.column(("metrics", "acc"))


@pytest.mark.parametrize(
    "spoil",
    [
        "journal rewritten",
        "journal edited in place",
        "journal truncated",
        "section bytes flipped",
        "column section flipped",
        "older format",
        "other shapes",
        "garbage",
        "empty",
        "header lies about a section",
        "huge header length",
        "ids do not match rows",
        "summary block flipped",
        "summary block checks cut",
        "gaps out of order",
        "summary starts forged",
    ],
)
def test_a_stale_or_damaged_checkpoint_is_never_trusted(folder: Path, spoil: str) -> None:
    path = folder / "checkpoint.bin"
    journal = folder / "journal.jsonl"
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[len(ckpt.MAGIC) : len(ckpt.MAGIC) + 8])
    head_end = len(ckpt.MAGIC) + 8 + size
    header = json.loads(raw[len(ckpt.MAGIC) + 8 : head_end])

    def with_header(h: dict) -> bytes:
        text = json.dumps(h).encode()
        return ckpt.MAGIC + struct.pack("<Q", len(text)) + text + raw[head_end:]

    if spoil == "journal rewritten":  # compaction: same records, other bytes
        lines = journal.read_bytes().splitlines(keepends=True)
        journal.write_bytes(b"".join(reversed(lines[:2])) + b"".join(lines[2:]))
    elif spoil == "journal edited in place":  # same length: only the CRC can tell
        text = journal.read_bytes()
        at = text.index(b'"finished"')
        journal.write_bytes(text[:at] + b'"finishef"' + text[at + 10 :])
    elif spoil == "journal truncated":
        text = journal.read_bytes()
        journal.write_bytes(text[: len(text) // 2].rsplit(b"\n", 1)[0] + b"\n")
    elif spoil == "section bytes flipped":
        start = head_end + header["sections"]["locs"][0] + 3
        path.write_bytes(raw[:start] + bytes([raw[start] ^ 0xFF]) + raw[start + 1 :])
    elif spoil == "column section flipped":
        name = next(c["values"] for c in header["columns"] if c["path"] == ["metrics", "acc"])
        start = head_end + header["sections"][name][0] + 5
        path.write_bytes(raw[:start] + bytes([raw[start] ^ 0xFF]) + raw[start + 1 :])
    elif spoil == "older format":
        path.write_bytes(with_header({**header, "format": ckpt.FORMAT - 1}))
    elif spoil == "other shapes":
        path.write_bytes(with_header({**header, "shapes": "0123456789abcdef"}))
    elif spoil == "garbage":
        path.write_bytes(os.urandom(5000))
    elif spoil == "empty":
        path.write_bytes(b"")
    elif spoil == "header lies about a section":
        sections = {**header["sections"], "locs": [10**12, 64, 0]}
        path.write_bytes(with_header({**header, "sections": sections}))
    elif spoil == "huge header length":
        path.write_bytes(ckpt.MAGIC + struct.pack("<Q", 2**62) + raw[len(ckpt.MAGIC) + 8 :])
    elif spoil == "summary block flipped":  # one block of summaries: those runs' documents
        start = head_end + header["sections"]["sums"][0] + ckpt.SUM_BLOCK + 7
        path.write_bytes(raw[:start] + bytes([raw[start] ^ 0xFF]) + raw[start + 1 :])
    elif spoil == "summary block checks cut":
        at, length, _ = header["sections"]["sum_crcs"]
        cut = raw[head_end + at : head_end + at + length - 4]
        sections = {**header["sections"], "sum_crcs": [at, len(cut), zlib.crc32(cut)]}
        path.write_bytes(with_header({**header, "sections": sections}))
    elif spoil == "gaps out of order":  # a column's absent rows, reversed, its CRC made good
        name = next(c["absent"] for c in header["columns"] if c["path"] == ["tags", "team"])
        at, length, _ = header["sections"][name]
        absent = raw[head_end + at : head_end + at + length]
        rows = struct.unpack(f"<{length // 8}q", absent)
        backwards = struct.pack(f"<{len(rows)}q", *reversed(rows))
        body = raw[head_end : at + head_end] + backwards + raw[head_end + at + length :]
        sections = {**header["sections"], name: [at, length, zlib.crc32(backwards)]}
        text = json.dumps({**header, "sections": sections}).encode()
        path.write_bytes(ckpt.MAGIC + struct.pack("<Q", len(text)) + text + body)
    elif spoil == "summary starts forged":  # empty, backwards and past-the-end summaries
        at, length, _ = header["sections"]["sum_start"]
        starts = list(
            struct.unpack(f"<{length // 8}q", raw[head_end + at : head_end + at + length])
        )
        starts[1], starts[2], starts[3] = starts[1], starts[1], 0
        starts[-2] = starts[-1] + 10**6
        forged = struct.pack(f"<{len(starts)}q", *starts)
        body = raw[head_end : head_end + at] + forged + raw[head_end + at + length :]
        sections = {**header["sections"], "sum_start": [at, length, zlib.crc32(forged)]}
        text = json.dumps({**header, "sections": sections}).encode()
        path.write_bytes(ckpt.MAGIC + struct.pack("<Q", len(text)) + text + body)
    else:
        path.write_bytes(with_header({**header, "rows": header["rows"] + 1}))
    tables, cat = _seen(folder)
    truth = _truth(folder)
    assert _same(tables, truth)
    _columns_match(cat, truth)
    _summaries_match(cat, truth)
    kept = (
        "column section flipped",
        "summary block flipped",
        "summary block checks cut",
        "summary starts forged",
    )
    if spoil == "gaps out of order" or spoil in kept:
        assert cat.journal.base is not None  # only the damaged part is read from the journal
    else:
        assert cat.journal.base is None  # replayed in full
    # a fresh checkpoint replaces it, and is used by the next reader
    assert cat.write_checkpoint()
    tables, again = _seen(folder)
    assert again.journal.base is not None and _same(tables, truth)


def test_the_prefix_checked_in_a_thread_is_checked_all_the_same(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long journal's CRC runs in a thread while the rows load: its answer is waited for,
    a wrong prefix is refused, and an error in the thread is the reader's."""
    monkeypatch.setattr(ckpt, "CRC_THREAD_FROM", 0)  # every prefix is "long"
    _, cat = _seen(folder)
    assert cat.journal.base is not None
    journal = folder / "journal.jsonl"
    text = journal.read_bytes()
    at = text.index(b'"finished"')
    journal.write_bytes(text[:at] + b'"finishef"' + text[at + 10 :])
    tables, cat = _seen(folder)
    assert cat.journal.base is None and _same(tables, _truth(folder))
    assert cat.write_checkpoint()

    def broken(fd: int, length: int, start_crc: int = 0, start: int = 0) -> int:
        raise OSError("the disk went away")

    monkeypatch.setattr(ckpt, "crc_of", broken)
    tables, cat = _seen(folder)
    assert cat.journal.base is None and _same(tables, _truth(folder))


@pytest.mark.parametrize(
    "value",
    [10**26, -(2**70), 2**63, 12345678901234567, 1e300, -0.0, "1234567890123456789012", "\u00e9"],
)
@pytest.mark.parametrize("with_orjson", [True, False])
def test_values_read_back_exactly_through_every_reader(
    tmp_path: Path, value: object, with_orjson: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journal lines and summaries are parsed by orjson where it agrees with json: an integer
    past 64 bits (which orjson would read as a float) comes back the same integer, from the
    replay, from the checkpoint's summary and from the run's rebuilt document. Without orjson (a
    replay's kernel may not have it), json alone reads the same."""
    if not with_orjson:
        monkeypatch.setattr(ckpt, "orjson", None)
    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    cat.put("runs", "big", {"run_id": "big", "params": {"v": value}, "metrics": {}, "tags": {}})
    assert cat.write_checkpoint()
    cat.put("runs", "tail", {"run_id": "tail", "params": {"v": value}, "metrics": {}, "tags": {}})
    _, fresh = _seen(folder)
    cols = fresh.run_columns()
    for doc_id in ("big", "tail"):
        got = fresh.get("runs", doc_id)["params"]["v"]
        assert type(got) is type(value) and repr(got) == repr(value), doc_id
    summary = cols.base_summary(cols.row["big"])
    assert summary is not None and repr(summary["params"]["v"]) == repr(value)
    assert type(summary["params"]["v"]) is type(value)
    assert repr(fresh.column(("params", "v"))[cols.row["big"]]) == repr(value)


def test_a_checkpoint_naming_lines_it_was_not_made_from_is_refused(folder: Path) -> None:
    """A checkpoint whose prefix CRC matches but whose line index was forged: reading a run
    stops with a one-line error, and the checkpoint is removed so the next reader replays."""
    path = folder / "checkpoint.bin"
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[len(ckpt.MAGIC) : len(ckpt.MAGIC) + 8])
    head_end = len(ckpt.MAGIC) + 8 + size
    header = json.loads(raw[len(ckpt.MAGIC) + 8 : head_end])
    start, length, _ = header["sections"]["locs"]
    locs = list(
        struct.unpack(f"<{length // 8}q", raw[head_end + start : head_end + start + length])
    )
    locs[0], locs[2] = locs[2], locs[0]  # the first run's put now points at its set line
    forged = struct.pack(f"<{len(locs)}q", *locs)
    body = raw[head_end:]
    body = body[:start] + forged + body[start + length :]
    header["sections"]["locs"][2] = __import__("zlib").crc32(forged)
    text = json.dumps(header).encode()
    path.write_bytes(ckpt.MAGIC + struct.pack("<Q", len(text)) + text + body)
    cat = Catalog(folder, SHAPES)
    cat.journal.on_stale = None
    first = cat.run_columns().ids[0]
    with pytest.raises(Exception, match=r"checkpoint .* does not match the journal"):
        cat.get("runs", first)
    assert not path.exists()
    tables, _ = _seen(folder)
    assert _same(tables, _truth(folder))


def test_deleting_the_checkpoint_loses_nothing(folder: Path) -> None:
    (folder / "checkpoint.bin").unlink()
    tables, cat = _seen(folder)
    assert cat.journal.base is None and _same(tables, _truth(folder))


def test_compaction_leaves_a_reader_right_and_the_old_checkpoint_unused(folder: Path) -> None:
    cat = Catalog(folder, SHAPES)
    cat.journal.on_stale = None
    # enough dead records that the next append compacts the journal (a rewrite: new bytes)
    cat.journal.append(
        {"op": "set", "tb": "models", "id": "m0", "set": [[["n"], i]]} for i in range(5000)
    )
    tables, fresh = _seen(folder)
    assert fresh.journal.base is None
    assert _same(tables, _truth(folder))
    _columns_match(cat, _truth(folder))


# ------------------------------------------------------------------ real processes
_WRITER = """
import random, sys
from pathlib import Path
from nb_mlops.store.catalog import SHAPES, Catalog
folder, start, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cat = Catalog(folder, SHAPES)
cat.journal.on_stale = None
rng = random.Random(start)
for i in range(start, start + n):
    rid = f"w{i:06d}"
    cat.put("runs", rid, {"run_id": rid, "name": "w", "status": "running",
                          "start": "2026-01-01T00:00:00+00:00", "params": {"i": i},
                          "metrics": {}, "tags": {}})
    cat.set("runs", rid, {"status": "finished", "metrics": {"acc": rng.random()}})
"""

_REFRESHER = """
import sys
from pathlib import Path
from nb_mlops.store.catalog import SHAPES, Catalog
folder, rounds = Path(sys.argv[1]), int(sys.argv[2])
for _ in range(rounds):
    cat = Catalog(folder, SHAPES)
    cat.journal.on_stale = None
    cat.write_checkpoint()
    print("wrote", flush=True)
"""


def _python(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_9_during_checkpoint_writes_leaves_a_store_with_every_record(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    _fill(cat, 0, 3000)
    truth = _truth(folder)
    seed = int(os.environ.get("NB_MLOPS_TEST_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    for _ in range(6):
        proc = _python(_REFRESHER, folder, 50)
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        tables, fresh = _seen(folder)
        assert _same(tables, truth), f"seed {seed}"
        _columns_match(fresh, truth)
    leftovers = list(folder.glob(".checkpoint.bin.tmp-*"))
    assert all(p.stat().st_size >= 0 for p in leftovers)  # temps only, never the checkpoint


@pytest.mark.slow
def test_writers_readers_and_a_refresher_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    _fill(cat, 0, 500)
    assert cat.write_checkpoint()
    procs = [_python(_WRITER, folder, k * 100000, 400) for k in range(2)]
    procs.append(_python(_REFRESHER, folder, 8))
    reads = 0
    while any(p.poll() is None for p in procs):
        tables, fresh = _seen(folder)  # a cold reader, mid-way: never a half state
        runs = tables["runs"]
        assert all(d["status"] in ("running", "finished") for d in runs.values())
        reads += 1
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err.decode()
    truth = _truth(folder)
    assert len(truth["runs"]) == 500 + 800
    tables, fresh = _seen(folder)
    assert _same(tables, truth)
    _columns_match(fresh, truth)
    assert reads > 0


@pytest.mark.slow
def test_a_cold_reader_asks_for_a_checkpoint_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    _fill(cat, 0, 200)
    monkeypatch.setattr(ckpt, "TAIL_REFRESH_BYTES", 1000)
    monkeypatch.setenv("NB_MLOPS_CHECKPOINT_REFRESH", "1")
    reader = Catalog(folder, SHAPES)
    reader.sync()  # replays everything: starts `python -m nb_mlops.store.refresh`
    deadline = time.monotonic() + 60
    while not (folder / "checkpoint.bin").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    tables, fresh = _seen(folder)
    assert fresh.journal.base is not None
    assert _same(tables, _truth(folder))


def test_a_big_journal_without_a_checkpoint_is_replayed_lean(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past LEAN_FROM_BYTES a cold reader with no usable checkpoint writes one from the journal
    a run at a time (no run documents held), then starts from it: the same state."""
    from nb_mlops.store import journal as journal_mod

    (folder / "checkpoint.bin").unlink()
    cat = Catalog(folder, SHAPES)
    _fill(cat, 300, 20)
    cat.delete("runs", "r00001")
    monkeypatch.setattr(journal_mod, "LEAN_FROM_BYTES", 0)
    tables, fresh = _seen(folder)
    assert fresh.journal.base is not None and (folder / "checkpoint.bin").exists()
    truth = _truth(folder)
    assert _same(tables, truth)
    _columns_match(fresh, truth)


def test_the_lean_replay_reports_a_damaged_line_as_the_replay_does(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nb_mlops.errors import CatalogDamaged
    from nb_mlops.store import journal as journal_mod

    (folder / "checkpoint.bin").unlink()
    journal = folder / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[6] = b'{"op": "put", "tb": "runs", "id": "x", "doc": {"run_id": 5}}\n'
    journal.write_bytes(b"".join(lines))
    with pytest.raises(CatalogDamaged) as replayed:
        _seen(folder)
    monkeypatch.setattr(journal_mod, "LEAN_FROM_BYTES", 0)
    with pytest.raises(CatalogDamaged) as lean:
        _seen(folder)
    assert str(lean.value) == str(replayed.value)
    assert "line 7" in str(lean.value)
    assert not (folder / "checkpoint.bin").exists()


def _replace_section(path: Path, name: str, data: bytes) -> None:
    """Swap one section's bytes for `data`, its CRC fixed: a forged but well-formed checkpoint."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[len(ckpt.MAGIC) : len(ckpt.MAGIC) + 8])
    head_end = len(ckpt.MAGIC) + 8 + size
    header = json.loads(raw[len(ckpt.MAGIC) + 8 : head_end])
    body = bytearray(raw[head_end:])
    start, length, _ = header["sections"][name]
    assert len(data) == length
    body[start : start + length] = data
    header["sections"][name][2] = __import__("zlib").crc32(data)
    text = json.dumps(header).encode()
    path.write_bytes(ckpt.MAGIC + struct.pack("<Q", len(text)) + text + bytes(body))


def test_a_forged_name_column_never_resolves_a_name_to_another_run(folder: Path) -> None:
    """An index built from the checkpoint's columns is checked against each run it names: a
    checkpoint that maps a name to another run is refused (and removed), never followed (a
    delete by name must not reach the wrong run)."""
    path = folder / "checkpoint.bin"
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[len(ckpt.MAGIC) : len(ckpt.MAGIC) + 8])
    header = json.loads(raw[len(ckpt.MAGIC) + 8 : len(ckpt.MAGIC) + 8 + size])
    entry = next(c for c in header["columns"] if c["path"] == ["name"])
    start, length, _ = header["sections"][entry["values"]]
    body = raw[len(ckpt.MAGIC) + 8 + size :]
    names = body[start : start + length]
    assert entry["kind"] == "lines" and names.startswith(b"n0\n")
    _replace_section(path, entry["values"], b"x0" + names[2:])  # run r00000's name
    cat = Catalog(folder, SHAPES)
    cat.journal.on_stale = None
    with pytest.raises(Exception, match=r"checkpoint .* does not match the journal"):
        cat.newest("runs", "name", "x0")
    assert not path.exists()
    fresh = Catalog(folder, SHAPES)
    assert fresh.newest("runs", "name", "x0") is None
    assert fresh.get("runs", "r00000")["name"] == "n0"


@pytest.mark.parametrize("odd_id", ["plain", "with\nnewline"])
def test_strings_round_trip_whatever_they_hold(tmp_path: Path, odd_id: str) -> None:
    """Columns of plain strings are kept as lines; values (or ids) with a newline, an empty
    string, non-ASCII text or a lone surrogate fall back to JSON: the same state either way."""
    folder = tmp_path / "catalog"
    cat = Catalog(folder, SHAPES)
    values = ["a\nb", "", "ünïcödé", "x" * 300, "tab\there"]
    for i, value in enumerate(values):
        rid = f"{odd_id}-{i}"
        cat.put("runs", rid, {"run_id": rid, "params": {"v": value, "same": "s"}, "tags": {}})
    cat.put("runs", "num", {"run_id": "num", "params": {"v": 1.5, "same": "s"}})
    # a lone surrogate cannot come through the API, but a journal line may spell one
    with open(folder / "journal.jsonl", "ab") as fh:
        fh.write(b'{"op":"put","tb":"runs","id":"sur","doc":{"run_id":"sur","params":')
        fh.write(b'{"v":"\\ud800","same":"s"}}}\n')
    values.append("\ud800")
    assert cat.write_checkpoint()
    tables, fresh = _seen(folder)
    assert fresh.journal.base is not None
    truth = _truth(folder)
    assert _same(tables, truth)
    col = fresh.column(("params", "v"))
    row = fresh.run_columns().row
    ids = [f"{odd_id}-{i}" for i in range(len(values) - 1)] + ["sur"]
    assert [col[row[i]] for i in ids] == values
    assert fresh.column(("params", "same"))[row["num"]] == "s"
