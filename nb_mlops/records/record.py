"""The record's format: the paths inside the zip, the limits, and reading an untrusted record.json.

A record is one zip: `record.json` (our manifest, the one file the reproducer reads),
`ro-crate-metadata.json` (the same files described as an RO-Crate), `notebook.ipynb`,
`environment/requirements.txt`, and as the run had them `git/diff.patch`,
`outputs/<run>/stdout.txt` and `stderr.txt`, `params/<model>-v<version>.npz` and, with
`--with-data`, the data objects under `data/files/md5/` (DVC 3's cache layout).

A record comes from someone else, so `read_manifest` trusts nothing in it: every field has the
type and shape this module says, every path is relative, without `..` or a drive, and stays
inside the record, sizes and counts are bounded, and duplicate keys are refused. A fault is
one line naming the field (`record.json: runs[2].metrics.acc: expected a number, got 'x'`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from nb_mlops.errors import NbMlopsError

FORMAT = 1
"""The version of the record format this nb-mlops writes and reads."""
KIND = "nb-mlops-record"

MANIFEST = "record.json"
CRATE_METADATA = "ro-crate-metadata.json"
NOTEBOOK = "notebook.ipynb"
REQUIREMENTS = "environment/requirements.txt"
GIT_DIFF = "git/diff.patch"
OUTPUTS_DIR = "outputs"
PARAMS_DIR = "params"
DATA_OBJECTS_DIR = "data/files/md5"

MAX_MANIFEST_BYTES = 64 << 20
"""record.json is refused above this (a 10,000-file dataset listing takes about 1.5 MB)."""
MAX_FILES = 200_000
"""Files a record may hold."""
MAX_FILE_BYTES = 1 << 40
"""Largest size a record may declare for one file (1 TiB)."""
MAX_RECORD_BYTES = 1 << 40
"""Largest total size a record may declare for its files."""
MAX_RUNS = 10_000
MAX_CELLS = 100_000
MAX_DATA_INPUTS = 10_000
MAX_DATA_FILES = 1_000_000
"""Files listed under all data inputs together."""
MAX_ITEMS = 100_000
"""Entries of any other list or mapping (params, metrics, packages, artifacts...)."""
MAX_TEXT = 1 << 20
"""Characters of one string."""
MAX_DEPTH = 32
"""Nesting of a JSON value (a param may be a list of dicts...)."""
MAX_PATH = 1024


class RecordError(NbMlopsError):
    """A record cannot be written, or a file is not a record this nb-mlops reads."""


# ------------------------------------------------------------------------------- paths
_SAFE_SEGMENT = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_MD5 = re.compile(r"[0-9a-f]{32}(\.dir)?")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def safe_segment(name: str, fallback: str) -> str:
    """`name` as one path segment of the zip: letters, digits, `.`, `_` and `-` only (others
    become `_`); `fallback` when nothing usable is left (an empty name, `.` or `..`)."""
    text = _SAFE_SEGMENT.sub("_", str(name)).strip("._")[:100]
    return text or fallback


def params_path(model: str, version: int) -> str:
    """Where a model version's fitted arrays go: `params/<model>-v<version>.npz`."""
    return f"{PARAMS_DIR}/{safe_segment(model, 'model')}-v{int(version)}.npz"


def output_path(run_name: str, run_id: str, stream: str) -> str:
    """Where a run's captured stdout or stderr goes: `outputs/<run name>/<stream>.txt`."""
    return f"{OUTPUTS_DIR}/{safe_segment(run_name, safe_segment(run_id, 'run'))}/{stream}.txt"


def object_path(md5: str) -> str:
    """Where a data object goes with `--with-data`: DVC 3's cache layout under `data/`."""
    if not _MD5.fullmatch(md5):
        raise RecordError(f"not an object hash: {md5!r}")
    return f"{DATA_OBJECTS_DIR}/{md5[:2]}/{md5[2:]}"


