"""What a sync or an import did, in the one result shape (dict, text, HTML)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from nb_mlops.results import Result
from nb_mlops.text import plural

__all__ = ["SyncReport"]


@dataclass(repr=False)
class SyncReport(Result):
    """A sync to an MLflow server (`push`) or an import from one (`import`).

    `runs` maps each run handled to its counterpart (ours -> MLflow's on a push, MLflow's ->
    ours on an import); `created`, `updated` name runs by our id; `skipped` gives each run
    left alone and why; counts say what was sent (or brought) and in how many requests.
    """

    direction: Literal["push", "import"]
    tracking_uri: str
    experiment: str | None = None
    runs: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    points: int = 0
    params: int = 0
    tags: int = 0
    artifacts: int = 0
    model_versions: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        where = f"MLflow at {self.tracking_uri}"
        if self.experiment:
            where += f" (experiment {self.experiment})"
        moved = len(self.created) + len(self.updated)
        if self.direction == "push":
            head = (
                f"synced {plural(moved, 'run')} to {where}: {len(self.created)} new, "
                f"{len(self.updated)} updated, {self.unchanged} unchanged"
            )
            sent = [
                plural(self.points, "metric point"),
                plural(self.params, "param"),
                plural(self.tags, "tag"),
                plural(self.artifacts, "artifact"),
            ]
            lines = [f"{head}; sent {', '.join(sent)} in {plural(self.requests, 'request')}"]
        else:
            head = f"imported {plural(len(self.created), 'run')} from {where}"
            lines = [
                f"{head} ({plural(self.points, 'metric point')}) in "
                f"{plural(self.requests, 'request')}; {self.unchanged} already here"
            ]
        lines[0] += f" ({self.seconds:.1f} s)"
        if self.model_versions:
            lines.append(f"model versions: {', '.join(self.model_versions)}")
        if self.aliases:
            lines.append(f"aliases: {', '.join(self.aliases)}")
        lines += [f"skipped {run}: {why}" for run, why in self.skipped.items()]
        lines += self.notes
        return "\n".join(lines)
