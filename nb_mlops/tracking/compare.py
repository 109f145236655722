"""Runs side by side: what the comparison widget shows, and its static HTML/text form.

`compare(ws, runs, filter)` gathers the run documents; a `Comparison` answers the widget's
questions (params and metrics that differ among the selected runs, metric curves, data versions,
figures and tables) and renders itself without a kernel: an escaped runs table, the differences,
and an SVG chart per metric (see svgchart.py).
"""

from __future__ import annotations

import html
import os
from typing import Any

import numpy as np

from nb_mlops.clock import local_time
from nb_mlops.errors import RunNotFound
from nb_mlops.results import Result
from nb_mlops.store.pack import load_run_columns
from nb_mlops.store.workspace import Workspace
from nb_mlops.text import fmt_value, human_duration, text_table
from nb_mlops.tracking import active
from nb_mlops.tracking.query import all_runs, live_metrics, resolve_run, select_runs
from nb_mlops.tracking.views import (
    STATIC_ROWS,
    TABLE_STYLE,
    more_runs_text,
    runs_table_html,
)
from nb_mlops.values import same_value

__all__ = ["DEFAULT_SELECTED", "Comparison", "compare"]

DEFAULT_SELECTED = 5
_MISSING = object()
_MAX_CHARTS = 12  # static view: charts for at most this many metrics
_Series = tuple[np.ndarray, np.ndarray, np.ndarray]
_EMPTY_SERIES: _Series = (
    np.empty(0, dtype=np.int64),
    np.empty(0, dtype=np.float64),
    np.empty(0, dtype=np.float64),
)