def safe_path(path: object, where: str = "path") -> str:
    """`path` if it is a safe path inside a record (POSIX, relative, no `..`, `.` or empty
    part, no backslash, drive or control character, at most MAX_PATH characters), else a
    RecordError naming `where`. The reproducer checks each zip entry's name with it."""
    if not isinstance(path, str) or not path:
        raise RecordError(f"{where}: expected a relative path, got {_show(path)}")
    if len(path) > MAX_PATH:
        raise RecordError(f"{where}: path longer than {MAX_PATH} characters")
    if _CONTROL.search(path) or "\\" in path:
        raise RecordError(f"{where}: path {_show(path)} holds a backslash or control character")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        raise RecordError(f"{where}: path {_show(path)} is absolute")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise RecordError(f"{where}: path {_show(path)} has an empty, '.' or '..' part")
    return path


# ------------------------------------------------------------------------------ checking
Check = Callable[[Any, str], Any]


def _show(value: object) -> str:
    """A value as an error message shows it: its repr, cut to 60 characters, one line."""
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value)}"
    text = repr(value)
    text = _CONTROL.sub("?", text)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(where: str, wanted: str, value: object) -> RecordError:
    return RecordError(f"{MANIFEST}: {where}: expected {wanted}, got {_show(value)}")


def _text(max_len: int = MAX_TEXT) -> Check:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _fail(where, "text", value)
        if len(value) > max_len:
            raise RecordError(f"{MANIFEST}: {where}: text longer than {max_len} characters")
        return value

    return check


def _int(lo: int, hi: int) -> Check:
    def check(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, "a whole number", value)
        if not lo <= value <= hi:
            raise RecordError(f"{MANIFEST}: {where}: {value} is outside [{lo}, {hi}]")
        return value

    return check


def _number(value: Any, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, "a number", value)
    if isinstance(value, int) and abs(value) > 2**63:
        raise RecordError(f"{MANIFEST}: {where}: number out of range")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


def _pattern(regex: re.Pattern[str], wanted: str) -> Check:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise _fail(where, wanted, value)
        return value

    return check


_md5 = _pattern(_MD5, "an md5 (32 hex digits, optionally '.dir')")
_sha256 = _pattern(_SHA256, "a sha256 (64 lowercase hex digits)")
_name = _text(1024)
_short = _text(256)


def _path(value: Any, where: str) -> str:
    try:
        return safe_path(value, where)
    except RecordError as exc:
        raise RecordError(f"{MANIFEST}: {exc}") from None


def _optional(check: Check) -> Check:
    def inner(value: Any, where: str) -> Any:
        return None if value is None else check(value, where)

    return inner


