"""Reproducing a record: unpack it, restore its data, run its cells in a fresh kernel, judge.

`reproduce` works in a work folder of its own (new or empty, and kept afterwards so the
replay can be looked at; by default a temporary folder, removed once the verdict is kept):

    <workdir>/                  the kernel's cwd and the replay's workspace root: data lands
                                here at the paths the record gives
    <workdir>/.nbmlops/         the replay's own store (NB_MLOPS_HOME in the kernel)
    <workdir>/.replay/record/   the record, unpacked and verified (unpack.py)
    <workdir>/.replay/kernels/  the kernel spec the replay runs (this Python, or the venv's)
    <workdir>/.replay/venv/     with env=True: a virtual environment built from the lock
    <workdir>/.replay/params/   the replay's models' fitted arrays, written by its kernel
    <workdir>/.replay/executed.ipynb   the notebook as replayed (secrets redacted again)

Before any recorded code runs: the record is checked whole (unpack.py), every secret the
record redacted must be given as NB_MLOPS_SECRET_<NAME>, the data inputs are restored by hash
(from the record, this store's cache or a remote) and checked against the record, and the user
confirms (`yes=True`, or `confirm(summary)` returning True). Building the venv runs pip, which
runs code too, so it also waits for the confirmation.

The kernel runs with NB_MLOPS_REPLAY=1, which turns off deploy hooks and push (hooks.py,
sync.py), with PYTHONHASHSEED and thread counts as recorded. The replay's models are read
back inside that kernel, never in this process: what is compared here are plain arrays
(params.read_npz), fingerprints and hashes. The verdict is kept in the invoking store as a run
named `reproduce-<run name>`, tagged with the run (or record) it reproduces.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_mlops.errors import NbMlopsError, RemoteError, StoreError
from nb_mlops.records.record import (
    DATA_OBJECTS_DIR,
    MANIFEST,
    NOTEBOOK,
    REQUIREMENTS,
    RecordError,
    params_path,
    read_manifest,
)
from nb_mlops.records.unpack import DEFAULT_MAX_BYTES, unpack
from nb_mlops.records.verdict import Verdict, compare, model_keys, recorded_outputs
from nb_mlops.redact import REDACTED, redact_text
from nb_mlops.store.workspace import STORE_DIRNAME, Workspace, open_workspace

REPLAY_ENV = "NB_MLOPS_REPLAY"
"""Set to 1 in a replay's kernel: deploy hooks and push stay off (see hooks.py and sync.py)."""
SECRET_PREFIX = "NB_MLOPS_SECRET_"
REPLAY_DIR = ".replay"
KERNEL_NAME = "nbmlops-replay"
DEFAULT_TIMEOUT_S = 3600
"""Seconds one cell may run in a replay before it is interrupted."""
PIP_TIMEOUT_S = 3600
ENV_LINES = 40
"""At most this many environment differences are listed; the rest are counted."""
_REQUIREMENT = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)")
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_OUR_NAMES = {"nb-mlops"}
_RESERVED = {STORE_DIRNAME, REPLAY_DIR, ".git", ".dvc"}
_FAILED = ("error", "interrupted")
"""Statuses of a recorded cell that did not run to its end (see tracking/history.py)."""