class Comparison(Result):
    """Runs side by side: the data behind the comparison widget, with a static HTML/text view."""

    def __init__(
        self,
        ws: Workspace,
        runs: list[dict[str, Any]],
        selected: list[str] | None = None,
        filter: str | None = None,
    ) -> None:
        self.ws = ws
        self.runs: list[dict[str, Any]] = runs
        """Run documents (as nm.runs/select_runs give them), newest first."""
        self.filter = filter
        self._by_id = {d["run_id"]: d for d in runs}
        if selected is None:
            selected = [d["run_id"] for d in runs[:DEFAULT_SELECTED]]
        self.selected: list[str] = [r for r in selected if r in self._by_id]
        """Run ids selected at first: the runs named, else the first five."""
        self._series: dict[str, dict[str, _Series]] = {}
        self._stamp: dict[str, tuple[int, int]] = {}

    # ------------------------------------------------------------------ the data
    def run_ids(self) -> list[str]:
        """Every run's id, newest first."""
        return [d["run_id"] for d in self.runs]

    def doc(self, run_id: str) -> dict[str, Any]:
        """The run document of `run_id` (one of this comparison's runs)."""
        try:
            return self._by_id[run_id]
        except KeyError:
            raise RunNotFound(f"run {run_id!r} is not in this comparison") from None

    def params(self) -> list[str]:
        """Param names of all runs, sorted."""
        return sorted({k for d in self.runs for k in d.get("params") or ()})

    def metrics(self) -> list[str]:
        """Metric names of all runs, sorted."""
        return sorted({k for d in self.runs for k in d.get("metrics") or ()})

    def series(self, run_id: str, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps, values, unix times) of one metric of one run, in step order (stable).

        The run's points (its metrics file, or its line in the pack) are read once and kept; a
        run still running is re-read when its file has grown, and a run active in this process
        is flushed first. A metric the run does not have gives empty arrays. Do not modify the
        arrays: they are shared.
        """
        doc = self.doc(run_id)
        for run in active.active_runs():
            if run.run_id == run_id:
                run.flush()
        path = self.ws.run_files(run_id).metrics
        cached = self._series.get(run_id)
        if cached is not None and doc.get("status") == "running":
            if self._stamp.get(run_id) != _stamp(path):
                cached = None
        if cached is None:
            self._stamp[run_id] = _stamp(path)
            cached = self._series[run_id] = _group(load_run_columns(self.ws, doc))
        return cached.get(metric, _EMPTY_SERIES)

    def invalidate(self, run_id: str | None = None) -> None:
        """Forget cached series (of one run, or all) so the next `series` reads the file again."""
        if run_id is None:
            self._series.clear()
            self._stamp.clear()
        else:
            self._series.pop(run_id, None)
            self._stamp.pop(run_id, None)

    def differing(self, run_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Params and last metric values that differ among `run_ids`.

        `{"params": {key: {run_id: value}}, "metrics": {key: {run_id: last}}}` with only the keys
        whose values are not all the same; a run without the key counts as different and has
        None. NaN equals NaN. Fewer than two runs differ in nothing.
        """
        docs = [self.doc(r) for r in dict.fromkeys(run_ids)]
        out: dict[str, dict[str, dict[str, Any]]] = {"params": {}, "metrics": {}}
        if len(docs) < 2:
            return out
        for section in ("params", "metrics"):
            keys = sorted({k for d in docs for k in d.get(section) or ()})
            for key in keys:
                values = [(d.get(section) or {}).get(key, _MISSING) for d in docs]
                first = values[0]
                if all(v is not _MISSING for v in values) and all(
                    same_value(first, v) for v in values[1:]
                ):
                    continue
                out[section][key] = {
                    d["run_id"]: None if v is _MISSING else v
                    for d, v in zip(docs, values, strict=True)
                }
        return out

    def data_versions(self, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """run_id -> the dataset versions the run read ({path, version, md5})."""
        return {r: list(self.doc(r).get("data") or []) for r in dict.fromkeys(run_ids)}

    def figures(self, run_id: str) -> list[dict[str, Any]]:
        """The run's stored figures (records, see media.py)."""
        return list(self.doc(run_id).get("figures") or [])

    def tables(self, run_id: str) -> list[dict[str, Any]]:
        """The run's stored tables (records, see media.py)."""
        return list(self.doc(run_id).get("tables") or [])

    def label(self, run_id: str) -> str:
        """How a run is named in legends: `name (id)`."""
        doc = self.doc(run_id)
        return f"{doc.get('name') or ''} ({run_id})"

    def to_dict(self) -> dict[str, Any]:
        keys = ("run_id", "name", "experiment", "status", "start", "duration", "parent")
        return {
            "filter": self.filter,
            "runs": [
                {
                    **{k: d.get(k) for k in keys},
                    "params": d.get("params") or {},
                    "metrics": d.get("metrics") or {},
                }
                for d in self.runs
            ],
            "selected": list(self.selected),
            "differing": self.differing(self.selected),
            "data_versions": self.data_versions(self.selected),
        }

    # ------------------------------------------------------------ static views
    def _diff_rows(self) -> list[tuple[str, list[Any]]]:
        diff = self.differing(self.selected)
        return [
            (f"{section}.{key}", [values[r] for r in self.selected])
            for section in ("params", "metrics")
            for key, values in diff[section].items()
        ]

    def to_text(self) -> str:
        """The first STATIC_ROWS runs (selected ones starred) and what differs among the
        selected runs (`to_dict()` or `nm.runs()` have every run)."""
        if not self.runs:
            return f"no runs to compare{' match ' + self.filter if self.filter else ''}"
        header = ["", "run_id", "name", "status", "start", "duration"]
        chosen = set(self.selected)
        rows = [
            [
                "*" if d["run_id"] in chosen else "",
                d["run_id"],
                d.get("name") or "",
                d.get("status") or "",
                local_time(d.get("start")),
                human_duration(d.get("duration")),
            ]
            for d in self.runs[:STATIC_ROWS]
        ]
        out = [text_table(header, rows)]
        if len(self.runs) > STATIC_ROWS:
            out.append(more_runs_text(len(self.runs) - STATIC_ROWS))
        out.append(
            f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}, "
            f"{len(self.selected)} selected (*)"
        )
        diff = self._diff_rows()
        if len(self.selected) > 1:
            if diff:
                out.append("\nDiffering among the selected runs:")
                out.append(
                    text_table(
                        ["key", *(self.doc(r).get("name") or r for r in self.selected)],
                        [[k, *(fmt_value(v) for v in vals)] for k, vals in diff],
                    )
                )
            else:
                out.append("\nThe selected runs have the same params and metrics.")
        return "\n".join(out)

    def color(self, run_id: str) -> str:
        """A run's colour in charts and tables: fixed by its place in `run_ids()` (never by the
        selection), the same formula as the widgets' `run_color`."""
        from nb_mlops.svgchart import PALETTE

        return PALETTE[self.run_ids().index(run_id) % len(PALETTE)]

    def to_html(self) -> str:
        """The first STATIC_ROWS runs (selected ones ticked), what differs among the selected
        runs, a chart per metric with a plain-text caption, and the selected runs' figures.

        Bounded whatever the number of runs, and readable with no stylesheet or after a
        sanitizer has removed styles and SVG: nothing is said by colour alone."""
        esc = html.escape
        if not self.runs:
            text = f"no runs to compare{' match ' + self.filter if self.filter else ''}"
            return f'<div class="nbm-compare">{esc(text)}</div>'
        count = len(self.runs)
        footer = f"{count:,} run{'s' if count != 1 else ''}, {len(self.selected)} selected (✓)"
        if self.filter:
            footer += f" · matching {self.filter}"
        parts = [
            '<div class="nbm-compare">',
            runs_table_html(self.runs, marked=set(self.selected)),
            f'<p class="nbm-footer">{esc(footer)}</p>',
        ]
        if len(self.selected) > 1:
            parts.append(self._diff_html())
        parts.append(self._charts_html())
        parts.append(self._figures_html())
        parts.append("</div>")
        return "".join(parts)

    def _diff_html(self) -> str:
        esc = html.escape
        diff = self._diff_rows()
        out = ["<h4>Differing among the selected runs</h4>"]
        if not diff:
            out.append("<p>The selected runs have the same params and metrics.</p>")
            return "".join(out)
        cols = "".join(f"<th>{esc(self.label(r))}</th>" for r in self.selected)
        rows = "".join(
            f"<tr><th>{esc(k)}</th>"
            + "".join(f"<td>{esc(fmt_value(v))}</td>" for v in vals)
            + "</tr>"
            for k, vals in diff
        )
        out.append(
            f'{TABLE_STYLE}<table class="nbm-table nbm-static nbm-diff"><thead><tr><th>key</th>'
            f"{cols}</tr></thead><tbody>{rows}</tbody></table>"
        )
        return "".join(out)

    def _charts_html(self) -> str:
        """One SVG chart per metric of the selected runs, each with a caption in plain text
        (the runs and their last values), so the numbers survive a sanitizer that drops SVG."""
        from nb_mlops.svgchart import line_chart

        chosen = set(self.selected)
        metrics = self.metrics()
        shown = [m for m in metrics if any(m in (self.doc(r).get("metrics") or {}) for r in chosen)]
        charts = []
        for metric in shown[:_MAX_CHARTS]:
            lines, colors, lasts = {}, [], []
            for r in self.selected:
                steps, values, _ = self.series(r, metric)
                if len(steps):
                    lines[self.label(r)] = (steps, values)
                    colors.append(self.color(r))
                    lasts.append(f"{self.label(r)} {fmt_value(float(values[-1]))}")
            if lines:
                svg = line_chart(lines, title=metric, colors=colors)
                charts.append(_captioned(svg, _chart_caption(metric, lasts)))
        if not charts:
            return ""
        more = len(shown) - _MAX_CHARTS
        return (
            "<h4>Metrics of the selected runs</h4>"
            '<div class="nbm-charts" style="display:flex;flex-wrap:wrap;gap:8px">'
            + "".join(charts)
            + "</div>"
            + (f"<p>(+{more} more metrics in the widget)</p>" if more > 0 else "")
        )

    def _figures_html(self) -> str:
        """Figures of the selected runs side by side, one row per figure name."""
        from nb_mlops.tracking.media import figure_html

        esc = html.escape
        names: list[str] = []
        for r in self.selected:
            for f in self.figures(r):
                if f.get("name") not in names:
                    names.append(f.get("name"))
        if not names:
            return ""
        out = ["<h4>Figures of the selected runs</h4>"]
        for name in names:
            cells = []
            for r in self.selected:
                rec = next((f for f in self.figures(r) if f.get("name") == name), None)
                if rec is not None:
                    cells.append(
                        f'<div><div class="nbm-caption">{esc(self.label(r))}</div>'
                        f"{figure_html(self.ws, rec, max_width=360)}</div>"
                    )
            out.append(
                '<div class="nbm-figures" style="display:flex;flex-wrap:wrap;gap:8px">'
                + "".join(cells)
                + "</div>"
            )
        return "".join(out)


