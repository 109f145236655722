"""Result objects for runs: each renders itself as text, HTML and JSON-able dicts.

The magic displays them (HTML in a notebook, text elsewhere), the CLI prints their text or
`to_dict()`, and a notebook saved without a kernel still shows their HTML. Every user string goes
through `html.escape`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from nb_mlops.results import Result
from nb_mlops.text import fmt_duration, fmt_value, human_bytes, short_time, text_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from nb_mlops.store.workspace import Workspace

STATUS_COLORS = {
    "running": "#1f77b4",
    "finished": "#2ca02c",
    "failed": "#d62728",
    "interrupted": "#ff7f0e",
    "crashed": "#8c564b",
}
_MAX_TEXT_COLUMNS = 10


def status_badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#7f7f7f")
    return (
        f'<span class="nbm-status nbm-status-{html.escape(status)}" '
        f'style="color:{color};font-weight:600">{html.escape(status)}</span>'
    )


@dataclass(repr=False)
class RunTable(Result):
    """Runs matching a filter, newest first (what `%track runs` shows and `nm.runs` frames)."""

    runs: list[dict[str, Any]]
    filter: str | None = None
    store: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        from nb_mlops.tracking.query import runs_frame

        return runs_frame(self.runs)

    def to_dict(self) -> dict[str, Any]:
        keys = ("run_id", "name", "experiment", "status", "start", "end", "duration", "parent")
        return {
            "filter": self.filter,
            "count": len(self.runs),
            "store": self.store,
            "runs": [
                {
                    **{k: d.get(k) for k in keys},
                    "params": d.get("params") or {},
                    "metrics": d.get("metrics") or {},
                    "tags": d.get("tags") or {},
                }
                for d in self.runs
            ],
        }

    def _columns(self) -> list[tuple[str, str]]:
        cols: list[tuple[str, str]] = []
        for section in ("metrics", "params"):
            keys: set[str] = set()
            for d in self.runs:
                keys.update(d.get(section) or ())
            cols += [(section, k) for k in sorted(keys)]
        return cols

    def _footer(self) -> str:
        parts = [f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}"]
        if self.filter:
            parts.append(f"matching {self.filter}")
        if self.store:
            parts.append(
                f"store {self.store.get('path')}: {human_bytes(self.store.get('bytes', 0))}"
            )
        return " · ".join(parts)

    def to_text(self) -> str:
        if not self.runs:
            return f"no runs{' match ' + self.filter if self.filter else ''}\n{self._footer()}"
        cols = self._columns()
        shown = cols[:_MAX_TEXT_COLUMNS]
        header = ["run_id", "name", "status", "start", "duration"] + [f"{s}.{k}" for s, k in shown]
        rows = [
            [
                d["run_id"],
                d.get("name") or "",
                d.get("status") or "",
                short_time(d.get("start")),
                fmt_duration(d.get("duration")),
            ]
            + [fmt_value((d.get(s) or {}).get(k)) for s, k in shown]
            for d in self.runs
        ]
        more = (
            f" (+{len(cols) - len(shown)} more columns: use --json)" if cols[len(shown) :] else ""
        )
        return text_table(header, rows) + "\n" + self._footer() + more

    def to_html(self) -> str:
        esc = html.escape
        cols = self._columns()
        head = "".join(
            f"<th>{esc(h)}</th>"
            for h in ["run_id", "name", "experiment", "status", "start", "duration"]
        ) + "".join(f"<th>{esc(s)}.{esc(k)}</th>" for s, k in cols)
        body = []
        for d in self.runs:
            cells = [
                f"<td><code>{esc(d['run_id'])}</code></td>",
                f"<td>{esc(d.get('name') or '')}</td>",
                f"<td>{esc(d.get('experiment') or '')}</td>",
                f"<td>{status_badge(d.get('status') or '')}</td>",
                f"<td>{esc(short_time(d.get('start')))}</td>",
                f"<td>{esc(fmt_duration(d.get('duration')))}</td>",
            ] + [f"<td>{esc(fmt_value((d.get(s) or {}).get(k)))}</td>" for s, k in cols]
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            '<div class="nbm-runs"><table class="nbm-table">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f'<div class="nbm-footer">{esc(self._footer())}</div></div>'
        )


_DETAIL_STYLE = (
    "<style>.nbm-kv{border-collapse:collapse;font-size:0.9em}"
    ".nbm-kv td,.nbm-kv th{padding:2px 8px;border-bottom:1px solid rgba(128,128,128,.25);"
    "text-align:left;vertical-align:middle}"
    ".nbm-run pre,.nbm-run-detail pre{max-height:30em;overflow:auto;margin:2px 0 8px}</style>"
)
_SPARK_POINTS = 240  # per metric sparkline


def _kv_table(rows: list[tuple[str, str]], *, raw_values: bool = False) -> str:
    """A two-column key/value table; values are escaped unless `raw_values` (already HTML)."""
    esc = html.escape
    if not rows:
        return "<i>none</i>"
    body = "".join(
        f"<tr><th>{esc(k)}</th><td>{v if raw_values else esc(v)}</td></tr>" for k, v in rows
    )
    return f"<table class='nbm-table nbm-kv'>{body}</table>"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    """An escaped table with a header row; the last column in <code> (hashes)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{esc(c)}</td>" for c in r[:-1])
        + f"<td><code>{esc(r[-1])}</code></td></tr>"
        for r in rows
    )
    return (
        f"<table class='nbm-table nbm-kv'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


@dataclass(repr=False)
class RunDetail(Result):
    """One run in full (what `%track show RUN` and `nb-mlops show RUN` display).

    Its HTML is built section by section (`sections()`, `section_html(name)`): the static view
    shows the sections one under another, the notebook widget shows the same HTML as tabs.
    """

    doc: dict[str, Any]
    ws: Workspace | None = field(default=None, repr=False, compare=False)
    """The store holding the run's figures and tables (found from the open stores if None)."""

    STYLE: ClassVar[str] = _DETAIL_STYLE
    """The stylesheet the sections' tables and code blocks expect (once per page or tab)."""

    def to_dict(self) -> dict[str, Any]:
        return self.doc

    def __getitem__(self, key: str) -> Any:
        """`nm.get_run("x")["params"]`: the run's fields, as in `to_dict()`."""
        return self.doc[key]

    def _text_sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The text form's titled key/value sections (the empty ones left out)."""
        d = self.doc
        overview = [
            ("run_id", d["run_id"]),
            ("name", d.get("name") or ""),
            ("experiment", d.get("experiment") or ""),
            ("status", d.get("status") or ""),
            ("start", d.get("start") or ""),
            ("end", d.get("end") or ""),
            ("duration", fmt_duration(d.get("duration"))),
        ]
        if d.get("parent"):
            overview.append(("parent", d["parent"]))
        if d.get("children"):
            overview.append(("children", ", ".join(d["children"])))
        if d.get("previous"):
            overview.append(("previous run of this cell", d["previous"]))
        series = d.get("series") or {}
        metrics = [
            (k, f"{fmt_value(v)}  ({len(series.get(k, []))} points)")
            for k, v in sorted((d.get("metrics") or {}).items())
        ]
        env = d.get("env") or {}
        git = env.get("git") or {}
        environment = [("python", env.get("python") or ""), ("platform", env.get("platform") or "")]
        if git:
            dirty = {True: " (dirty)", False: "", None: ""}.get(git.get("dirty"), "")
            environment.append(("git", f"{git.get('commit') or '?'}{dirty} on {git.get('branch')}"))
        environment += [(f"${k}", v) for k, v in (env.get("vars") or {}).items()]
        environment += [(f"seed.{k}", str(v)) for k, v in (d.get("seeds") or {}).items()]
        sections = [
            ("Run", overview),
            ("Params", [(k, fmt_value(v)) for k, v in sorted((d.get("params") or {}).items())]),
            ("Metrics", metrics),
            ("Tags", [(k, fmt_value(v)) for k, v in sorted((d.get("tags") or {}).items())]),
            (
                "Artifacts",
                [
                    (a["name"], f"{a['md5']}  {human_bytes(a.get('size', 0))}")
                    for a in d.get("artifacts") or []
                ],
            ),
            (
                "Data",
                [
                    (item["path"], f"version {item['version']}  ({item['md5']})")
                    for item in d.get("data") or []
                ],
            ),
            ("Environment", environment),
            ("Figures", [(f["name"], f.get("kind") or "") for f in d.get("figures") or []]),
            (
                "Tables",
                [
                    (t["name"], f"{t.get('rows')} rows × {len(t.get('columns') or [])} columns")
                    for t in d.get("tables") or []
                ],
            ),
            ("Flags", [("flag", f) for f in d.get("flags") or []]),
        ]
        return [(title, rows) for title, rows in sections if rows]

    def to_text(self) -> str:
        out = []
        for title, rows in self._text_sections():
            out.append(f"{title}:")
            width = max(len(k) for k, _ in rows)
            out += [f"  {k.ljust(width)}  {v}" for k, v in rows]
        cells = self.doc.get("cells") or []
        if cells:
            out.append(f"Cells ({len(cells)}):")
            for c in cells:
                first = (c.get("source") or "").strip().splitlines()[:1]
                out.append(f"  [{c.get('n')}] {c.get('status')}: {first[0] if first else ''}")
        err = self.doc.get("error")
        if err:
            out.append("Traceback:")
            out.append(err.get("traceback") or f"{err.get('type')}: {err.get('message')}")
        return "\n".join(out)

    def to_html(self) -> str:
        parts = ['<div class="nbm-run">', self.STYLE]
        for name in self.sections():
            parts.append(f"<h4>{name.capitalize()}</h4>{self.section_html(name)}")
        parts.append("</div>")
        return "".join(parts)

    # ------------------------------------------------------------------ HTML sections
    def sections(self) -> list[str]:
        """The names of the sections this run has, in order (the widget's tab titles)."""
        d = self.doc
        names = ["overview", "metrics", "artifacts", "data", "cells", "environment"]
        if d.get("stdout") or d.get("stderr"):
            names.append("output")
        if d.get("error"):
            names.append("traceback")
        if d.get("figures"):
            names.append("figures")
        if d.get("tables"):
            names.append("tables")
        return names

    def section_html(self, name: str) -> str:
        """One section as escaped HTML (styled by `STYLE`)."""
        builders = {
            "overview": self._overview_html,
            "metrics": self._metrics_html,
            "artifacts": self._artifacts_html,
            "data": self._data_html,
            "cells": self._cells_html,
            "environment": self._environment_html,
            "output": self._output_html,
            "traceback": self._traceback_html,
            "figures": self._figures_html,
            "tables": self._tables_html,
        }
        if name not in builders:
            raise ValueError(f"a run has no section {name!r}; its sections: {', '.join(builders)}")
        return builders[name]()

    def metric_series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each metric's logged points as (steps, values) arrays, in step order."""
        import numpy as np

        out = {}
        for key, points in (self.doc.get("series") or {}).items():
            arr = np.asarray(points, dtype=np.float64).reshape(-1, 3)
            arr = arr[np.argsort(arr[:, 0], kind="stable")]
            out[key] = (arr[:, 0], arr[:, 1])
        return out

    def _overview_html(self) -> str:
        d = self.doc
        run = [
            ("run_id", d["run_id"]),
            ("name", d.get("name") or ""),
            ("experiment", d.get("experiment") or ""),
            ("start", d.get("start") or ""),
            ("end", d.get("end") or ""),
            ("duration", fmt_duration(d.get("duration"))),
        ]
        for key, label in (("parent", "parent"), ("previous", "previous run of this cell")):
            if d.get(key):
                run.append((label, str(d[key])))
        if d.get("children"):
            run.append(("children", ", ".join(d["children"])))
        run += [("flag", str(f)) for f in d.get("flags") or []]
        status = [("status", status_badge(d.get("status") or ""))]
        params = [(k, fmt_value(v)) for k, v in sorted((d.get("params") or {}).items())]
        tags = [(k, fmt_value(v)) for k, v in sorted((d.get("tags") or {}).items())]
        return (
            _kv_table(status, raw_values=True)
            + _kv_table(run)
            + "<h4>Params</h4>"
            + _kv_table(params)
            + ("<h4>Tags</h4>" + _kv_table(tags) if tags else "")
        )

    def _metrics_html(self) -> str:
        """Last value, point count and a sparkline per metric."""
        import numpy as np

        from nb_mlops.downsample import downsample
        from nb_mlops.svgchart import sparkline

        esc = html.escape
        series = self.metric_series()
        metrics = self.doc.get("metrics") or {}
        names = sorted(set(metrics) | set(series))
        if not names:
            return "<i>no metrics</i>"
        rows = []
        for name in names:
            steps, values = series.get(name, (np.empty(0), np.empty(0)))
            spark = (
                sparkline(downsample(steps, values, _SPARK_POINTS)[1]) if len(values) > 1 else ""
            )
            rows.append(
                f"<tr><th>{esc(name)}</th><td>{esc(fmt_value(metrics.get(name)))}</td>"
                f"<td>{len(values):,} points</td><td>{spark}</td></tr>"
            )
        return (
            "<table class='nbm-table nbm-kv nbm-metrics'><thead><tr><th>metric</th>"
            f"<th>last</th><th>points</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>"
        )

    def _artifacts_html(self) -> str:
        items = self.doc.get("artifacts") or []
        if not items:
            return "<i>no artifacts (track.artifact(PATH) stores one)</i>"
        rows = [
            [
                str(a.get("name")),
                str(a.get("path") or ""),
                human_bytes(a.get("size") or 0),
                str(a.get("md5") or ""),
            ]
            for a in items
        ]
        return _grid(["name", "path", "size", "md5"], rows)

    def _data_html(self) -> str:
        items = self.doc.get("data") or []
        if not items:
            return "<i>no dataset versions recorded (%%track --data PATH records one)</i>"
        rows = [[str(i.get("path")), str(i.get("version")), str(i.get("md5") or "")] for i in items]
        return _grid(["dataset", "version", "md5"], rows)

    def _cells_html(self) -> str:
        esc = html.escape
        cells = self.doc.get("cells") or []
        if not cells:
            return "<i>no cells captured</i>"
        parts = []
        for c in cells:
            color = "#d62728" if c.get("status") == "error" else "inherit"
            parts.append(
                f"<div style='color:{color}'>[{esc(str(c.get('n')))}] "
                f"{esc(str(c.get('status')))} · {esc(fmt_duration(c.get('duration')))}</div>"
                f"<pre class='nbm-cell'>{esc(c.get('source') or '')}</pre>"
            )
        return "".join(parts)

    def _environment_html(self) -> str:
        d = self.doc
        env = d.get("env") or {}
        git = env.get("git") or {}
        rows = [("python", env.get("python") or ""), ("platform", env.get("platform") or "")]
        if git:
            dirty = {True: " (dirty)", False: "", None: ""}.get(git.get("dirty"), "")
            rows.append(("git", f"{git.get('commit') or '?'}{dirty} on {git.get('branch')}"))
        if env.get("packages"):
            rows.append(("packages (object)", str(env["packages"])))
        rows += [(f"${k}", fmt_value(v)) for k, v in (env.get("vars") or {}).items()]
        rows += [(f"seed.{k}", fmt_value(v)) for k, v in (d.get("seeds") or {}).items()]
        return _kv_table(rows)

    def _output_html(self) -> str:
        esc = html.escape
        parts = []
        for stream in ("stdout", "stderr"):
            text = self.doc.get(stream) or ""
            if text:
                parts.append(f"<h4>{stream}</h4><pre>{esc(text)}</pre>")
        return "".join(parts)

    def _traceback_html(self) -> str:
        err = self.doc.get("error") or {}
        text = err.get("traceback") or f"{err.get('type')}: {err.get('message')}"
        return f"<pre class='nbm-traceback' style='color:#a00'>{html.escape(text)}</pre>"

    def _figures_html(self) -> str:
        """The run's figures inline (the widget shows them live instead)."""
        from nb_mlops.tracking.media import figure_html

        ws = self._workspace()
        items = [figure_html(ws, f) for f in self.doc.get("figures") or []]
        return (
            '<div class="nbm-figures" style="display:flex;flex-wrap:wrap;gap:8px">'
            f"{''.join(items)}</div>"
        )

    def _tables_html(self) -> str:
        from nb_mlops.tracking.media import table_html

        ws = self._workspace()
        items = [table_html(ws, t) for t in self.doc.get("tables") or []]
        return (
            '<div class="nbm-tables" style="display:flex;flex-wrap:wrap;gap:8px">'
            f"{''.join(items)}</div>"
        )

    def _workspace(self) -> Workspace | None:
        """The store of this run: the one given, else an open store whose catalog has it."""
        if self.ws is not None:
            return self.ws
        from nb_mlops.store.workspace import open_workspaces
        from nb_mlops.tracking import active

        run_id = self.doc.get("run_id")
        candidates = [r.ws for r in active.active_runs()] + open_workspaces()
        for ws in candidates:
            try:
                if ("runs", run_id) in ws.catalog:
                    return ws
            except Exception:  # a store that went away: look at the next
                continue
        return None
