"""The monitors of a store, one line each: what `nb-mlops monitor` prints without a name."""

from __future__ import annotations

import html
from typing import Any

from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

HEADER = ["monitor", "task", "windows of", "windows", "rows", "alerts", "latest window"]


class MonitorTable(Result):
    """One row per monitor: its task, window size, windows, rows observed and alerts."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def to_dict(self) -> dict[str, Any]:
        return {"monitors": self.rows}

    def cells(self) -> list[list[str]]:
        return [
            [
                r["name"],
                r["task"],
                r["window"],
                str(r["windows"]),
                f"{r['rows']:,}",
                str(r["alerts"]),
                r["latest"] or "",
            ]
            for r in self.rows
        ]

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        if not self.rows:
            return (
                "no monitors yet: make one with nm.monitor.Monitor(name, model=..., reference=df)"
            )
        return text_table(HEADER, self.cells())

    def to_html(self) -> str:
        if not self.rows:
            return f"<div>{html.escape(self.to_text())}</div>"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.cells()
        )
        return (
            f"<table class='nbm-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )


def monitor_table(ws: Workspace) -> MonitorTable:
    """The store's monitors; a damaged one is listed with its problem instead of its numbers."""
    from nb_mlops.monitor.errors import MonitorError
    from nb_mlops.monitor.monitor import Monitor
    from nb_mlops.monitor.state import monitors

    rows = []
    for name in monitors(ws):
        try:
            mon = Monitor(name, ws=ws)
            records = mon.window_records()
            rows.append(
                {
                    "name": name,
                    "task": mon.task,
                    "window": mon.spec.describe(),
                    "windows": len(records),
                    "rows": sum(r.get("rows") or 0 for r in records),
                    "alerts": sum(len(r.get("alerts") or []) for r in records),
                    "latest": records[-1]["window"] if records else None,
                }
            )
        except MonitorError as exc:
            rows.append(
                {"name": name, "task": f"damaged: {exc}", "window": "", "windows": 0, "rows": 0,
                 "alerts": 0, "latest": None}
            )  # fmt: skip
    return MonitorTable(rows)
