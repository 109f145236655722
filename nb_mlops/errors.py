"""Errors nb-mlops raises. Every message is one line that names the thing at fault."""

from __future__ import annotations


class NbMlopsError(Exception):
    """Base class: anything nb-mlops refuses, with a message fit to show a user as is."""


class StoreError(NbMlopsError):
    """The store on disk cannot be opened, read or written."""


class CatalogDamaged(StoreError):
    """A catalog file holds something that is not a whole record (edited or truncated by hand)."""


class StoreVersionError(StoreError):
    """The store's format is newer than this nb-mlops reads."""


class RemoteError(NbMlopsError):
    """A remote cannot be named, reached, written or read, or some objects did not transfer.

    When raised after a transfer, ``report`` holds what did move and what failed.
    """

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class SyncError(NbMlopsError):
    """A hand-over to another engine (an MLflow tracking server) cannot start or stopped:
    a bad tracking URI, an unreachable server, or a request it refused."""


class NoActiveRunError(NbMlopsError):
    """A logging call was made outside any run."""


class RunNotFound(NbMlopsError):
    """A RUN argument matched no run, or more than one."""


class ParamConflict(NbMlopsError):
    """A param was logged again in the same run with a different value."""


class MetricValueError(NbMlopsError, TypeError):
    """A metric value is not a number."""


class FilterSyntaxError(NbMlopsError, ValueError):
    """A run filter does not parse; `.position` is the 0-based offset of the fault."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.text = text
        self.position = position
        super().__init__(f"bad filter at column {position + 1}: {message} — in: {text}")


class ObjectCorrupt(StoreError):
    """A cached object's bytes no longer match its hash."""


class RefusedError(NbMlopsError):
    """An operation was refused to protect data (e.g. deleting a run a model was made from)."""


class ModelNotFound(NbMlopsError):
    """A model name, version, alias or models:/ URI matched nothing."""


class InvalidValue(NbMlopsError, ValueError):
    """A value a verb cannot use (a seed out of range, say); the message names it."""


class InvalidName(NbMlopsError, ValueError):
    """A model name, alias or tag key that would be unsafe or ambiguous."""


def user_stacklevel() -> int:
    """The stacklevel that makes a warning point at the first frame outside nb_mlops."""
    import sys

    frame = sys._getframe(1)  # noqa: SLF001 (CPython's documented way to walk the stack)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("nb_mlops"):
        frame = frame.f_back
        level += 1
    return level
