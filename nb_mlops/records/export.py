"""Exporting a run as a record: one zip, an RO-Crate, that another machine can replay.

What goes in (see record.py for the paths): the cells that led to the run, tracked or not, in
the order the kernel ran them (its execution history), as a notebook; every run those cells
made, with params, metrics, artifacts by hash and registered models with their fingerprints
and fitted arrays (`.npz`); seeds and thread settings; the environment as a requirements
lock; the git commit and the dirty diff; the data the runs read, by hash (and the objects
themselves with `with_data`); the run's captured output. No secret goes in: the store keeps
sources, params and outputs redacted already, and every text is redacted again here (DESIGN.md
§3); the names whose values were redacted are listed, so a replay can ask for them.

Speed: files are streamed into the zip, never read whole, and stored as they are: data
objects and `.npz` arrays are mostly compressed formats or binary numbers, and deflating even
text runs at 10 to 50 MB/s here, ten times slower than copying (benchmarks/README.md); only
the record's own texts (record.json, the notebook, the lock, outputs) are deflated. The sha256
of each file and of the zip itself are computed while the bytes are written, in a helper
thread (hashlib lets go of the GIL), so a record costs little more than zipping its files.
Data objects are not checked against their md5 again here: the reproducer checks each one
by its name before using it, and `nb-mlops scrub` is the place to find damage in the cache.

The zip is written to a temporary file beside its destination and renamed into place at the
end, so an export that fails leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from nb_mlops._version import __version__
from nb_mlops.clock import utcnow
from nb_mlops.errors import NbMlopsError, StoreError
from nb_mlops.records.record import (
    CRATE_METADATA,
    FORMAT,
    GIT_DIFF,
    KIND,
    MANIFEST,
    NOTEBOOK,
    REQUIREMENTS,
    RecordError,
    object_path,
    output_path,
    params_path,
    safe_segment,
)
from nb_mlops.redact import (
    REDACTED,
    is_secret_name,
    redact_mapping,
    redact_source,
    redact_strings,
    redact_text,
)
from nb_mlops.results import Result
from nb_mlops.store.pack import read_run_output
from nb_mlops.store.workspace import Workspace

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
GIT_TIMEOUT_S = 20.0
MAX_DIFF_BYTES = 16 << 20
"""A dirty diff larger than this is left out (with a note): it is no longer a patch to review."""
_CHUNK = 1 << 20
_SMALL = 1 << 20
"""Files up to this size are read whole and hashed at once; larger ones are streamed."""
_TEXT = "text/plain"
_JSON = "application/json"


@dataclass(repr=False)
class ExportResult(Result):
    """A written record: where, how big, its sha256, its files, and what was left out and why."""

    path: Path
    size: int
    sha256: str
    files: dict[str, dict[str, Any]]
    left_out: list[str]
    run_id: str
    run_name: str
    with_data: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "sha256": self.sha256,
            "run_id": self.run_id,
            "run_name": self.run_name,
            "with_data": self.with_data,
            "seconds": round(self.seconds, 3),
            "files": self.files,
            "left_out": list(self.left_out),
        }

    def to_text(self) -> str:
        from nb_mlops.text import human_bytes, plural

        lines = [
            f"exported run {self.run_name} ({self.run_id}) to {self.path}: "
            f"{plural(len(self.files), 'file')}, {human_bytes(self.size)}, "
            f"sha256 {self.sha256[:16]}…"
        ]
        lines += [f"  left out: {item}" for item in self.left_out]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- secrets
_NAME_BEFORE = re.compile(
    r"(?:(?:(?<![\w.\-/])(?P<name>[A-Za-z_][\w.\-]*)"
    r"|(?P<q>[\"'])(?P<qname>[^\"'\n]{1,100})(?P=q)\]?)"
    r"[ \t]*(?:(?::[ \t]*[A-Za-z_][\w.\[\], |]*?[ \t]*)?=|==|!=|:=|=>|:|,)[ \t]*"
    r"|(?P<flag>--[A-Za-z][\w\-]*)(?:[ \t]*=[ \t]*|[ \t]+))"
    r"(?:[rRbBuUfF]{0,2}[\"'])?$"
)
"""A name (`api_key = "`, `api_key: str = "`, `f(api_key="`), a quoted name (`{"api_key": "`,
`environ["HF_TOKEN"] = "`) or a flag (`--token `) right before a redacted value."""


def secret_names(source: str) -> tuple[list[str], int]:
    """The names whose values were redacted in a (redacted) cell source, in order of
    appearance (`api_key = "[REDACTED]"` -> `api_key`, `os.environ["HF_TOKEN"] = ...` ->
    `HF_TOKEN`, `--token [REDACTED]` -> `token`), and how many redacted values no secret name
    introduces (a token in a plain string: a replay cannot fill those in)."""
    names: list[str] = []
    unnamed = 0
    start = 0
    while (at := source.find(REDACTED, start)) >= 0:
        start = at + len(REDACTED)
        line_start = source.rfind("\n", 0, at) + 1
        found = _NAME_BEFORE.search(source[line_start:at][-300:])
        name = None
        if found and found.group("qname"):
            name = found.group("qname")
        elif found and found.group("flag"):
            name = found.group("flag").lstrip("-")
        elif found:
            name = found.group("name").rsplit(".", 1)[-1]  # self.api_key -> api_key
        if name and is_secret_name(name):
            if name not in names:
                names.append(name)
        else:
            unnamed += 1
    return names, unnamed


# ------------------------------------------------------------------------------ gathering
@dataclass
class _Entry:
    """One file to put in the zip: its bytes, or a file on disk, or a spooled temp file."""

    path: str
    encoding: str
    description: str
    data: bytes | None = None
    source: Path | None = None
    spool: IO[bytes] | None = None
    size: int = 0


@dataclass
class _Plan:
    manifest: dict[str, Any]
    entries: list[_Entry] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def export_record(
    ws: Workspace,
    run: Any,
    out: str | os.PathLike | None = None,
    *,
    with_data: bool = False,
) -> ExportResult:
    """Write run `run` (a RUN argument: id, unique id prefix or name; or a run handle) of store
    `ws` as a record zip at `out` (a .zip path, or a folder to put `<run name>.zip` in; default:
    `<run name>.zip` in the current folder). `with_data` puts the data objects the runs read in
    the record too. Refuses an unknown run and one still running."""
    t0 = time.perf_counter()
    doc = _run_doc(ws, run)
    if doc.get("status") == "running":
        raise RecordError(
            f"run {doc.get('name')} ({doc['run_id']}) is still running; export it once it ended"
        )
    dest = _destination(doc, out)
    plan = _Plan(manifest={})
    try:
        _plan(ws, doc, with_data, plan)
        size, sha, files = _write_zip(dest, plan)
    finally:
        for entry in plan.entries:
            if entry.spool is not None:
                entry.spool.close()
    return ExportResult(
        path=dest,
        size=size,
        sha256=sha,
        files=files,
        left_out=plan.left_out,
        run_id=doc["run_id"],
        run_name=plan.manifest["run"]["name"],
        with_data=with_data,
        seconds=time.perf_counter() - t0,
    )


def _run_doc(ws: Workspace, run: Any) -> dict[str, Any]:
    from nb_mlops.tracking.query import resolve_run

    if isinstance(run, str):
        return dict(resolve_run(ws, run))
    run_id = getattr(run, "run_id", None)
    if not isinstance(run_id, str):
        raise RecordError(
            f"a run is named by its id or name, or is a Run; got {type(run).__name__}"
        )
    return dict(resolve_run(ws, run_id))


def _destination(doc: Mapping[str, Any], out: str | os.PathLike | None) -> Path:
    name = f"{safe_segment(redact_text(doc.get('name') or ''), doc['run_id'])}.zip"
    if out is None:
        return Path.cwd() / name
    text = os.fspath(out)
    path = Path(text).expanduser()
    if path.is_dir():
        return path / name
    if text.endswith((os.sep, "/")) or not path.parent.is_dir():
        folder = path if text.endswith((os.sep, "/")) else path.parent
        raise RecordError(f"no such folder to export the record into: {folder}")
    return path


def _plan(ws: Workspace, doc: dict[str, Any], with_data: bool, plan: _Plan) -> None:
    """Gather what the record holds: `plan.entries` (the files) and `plan.manifest`."""
    from nb_mlops.records.hidden import hidden_state
    from nb_mlops.tracking.history import lead_up

    pointer = doc.get("history") or None
    cells = lead_up(ws, pointer)
    runs = _recorded_runs(ws, doc, pointer)
    name = redact_text(doc.get("name") or doc["run_id"])
    entries = plan.entries
    left = plan.left_out

    notebook, nb_cells, found_secrets = _notebook(doc, cells, left)
    findings = [f.to_dict() for f in hidden_state(nb_cells)]
    entries.append(
        _Entry(
            NOTEBOOK,
            "application/x-ipynb+json",
            "the cells that led to the run, in the order the kernel ran them",
            data=notebook,
        )
    )

    env_doc = _environment_doc(ws, doc, left)
    packages = redact_strings(dict(env_doc.get("packages") or {}))
    lock = "".join(f"{k}=={v}\n" for k, v in sorted(packages.items(), key=lambda kv: kv[0].lower()))
    entries.append(
        _Entry(REQUIREMENTS, _TEXT, "the packages installed when the run ran", data=lock.encode())
    )

    git = _git(ws, doc, entries, left)
    for stream in ("stdout", "stderr"):
        try:
            text = read_run_output(ws, doc, stream)
        except StoreError as exc:
            left.append(f"the run's {stream}: cannot be read ({exc})")
            continue
        if text is None:
            continue
        entries.append(
            _Entry(
                output_path(name, doc["run_id"], stream),
                _TEXT,
                f"what run {name} printed to {stream}",
                data=redact_text(text).encode("utf-8"),
            )
        )

    runs_part, artifacts, models = [], [], []
    for run_doc in runs:
        made = _run_made(ws, run_doc, entries, left, artifacts, models)
        runs_part.append(made)
    data = _data(ws, runs, with_data, entries, left)
    system = redact_strings(dict(env_doc.get("system") or {}))
    env = doc.get("env") or {}
    variables = env.get("vars") or {}
    seeds = dict(doc.get("seeds") or {})
    seed = seeds.get("random")
    plan.manifest = {
        "format": FORMAT,
        "kind": KIND,
        "written_by": __version__,
        "created": utcnow(),
        "run": _run_part(doc, runs),
        "runs": runs_part,
        "determinism": {
            "PYTHONHASHSEED": variables.get("PYTHONHASHSEED"),
            "threads": {k: variables.get(k) for k in THREAD_VARS},
            "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            "seeds": seeds,
        },
        "environment": {
            "python": system.get("python") or env.get("python"),
            "implementation": system.get("implementation"),
            "platform": system.get("platform") or env.get("platform"),
            "machine": system.get("machine"),
            "packages": packages,
        },
        "git": git,
        "data": data,
        "artifacts": artifacts,
        "models": models,
        "cells": {
            "notebook": NOTEBOOK,
            "count": len(nb_cells),
            "session": (pointer or {}).get("session"),
            "hidden_state": findings,
        },
        "secrets": found_secrets,
        "files": {},
        "left_out": left,
    }


def _recorded_runs(
    ws: Workspace, doc: dict[str, Any], pointer: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The runs the recorded cells made (same session, at or before the run's cell), and their
    child runs, oldest first; just the run and its children when it has no history."""
    from nb_mlops.tracking.query import all_runs

    docs = all_runs(ws)
    chosen = {doc["run_id"]: doc}
    if pointer:
        for other in docs.values():
            h = other.get("history") or {}
            if h.get("session") == pointer.get("session") and h.get("index", 0) <= pointer.get(
                "index", 0
            ):
                chosen[other["run_id"]] = other
    grew = True
    while grew:
        grew = False
        for other in docs.values():
            if other.get("parent") in chosen and other["run_id"] not in chosen:
                chosen[other["run_id"]] = other
                grew = True
    return sorted(chosen.values(), key=lambda d: (d.get("start") or "", d["run_id"]))


