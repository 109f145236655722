"""What a filter or an order_by clause can name, and how each name reads a run document.

Run filters (filter.py) and run ordering (order.py) share this vocabulary, so a key means the
same thing in both: the key prefixes (with MLflow's spellings), the run attributes and their
aliases, MLflow's status names, the `mlflow.*` system tags that stand for our own fields, and
the `datasets.` fields over the data versions a run read. docs/filter.md lists them for users.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NamedTuple

__all__ = [
    "ATTRIBUTE_LIST",
    "DATASET_LIST",
    "MLFLOW_STATUS",
    "SECTIONS",
    "SYSTEM_TAGS",
    "Key",
    "as_number",
    "attribute_name",
    "dataset_field",
    "dataset_values",
    "epoch_ms",
    "epoch_us",
    "reader",
    "status_names",
]

SECTIONS = {
    # our spellings, then MLflow's (metric/parameter/tag/attribute/dataset and their plurals)
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameter": "params",
    "parameters": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
    "datasets": "datasets",
    "dataset": "datasets",
}
"""Key prefix (lowercase) -> section."""

_ATTRIBUTE_ALIASES = {
    "run_id": ("run_id",),
    "name": ("name", "run_name", "run name"),
    "experiment": ("experiment", "experiment_name", "experiment_id"),
    "status": ("status",),
    "start": ("start", "start_time", "created"),
    "end": ("end", "end_time"),
    "duration": ("duration",),
    "parent": ("parent", "parent_run_id"),
    "user": ("user", "user_id"),
    "artifact_uri": ("artifact_uri",),
}
_ATTRIBUTES = {alias: name for name, aliases in _ATTRIBUTE_ALIASES.items() for alias in aliases}
ATTRIBUTE_LIST = ", ".join(_ATTRIBUTE_ALIASES)

_DATASET_FIELDS = {
    "name": "name",
    "path": "name",
    "digest": "digest",
    "context": "context",
    "version": "version",
}
DATASET_LIST = "name (or path), digest, context, version"

MLFLOW_STATUS = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "crashed": "FAILED",
    "interrupted": "KILLED",
}
"""Our status -> MLflow's. A crashed run is FAILED there, with the tag `nbmlops.crashed`."""

SYSTEM_TAGS: dict[str, Callable[[dict], Any]] = {
    "mlflow.runName": lambda doc: doc.get("name"),
    "mlflow.user": lambda doc: doc.get("user"),
    "mlflow.parentRunId": lambda doc: doc.get("parent"),
    "mlflow.source.name": lambda doc: (doc.get("source") or {}).get("file"),
    "nbmlops.crashed": lambda doc: "true" if doc.get("status") == "crashed" else None,
}
"""Tags a run has without logging them: MLflow's names for our fields, and the crash mark."""


class Key(NamedTuple):
    """A resolved key: its section (metrics, params, tags, attributes, datasets) and name.

    Attribute and dataset names are canonical (`start_time` is `start`, `datasets.path` is
    `datasets.name`); metric, param and tag names are as written.
    """

    section: str
    name: str

    @property
    def column(self) -> str:
        """Attributes by their nm.runs() column name; the others with their plural prefix."""
        return self.name if self.section == "attributes" else f"{self.section}.{self.name}"

    def __str__(self) -> str:
        if self.section == "attributes":
            return self.name
        if _is_bare(self.name):
            return f"{self.section}.{self.name}"
        escaped = self.name.replace("\\", "\\\\").replace("`", "\\`")
        return f"{self.section}.`{escaped}`"


def _is_bare(name: str) -> bool:
    """Whether a name reads back without quotes (letters, digits, _ - / and inner dots)."""
    parts = name.split(".")
    return all(p and all(c.isalnum() or c in "_-/" for c in p) for p in parts)


def attribute_name(name: str) -> str | None:
    """The canonical attribute for a spelling (case-blind: `Created`, `Run Name`), or None."""
    return _ATTRIBUTES.get(name.lower())


def dataset_field(name: str) -> str | None:
    """The canonical `datasets.` field for a spelling (case-blind), or None."""
    return _DATASET_FIELDS.get(name.lower())


def status_names(status: str) -> tuple[str, ...]:
    """The names a status answers to: ours, and MLflow's when it differs in more than case."""
    mlflow = MLFLOW_STATUS.get(status)
    if mlflow is None or mlflow.lower() == status:
        return (status,)
    return (status, mlflow)


# ---------------------------------------------------------------------------------------------
# Reading values
# ---------------------------------------------------------------------------------------------


def reader(key: Key, runs_uri: str | None = None) -> Callable[[dict], Any]:
    """A function from a run document to the key's value (None when the run lacks it).

    Not for `datasets.` keys, which have one value per data version read (dataset_values).
    `runs_uri` is the store's runs folder as a URI, which `artifact_uri` is built on.
    """
    name = key.name
    section = key.section
    if section == "attributes":
        if name == "artifact_uri":
            if runs_uri is None:
                return lambda doc: doc.get("artifact_uri")
            base = runs_uri.rstrip("/")
            return lambda doc: f"{base}/{doc['run_id']}" if doc.get("run_id") else None
        return lambda doc: doc.get(name)
    if section == "datasets":
        raise ValueError(f"{key} has one value per dataset: use dataset_values")
    system = SYSTEM_TAGS.get(name) if section == "tags" else None

    def get(doc: dict) -> Any:
        values = doc.get(section)
        value = values.get(name) if values else None
        if system is not None:
            mine = system(doc)
            if mine is not None:
                return mine
        return value

    return get


def dataset_values(key: Key) -> Callable[[dict], list[Any]]:
    """A function from a run document to the field's value for each data version it read.

    name = the dataset's path in the project, digest = its md5 as in its .dvc file (a folder's
    ends in `.dir`), context = what the run recorded it for (None when not said), version =
    our version number. Evaluation runs name a dataset they did not snapshot by its label and
    its content hash.
    """
    field = key.name
    if field == "name":
        return lambda doc: [d.get("path") or d.get("name") for d in doc.get("data") or ()]
    if field == "digest":
        return lambda doc: [d.get("md5") or d.get("hash") for d in doc.get("data") or ()]
    return lambda doc: [d.get(field) for d in doc.get("data") or ()]


# ---------------------------------------------------------------------------------------------
# Coercion shared by filtering and ordering
# ---------------------------------------------------------------------------------------------


def as_number(value: Any) -> float | int | None:
    """The value as a number, or None when it is not one (bools are not numbers here)."""
    kind = type(value)
    if kind is float or kind is int:
        return value
    if kind is bool:
        return None
    if kind is str:
        text = value
    elif isinstance(value, numbers.Real):  # numpy scalars and friends
        return value
    else:
        text = str(value)
    try:
        return float(text)
    except ValueError:
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    elif isinstance(value, datetime):
        moment = value
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def epoch_us(value: Any) -> int | None:
    """A time (ISO-8601 text or datetime; naive means UTC) in whole microseconds since 1970."""
    moment = _moment(value)
    if moment is None:
        return None
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def epoch_ms(value: Any) -> int | float | None:
    """A time in whole milliseconds since 1970, as MLflow stores `start_time`/`end_time`.

    A number is taken as already in milliseconds.
    """
    if type(value) is not bool and isinstance(value, numbers.Real):
        return value
    us = epoch_us(value)
    return None if us is None else us // 1000
