"""Deploy hooks: a command or a Python callable run when an alias moves.

Commands are kept with the model in the catalog, so every process (kernel, CLI, CI job) runs
them; callables live only in the process that registered them. A hook gets the model URI and
version (commands as environment variables and `{uri}`-style placeholders, callables as
arguments). Its outcome goes into the alias history; a failing hook does not undo the move,
which is what the registry was asked to record, but it is reported loudly.

A command is kept in the store and run as written, so one holding a secret (a token, a URL
password: see redact.py) is refused rather than kept, or kept redacted and broken: it reads the
secret from an environment variable instead (`--token $DEPLOY_TOKEN`). What hooks print is
kept with its secrets redacted.
"""

from __future__ import annotations

import functools
import math
import os
import secrets
import signal
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb_mlops.errors import NbMlopsError, user_stacklevel
from nb_mlops.redact import redact_text
from nb_mlops.registry.names import check_alias, check_name
from nb_mlops.registry.versions import MODELS, require_model
from nb_mlops.store.workspace import Workspace

if TYPE_CHECKING:
    from nb_mlops.registry.aliases import AliasMove

DEFAULT_TIMEOUT_S = 600.0
_OUTPUT_KEPT = 4000
_KILL_GRACE_S = 5.0

Hook = Callable[[str, int], Any]
_callables: list[tuple[Path, str | None, str | None, Hook]] = []
"""(store home, model name or None, alias or None, callable): a hook belongs to one store."""


class DeployHookWarning(UserWarning):
    """A deploy hook failed; the alias move it followed stands."""


def add_command(ws: Workspace, name: str, command: str, alias: str | None = None) -> dict:
    """Keep `command` with model `name`, run on every move of `alias` (default: any alias)."""
    require_model(ws, name)
    if alias is not None:
        check_alias(alias)
    if not isinstance(command, str) or not command.strip():
        raise NbMlopsError("a deploy hook command must be a non-empty string")
    if redact_text(command) != command:
        raise NbMlopsError(
            f"the deploy hook command for {name} holds a secret ({redact_text(command.strip())}), "
            "and hook commands are kept in the store: read it from an environment variable "
            "instead (e.g. --token $DEPLOY_TOKEN)"
        )
    hook = {"id": secrets.token_hex(4), "alias": alias, "command": command.strip()}
    with ws.catalog.locked():
        doc = ws.catalog.get(MODELS, name) or {}
        ws.catalog.set(MODELS, name, {"hooks": [*doc.get("hooks", []), hook]})
    return hook


def remove_commands(ws: Workspace, name: str, alias: str | None = None) -> int:
    """Drop the model's hook commands (only those for `alias` when given); how many went."""
    require_model(ws, name)
    if alias is not None:
        check_alias(alias)
    with ws.catalog.locked():
        hooks = list((ws.catalog.get(MODELS, name) or {}).get("hooks", []))
        kept = [h for h in hooks if alias is not None and h.get("alias") != alias]
        ws.catalog.set(MODELS, name, {"hooks": kept})
    return len(hooks) - len(kept)