_CAPTION_RUNS = 8  # runs named in a chart's caption


def _chart_caption(metric: str, lasts: list[str]) -> str:
    """'accuracy by step, last values: a (r1) 0.91; b (r2) 0.87' (at most _CAPTION_RUNS runs)."""
    named = "; ".join(lasts[:_CAPTION_RUNS])
    more = len(lasts) - _CAPTION_RUNS
    if more > 0:
        named += f"; +{more} more run{'s' if more != 1 else ''}"
    return f"{metric} by step, last values: {named}"


def _captioned(svg: str, caption: str) -> str:
    """A chart and its caption as a <figure>: the caption is text outside the <svg>."""
    return (
        f'<figure class="nbm-chart-box" style="margin:0">{svg}'
        f'<figcaption class="nbm-caption" style="max-width:420px;font-size:0.85em">'
        f"{html.escape(caption)}</figcaption></figure>"
    )


def _stamp(path: os.PathLike) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _group(columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, _Series]:
    """Series by metric as read-only (steps, values, times) arrays, stably sorted by step."""
    out = {}
    for key, (s, v, t) in columns.items():
        if len(s) > 1 and (np.diff(s) < 0).any():
            order = np.argsort(s, kind="stable")
            s, v, t = s[order], v[order], t[order]
        for a in (s, v, t):
            a.flags.writeable = False
        out[key] = (s, v, t)
    return out


def compare(ws: Workspace, runs: list[str] | None = None, filter: str | None = None) -> Comparison:
    """Runs to compare: the runs named (id, unique prefix, or name = latest), those matching
    `filter`, or all runs; the named runs are selected, else the first five (newest first)."""
    named: list[dict[str, Any]] = []
    if runs:
        every = all_runs(ws)  # exact ids are looked up here; names and prefixes resolved one by one
        chosen: set[str] = set()
        for ref in runs:
            doc = every.get(ref) if isinstance(ref, str) else None
            doc = doc if doc is not None else resolve_run(ws, ref)
            if doc["run_id"] in chosen:
                continue
            chosen.add(doc["run_id"])
            if doc.get("status") == "running":
                doc = {**doc, "metrics": live_metrics(ws, doc)}
            named.append(doc)
    docs = select_runs(ws, filter) if filter or not runs else []
    seen = {d["run_id"] for d in docs}
    docs += [d for d in named if d["run_id"] not in seen]
    docs.sort(key=lambda d: d.get("start") or "", reverse=True)
    selected = [d["run_id"] for d in named] if named else None
    return Comparison(ws, docs, selected, filter=filter or None)