class Replay:
    """The folders of one replay (see the module notes)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.home = workdir / STORE_DIRNAME
        base = workdir / REPLAY_DIR
        self.record = base / "record"
        self.kernels = base / "kernels"
        self.venv = base / "venv"
        self.source = base / "nbmlops-src"
        self.params = base / "params"
        self.executed = base / "executed.ipynb"
        self.kernel_log = base / "kernel.log"
        self.started = False  # set once the record's code is about to run
        self.keep = True  # False for a temporary folder, removed once the verdict is kept


def reproduce(
    ws: Workspace,
    record: str | os.PathLike | Any,
    *,
    workdir: str | os.PathLike | None = None,
    env: bool = False,
    remote: str | None = None,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    rtol_params: float = 1e-6,
    rtol_metrics: float = 1e-3,
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Verdict:
    """Replay `record` (a zip written by export, or export's result) and return the verdict,
    kept in `ws` as a run.

    `workdir`: where to unpack and run (new or empty, kept; default a temporary folder). `env`:
    run the kernel in a virtual environment built from the recorded lock. `remote`: a remote
    name or URL to fetch data the record does not hold (this store's cache is tried first).
    Running the record's code needs `yes=True` or `confirm(summary) -> True`. `timeout`:
    seconds per cell. `max_bytes`: the most the record may unpack to.
    """
    if not yes and confirm is None:
        raise RecordError(
            "reproducing a record runs its code: pass yes=True (--yes) to run it without "
            "asking, or a confirm callable"
        )
    record_path = Path(getattr(record, "path", record))  # an ExportResult names its zip
    if not record_path.is_file():
        raise RecordError(f"no such record: {record_path}")
    work, made = _workdir(workdir)
    replay = Replay(work)
    replay.keep = workdir is not None
    options = Options(env, remote, yes, confirm, rtol_params, rtol_metrics, timeout, max_bytes)
    try:
        return _reproduce(ws, record_path, replay, options)
    except BaseException:
        if made and not replay.started:  # refused before anything ran: nothing to look at
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if not replay.keep:
            shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class Options:
    """How a replay runs and is judged (see `reproduce`)."""

    env: bool
    remote: str | None
    yes: bool
    confirm: Callable[[str], bool] | None
    rtol_params: float
    rtol_metrics: float
    timeout: float
    max_bytes: int


def _reproduce(ws: Workspace, record_path: Path, replay: Replay, opts: Options) -> Verdict:
    unpack(record_path, replay.record, max_bytes=opts.max_bytes)
    manifest_bytes = (replay.record / MANIFEST).read_bytes()
    manifest = read_manifest(manifest_bytes)
    notebook = _read_notebook(replay.record / manifest["cells"]["notebook"])
    values = secret_values(manifest["secrets"])
    replay_ws = open_workspace(replay.home)
    restored = restore_data(ws, replay_ws, manifest, replay.record, opts.remote)
    env_lines = [] if opts.env else environment_differences(manifest["environment"], current_env())
    requirements = read_requirements(replay.record / REQUIREMENTS) if opts.env else []
    summary = _summary(manifest, record_path, replay, restored, requirements, opts.env, env_lines)
    if not opts.yes and not (opts.confirm is not None and opts.confirm(summary)):
        raise RecordError(f"not reproduced: running {record_path.name} was not confirmed")
    replay.started = True
    python = Path(sys.executable)
    if opts.env:
        python = build_venv(replay, requirements)
        env_lines = environment_differences(manifest["environment"], current_env(python))
    outcome = execute(
        fill_secrets(notebook, manifest["secrets"], values),
        replay,
        python,
        kernel_env(manifest["determinism"], replay, python if opts.env else None),
        opts.timeout,
        lambda: _changed_models(replay_ws, manifest),
    )
    save_executed(outcome.notebook, notebook, values, replay.executed)
    replayed = summarize(replay_ws, manifest)
    replayed["failures"] = [hide_secrets(line, values) for line in outcome.failures]
    npz_rec, npz_rep, notes = _arrays(manifest, replayed, replay)
    verdict = compare(manifest, replayed, npz_rec, npz_rep, opts.rtol_params, opts.rtol_metrics)
    verdict.environment = env_lines
    verdict.notes = [*outcome.notes, *notes, *_repeated_data(manifest), *_hidden_notes(manifest)]
    if replay.keep:
        verdict.notes.append(f"replayed notebook: {replay.executed}")
        verdict.workdir = str(replay.workdir)
    else:
        verdict.notes.append(
            "the replay ran in a temporary folder, now removed (name a work folder to keep it)"
        )
    verdict.record = str(record_path)
    record_id = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
    verdict.verdict_run = keep_verdict(ws, verdict, manifest, record_path, record_id, opts.env)
    return verdict


def _workdir(workdir: str | os.PathLike | None) -> tuple[Path, bool]:
    """The work folder, made when new; whether it was made here. One holding anything is
    refused: the replay must start from nothing but the record."""
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="nbmlops-replay-")).resolve(), True
    work = Path(workdir).absolute()
    if work.is_symlink() or (work.exists() and not work.is_dir()):
        raise RecordError(f"work folder {work} is not a folder")
    if work.exists():
        if any(work.iterdir()):
            raise RecordError(f"work folder {work} is not empty; name a new or empty folder")
        return work, False
    try:
        work.mkdir(parents=True)
    except OSError as exc:
        raise RecordError(f"cannot make work folder {work}: {exc.strerror or exc}") from None
    return work, True


def _read_notebook(path: Path) -> Any:
    import nbformat

    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as exc:  # nbformat's own errors vary: not JSON, not a notebook
        first = " ".join(str(exc).split())[:160]
        raise RecordError(f"{NOTEBOOK} in the record is not a notebook: {first}") from None
    if any(cell.get("cell_type") not in ("code", "markdown", "raw") for cell in nb.cells):
        raise RecordError(f"{NOTEBOOK} in the record holds a cell of an unknown type")
    return nb


# ----------------------------------------------------------------------------- secrets
def secret_variable(name: str) -> str:
    """The environment variable that gives a redacted name's value: NB_MLOPS_SECRET_<NAME>
    (upper-cased, anything but letters and digits as `_`)."""
    return SECRET_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def secret_values(names: list[str]) -> dict[str, str]:
    """Each redacted name's value from the environment; a RecordError naming every variable
    that is missing (before anything runs)."""
    missing = [secret_variable(n) for n in names if secret_variable(n) not in os.environ]
    if missing:
        raise RecordError(
            f"the record's cells had {len(names)} secret(s) redacted; set "
            f"{', '.join(sorted(set(missing)))} to replay them"
        )
    return {n: os.environ[secret_variable(n)] for n in names}


_OPERATOR = r"\s*(?::\s*[A-Za-z_][\w.\[\], |]*?\s*)?(?:==|!=|:=|=>|=|:|,)\s*"


def _secret_pattern(name: str) -> re.Pattern[str]:
    """Where export found `name` before a redacted value (see export.secret_names): a name
    (`api_key = `, `self.api_key: str = `, `f(api_key=`), a quoted name (`{"api_key": `,
    `environ["api_key"] = `) or a flag (`--api_key `), then the placeholder, quoted or not."""
    n = re.escape(name)
    head = (
        rf"(?<![\w\-/]){n}{_OPERATOR}"
        rf"|[\"']{n}[\"']\]?{_OPERATOR}"
        rf"|(?<![\w-])--{n}(?:\s*=\s*|[ \t]+)"
    )
    value = rf"(?P<prefix>[rRbBuUfF]{{0,2}})(?P<q>[\"']){re.escape(REDACTED)}(?P=q)"
    return re.compile(rf"(?P<head>{head})(?:{value}|(?P<bare>{re.escape(REDACTED)}))")


def _filled(m: re.Match[str], value: str) -> str:
    """The placeholder replaced by `value` as a literal of the same kind: a Python string
    (bytes after a `b` prefix), or a shell word where it stood unquoted."""
    if m.group("bare") is not None:
        import shlex

        return m.group("head") + shlex.quote(value)
    if "b" in m.group("prefix").lower():
        return m.group("head") + repr(value.encode())
    return m.group("head") + repr(value)


def fill_secrets(nb: Any, names: list[str], values: Mapping[str, str]) -> Any:
    """A copy of `nb` whose cells give each secret its value where the record has the
    placeholder (`api_key = "[REDACTED]"` -> `api_key = '<value>'`)."""
    filled = copy.deepcopy(nb)
    patterns = [(_secret_pattern(n), values[n]) for n in names]
    for cell in filled.cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.source
        for pattern, value in patterns:
            source = pattern.sub(lambda m, v=value: _filled(m, v), source)
        cell.source = source
    return filled


def hide_secrets(text: str, values: Mapping[str, str]) -> str:
    """`text` with every given secret value, and whatever else redact.py recognises, replaced
    by the placeholder: what the replay shows or keeps never holds a secret it was given."""
    for value in sorted((v for v in values.values() if v), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return redact_text(text)


def save_executed(executed: Any, original: Any, values: Mapping[str, str], path: Path) -> None:
    """Write the replayed notebook with the record's (redacted) sources and no secret value in
    its outputs, for the user to read."""
    import nbformat

    nb = copy.deepcopy(executed)

    def clean(text: str) -> str:
        return hide_secrets(text, values)

    for cell, source in zip(nb.cells, original.cells, strict=False):
        cell.source = source.source
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = clean(output["text"])
            if "evalue" in output:
                output["evalue"] = clean(output["evalue"])
            if "traceback" in output:
                output["traceback"] = [clean(line) for line in output["traceback"]]
            for kind, value in list((output.get("data") or {}).items()):
                if isinstance(value, str):
                    output["data"][kind] = clean(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


# -------------------------------------------------------------------------------- data
def restore_data(
    ws: Workspace,
    replay_ws: Workspace,
    manifest: Mapping[str, Any],
    record_dir: Path,
    remote: str | None,
) -> list[str]:
    """Put each data input at its recorded path in the work folder, by hash: from the record,
    else this store's cache, else `remote` (or the default remote); every file is checked
    against the record's hashes on the way. Returns the paths restored."""
    items = list(manifest["data"])
    if not items:
        return []
    for item in items:
        if item["path"].split("/")[0] in _RESERVED:
            raise RecordError(f"{MANIFEST}: data path {item['path']!r} is a reserved folder")
    from nb_mlops.store.objects import ObjectStore

    inside = ObjectStore(record_dir / DATA_OBJECTS_DIR.split("/")[0], name="the record", home=False)
    wanted = [i for i in items if i["included"]]
    _fetch(inside, replay_ws, wanted)
    rest = [i for i in items if not replay_ws.objects.has(i["md5"])]
    if rest:
        _fetch(ws.objects, replay_ws, [i for i in rest if ws.objects.has(i["md5"])])
        rest = [i for i in rest if not replay_ws.objects.has(i["md5"])]
    if rest:
        source = _remote(ws, remote)
        if source is None:
            paths = ", ".join(i["path"] for i in rest)
            raise RecordError(
                f"data {paths} is not in the record nor in this store's cache: name a remote "
                "that holds it (--remote), or export the record with --with-data"
            )
        _fetch(source, replay_ws, rest)
    for item in items:
        _checkout(replay_ws, item)
    return [i["path"] for i in items]


def _remote(ws: Workspace, remote: str | None) -> Any:
    from nb_mlops.data.remote import get_remote, open_remote
    from nb_mlops.store.fsobjects import FsObjectDB

    if remote is None:
        try:
            get_remote(ws)
        except RemoteError:
            return None
        return open_remote(ws)
    if "/" in remote or ":" in remote or remote.startswith("."):
        return FsObjectDB(remote, remote, base=Path.cwd())
    return open_remote(ws, remote)


def _fetch(source: Any, replay_ws: Workspace, items: list[Mapping[str, Any]]) -> None:
    """Copy the objects of `items` into the replay's cache; each is hashed on the way."""
    if not items:
        return
    from nb_mlops.store.transfer import transfer

    try:
        transfer(source, replay_ws.objects, [i["md5"] for i in items], progress=False)
    except (RemoteError, StoreError) as exc:
        paths = ", ".join(i["path"] for i in items)
        raise RecordError(f"data {paths} could not be restored, nothing was run: {exc}") from None


def _checkout(replay_ws: Workspace, item: Mapping[str, Any]) -> None:
    """Check one input out into the work folder, refusing it when its files are not the ones
    the record lists (a changed data file is caught here, before anything runs)."""
    rel, md5 = item["path"], item["md5"]
    target = replay_ws.root.joinpath(*rel.split("/"))
    try:
        if md5.endswith(".dir"):
            listing = replay_ws.objects.listing(md5)
            got = {e["relpath"]: e["md5"] for e in listing}
            want = {f["relpath"]: f["md5"] for f in item["files"]}
            if item["files"] and got != want:
                changed = sorted(k for k in {*got, *want} if got.get(k) != want.get(k))
                raise RecordError(
                    f"data {rel}: file {rel}/{changed[0]} does not have the hash the record "
                    "gives; nothing was run"
                )
            replay_ws.objects.checkout_tree(md5, target)
        else:
            for entry in item["files"]:
                if entry["md5"] != md5:
                    raise RecordError(
                        f"data {rel}: the record lists md5 {entry['md5']} for it and also "
                        f"{md5}; nothing was run"
                    )
            replay_ws.objects.checkout_file(md5, target)
    except RecordError:
        raise
    except NbMlopsError as exc:  # a corrupt object, a folder in the way
        raise RecordError(f"data {rel} could not be restored, nothing was run: {exc}") from None


# ------------------------------------------------------------------------- environment
def current_env(python: Path | None = None) -> dict[str, Any]:
    """Python, platform and packages of this process, or of another interpreter (a venv)."""
    if python is None:
        from nb_mlops.tracking.environment import package_versions, system_info

        info = system_info()
        info["packages"] = dict(package_versions())
        return info
    probe = (
        "import json, platform\n"
        "from importlib.metadata import distributions\n"
        "p = {}\n"
        "for d in distributions():\n"
        "    n = d.metadata['Name']\n"
        "    if n and n not in p: p[n] = d.version\n"
        "print(json.dumps({'python': platform.python_version(),"
        " 'implementation': platform.python_implementation(),"
        " 'platform': platform.platform(), 'machine': platform.machine(), 'packages': p}))\n"
    )
    out = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise RecordError(f"cannot read the environment of {python}: {_last_line(out.stderr)}")
    return json.loads(out.stdout)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """One line per difference between the recorded environment and `current`: Python,
    implementation, platform, machine, then packages changed, missing here and only here (what
    most often explains a verdict first)."""
    lines = []
    for key in ("python", "implementation", "platform", "machine"):
        was, now = recorded.get(key), current.get(key)
        if was and now and was != now:
            lines.append(f"{key} {was} -> {now}")
    rec = {_canonical(k): (k, v) for k, v in (recorded.get("packages") or {}).items()}
    cur = {_canonical(k): (k, v) for k, v in (current.get("packages") or {}).items()}
    lines += [
        f"package {rec[k][0]} {rec[k][1]} -> {cur[k][1]}"
        for k in sorted(rec.keys() & cur.keys())
        if rec[k][1] != cur[k][1]
    ]
    lines += [
        f"package {rec[k][0]} {rec[k][1]} is not installed here" for k in sorted(rec - cur.keys())
    ]
    lines += [
        f"package {cur[k][0]} {cur[k][1]} is installed here only" for k in sorted(cur - rec.keys())
    ]
    if len(lines) > ENV_LINES:
        extra = len(lines) - ENV_LINES + 1
        lines = [*lines[: ENV_LINES - 1], f"and {extra} more environment differences"]
    return lines


def read_requirements(path: Path) -> list[str]:
    """The recorded lock as `name==version` lines, each checked: a record's lock is passed to
    pip, so an option, a URL or a path in it is refused."""
    if not path.is_file():
        raise RecordError(f"the record has no {REQUIREMENTS} to build an environment from")
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _REQUIREMENT.fullmatch(line)
        if m is None:
            raise RecordError(
                f"{REQUIREMENTS} line {number}: {line[:80]!r} is not NAME==VERSION; "
                "refusing to pass it to pip"
            )
        if _canonical(m.group(1)) not in _OUR_NAMES:
            lines.append(line)
    return lines


def build_venv(replay: Replay, requirements: list[str]) -> Path:
    """A fresh virtual environment with the recorded packages and ipykernel; nb-mlops itself
    is this installation's (see link_nb_mlops), since the replay's kernel loads it."""
    folder = replay.venv
    _run([sys.executable, "-m", "venv", str(folder)], "making a virtual environment", 600)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    lock = folder / "requirements.txt"
    lock.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")
    _run(
        [str(python), "-m", "pip", "install", "--no-input", "-r", str(lock), "ipykernel"],
        "installing the recorded packages",
        PIP_TIMEOUT_S,
    )
    link_nb_mlops(replay, python)
    return python


def link_nb_mlops(replay: Replay, python: Path) -> None:
    """Put this nb-mlops (the package folder alone, not this environment's other packages) on
    the path of `python`'s environment: the recorded lock names a version of nb-mlops that may
    not be published, and the replay should judge with the code that records."""
    package = Path(__file__).resolve().parent.parent  # nb_mlops/, this module's grandparent
    replay.source.mkdir(parents=True, exist_ok=True)
    link = replay.source / "nb_mlops"
    if not link.exists():
        os.symlink(package, link)
    try:
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecordError(f"cannot read the paths of {python}: {exc}") from None
    Path(purelib).mkdir(parents=True, exist_ok=True)
    Path(purelib, "nbmlops-replay.pth").write_text(f"{replay.source}\n", encoding="utf-8")


def _run(cmd: list[str], doing: str, timeout: float) -> None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RecordError(f"{doing} took more than {timeout:g} s; stopped") from None
    if out.returncode != 0:
        raise RecordError(f"{doing} failed: {_last_line(out.stderr or out.stdout)}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return redact_text(lines[-1])[:300] if lines else "no message"


def kernel_env(
    determinism: Mapping[str, Any], replay: Replay, venv_python: Path | None
) -> dict[str, str]:
    """The kernel's environment: ours, with the replay's own store, replay mode on (no hooks,
    no push), the recorded hash seed and thread counts, and no secret variables (the secrets
    are in the cells' source already)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIX)}
    env["NB_MLOPS_HOME"] = str(replay.home)
    env[REPLAY_ENV] = "1"
    seed = determinism.get("PYTHONHASHSEED")
    if seed is None:
        env.pop("PYTHONHASHSEED", None)
    else:
        env["PYTHONHASHSEED"] = str(seed)
    for name, value in (determinism.get("threads") or {}).items():
        if value is not None and _ENV_NAME.fullmatch(name) and isinstance(value, (int, str)):
            env[name] = str(value)
    if venv_python is not None:
        bin_dir = venv_python.parent
        env["VIRTUAL_ENV"] = str(bin_dir.parent)
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
    return env


# ---------------------------------------------------------------------------- the kernel
class Outcome:
    """What executing the notebook gave: the executed notebook, failures and notes."""

    def __init__(self, notebook: Any) -> None:
        self.notebook = notebook
        self.failures: list[str] = []
        self.notes: list[str] = []


def _kernel_spec(replay: Replay, python: Path) -> Any:
    from jupyter_client.kernelspec import KernelSpecManager

    folder = replay.kernels / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "nb-mlops replay",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(replay.kernels)], ensure_native_kernel=False)


def execute(
    nb: Any,
    replay: Replay,
    python: Path,
    env: dict[str, str],
    timeout: float,
    changed_models: Callable[[], list[tuple[str, int]]],
) -> Outcome:
    """Run every cell of `nb` in a fresh kernel in the work folder, errors and all (a cell that
    failed when recorded may fail again); then, in the same kernel, write the fitted arrays of
    the models `changed_models()` names (read from the replay's store) for comparison."""
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    km = AsyncKernelManager(
        kernel_name=KERNEL_NAME, kernel_spec_manager=_kernel_spec(replay, python)
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=math.ceil(timeout),
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=False,
        startup_timeout=120,
        shutdown_kernel="immediate",
        resources={"metadata": {"path": str(replay.workdir)}},
    )
    outcome = Outcome(nb)
    ran = 0
    replay.kernel_log.parent.mkdir(parents=True, exist_ok=True)
    log = open(replay.kernel_log, "ab")  # noqa: SIM115 (closed below, after the kernel)
    try:
        # the kernel's own messages (not the cells' output) go to the log, not the terminal
        with client.setup_kernel(
            cleanup_kc=True, env=env, cwd=str(replay.workdir), stdout=log, stderr=log
        ):
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
                ran = index + 1
            models = changed_models()
            if models:
                _write_params(client, nb, replay, models, outcome)
    except DeadKernelError as exc:
        outcome.failures.append(f"the kernel died at cell {ran + 1}: {_first(str(exc))}")
    except CellTimeoutError:
        outcome.failures.append(f"cell {ran + 1} ran longer than {timeout:g} s and was stopped")
    except RuntimeError as exc:  # the kernel did not start (a venv without ipykernel, ...)
        if ran == 0:
            raise RecordError(
                f"the replay's kernel did not start: {_first(str(exc))} (see {replay.kernel_log})"
            ) from None
        outcome.failures.append(f"the kernel stopped at cell {ran + 1}: {_first(str(exc))}")
    finally:
        log.close()
    outcome.failures[:0] = cell_failures(nb, ran)
    return outcome


def _write_params(
    client: Any, nb: Any, replay: Replay, models: list[tuple[str, int]], outcome: Outcome
) -> None:
    import nbformat

    replay.params.mkdir(parents=True, exist_ok=True)
    code = (
        "__import__('nb_mlops.records.replay', fromlist=['write_params']).write_params("
        f"{str(replay.params)!r}, {json.dumps([list(m) for m in models])})"
    )
    cell = nbformat.v4.new_code_cell(code)
    nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(nb.cells) - 1)
    finally:
        nb.cells.pop()
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        outcome.notes.append(
            "the replay's fitted arrays could not be read: "
            f"{errors[0].get('ename')}: {_first(errors[0].get('evalue', ''))}"
        )


def write_params(folder: str, models: list[list[Any]]) -> None:
    """Inside a replay's kernel: write the fitted arrays of the named model versions of this
    kernel's store as `.npz` files under `folder` (params_path names them)."""
    from nb_mlops.records.params import fitted_arrays, write_npz
    from nb_mlops.registry.load import load_version
    from nb_mlops.registry.versions import get_doc

    ws = open_workspace()
    for name, version in models:
        arrays = fitted_arrays(load_version(ws, get_doc(ws, f"models:/{name}/{version}")))
        if arrays is None:
            continue
        target = Path(folder, *params_path(name, version).split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            write_npz(arrays, out)


def cell_failures(nb: Any, ran: int) -> list[str]:
    """One line per cell whose outcome differs from the one recorded in its metadata."""
    lines = []
    for number, cell in enumerate(nb.cells, 1):
        if cell.get("cell_type") != "code":
            continue
        recorded = ((cell.get("metadata") or {}).get("nbmlops") or {}).get("status", "ok")
        if number > ran:
            lines.append(f"cell {number} was not run")
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and recorded not in _FAILED:
            error = errors[0]
            lines.append(
                f"cell {number} failed: {error.get('ename')}: "
                f"{_first(redact_text(str(error.get('evalue', ''))))}"
            )
        elif not errors and recorded in _FAILED:
            lines.append(f"cell {number} ran without error; it had ended {recorded} when recorded")
    return lines


def _first(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= 200 else line[:199] + "…"


# --------------------------------------------------------------------------- comparing
def _target(runs: list[dict[str, Any]], manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The replay's run that stands for the recorded one: same name, same place among the
    runs of that name (the third `fit` of the record is the third `fit` of the replay)."""
    target = manifest["run"]
    same = [r for r in manifest["runs"] if r["name"] == target["name"]]
    ids = [r["run_id"] for r in same]
    position = ids.index(target["run_id"]) if target["run_id"] in ids else len(same) - 1
    mine = [r for r in runs if r.get("name") == target["name"]]
    if not mine:
        return None
    return mine[max(position, 0)] if max(position, 0) < len(mine) else None


def summarize(replay_ws: Workspace, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The replay as `compare` reads it: the matched run, its artifacts and models."""
    from nb_mlops.tracking.query import all_runs

    runs = sorted(all_runs(replay_ws).values(), key=lambda d: d.get("start") or "")
    run = _target(runs, manifest)
    if run is None:
        return {"run": None, "artifacts": [], "models": []}
    children = [r for r in runs if r.get("parent") == run["run_id"]]
    models = []
    for made in run.get("models") or []:
        doc = replay_ws.catalog.get("models", f"{made['name']}/{made['version']}") or {}
        models.append(
            {
                "name": made["name"],
                "version": made["version"],
                "fingerprint": doc.get("fingerprint"),
            }
        )
    return {
        "run": {
            "run_id": run["run_id"],
            "name": run.get("name"),
            "status": run.get("status"),
            "params": run.get("params") or {},
            "metrics": run.get("metrics") or {},
            "error": run.get("error"),
            "children": [
                {"name": c.get("name"), "params": c.get("params"), "metrics": c.get("metrics")}
                for c in children
            ],
        },
        "artifacts": [
            {"name": a.get("name"), "md5": a.get("md5")} for a in run.get("artifacts") or []
        ],
        "models": models,
    }


def _changed_models(replay_ws: Workspace, manifest: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The replay's models whose fingerprint differs from the recorded one (their arrays are
    what the parameter tier compares), matched by name and order."""
    replayed = summarize(replay_ws, manifest)["models"]
    _, recorded = recorded_outputs(manifest)
    fps = {k: m.get("fingerprint") for k, m in zip(model_keys(recorded), recorded, strict=True)}
    return [
        (m["name"], m["version"])
        for k, m in zip(model_keys(replayed), replayed, strict=True)
        if fps.get(k) != m.get("fingerprint") and k in fps
    ]


def _arrays(
    manifest: Mapping[str, Any], replayed: Mapping[str, Any], replay: Replay
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The fitted arrays of the target run's models, recorded and replayed, by model key."""
    from nb_mlops.records.params import read_npz

    notes: list[str] = []
    recorded, replay_models = recorded_outputs(manifest)[1], replayed.get("models") or []
    npz_rec: dict[str, Any] = {}
    for key, model in zip(model_keys(recorded), recorded, strict=True):
        if model.get("params"):
            try:
                npz_rec[key] = read_npz(str(replay.record.joinpath(*model["params"].split("/"))))
            except Exception as exc:  # numpy's own errors for a damaged or crafted file
                notes.append(f"the record's arrays of model {model.get('name')} do not read: {exc}")
    npz_rep: dict[str, Any] = {}
    for key, model in zip(model_keys(replay_models), replay_models, strict=True):
        path = replay.params.joinpath(*params_path(model["name"], model["version"]).split("/"))
        if path.is_file():
            npz_rep[key] = read_npz(str(path))
    return npz_rec, npz_rep, notes


def _repeated_data(manifest: Mapping[str, Any]) -> list[str]:
    """A path the runs read in several versions holds the last one listed after the restore:
    say so, since an earlier cell may have read another."""
    seen: dict[str, list[str]] = {}
    for item in manifest["data"]:
        seen.setdefault(item["path"], []).append(item["md5"])
    return [
        f"data {path}: the runs read {len(md5s)} versions; the last ({md5s[-1]}) was restored"
        for path, md5s in seen.items()
        if len(set(md5s)) > 1
    ]


def _hidden_notes(manifest: Mapping[str, Any]) -> list[str]:
    """The hidden-state findings the export made, as notes (they explain a failed replay)."""
    notes = []
    for finding in manifest["cells"].get("hidden_state") or []:
        if isinstance(finding, Mapping):
            text = finding.get("message") or finding.get("text") or json.dumps(finding)
        else:
            text = str(finding)
        notes.append(f"hidden state: {_first(text)}")
    return notes


# ------------------------------------------------------------------------------ summary
def _summary(
    manifest: Mapping[str, Any],
    record_path: Path,
    replay: Replay,
    restored: list[str],
    requirements: list[str],
    env: bool,
    env_lines: list[str],
) -> str:
    run = manifest["run"]
    cells = manifest["cells"]["count"]
    text = (
        f"Reproducing run {run['name']} ({run['run_id']}) from {record_path.name} runs its "
        f"{cells} recorded cell(s) in a fresh kernel in {replay.workdir}, with a store of its "
        "own (deploy hooks and push off)"
    )
    if env:
        text += f", after pip installs its {len(requirements)} locked package(s) into a new venv"
    if restored:
        text += f"; data restored by hash: {', '.join(restored)}"
    if manifest["secrets"]:
        text += (
            f"; secrets filled from {', '.join(secret_variable(n) for n in manifest['secrets'])}"
        )
    if not env:
        text += f"; {len(env_lines)} difference(s) from the recorded environment"
    return text + ". The record's code runs with your permissions: run it?"


# ------------------------------------------------------------------------------ keeping
def keep_verdict(
    ws: Workspace,
    verdict: Verdict,
    manifest: Mapping[str, Any],
    record_path: Path,
    record_id: str,
    env: bool,
) -> str:
    """Keep the verdict in the invoking store as a run linked to the original (its id when
    the run is in this store, else the record's id); its id."""
    from nb_mlops.tracking.run import start_run

    target = manifest["run"]
    original = ws.catalog.get("runs", target["run_id"])
    run = start_run(
        f"reproduce-{target['name']}",
        experiment=target.get("experiment") or None,
        tags={
            "nbmlops.kind": "reproduction",
            "reproduces": target["run_id"] if original is not None else record_id,
            "record": record_id,
            "record.run_id": target["run_id"],
        },
        params={
            "tier": verdict.tier,
            "record": record_path.name,
            "workdir": verdict.workdir,
            "env": env,
            "rtol_params": verdict.rtol_params,
            "rtol_metrics": verdict.rtol_metrics,
        },
        nested=False,
        source={"kind": "reproduction", "record": record_path.name},
        workspace=ws,
    )
    with run:
        for key, values in sorted(verdict.metrics.items()):
            value = values.get("replayed")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                run.log_metric(key, value)
        run.log_metric("differences", len(verdict.differences))
        with ws.temp_folder("verdict-") as tmp:
            path = Path(tmp, "verdict.json")
            path.write_text(
                json.dumps({**verdict.to_dict(), "verdict_run": run.run_id}, indent=1),
                encoding="utf-8",
            )
            run.log_artifact(path)
        run.log_metric("reproduced", float(verdict.reproduced))
    return run.run_id
