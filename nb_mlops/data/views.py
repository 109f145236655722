"""A dataset's versions as a result object: text for the CLI, HTML for the notebook, a dict."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.results import Result
from nb_mlops.text import human_bytes, text_table


@dataclass(repr=False)
class VersionTable(Result):
    """Every version of one dataset, the one checked out, and the runs that used each."""

    path: str
    versions: list[dict[str, Any]]
    current: int | None
    used_by: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "current": self.current,
            "versions": [
                {
                    **{k: v for k, v in d.items() if k != "refs"},
                    "runs": self.used_by.get(d["version"], []),
                }
                for d in self.versions
            ],
        }

    def _rows(self) -> list[list[str]]:
        rows = []
        for d in self.versions:
            runs = self.used_by.get(d["version"], [])
            rows.append(
                [
                    f"{'*' if d['version'] == self.current else ' '} {d['version']}",
                    (d.get("time") or "")[:19].replace("T", " "),
                    human_bytes(d.get("size", 0)),
                    str(d.get("nfiles", 1)),
                    f"{d['rows']:,}" if isinstance(d.get("rows"), int) else "",
                    ", ".join(f"{r['name']} ({r['run_id']})" for r in runs[:3])
                    + (f" +{len(runs) - 3}" if len(runs) > 3 else ""),
                    d.get("message") or "",
                ]
            )
        return rows

    _HEADER = ("version", "time", "size", "files", "rows", "runs", "message")

    def to_text(self) -> str:
        if not self.versions:
            return f"{self.path}: no versions yet"
        note = "* = in the workspace (named by its .dvc file)"
        return f"{self.path}\n{text_table(list(self._HEADER), self._rows(), 60)}\n{note}"

    def to_html(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self._HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in self._rows()
        )
        return (
            f'<div class="nbm-versions"><h4>{esc(self.path)}</h4>'
            f'<table class="nbm-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table><div>* = in the workspace (named by its .dvc file)</div></div>"
        )


@dataclass(repr=False)
class StatusList(Result):
    """Status of several datasets."""

    items: list[Any]

    @property
    def failed(self) -> list[str]:
        """The datasets that could not be looked at (each item's `error` says why)."""
        return [s.path for s in self.items if getattr(s, "error", None)]

    def to_dict(self) -> dict[str, Any]:
        return {"datasets": [s.to_dict() for s in self.items]}

    def to_text(self) -> str:
        return "\n".join(str(s) for s in self.items) or "no datasets have versions yet"
