"""What `observe` and `add_labels` return: the rows taken, the windows they changed (their
records) and the alerts that raised."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nb_mlops.monitor.thresholds import CBPE_METRIC
from nb_mlops.results import Result


class Observation(Result):
    """What one `observe` did: its rows, the windows it touched (their records) and new alerts."""

    def __init__(
        self, monitor: str, doc: Mapping[str, Any], windows: list[dict], alerts: list[dict]
    ) -> None:
        self.monitor = monitor
        self.doc = dict(doc)
        self.windows = windows
        self.new_alerts = alerts

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def rows(self) -> int:
        return self.doc["rows"]

    @property
    def alerts(self) -> list[dict]:
        return self.new_alerts

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "observation": {k: v for k, v in self.doc.items() if k != "alerts"},
            "windows": [{k: v for k, v in w.items() if k != "drift"} for w in self.windows],
            "alerts": self.new_alerts,
        }

    def to_text(self) -> str:
        lines = [f"monitor {self.monitor}: observed {self.rows:,} rows ({self.id})"]
        if self.doc.get("ignored_columns"):
            lines.append("columns not monitored: " + ", ".join(self.doc["ignored_columns"]))
        for w in self.windows:
            lines.append(window_line(w))
        for alert in self.new_alerts:
            lines.append(f"ALERT {alert['window']}: {alert['message']}")
        return "\n".join(lines)

    def to_html(self) -> str:
        return alert_html(self.to_text())


class LabelsAdded(Observation):
    """What one `add_labels` did: the windows it updated and the alerts that raised."""

    def __init__(self, monitor: str, count: int, windows: list[dict], alerts: list[dict]) -> None:
        super().__init__(monitor, {"id": "labels", "rows": count}, windows, alerts)

    def to_text(self) -> str:
        lines = [f"monitor {self.monitor}: {self.rows:,} late labels joined"]
        lines += [window_line(w) for w in self.windows]
        lines += [f"ALERT {a['window']}: {a['message']}" for a in self.new_alerts]
        return "\n".join(lines)


def window_line(w: Mapping[str, Any]) -> str:
    parts = [f"window {w['window']}: {w['rows']:,} rows, {w['labelled']:,} labelled"]
    for key in ("accuracy", "f1", "auc", "mae", "rmse", CBPE_METRIC, "drift_share"):
        value = w.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            parts.append(f"{key} {value:.4g}")
    return ", ".join(parts)


def alert_html(text: str) -> str:
    import html

    lines = []
    for line in text.splitlines():
        style = " style='color:#b00020;font-weight:bold'" if line.startswith("ALERT") else ""
        lines.append(f"<div{style}>{html.escape(line)}</div>")
    return f"<div class='nbm-observation'>{''.join(lines)}</div>"