def commands(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """The hook commands kept with model `name` (ModelNotFound for a model there is not)."""
    require_model(ws, name)
    return _commands(ws, name)


def _commands(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return list((ws.catalog.get(MODELS, name) or {}).get("hooks", []))


def on_alias_move(
    ws: Workspace, hook: Hook, name: str | None = None, alias: str | None = None
) -> Callable[[], None]:
    """Call `hook(uri, version)` in this process when an alias of this store moves; returns a
    function that removes it."""
    if not callable(hook):
        raise NbMlopsError(f"a deploy hook must be callable, got {type(hook).__name__}")
    if name is not None:
        check_name(name)
    if alias is not None:
        check_alias(alias)
    entry = (ws.home, name, alias, hook)
    _callables.append(entry)

    def remove() -> None:
        if entry in _callables:
            _callables.remove(entry)

    return remove


REPLAY_ENV = "NB_MLOPS_REPLAY"
"""Set (to anything but empty or 0) in the kernel of a record's replay: no hook runs there, so
a replay never deploys (see records/replay.py)."""


def replaying() -> bool:
    """Whether this process is replaying a record (deploy hooks and push are off)."""
    return os.environ.get(REPLAY_ENV, "") not in ("", "0")


def matching(ws: Workspace, move: AliasMove) -> bool:
    """Whether any hook (a kept command, or a callable of this process) is for this move;
    never while replaying a record."""
    if replaying():
        return False
    if any(h.get("alias") in (None, move.alias) for h in _commands(ws, move.name)):
        return True
    return any(
        home == ws.home and name in (None, move.name) and alias in (None, move.alias)
        for home, name, alias, _ in _callables
    )


def superseded(now: int | None) -> dict[str, Any]:
    """The outcome recorded for a move whose hooks did not run: the alias moved on first."""
    later = "was removed" if now is None else f"moved on (to version {now})"
    return {
        "kind": "skipped",
        "target": "deploy hooks",
        "ok": True,
        "output": f"not run: the alias {later} before they could; the newer move deploys",
        "seconds": 0.0,
    }


_INSIDE_ENV = "NB_MLOPS_HOOKS_RUNNING"
_inside: set[str] = set()


def inside(key: str) -> bool:
    """Whether the hooks named `key` are running now in this process (any thread) or in a
    process that started this one: a move made by such a hook must not wait for their lock."""
    return key in _inside or key in os.environ.get(_INSIDE_ENV, "").split("|")


@contextmanager
def running(key: str) -> Iterator[None]:
    """Mark the hooks named `key` as running in this process (and in the commands it starts)."""
    added = key not in _inside
    _inside.add(key)
    try:
        yield
    finally:
        if added:
            _inside.discard(key)


def run_deploy_hooks(
    ws: Workspace, move: AliasMove, on_outcome: Callable[[dict[str, Any]], Any] | None = None
) -> list[str]:
    """Run every hook that matches `move`, appending each outcome to `move.hooks` (and telling
    `on_outcome`) as it lands; return the problems to warn about once all are recorded."""
    assert move.to_version is not None and move.uri is not None
    if replaying():
        return []
    hooks = [h for h in _commands(ws, move.name) if h.get("alias") in (None, move.alias)]
    timeout, bad_config = _timeout(ws) if hooks else (DEFAULT_TIMEOUT_S, None)
    calls: list[Callable[[], dict[str, Any]]] = [
        functools.partial(_run_command, ws, hook["command"], move, timeout) for hook in hooks
    ]
    calls += [
        functools.partial(_run_callable, fn, move)
        for home, name, alias, fn in list(_callables)
        if home == ws.home and name in (None, move.name) and alias in (None, move.alias)
    ]
    for call in calls:
        outcome = call()
        move.hooks.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    from nb_mlops.registry.aliases import hook_line

    problems = [bad_config] if bad_config else []
    problems += [
        f"{move.name}@{move.alias} moved to version {move.to_version}, but deploy hook "
        + hook_line(outcome)
        for outcome in move.hooks
        if not outcome["ok"]
    ]
    return problems


def interrupted(exc: BaseException) -> dict[str, Any]:
    """The outcome recorded when the hooks of a move were cut short."""
    return {
        "kind": "interrupted",
        "target": "deploy hooks",
        "ok": False,
        "error": f"interrupted ({type(exc).__name__}) before every hook ran",
        "seconds": 0.0,
    }


def warn(problems: list[str]) -> None:
    """One DeployHookWarning per problem, pointed at the caller's line."""
    for problem in problems:
        _warn(problem)


def _warn(message: str) -> None:
    # pointed at the caller's line (set_alias, rollback), not at nb_mlops' own frames
    warnings.warn(message, DeployHookWarning, stacklevel=user_stacklevel())


def _timeout(ws: Workspace) -> tuple[float, str | None]:
    """`[registry] hook_timeout` from the store's config.toml (seconds), and what is wrong
    with it when it is not usable.

    A bad value does not stop the hooks of a move that has already happened: the default is
    used, and the problem reported once they have run.
    """
    section = ws.config.get("registry", {})
    value = section.get("hook_timeout", DEFAULT_TIMEOUT_S) if isinstance(section, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value), None
    return DEFAULT_TIMEOUT_S, (
        f"{ws.config_path}: [registry] hook_timeout must be a positive number of "
        f"seconds, got {value!r}; deploy hooks ran with the default {DEFAULT_TIMEOUT_S:g} s"
    )


def _env(move: AliasMove) -> dict[str, str]:
    return {
        "NB_MLOPS_MODEL_URI": move.uri or "",
        "NB_MLOPS_MODEL_NAME": move.name,
        "NB_MLOPS_MODEL_VERSION": str(move.to_version),
        "NB_MLOPS_ALIAS": move.alias,
        "NB_MLOPS_PREVIOUS_VERSION": "" if move.from_version is None else str(move.from_version),
        "NB_MLOPS_EVENT": move.event,
    }


def expand(command: str, values: Mapping[str, str]) -> str:
    """Fill `{uri}`, `{name}`, `{version}`, `{alias}`, `{previous}` (other braces stay as they are,
    so shell and awk text passes through)."""
    for key, value in values.items():
        command = command.replace("{" + key + "}", value)
    return command


def _run_command(ws: Workspace, command: str, move: AliasMove, timeout: float) -> dict[str, Any]:
    env = _env(move)
    text = expand(
        command,
        {
            "uri": env["NB_MLOPS_MODEL_URI"],
            "name": move.name,
            "version": env["NB_MLOPS_MODEL_VERSION"],
            "alias": move.alias,
            "previous": env["NB_MLOPS_PREVIOUS_VERSION"],
        },
    )
    outcome: dict[str, Any] = {"kind": "command", "target": redact_text(command)}
    t0 = time.perf_counter()
    out = b""
    try:
        # its own session: on a timeout the whole process group goes, not only the shell (a
        # `sleep` or deploy script the shell started would otherwise run on, orphaned)
        proc = subprocess.Popen(
            text,
            shell=True,
            cwd=ws.root,
            env={**os.environ, **env, _INSIDE_ENV: "|".join(sorted(_inside))},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        outcome.update(ok=False, exit_code=None, error=f"could not start: {exc.strerror or exc}")
    else:
        try:
            out = proc.communicate(timeout=timeout)[0] or b""
        except subprocess.TimeoutExpired as exc:
            out = _stop(proc, exc.output or b"")
            outcome.update(ok=False, exit_code=None, error=f"timed out after {timeout:g} s")
        except BaseException:  # interrupted: leave nothing running behind
            _stop(proc, b"")
            raise
        else:
            outcome.update(ok=proc.returncode == 0, exit_code=proc.returncode)
    outcome["seconds"] = round(time.perf_counter() - t0, 3)
    # redacted before the final cut, so a secret is not split where it could not be recognised
    tail = out[-4 * _OUTPUT_KEPT :].decode(errors="replace")  # 4 bytes hold any character
    outcome["output"] = redact_text(tail)[-_OUTPUT_KEPT:]
    if "error" in outcome:
        outcome["error"] = redact_text(outcome["error"])
    return outcome


def _stop(proc: subprocess.Popen, partial: bytes) -> bytes:
    """Kill a hook command and everything it started; the output it wrote so far."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:
        out = proc.communicate(timeout=_KILL_GRACE_S)[0] or partial
    except subprocess.TimeoutExpired as exc:  # a child left the group and holds the pipe open
        out = exc.output or partial
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait()
    return out


def _run_callable(fn: Hook, move: AliasMove) -> dict[str, Any]:
    target = getattr(fn, "__qualname__", None) or repr(fn)
    outcome: dict[str, Any] = {"kind": "callable", "target": target}
    t0 = time.perf_counter()
    try:
        result = fn(move.uri or "", move.to_version or 0)
    except Exception as exc:
        outcome.update(ok=False, error=redact_text(f"{type(exc).__name__}: {exc}")[:500])
    else:
        kept = "" if result is None else redact_text(repr(result))[:_OUTPUT_KEPT]
        outcome.update(ok=True, output=kept)
    outcome["seconds"] = round(time.perf_counter() - t0, 3)
    return outcome
