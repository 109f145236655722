"""The runs active in this process, innermost last, and `track`, the handle that follows them.

The stack is per process (per kernel): a tracked cell pushes its run and pops it in a `finally`,
so no exception can leave a run behind as "current".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nb_mlops.errors import NoActiveRunError

if TYPE_CHECKING:
    from nb_mlops.store.workspace import Workspace
    from nb_mlops.tracking.run import Run

_stack: list[Run] = []

HOW_TO_START = (
    "start one with `%%track` at the top of a notebook cell, `%track start NAME`, "
    "or `with nm.start_run():` in Python"
)


def current() -> Run | None:
    """The innermost active run, or None."""
    return _stack[-1] if _stack else None


def workspace() -> Workspace:
    """The store in use: the active run's, else the pinned one, else found from the cwd."""
    from nb_mlops.store.workspace import workspace_in_use

    return _stack[-1].ws if _stack else workspace_in_use()


def require(what: str = "logging") -> Run:
    """The innermost active run, or a NoActiveRunError that says how to start one."""
    if not _stack:
        raise NoActiveRunError(f"{what} needs an active run, and there is none: {HOW_TO_START}")
    return _stack[-1]


def active_runs() -> list[Run]:
    return list(_stack)


def push(run: Run) -> None:
    _stack.append(run)


def remove(run: Run) -> None:
    """Take `run` off the stack wherever it is (normally the top)."""
    for i in range(len(_stack) - 1, -1, -1):
        if _stack[i] is run:
            del _stack[i]
            return


class ActiveRunProxy:
    """`track`: forwards to whichever run is active when it is used, or says how to start one."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(require(f"track.{name}"), name)

    def __repr__(self) -> str:
        run = current()
        return f"<track: {run!r}>" if run else "<track: no active run>"

    def __dir__(self) -> list[str]:
        from nb_mlops.tracking.run import Run

        run = current()
        return [n for n in dir(type(run) if run is not None else Run) if not n.startswith("_")]


track = ActiveRunProxy()
