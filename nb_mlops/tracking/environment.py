"""What a run ran on: Python, platform, installed packages, git state, chosen env variables.

The package list is the expensive part (a walk over every installed distribution), so it is
computed once per process and again only when a `sys.path` folder changes (a `pip install` in the
middle of a session). Git's commit is read from `.git` files directly; the dirty flag needs
`git status`, which can take a while in a big repo, so it runs in a thread beside the cell.
"""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_mlops.redact import redact_mapping, redact_strings

if TYPE_CHECKING:
    from nb_mlops.store.workspace import Workspace

ENV_ALLOWLIST = (
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "PYTHONHASHSEED",
    "TF_DETERMINISTIC_OPS",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "TZ",
    "LANG",
    "LC_ALL",
    "VIRTUAL_ENV",
    "CONDA_DEFAULT_ENV",
)
ENV_PREFIXES = ("NB_MLOPS_",)


def system_info() -> dict[str, str]:
    """Interpreter and machine facts that decide whether a result can be reproduced."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable": sys.executable,
    }


_packages_cache: tuple[tuple, dict[str, str]] | None = None


def _path_key() -> tuple:
    key = []
    for entry in sys.path:
        if entry in ("", "."):
            continue  # the cwd changes whenever a notebook writes a file; no packages there
        try:
            key.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            key.append((entry, None))
    return tuple(key)


def package_versions() -> dict[str, str]:
    """Installed distributions -> versions, cached until a sys.path folder changes."""
    global _packages_cache
    key = _path_key()
    if _packages_cache is not None and _packages_cache[0] == key:
        return _packages_cache[1]
    from importlib.metadata import distributions

    versions: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name and name not in versions:
            versions[name] = dist.version
    versions = dict(sorted(versions.items(), key=lambda kv: kv[0].lower()))
    _packages_cache = (key, versions)
    return versions


_ALLOW = frozenset(ENV_ALLOWLIST)
_last_env: tuple[dict[str, str], dict[str, str]] = ({}, {})


def env_vars(extra: Iterable[str] = ()) -> dict[str, str]:
    """Allowlisted environment variables, secrets redacted whatever the list says."""
    global _last_env
    allow = _ALLOW.union(extra) if extra else _ALLOW
    environ = os.environ
    # names first, values only for the picked ones (each read of os.environ decodes bytes)
    picked = {k: environ[k] for k in environ if k in allow or k.startswith(ENV_PREFIXES)}
    seen, redacted = _last_env
    if picked != seen:  # redaction scans every value: done again only when one changed
        redacted = redact_mapping(dict(sorted(picked.items())), always=True)
        _last_env = (picked, redacted)
    return dict(redacted)


def _git_dir(start: Path) -> tuple[Path, Path] | None:
    """(git directory, work tree root) of the repo holding `start`."""
    for folder in (start, *start.parents):
        dot = folder / ".git"
        try:
            mode = os.stat(dot).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            return dot, folder
        if stat.S_ISREG(mode):  # worktree or submodule: "gitdir: <path>"
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[7:].strip())
                return (target if target.is_absolute() else (folder / target).resolve()), folder
    return None


def _read_ref(git_dir: Path, ref: str) -> str | None:
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text().strip()).resolve()
    for base in (git_dir, common):
        path = base / ref
        if path.is_file():
            return path.read_text().strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0]
    return None


def git_info(start: Path) -> dict[str, Any] | None:
    """Commit and branch of the repo holding `start`, read from files (no subprocess)."""
    found = _git_dir(Path(start).absolute())
    if found is None:
        return None
    git_dir, work_root = found
    try:
        head = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    if head.startswith("ref:"):
        ref = head[4:].strip()
        commit = _read_ref(git_dir, ref)
        branch = ref.removeprefix("refs/heads/")
    else:
        commit, branch = head, None
    return {"commit": commit, "branch": branch, "root": str(work_root)}


def git_dirty_async(root: str | Path) -> Future[bool | None]:
    """Whether tracked files differ from the commit, computed in a thread (None: unknown)."""
    future: Future[bool | None] = Future()
    git = shutil.which("git")
    if git is None:
        future.set_result(None)
        return future

    def probe() -> None:
        try:
            out = subprocess.run(
                [git, "status", "--porcelain", "--untracked-files=no"],
                cwd=root,
                capture_output=True,
                timeout=60,
                check=False,
            )
            future.set_result(bool(out.stdout.strip()) if out.returncode == 0 else None)
        except (OSError, subprocess.SubprocessError):
            future.set_result(None)

    threading.Thread(target=probe, name="nb-mlops-git", daemon=True).start()
    return future


_env_refs: dict[tuple[str, int], str] = {}


def environment_ref(ws: Workspace) -> str:
    """md5 of this process's system and package list, stored once per store as a JSON object
    (what runs and model versions point at, instead of carrying the list each)."""
    packages = package_versions()
    key = (str(ws.home), id(packages))
    ref = _env_refs.get(key)
    if ref is None or not ws.objects.has(ref):  # a gc may have removed it since
        import json

        # the paths in it (the executable's) are text like any other: value shapes redacted
        doc = {"system": redact_strings(system_info()), "packages": packages}
        ref = ws.objects.add_bytes(json.dumps(doc, sort_keys=True, indent=1).encode())
        _env_refs[key] = ref
    return ref
