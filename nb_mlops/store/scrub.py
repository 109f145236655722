"""Removing a leaked string from every file of the store (`nb-mlops scrub`).

Redaction (redact.py) catches the secrets it knows by name or shape; one it missed (a password
under a plain name, a house token format) is removed afterwards with this. Every file under
`.nbmlops/` is searched for the string, in each form it takes when written out (as is, escaped
for JSON with and without `\\u` escapes, escaped for HTML), and every occurrence becomes
`[REDACTED]`. The string itself is never printed, logged or kept: the report names files only.

What is rewritten, and how:

- `catalog/journal.jsonl`: rewritten whole under the writers' lock (temp + rename); each line
  holding the string is parsed and the string replaced in its values and keys, so the catalog
  stays valid JSON; object names (md5 hashes) are never cut into. The in-memory replay of this
  process reloads at once, other processes' when they next read (the file is a new inode).
- set-aside copies (`catalog/journal.jsonl.damaged-*`) and `backups/`: bytes replaced.
- `history/*.jsonl`, `runs/*/cells.jsonl`, `runs/*/metrics.jsonl` (a metric name holding the
  string): line by line, as the journal. Lines a running kernel appends meanwhile are carried over
  to the new file, though one written in the instant of the rename can be lost: scrub with the
  kernels idle.
- `runs/points.pack` (the points of small runs, store/pack.py): a line holding the string that a
  run names is appended again, scrubbed, and the run pointed at it; every line holding the
  string is then overwritten with spaces in place (so no other line moves).
- `runs/*/stdout.txt`, `runs/*/stderr.txt`: text replaced. `runs/*/metrics.npz` is a cache of
  `metrics.jsonl`: it is removed, and rebuilt from the points when needed.
- `config.toml`: replaced under the writers' lock, kept only if it still parses as TOML.
- cached objects: an object is named by the md5 of its bytes, so a changed object is a new object
  and every catalog reference to the old one must change with it. That is done for text objects
  that the catalog names only in view fields (`REWRITABLE_FIELDS`: the environment JSON
  `packages`, a plotly figure's `json`, a matplotlib `svg`, a table's HTML `preview`, and `refs`):
  the new object is stored, the references in the journal (and in set-aside copies and backups)
  are changed, then the old object is removed. Data and model objects cannot be rewritten (their
  hashes are recorded in `.dvc` files, `.dir` listings, fingerprints and artifact records, and a
  changed byte would break them), nor can binary ones (PNG, Parquet, pickles): they are listed
  as "cannot rewrite" with their paths and the records that name them, so the user can delete
  those records and run `gc`. An object nothing names is removed (gc would remove it anyway)
  unless it is younger than gc's grace period (another process may be about to record it).
- anything else holding the string (model copies under `models/`, the hash cache `state`,
  `tmp/`, a file whose name holds it) is listed as "cannot rewrite".

Copies outside the store (remotes, DVC's cache, exported bundles and records, the notebook
itself, the shell's history) are not reached: the report says so.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError, StoreError
from nb_mlops.redact import REDACTED
from nb_mlops.results import Result
from nb_mlops.store import layout
from nb_mlops.store.files import append_line, atomic_write
from nb_mlops.store.objects import TEMP_PREFIX
from nb_mlops.store.pack import (
    append_points,
    blank,
    encode_line,
    pack_locked,
    pack_path,
    read_packed_line,
)
from nb_mlops.store.workspace import Workspace

__all__ = [
    "BINARY_VIEW_FIELDS",
    "MIN_LENGTH",
    "REWRITABLE_FIELDS",
    "ScrubItem",
    "ScrubReport",
    "check_secret",
    "scrub",
]

MIN_LENGTH = 4
"""Shorter strings are refused: they would match all over the store."""

REWRITABLE_FIELDS = frozenset({"refs", "packages", "json", "svg", "preview"})
"""Catalog fields naming objects that are views (text kept to be shown), not data: an object
named only in these may be rewritten under a new hash, its references following."""

BINARY_VIEW_FIELDS = frozenset({"png", "parquet"})
"""View fields naming binary objects (a figure's PNG, a table's Parquet): listed, not rewritten."""
_VIEW_FIELDS = REWRITABLE_FIELDS | BINARY_VIEW_FIELDS

_HASH = re.compile(r"[0-9a-f]{32}(?:\.dir)?")
_CHUNK = 1 << 20
_MAX_REWRITE = 64 << 20  # bytes: a text object larger than this is listed, not rewritten
_REDACTED_B = REDACTED.encode()
_OUTSIDE = (
    "copies outside the store are not reached: remotes, DVC's cache (.dvc/cache), exported "
    "bundles and records, the notebook file and the shell's history"
)


@dataclass
class ScrubItem:
    """What scrub did (or would do, or could not do) to one file of the store."""

    path: str
    action: str
    """`rewrote`, `removed`, `cannot rewrite` (a dry run: `would rewrite`, `would remove`)."""
    count: int = 0
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "action": self.action, "count": self.count, "why": self.why}

    def to_text(self) -> str:
        n = f" ({self.count} occurrence{'s' if self.count != 1 else ''})" if self.count else ""
        why = f": {self.why}" if self.why else ""
        return f"{self.action} {self.path}{n}{why}"


@dataclass(repr=False)
class ScrubReport(Result):
    """Per file of the store: what changed and what could not."""

    home: str
    dry_run: bool
    items: list[ScrubItem] = field(default_factory=list)

    @property
    def changed(self) -> list[ScrubItem]:
        return [i for i in self.items if i.action != "cannot rewrite"]

    @property
    def cannot(self) -> list[ScrubItem]:
        return [i for i in self.items if i.action == "cannot rewrite"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": self.home,
            "dry_run": self.dry_run,
            "changed": [i.to_dict() for i in self.changed],
            "cannot": [i.to_dict() for i in self.cannot],
        }

    def to_text(self) -> str:
        if not self.items:
            return f"the string is in no file of the store at {self.home}; {_OUTSIDE}"
        total = sum(i.count for i in self.changed)
        head = "dry run, nothing changed: " if self.dry_run else ""
        verb = "would replace" if self.dry_run else "replaced"
        lines = [
            f"{head}{verb} {total} occurrence{'s' if total != 1 else ''} with {REDACTED} in "
            f"{len(self.changed)} file{'s' if len(self.changed) != 1 else ''} of {self.home}"
        ]
        lines += [f"  {i.to_text()}" for i in self.changed]
        if self.cannot:
            lines.append(f"{len(self.cannot)} file(s) still hold it:")
            lines += [f"  {i.to_text()}" for i in self.cannot]
        lines.append(_OUTSIDE)
        return "\n".join(lines)


def check_secret(secret: Any) -> str:
    """`secret` when it is a string scrub can look for; a one-line error otherwise."""
    if not isinstance(secret, str) or not secret:
        raise NbMlopsError("scrub needs the leaked string; it got an empty one")
    if len(secret) < MIN_LENGTH:
        raise NbMlopsError(
            f"scrub refuses strings shorter than {MIN_LENGTH} characters: they would match "
            "all over the store"
        )
    if secret in REDACTED:
        raise NbMlopsError(f"scrub refuses a string that is part of the {REDACTED} marker")
    return secret


def scrub(ws: Workspace, secret: str, *, dry_run: bool = False) -> ScrubReport:
    """Replace `secret` with [REDACTED] in every file of the store that can be rewritten safely;
    list the others (see the module's docstring). `dry_run`: report, change nothing."""
    secret = check_secret(secret)
    job = _Scrub(ws, secret, dry_run)
    return job.run()


# ------------------------------------------------------------------------------------- the job
class _Scrub:
    def __init__(self, ws: Workspace, secret: str, dry_run: bool) -> None:
        self.ws = ws
        self.home = ws.home
        self.secret = secret
        self.forms = _forms(secret)
        self.dry_run = dry_run
        self.report = ScrubReport(str(ws.home), dry_run)
        self.remap: dict[str, str] = {}  # old object hash -> new one
        self.journal_changed = False
        self.done: set[Path] = set()

    # -- driver ------------------------------------------------------------------------------
    def run(self) -> ScrubReport:
        holding = self._objects_holding()  # read-only: before the lock, however big the cache
        with self.ws.catalog.locked():
            self._objects(holding)
            self._journal()
            self._checkpoint()
            for path in self._files(self.home / layout.CATALOG_DIR):
                if path.name.startswith(f"{layout.JOURNAL_FILE}.damaged-"):
                    self._bytes_file(path)
            for path in self._files(self.home / layout.BACKUPS_DIR):
                self._bytes_file(path)
            self._config()
            self._remove_replaced_objects()
        for path in self._files(self.home / layout.HISTORY_DIR):
            if path.suffix == ".jsonl":
                self._lines_file(path, compact=False)
        for folder in _subfolders(self.home / layout.RUNS_DIR):
            self._run_folder(folder)
        self._pack()
        self._everything_else()
        return self.report

    def _add(self, path: Path, action: str, count: int = 0, why: str = "") -> None:
        if self.dry_run and action in ("rewrote", "removed"):
            action = {"rewrote": "would rewrite", "removed": "would remove"}[action]
        self.report.items.append(ScrubItem(self._show(path), action, count, why))
        self.done.add(path)

    def _show(self, path: Path) -> str:
        """A path for the report, relative to the store, with the string itself taken out."""
        try:
            text = path.relative_to(self.home).as_posix()
        except ValueError:
            text = str(path)
        return text.replace(self.secret, REDACTED)

    def _files(self, folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())

    # -- the catalog -------------------------------------------------------------------------
    def _journal(self) -> None:
        path = self.home / layout.CATALOG_DIR / layout.JOURNAL_FILE
        self.done.add(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        from nb_mlops.store.journal import dumps

        new, count, left = self._lines(data, dumps)
        self.journal_changed = new != data
        if new != data and not self.dry_run:  # the string, or only object references, changed
            atomic_write(path, new)
            self.ws.catalog.sync()  # a new inode: the replay starts over from the new file
        if count:
            self._add(path, "rewrote", count)
        if left:
            self._add(path, "cannot rewrite", left, _SPANS)

    def _checkpoint(self) -> None:
        """The catalog checkpoint is derived from the journal: one that holds the string (or a
        temp a killed writer left) is removed, and a fresh one is written from the scrubbed
        journal; deleting it loses nothing."""
        folder = self.home / layout.CATALOG_DIR
        paths = [folder / layout.CHECKPOINT_FILE]
        paths += sorted(folder.glob(f".{layout.CHECKPOINT_FILE}.tmp-*"))
        removed = False
        for path in paths:
            self.done.add(path)
            if not path.is_file() or path.is_symlink():
                continue
            count = _file_count(path, self.forms)
            if not count and not self.journal_changed:  # (its summaries are compressed)
                continue
            if not self.dry_run:
                path.unlink(missing_ok=True)
                removed = True
            self._add(path, "removed", count)
        if removed:
            self.ws.catalog.write_checkpoint()

    def _config(self) -> None:
        path = self.home / layout.CONFIG_FILE
        self.done.add(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        new, count = _replace(data, self.forms)
        if not count:
            return
        import tomlkit

        try:
            tomlkit.parse(new.decode("utf-8"))
        except Exception:  # whatever tomlkit raises: the file would no longer read
            self._add(path, "cannot rewrite", count, "it would no longer parse as TOML")
            return
        if not self.dry_run:
            atomic_write(path, new)
        self._add(path, "rewrote", count)

    def _bytes_file(self, path: Path) -> None:
        """A set-aside copy or a backup: the string replaced, object references updated."""
        self.done.add(path)
        data = path.read_bytes()
        new, count = _replace(data, self.forms)
        for old, now in self.remap.items():
            new = new.replace(old.encode(), now.encode())
        if new == data:
            return
        if not self.dry_run:
            atomic_write(path, new)
        if count:
            self._add(path, "rewrote", count)

    # -- the files of runs and sessions ------------------------------------------------------
    def _run_folder(self, folder: Path) -> None:
        files = layout.RunFiles(folder)
        self._lines_file(files.cells, compact=False)
        self._lines_file(files.metrics, compact=True)
        for stream in ("stdout", "stderr"):
            self._text_file(files.output(stream))
        if files.columns.is_file():
            self.done.add(files.columns)
            if _file_count(files.columns, self.forms):
                if not self.dry_run:
                    files.columns.unlink(missing_ok=True)
                self._add(files.columns, "removed", 0, "a cache of metrics.jsonl, rebuilt from it")

    def _pack(self) -> None:
        """The shared pack of small runs' points (store/pack.py), under the writers' lock and the
        pack's: a line holding the string that a run document names is appended again, scrubbed,
        and the document pointed at the new line; then every line holding the string (named
        before, or by nothing: a deleted run's, a write cut short) is overwritten with spaces
        where it is, so the lines the catalog names do not move."""
        path = pack_path(self.ws)
        if not path.is_file() or path.is_symlink():
            return
        self.done.add(path)
        count = left = 0
        with self.ws.catalog.locked(), pack_locked(self.ws):
            data = path.read_bytes()
            named = {}
            for run_id, doc in self.ws.catalog.docs("runs").items():
                where = doc.get("points")
                if isinstance(where, dict) and isinstance(where.get("offset"), int):
                    named[where["offset"]] = (run_id, where)
            start = 0
            while start < len(data):
                end = data.find(b"\n", start)
                end = len(data) if end < 0 else end + 1
                line, offset, start = data[start:end], start, end
                n = _replace(line, self.forms)[1]
                if not n:
                    continue
                owner = named.get(offset)
                if owner is not None and not self._repack(*owner):
                    left += n  # cannot be rewritten: the line stays, the document names it
                    continue
                count += n
                if not self.dry_run:
                    blank(self.ws, offset, len(line.rstrip(b"\n")))
        if count:
            self._add(path, "rewrote", count)
        if left:
            self._add(path, "cannot rewrite", left, _SPANS)

    def _repack(self, run_id: str, where: dict[str, Any]) -> bool:
        """Append the points of a packed run (and its cells and output), scrubbed, to the pack
        and point its document at them; False when the string spans the line's JSON structure
        (nothing is written)."""
        try:
            line = read_packed_line(self.ws, run_id, where)
        except StoreError:
            return True  # not this run's line after all (a damaged location): a dead line
        points = _walk([list(p) for p in line.pop("points")], self.secret, {}, [0])
        extra = _walk(line, self.secret, {}, [0])
        if any(f in encode_line(run_id, points, extra) for f in self.forms):
            return False
        if not self.dry_run:
            location = append_points(self.ws, run_id, points, extra)
            self.ws.catalog.set("runs", run_id, {"points": location})
        return True

    def _lines_file(self, path: Path, *, compact: bool) -> None:
        """A JSON-lines file others append to: rewritten whole, appends made meanwhile kept."""
        if not path.is_file():
            return
        self.done.add(path)

        def dump(obj: Any) -> str:
            if compact:
                return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
            return json.dumps(obj, ensure_ascii=False)

        with open(path, "rb") as fh:
            data = fh.read()
            new, count, left = self._lines(data, dump)
            if count and not self.dry_run:
                atomic_write(path, new)
                while more := fh.read():  # appended to the old file since it was read
                    append_line(path, self._lines(more, dump)[0])
        if count:
            self._add(path, "rewrote", count)
        if left:
            self._add(path, "cannot rewrite", left, _SPANS)

    def _text_file(self, path: Path) -> None:
        if not path.is_file():
            return
        self.done.add(path)
        data = path.read_bytes()
        new, count = _replace(data, self.forms)
        if count:
            if not self.dry_run:
                atomic_write(path, new)
            self._add(path, "rewrote", count)

    def _lines(self, data: bytes, dump: Callable[[Any], str]) -> tuple[bytes, int, int]:
        """JSON lines with the string replaced in values and keys and object references
        remapped; (new bytes, occurrences replaced, occurrences left because they span JSON
        structure). A line that is not JSON (damaged, or cut by a kill) has its bytes replaced."""
        old_refs = [h.encode() for h in self.remap]
        out: list[bytes] = []
        count = left = 0
        for line in data.splitlines(keepends=True):
            if not any(f in line for f in self.forms) and not any(h in line for h in old_refs):
                out.append(line)
                continue
            body = line.rstrip(b"\r\n")
            end = line[len(body) :]
            try:
                obj = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                new, n = _replace(line, self.forms)
                for old, now in self.remap.items():
                    new = new.replace(old.encode(), now.encode())
                out.append(new)
                count += n
                continue
            counter = [0]
            new = dump(_walk(obj, self.secret, self.remap, counter)).encode() + end
            count += counter[0]
            left += sum(new.count(f) for f in self.forms)
            out.append(new)
        return b"".join(out), count, left

    # -- objects ------------------------------------------------------------------------------
    def _objects_holding(self) -> dict[str, int]:
        """Objects whose bytes hold the string: hash -> occurrences."""
        found = {}
        for md5, _ in self.ws.objects.all_objects():
            n = _file_count(self.ws.objects.path_of(md5), self.forms)
            if n:
                found[md5] = n
        return found

    def _objects(self, holding: dict[str, int]) -> None:
        if not holding:
            return
        uses, named_by = _object_uses(self.ws)
        members = self._listed_files(uses)
        from nb_mlops.store.gc import GRACE_S

        now = time.time()
        for md5, count in sorted(holding.items()):
            path = self.ws.objects.path_of(md5)
            if not path.is_file():
                continue  # removed since it was read (a gc): nothing left to scrub
            self.done.add(path)
            fields = uses.get(md5, set())
            records = ", ".join(sorted(named_by.get(md5, ())))
            if md5 in members or md5.endswith(".dir") or fields - _VIEW_FIELDS:
                why = (
                    "a data, model or artifact object: its hash is recorded in .dvc files, "
                    f"listings, fingerprints or artifact records; named by {records or 'a listing'}"
                )
                self._add(path, "cannot rewrite", count, why)
                continue
            if fields & BINARY_VIEW_FIELDS:
                why = f"a binary object (an image or a Parquet table); named by {records}"
                self._add(path, "cannot rewrite", count, why)
                continue
            if not fields:
                if now - path.stat().st_mtime < GRACE_S:
                    self._add(
                        path,
                        "cannot rewrite",
                        count,
                        "nothing names it yet and it is new (another process may be recording "
                        "it); run scrub again later",
                    )
                    continue
                if not self.dry_run:
                    self.ws.objects.remove(md5)
                self._add(path, "removed", count, "nothing names it")
                continue
            why = self._rewrite_object(md5, path)
            if why:
                self._add(path, "cannot rewrite", count, f"{why}; named by {records}")
            else:
                self._add(
                    path, "rewrote", count, f"now object {self.remap[md5]}; named by {records}"
                )

    def _rewrite_object(self, md5: str, path: Path) -> str | None:
        """Store the object with the string replaced and note the new hash; why not, if not."""
        if path.stat().st_size > _MAX_REWRITE:
            return "too large to rewrite here"
        try:
            data = self.ws.objects.read_bytes(md5)
        except StoreError as exc:  # damaged: its bytes no longer match its name
            return str(exc)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "a binary object (an image, a Parquet table)"
        new, _ = _replace(data, self.forms)
        try:
            json.loads(data)
        except ValueError:
            pass
        else:
            try:
                json.loads(new)
            except ValueError:
                return "the string spans the structure of this JSON object"
        if self.dry_run:
            from nb_mlops.store.hashing import md5_bytes

            self.remap[md5] = md5_bytes(new)
        else:
            self.remap[md5] = self.ws.objects.add_bytes(new)
        return None

    def _listed_files(self, uses: Mapping[str, set[str]]) -> set[str]:
        """Every file object listed in a `.dir` object the catalog names (folders' members)."""
        members: set[str] = set()
        for md5 in uses:
            if md5.endswith(".dir") and self.ws.objects.has(md5):
                try:
                    members.update(e["md5"] for e in self.ws.objects.listing(md5))
                except StoreError:
                    continue
        return members

    def _remove_replaced_objects(self) -> None:
        if self.dry_run:
            return
        for old in self.remap:
            self.ws.objects.remove(old)

    # -- the rest ------------------------------------------------------------------------------
    def _everything_else(self) -> None:
        """Files no step above rewrote: listed when they hold the string (or their name does)."""
        cache = self.ws.cache_dir
        for dirpath, dirnames, filenames in os.walk(self.home):
            folder = Path(dirpath)
            for name in [*dirnames, *filenames]:
                if self.secret in name:
                    self._add(folder / name, "cannot rewrite", 0, "its name holds the string")
            in_cache = folder.is_relative_to(cache)
            for name in filenames:
                path = folder / name
                if path in self.done or path.is_symlink():
                    continue
                if in_cache and not name.startswith(TEMP_PREFIX):
                    continue  # objects were all searched above
                count = _file_count(path, self.forms)
                if not count:
                    continue
                if path.is_relative_to(cache):
                    why = "an unfinished object write (gc removes it)"
                elif path.is_relative_to(self.ws.models_dir):
                    why = "a verified copy of a model object, which cannot change"
                elif path == self.home / layout.STATE_FILE:
                    why = "the hash cache: delete it while no kernel runs (it is rebuilt)"
                else:
                    why = "not a file scrub knows how to rewrite"
                self._add(path, "cannot rewrite", count, why)


_SPANS = "the string spans JSON structure here (it holds quotes or brackets)"


# ------------------------------------------------------------------------------------- helpers
def _forms(secret: str) -> list[bytes]:
    """The bytes the string takes in the store's files: as is, in JSON (with and without `\\u`
    escapes) and in HTML; longest first, so a longer form is replaced before a part of it."""
    texts = {
        secret,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
    }
    forms = {t.encode("utf-8", "surrogatepass") for t in texts if t}
    return sorted(forms, key=len, reverse=True)


def _replace(data: bytes, forms: list[bytes]) -> tuple[bytes, int]:
    count = 0
    for form in forms:
        n = data.count(form)
        if n:
            count += n
            data = data.replace(form, _REDACTED_B)
    return data, count


def _file_count(path: Path, forms: list[bytes]) -> int:
    """Occurrences of any form in a file, read in chunks (an object may be gigabytes)."""
    overlap = max(len(f) for f in forms) - 1
    count = 0
    tail = b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                window = tail + chunk
                # count only matches that end inside the new chunk (the tail was counted before)
                for form in forms:
                    count += window.count(form) - tail.count(form)
                tail = window[-overlap:] if overlap else b""
    except OSError:
        return 0
    return count


def _walk(obj: Any, secret: str, remap: Mapping[str, str], counter: list[int]) -> Any:
    """A JSON value with `secret` replaced in strings and keys and object hashes remapped."""
    if isinstance(obj, str):
        return _fix(obj, secret, remap, counter)
    if isinstance(obj, dict):
        return {
            _fix(k, secret, remap, counter): _walk(v, secret, remap, counter)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_walk(v, secret, remap, counter) for v in obj]
    return obj


def _fix(text: str, secret: str, remap: Mapping[str, str], counter: list[int]) -> str:
    if text in remap:
        return remap[text]
    if secret not in text or (_HASH.fullmatch(text) and text != secret):
        return text  # never cut into the name of an object
    counter[0] += text.count(secret)
    return text.replace(secret, REDACTED)


def _object_uses(ws: Workspace) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Object hash -> the catalog fields that name it, and -> the records (`table/id`)."""
    uses: dict[str, set[str]] = {}
    named_by: dict[str, set[str]] = {}
    for table in ws.catalog.tables():
        for doc_id, doc in ws.catalog.docs(table).items():
            for md5, key in _hashes_in(doc, ""):
                uses.setdefault(md5, set()).add(key)
                named_by.setdefault(md5, set()).add(f"{table}/{doc_id} ({key})")
    return uses, named_by


def _hashes_in(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """(hash, the field it sits under) for every object hash in a document."""
    if isinstance(value, str):
        if _HASH.fullmatch(value):
            yield value, key
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _hashes_in(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _hashes_in(v, key)


def _subfolders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