def _json(value: Any, where: str, depth: int = 0) -> Any:
    """Any JSON value (a param, a tag, a seed), bounded in depth, length and count."""
    if depth > MAX_DEPTH:
        raise RecordError(f"{MANIFEST}: {where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return _number(value, where)
    if isinstance(value, str):
        return _text()(value, where)
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            raise RecordError(f"{MANIFEST}: {where}: more than {MAX_ITEMS} items")
        return [_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise RecordError(f"{MANIFEST}: {where}: more than {MAX_ITEMS} entries")
        return {k: _json(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    raise _fail(where, "a JSON value", value)  # pragma: no cover - json.loads gives no other


def _list(item: Check, limit: int = MAX_ITEMS) -> Check:
    def check(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        if len(value) > limit:
            raise RecordError(f"{MANIFEST}: {where}: {len(value)} items, more than {limit}")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return check


def _mapping(item: Check, limit: int = MAX_ITEMS, key: Check = _name) -> Check:
    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "a mapping", value)
        if len(value) > limit:
            raise RecordError(f"{MANIFEST}: {where}: {len(value)} entries, more than {limit}")
        out = {}
        for k, v in value.items():
            key(k, f"{where} key")
            out[k] = item(v, f"{where}.{k}")
        return out

    return check


def _object(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """A mapping with these keys (others are kept unchecked for newer writers, but bounded)."""
    optional = optional or {}

    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "a mapping", value)
        out = dict(value)
        for k, sub in required.items():
            if k not in value:
                raise RecordError(f"{MANIFEST}: {where}: the key {k!r} is missing")
            out[k] = sub(value[k], f"{where}.{k}" if where else k)
        for k, sub in optional.items():
            if k in value:
                out[k] = sub(value[k], f"{where}.{k}" if where else k)
        for k in value.keys() - required.keys() - optional.keys():
            _json(value[k], f"{where}.{k}" if where else k)
        return out

    return check


_metrics = _mapping(_number)
_params = _mapping(_json)
_artifact = _object(
    {
        "name": _name,
        "md5": _md5,
        "sha256": _optional(_sha256),
        "size": _optional(_int(0, MAX_FILE_BYTES)),
    }
)
_made_model = _object(
    {"name": _name, "version": _int(1, 10**9)}, {"fingerprint": _optional(_short)}
)
_child = _object({"run_id": _short, "name": _name, "params": _params, "metrics": _metrics})

_RUN = _object(
    {
        "run_id": _short,
        "name": _name,
        "experiment": _name,
        "status": _short,
        "start": _optional(_short),
        "end": _optional(_short),
        "params": _params,
        "metrics": _metrics,
        "tags": _params,
        "seeds": _mapping(_json, 100),
        "children": _list(_child, MAX_RUNS),
    },
    {"parent": _optional(_short)},
)
_RUN_MADE = _object(
    {
        "run_id": _short,
        "name": _name,
        "params": _params,
        "metrics": _metrics,
        "artifacts": _list(_artifact),
        "models": _list(_made_model),
    },
    {"status": _short, "parent": _optional(_short), "cell": _optional(_int(0, 10**9))},
)
_DETERMINISM = _object(
    {
        "PYTHONHASHSEED": _optional(_short),
        "threads": _mapping(_optional(_json), 100),
        "seed": _optional(_int(0, 2**32 - 1)),
        "seeds": _mapping(_json, 100),
    }
)
_ENVIRONMENT = _object(
    {
        "python": _optional(_short),
        "implementation": _optional(_short),
        "platform": _optional(_text(1024)),
        "machine": _optional(_short),
        "packages": _mapping(_short),
    }
)
_GIT = _optional(
    _object(
        {
            "commit": _optional(_short),
            "branch": _optional(_text(1024)),
            "dirty": _optional(_bool),
            "diff": _optional(_path),
        }
    )
)
_DATA_FILE = _object(
    {"relpath": _text(4096), "md5": _md5, "size": _optional(_int(0, MAX_FILE_BYTES))}
)
_DATA = _object(
    {
        "path": _path,
        "version": _optional(_int(0, 10**9)),
        "md5": _md5,
        "isdir": _bool,
        "files": _list(_DATA_FILE, MAX_DATA_FILES),
        "included": _bool,
    }
)
_ARTIFACT = _object(
    {
        "run": _name,
        "name": _name,
        "md5": _md5,
        "sha256": _optional(_sha256),
        "size": _optional(_int(0, MAX_FILE_BYTES)),
    }
)
_MODEL = _object(
    {
        "run": _optional(_name),
        "name": _name,
        "version": _int(1, 10**9),
        "flavor": _short,
        "fingerprint": _short,
        "params": _optional(_path),
    }
)
_CELLS = _object(
    {
        "notebook": _path,
        "count": _int(0, MAX_CELLS),
        "session": _optional(_short),
        "hidden_state": _list(_json, MAX_CELLS),
    }
)
_FILE = _object({"sha256": _sha256, "size": _int(0, MAX_FILE_BYTES)})

_MANIFEST = _object(
    {
        "format": _int(1, 10**6),
        "kind": _short,
        "written_by": _short,
        "created": _short,
        "run": _RUN,
        "runs": _list(_RUN_MADE, MAX_RUNS),
        "determinism": _DETERMINISM,
        "environment": _ENVIRONMENT,
        "git": _GIT,
        "data": _list(_DATA, MAX_DATA_INPUTS),
        "artifacts": _list(_ARTIFACT),
        "models": _list(_MODEL),
        "cells": _CELLS,
        "secrets": _list(_name, 1000),
        "files": _mapping(_FILE, MAX_FILES, key=_path),
    },
    {"left_out": _list(_text(4096), 10_000)},
)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RecordError(f"{MANIFEST}: the key {_show(key)} appears twice in one mapping")
        out[key] = value
    return out


def read_manifest(data: bytes) -> dict[str, Any]:
    """The manifest of a record, from the bytes of an untrusted record.json, checked whole.

    Raises RecordError (one line naming the field) for anything that is not a record of this
    format: not UTF-8 JSON, too large, duplicate keys, a field of the wrong type or shape, a
    path that is absolute or climbs out with `..`, counts or sizes above the limits above, or
    a file the manifest points at (notebook, diff, params) that is not among its `files`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RecordError(f"{MANIFEST}: expected bytes, got {type(data).__name__}")
    if len(data) > MAX_MANIFEST_BYTES:
        raise RecordError(
            f"{MANIFEST}: {len(data)} bytes, more than the {MAX_MANIFEST_BYTES >> 20} MiB a "
            "manifest may take"
        )
    try:
        text = bytes(data).decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise RecordError(f"{MANIFEST}: not UTF-8 text") from None
    except RecursionError:
        raise RecordError(f"{MANIFEST}: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of more than 4300 digits
        first = str(exc).splitlines()[0][:120]
        raise RecordError(f"{MANIFEST}: not valid JSON ({first})") from None
    if not isinstance(doc, dict):
        raise _fail("the top level", "a mapping", doc)
    if doc.get("kind") != KIND:
        raise RecordError(f"{MANIFEST}: not an nb-mlops record (kind {_show(doc.get('kind'))})")
    fmt = doc.get("format")
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        by = doc.get("written_by")
        raise RecordError(
            f"{MANIFEST}: record format {fmt} (written by nb-mlops {_show(by)}) is newer than "
            f"this nb-mlops reads ({FORMAT}); upgrade nb-mlops"
        )
    manifest = _MANIFEST(doc, "")
    if manifest["format"] != FORMAT:
        raise RecordError(f"{MANIFEST}: format: this nb-mlops reads format {FORMAT}, got {fmt}")
    _cross_check(manifest)
    return manifest


def _cross_check(manifest: dict[str, Any]) -> None:
    """What one part of the manifest says about another must agree."""
    files = manifest["files"]
    for reserved in (MANIFEST, CRATE_METADATA):
        if reserved in files:
            raise RecordError(f"{MANIFEST}: files: {reserved} lists itself among the files")
    total = sum(f["size"] for f in files.values())
    if total > MAX_RECORD_BYTES:
        raise RecordError(
            f"{MANIFEST}: files: {total} bytes declared, more than {MAX_RECORD_BYTES} bytes"
        )
    points = [("cells.notebook", manifest["cells"]["notebook"])]
    if manifest["git"] is not None and manifest["git"]["diff"] is not None:
        points.append(("git.diff", manifest["git"]["diff"]))
    for i, model in enumerate(manifest["models"]):
        if model["params"] is not None:
            points.append((f"models[{i}].params", model["params"]))
    for where, path in points:
        if path not in files:
            raise RecordError(f"{MANIFEST}: {where}: {path!r} is not among the record's files")
    n_files = sum(len(d["files"]) for d in manifest["data"])
    if n_files > MAX_DATA_FILES:
        raise RecordError(f"{MANIFEST}: data: {n_files} files listed, more than {MAX_DATA_FILES}")
    for i, item in enumerate(manifest["data"]):
        if not item["included"]:
            continue
        for md5 in [item["md5"], *(f["md5"] for f in item["files"] if item["isdir"])]:
            if object_path(md5) not in files:
                raise RecordError(
                    f"{MANIFEST}: data[{i}]: says included, but object {md5} is not among "
                    "the record's files"
                )
    ids = {r["run_id"] for r in manifest["runs"]}
    if ids and manifest["run"]["run_id"] not in ids:
        raise RecordError(
            f"{MANIFEST}: runs: the recorded run {manifest['run']['run_id']} is not among them"
        )