def _metrics(doc: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in (doc.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[redact_text(str(key))] = value
    return out


def _run_part(doc: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    children = [
        {
            "run_id": d["run_id"],
            "name": redact_text(d.get("name") or ""),
            "params": redact_mapping(d.get("params") or {}),
            "metrics": _metrics(d),
        }
        for d in runs
        if d.get("parent") == doc["run_id"]
    ]
    return {
        "run_id": doc["run_id"],
        "name": redact_text(doc.get("name") or doc["run_id"]),
        "experiment": redact_text(doc.get("experiment") or ""),
        "status": doc.get("status") or "",
        "start": doc.get("start"),
        "end": doc.get("end"),
        "parent": doc.get("parent"),
        "params": redact_mapping(doc.get("params") or {}),
        "metrics": _metrics(doc),
        "tags": redact_mapping(doc.get("tags") or {}),
        "seeds": dict(doc.get("seeds") or {}),
        "children": children,
    }


# ------------------------------------------------------------------------------ the notebook
def _notebook(
    doc: dict[str, Any], cells: list[dict[str, Any]], left: list[str]
) -> tuple[bytes, list[dict[str, Any]], list[str]]:
    """The recorded cells as an nbformat 4.5 notebook (bytes), its cells, the secret names."""
    sources = []
    for cell in cells:
        meta = {
            "execution_count": cell.get("n"),
            "code_hash": cell.get("hash"),
            "status": cell.get("status"),
            "index": cell.get("i"),
        }
        sources.append((redact_source(str(cell.get("source") or "")), meta))
    if not cells:
        script = _script_source(doc)
        if script is not None:
            sources.append(
                (
                    script,
                    {"execution_count": None, "code_hash": None, "status": "script", "index": None},
                )
            )
        elif doc.get("history"):
            session = doc["history"].get("session")
            left.append(
                f"cells: the history of session {session} is no longer in the store, so the "
                "notebook is empty"
            )
        else:
            left.append(
                "cells: the run has no execution history (it was not started in a kernel "
                "with `%load_ext nb_mlops`), so the notebook is empty"
            )
    if cells and not sources[0][0].lstrip().startswith("%load_ext nb_mlops"):
        # the history starts after `%load_ext nb_mlops` ran: a replay needs it first
        added = {"execution_count": None, "code_hash": None, "status": "added", "index": None}
        sources.insert(0, ("%load_ext nb_mlops", added))
    names: list[str] = []
    for i, (source, _) in enumerate(sources, 1):
        found, unnamed = secret_names(source)
        names += [n for n in found if n not in names]
        if unnamed:
            left.append(
                f"cell {i}: {unnamed} secret value(s) were redacted where no name says what "
                "they are (a token in a plain string); a replay cannot fill them in"
            )
    nb_cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"nbmlops-{i}",
            "metadata": {"nbmlops": meta},
            "outputs": [],
            "source": source.splitlines(keepends=True),
        }
        for i, (source, meta) in enumerate(sources, 1)
    ]
    env = doc.get("env") or {}
    notebook = {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": env.get("python") or ""},
            "nbmlops": {
                "run_id": doc["run_id"],
                "run": redact_text(doc.get("name") or ""),
                "session": (doc.get("history") or {}).get("session"),
            },
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    return text.encode("utf-8"), nb_cells, names


def _script_source(doc: dict[str, Any]) -> str | None:
    """A script run's file, redacted, when it is still the file the run ran (same md5)."""
    src = doc.get("source") or {}
    if src.get("kind") != "script" or not src.get("file"):
        return None
    try:
        data = Path(src["file"]).read_bytes()
    except OSError:
        return None
    if hashlib.md5(data).hexdigest() != src.get("code_hash"):
        return None
    return redact_source(data.decode("utf-8", errors="replace"))


# ------------------------------------------------------------------- environment and git
def _environment_doc(ws: Workspace, doc: dict[str, Any], left: list[str]) -> dict[str, Any]:
    ref = (doc.get("env") or {}).get("packages")
    if not ref:
        left.append("environment: the run recorded no package list")
        return {}
    try:
        env = json.loads(ws.objects.read_bytes(ref))
    except (NbMlopsError, ValueError) as exc:
        left.append(f"environment: the package list cannot be read ({exc})")
        return {}
    return env if isinstance(env, dict) else {}


def _git(
    ws: Workspace, doc: dict[str, Any], entries: list[_Entry], left: list[str]
) -> dict[str, Any] | None:
    git = (doc.get("env") or {}).get("git")
    if not isinstance(git, dict):
        return None
    commit, dirty = git.get("commit"), git.get("dirty")
    part = {
        "commit": commit,
        "branch": redact_text(git.get("branch")) if git.get("branch") else None,
        "dirty": dirty if isinstance(dirty, bool) else None,
        "diff": None,
    }
    if dirty is False or not isinstance(commit, str):
        return part
    if not re.fullmatch(r"[0-9a-f]{7,64}", commit):  # never an option or a range for git
        left.append(f"git diff: the run's commit {commit[:40]!r} is not a commit hash")
        return part
    diff = _git_diff(ws.root, commit, left)
    if diff:
        entries.append(
            _Entry(
                GIT_DIFF,
                "text/x-diff",
                f"`git diff {commit[:12]}` of the working tree at export time, secrets redacted",
                data=redact_text(diff).encode("utf-8"),
            )
        )
        part["diff"] = GIT_DIFF
    return part


def _git_diff(root: Path, commit: str, left: list[str]) -> str | None:
    git = shutil.which("git")
    if git is None:
        left.append("git diff: git is not installed here")
        return None
    try:
        out = subprocess.run(
            [git, "diff", "--no-color", "--no-ext-diff", commit, "--"],
            cwd=root,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        left.append(f"git diff: no answer within {GIT_TIMEOUT_S:.0f} s")
        return None
    except OSError as exc:
        left.append(f"git diff: cannot run git ({exc.strerror or exc})")
        return None
    if out.returncode != 0:
        said = out.stderr.decode("utf-8", "replace").strip().splitlines()
        left.append(f"git diff: {redact_text(said[0]) if said else 'git failed'}")
        return None
    if len(out.stdout) > MAX_DIFF_BYTES:
        left.append(f"git diff: {len(out.stdout)} bytes, more than {MAX_DIFF_BYTES >> 20} MiB")
        return None
    return out.stdout.decode("utf-8", errors="replace") or None


# -------------------------------------------------------------------- runs, artifacts, models
def _run_made(
    ws: Workspace,
    doc: dict[str, Any],
    entries: list[_Entry],
    left: list[str],
    artifacts: list[dict[str, Any]],
    models: list[dict[str, Any]],
) -> dict[str, Any]:
    """One run the cells made, as `runs[]` lists it; its artifacts and models are appended to
    the record's own lists (and each model's fitted arrays to the entries)."""
    name = redact_text(doc.get("name") or doc["run_id"])
    arts = []
    for art in doc.get("artifacts") or ():
        md5 = art.get("md5")
        if not isinstance(md5, str):
            continue
        item = {
            "name": redact_text(str(art.get("name") or md5)),
            "md5": md5,
            "sha256": _object_sha256(ws, md5, left, f"artifact {art.get('name')} of run {name}"),
            "size": art.get("size"),
        }
        arts.append(item)
        artifacts.append({"run": name, **item})
    made = []
    for version in _model_versions(ws, doc, left):
        label = f"model {version['name']} v{version['version']}"
        arrays_path = _model_params(ws, version, entries, left, label, name)
        made.append(
            {
                "name": version["name"],
                "version": version["version"],
                "fingerprint": version.get("fingerprint"),
            }
        )
        models.append(
            {
                "run": name,
                "name": version["name"],
                "version": version["version"],
                "flavor": version.get("flavor") or "",
                "fingerprint": version.get("fingerprint") or "",
                "params": arrays_path,
            }
        )
    hist = doc.get("history") or {}
    return {
        "run_id": doc["run_id"],
        "name": name,
        "status": doc.get("status") or "",
        "parent": doc.get("parent"),
        "cell": hist.get("index"),
        "params": redact_mapping(doc.get("params") or {}),
        "metrics": _metrics(doc),
        "artifacts": arts,
        "models": made,
    }


def _object_sha256(ws: Workspace, md5: str, left: list[str], what: str) -> str | None:
    """sha256 of an object's bytes (of its listing, for a folder), or None when it is gone."""
    try:
        path = ws.objects.path_of(md5)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
    except (OSError, NbMlopsError):
        left.append(f"{what}: its object {md5} is not in the local cache (sha256 unknown)")
        return None


def _model_versions(ws: Workspace, doc: dict[str, Any], left: list[str]) -> list[dict[str, Any]]:
    """The registered versions the run made: its own list, and versions naming it as their run."""
    from nb_mlops.registry.versions import VERSIONS, version_id

    found: dict[tuple[str, int], dict[str, Any]] = {}
    for ref in doc.get("models") or ():
        key = (ref.get("name"), ref.get("version"))
        version = ws.catalog.get(VERSIONS, version_id(*key))
        if version is None:
            left.append(f"model {key[0]} v{key[1]}: deleted from the registry since the run")
            continue
        found[key] = version
    for version in ws.catalog.find(VERSIONS, "run_id", doc["run_id"]):
        found.setdefault((version["name"], version["version"]), version)
    return [found[k] for k in sorted(found, key=lambda k: (str(k[0]), k[1]))]


def _model_params(
    ws: Workspace,
    version: dict[str, Any],
    entries: list[_Entry],
    left: list[str],
    label: str,
    run_name: str,
) -> str | None:
    """Write a version's fitted arrays to a spooled .npz entry; its zip path, or None."""
    from nb_mlops.records.params import fitted_arrays, write_npz
    from nb_mlops.registry import flavors
    from nb_mlops.registry.load import load_version

    try:
        unpickles = flavors.unpickles(version.get("flavor", ""), version["artifact"].get("file"))
    except (flavors.FlavorError, KeyError, TypeError):
        unpickles = True
    origin = (version.get("origin") or {}).get("kind", "local")
    if unpickles and origin != "local":
        left.append(
            f"{label}: imported from elsewhere; its file is not unpickled to export its arrays"
        )
        return None
    try:
        model = load_version(ws, version, trust=origin == "local")
        arrays = fitted_arrays(model)
    except Exception as exc:  # a model that no longer loads here: the record says so
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        left.append(f"{label}: its fitted arrays cannot be read ({redact_text(first)})")
        return None
    if not arrays:
        left.append(
            f"{label}: no parameter arrays for flavor {version.get('flavor')} "
            "(its fingerprint is still compared)"
        )
        return None
    # closed by export_record once the zip is written (the entry owns it until then)
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
    try:
        write_npz(arrays, spool)
    except Exception as exc:
        spool.close()
        left.append(f"{label}: its arrays cannot be written as .npz ({type(exc).__name__})")
        return None
    path = params_path(version["name"], version["version"])
    size = spool.tell()
    spool.seek(0)
    entries.append(
        _Entry(
            path,
            "application/x-npz",
            f"the fitted arrays of {label} (run "
            f"{run_name}), readable with numpy.load(allow_pickle=False)",
            spool=spool,
            size=size,
        )
    )
    return path


# ----------------------------------------------------------------------------------- data
def _data(
    ws: Workspace,
    runs: list[dict[str, Any]],
    with_data: bool,
    entries: list[_Entry],
    left: list[str],
) -> list[dict[str, Any]]:
    """Every data version the runs read, by hash; with `with_data`, the objects as entries."""
    seen: set[tuple[str, str]] = set()
    items = []
    shipped: set[str] = set()
    for run_doc in runs:
        for item in run_doc.get("data") or ():
            path, md5 = item.get("path"), item.get("md5")
            if not isinstance(path, str) or not isinstance(md5, str) or (path, md5) in seen:
                continue
            seen.add((path, md5))
            label = f"data {path} v{item.get('version')}"
            isdir = md5.endswith(".dir")
            files, missing = _data_files(ws, path, md5, isdir, left, label)
            included = False
            if with_data and not missing:
                for obj in ([md5] if isdir else []) + [f["md5"] for f in files]:
                    if obj not in shipped:
                        shipped.add(obj)
                        entries.append(_object_entry(ws, obj, path))
                included = True
            elif with_data:
                left.append(
                    f"{label}: {missing} object(s) missing from the local cache, so "
                    "the data is not included (pull it first)"
                )
            items.append(
                {
                    "path": redact_text(path),
                    "version": item.get("version"),
                    "md5": md5,
                    "isdir": isdir,
                    "files": files,
                    "included": included,
                }
            )
    if items and not with_data:
        total = sum(f["size"] or 0 for item in items for f in item["files"])
        from nb_mlops.text import human_bytes

        left.append(
            f"data objects ({len(items)} version(s), {human_bytes(total)}): listed by "
            "hash only; export with --with-data to include them"
        )
    return items


def _data_files(
    ws: Workspace, path: str, md5: str, isdir: bool, left: list[str], label: str
) -> tuple[list[dict[str, Any]], int]:
    """The files of a data version ({relpath, md5, size}) and how many objects are missing."""
    if isdir:
        try:
            listing = ws.objects.listing(md5)
        except NbMlopsError as exc:
            left.append(f"{label}: its folder listing cannot be read ({exc})")
            return [], 1
        pairs = [(e["relpath"], e["md5"]) for e in listing]
    else:
        pairs = [(PurePosixPath(path).name, md5)]
    files, missing = [], 0
    for relpath, obj in pairs:
        try:
            size: int | None = os.stat(ws.objects.path_of(obj)).st_size
        except OSError:
            size, missing = None, missing + 1
        files.append({"relpath": redact_text(relpath), "md5": obj, "size": size})
    return files, missing


def _object_entry(ws: Workspace, md5: str, dataset: str) -> _Entry:
    source = Path(ws.objects.path_of(md5))
    size = source.stat().st_size
    what = "folder listing" if md5.endswith(".dir") else "file"
    return _Entry(
        object_path(md5),
        _JSON if md5.endswith(".dir") else "application/octet-stream",
        f"a {what} of data {redact_text(dataset)}, named by its md5 (DVC 3 cache)",
        source=source,
        size=size,
    )


# ------------------------------------------------------------------------------- writing
class _Hasher:
    """A helper thread that runs hash updates in the order they are given (hashlib releases
    the GIL on large buffers, so hashing overlaps reading and writing). The queue is bounded:
    at most 16 chunks wait, so memory stays small whatever the file sizes."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[Callable[[Any], Any], Any] | None] = queue.Queue(16)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="nb-mlops-export-hash", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    item[0](item[1])
            except BaseException as exc:  # kept and raised by wait()
                self.error = exc
            finally:
                self.queue.task_done()

    def put(self, fn: Callable[[Any], Any], arg: Any) -> None:
        self.queue.put((fn, arg))

    def wait(self) -> None:
        """Block until every update given so far is done."""
        self.queue.join()
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join()


class _Sink:
    """What the zip is written to: the temp file, with the zip's sha256 computed on the way.

    It can tell but not seek, so `zipfile` writes each member's sizes and CRC after its data
    (a data descriptor) instead of going back: the bytes leave in order, once."""

    def __init__(self, fh: IO[bytes], hasher: _Hasher) -> None:
        self.fh = fh
        self.hasher = hasher
        self.sha = hashlib.sha256()
        self.pos = 0
        self.buf = bytearray()

    def write(self, data: Any) -> int:
        n = len(data)
        self.pos += n
        if n >= 1 << 16:
            self._drain()
            chunk = data if isinstance(data, bytes) else bytes(data)
            self.hasher.put(self.sha.update, chunk)
            self.fh.write(chunk)
        else:
            self.buf += data
            if len(self.buf) >= _CHUNK:
                self._drain()
        return n

    def _drain(self) -> None:
        if self.buf:
            chunk = bytes(self.buf)
            self.buf.clear()
            self.hasher.put(self.sha.update, chunk)
            self.fh.write(chunk)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        self._drain()
        self.fh.flush()


def _write_zip(dest: Path, plan: _Plan) -> tuple[int, str, dict[str, dict[str, Any]]]:
    """Write the plan's files, then record.json and the crate metadata, to a temp file beside
    `dest`, renamed to `dest` when whole; (size, sha256, files)."""
    tmp = dest.with_name(f".{dest.name}.tmp-{secrets.token_hex(4)}")
    hasher, zip_hasher = _Hasher(), _Hasher()  # files' sha256, and the zip's: one thread each
    stamp = time.localtime()[:6]
    digests: dict[str, Any] = {}
    described: list[tuple[str, int, str, str]] = []
    try:
        with open(tmp, "xb") as fh:
            sink = _Sink(fh, zip_hasher)
            with zipfile.ZipFile(sink, "w", allowZip64=True) as zf:
                for entry in plan.entries:
                    _write_entry(zf, entry, stamp, hasher, digests)
                    described.append((entry.path, entry.size, entry.encoding, entry.description))
                hasher.wait()
                files = {
                    path: {"sha256": _digest(digests[path]), "size": size}
                    for path, size, _, _ in described
                }
                plan.manifest["files"] = files
                manifest = json.dumps(plan.manifest, indent=1, ensure_ascii=False).encode()
                manifest_entry = _Entry(
                    MANIFEST, _JSON, "the record's manifest (nb-mlops)", data=manifest
                )
                _write_entry(zf, manifest_entry, stamp, hasher, digests)
                described.append((MANIFEST, len(manifest), _JSON, manifest_entry.description))
                crate = _crate_bytes(plan, described, digests)
                _write_entry(
                    zf,
                    _Entry(CRATE_METADATA, "application/ld+json", "", data=crate),
                    stamp,
                    hasher,
                    digests,
                )
            sink.flush()
            hasher.wait()
            zip_hasher.wait()
        os.replace(tmp, dest)
    except OSError as exc:
        _discard(tmp)
        raise RecordError(f"cannot write the record {dest}: {exc.strerror or exc}") from None
    except BaseException:
        _discard(tmp)
        raise
    finally:
        hasher.stop()
        zip_hasher.stop()
    out = {p: {"sha256": _digest(digests[p]), "size": s} for p, s, _, _ in described}
    out[CRATE_METADATA] = {"sha256": _digest(digests[CRATE_METADATA]), "size": len(crate)}
    return sink.pos, sink.sha.hexdigest(), out


def _crate_bytes(
    plan: _Plan, described: list[tuple[str, int, str, str]], digests: dict[str, Any]
) -> bytes:
    from nb_mlops.records.crate import CrateFile, crate_metadata

    run = plan.manifest["run"]
    files = [CrateFile(p, _digest(digests[p]), s, enc, text) for p, s, enc, text in described]
    return crate_metadata(
        f"nb-mlops run record: {run['name']}",
        files,
        description=f"Run {run['name']} ({run['run_id']}), exported by nb-mlops {__version__}: "
        "the cells that made it, its environment, data by hash, models and metrics.",
    )


def _digest(value: Any) -> str:
    return value if isinstance(value, str) else value.hexdigest()


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _write_entry(
    zf: zipfile.ZipFile,
    entry: _Entry,
    stamp: tuple[int, ...],
    hasher: _Hasher,
    digests: dict[str, Any],
) -> None:
    """One member. The record's own texts are deflated; files (data objects, .npz) are stored
    as they are: small ones read whole and hashed here, large ones streamed in 1 MiB chunks
    with their sha256 computed by the helper thread."""
    info = zipfile.ZipInfo(entry.path, date_time=stamp)  # type: ignore[arg-type]
    info.external_attr = 0o644 << 16
    if entry.data is not None:
        data = entry.data
        info.compress_type = zipfile.ZIP_DEFLATED if len(data) >= 512 else zipfile.ZIP_STORED
    else:
        src = entry.spool if entry.spool is not None else open(entry.source, "rb", buffering=0)  # noqa: SIM115
        info.compress_type = zipfile.ZIP_STORED
        try:
            if entry.size > _SMALL:
                info.file_size = entry.size
                digest = hashlib.sha256()
                digests[entry.path] = digest
                written = 0
                with zf.open(info, "w") as member:
                    while chunk := src.read(_CHUNK):
                        hasher.put(digest.update, chunk)
                        member.write(chunk)
                        written += len(chunk)
                entry.size = written
                return
            data = src.read()
        finally:
            if entry.spool is None:
                src.close()
    entry.size = info.file_size = len(data)
    digests[entry.path] = hashlib.sha256(data).hexdigest()
    with zf.open(info, "w") as member:
        member.write(data)
