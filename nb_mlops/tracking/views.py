"""Result objects for runs: each renders itself as text, HTML and JSON-able dicts.

The magic displays them (HTML in a notebook, text elsewhere), the CLI prints their text or
`to_dict()`, and a notebook saved without a kernel still shows their HTML. Every user string goes
through `html.escape`.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from nb_mlops.clock import local_time
from nb_mlops.errors import StoreError
from nb_mlops.results import Result
from nb_mlops.text import (
    fmt_duration,
    fmt_value,
    human_bytes,
    human_duration,
    plural,
    short_time,
    text_table,
)

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
STATIC_ROWS = 100
"""Rows a static table (text/html of `%track runs`, `nm.compare()`) shows; a note says the rest."""
BORDER = "var(--jp-border-color2, rgba(128,128,128,.3))"
"""Table rules: JupyterLab's border colour (light and dark themes), a grey elsewhere."""
MUTED = "var(--jp-ui-font-color2, inherit)"
LONG_TOKEN = 40
"""A word longer than this (a hash, a path, a URI) may break anywhere; shorter ones never do."""


def table_css(klass: str, *, wrap: bool = True) -> str:
    """The static tables' stylesheet for `table.KLASS`: left-aligned text that wraps only at
    spaces (never hyphenated or cut), times and numbers on one line, theme colours. Without
    `wrap`, no cell wraps (the runs table: one line per run, no class per cell needed).

    The selectors outrank JupyterLab's own table rules (which right-align and centre), and
    the tables read the same without this stylesheet (a sanitizer removes it)."""
    t = f"table.{klass}.{klass}"
    return (
        f"<style>{t}{{border-collapse:collapse;table-layout:auto;margin:0 0 8px 0;"
        "font-size:0.9em;color:var(--jp-ui-font-color1, inherit)}"
        f"{t} th,{t} td{{padding:2px 8px;text-align:left;vertical-align:top;"
        f"border-bottom:1px solid {BORDER};white-space:{'normal' if wrap else 'nowrap'};"
        "hyphens:manual;"
        "word-break:normal;overflow-wrap:normal;max-width:none;overflow:visible}"
        f"{t} thead th{{font-weight:600;white-space:nowrap}}"
        f"{t} .nbm-time,{t} .nbm-num,{t} code{{white-space:nowrap}}"
        f"{t} .nbm-text{{min-width:14em}}"
        f"{t} .nbm-long{{overflow-wrap:anywhere;min-width:18em}}"
        f".nbm-more,.nbm-footer{{color:{MUTED};margin:4px 0}}</style>"
    )


_TIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


def cell_class(text: str) -> str:
    """How a static table cell should wrap: 'nbm-time' (a time: one line), 'nbm-long' (holds a
    very long token: may break anywhere), 'nbm-text' (prose: wraps at spaces, kept wide) or ''."""
    if _TIME.match(text):
        return "nbm-time"
    if any(len(word) > LONG_TOKEN for word in text.split()):
        return "nbm-long"
    if len(text) > 30 and " " in text:
        return "nbm-text"
    return ""


def td(text: str) -> str:
    """One escaped <td>, classed by `cell_class`."""
    klass = cell_class(text)
    return (
        f"<td class='{klass}'>{html.escape(text)}</td>"
        if klass
        else f"<td>{html.escape(text)}</td>"
    )


TABLE_STYLE = table_css("nbm-static", wrap=False)
"""The stylesheet of the static run tables: optional (they read the same without it)."""


def status_badge(status: str) -> str:
    """A run status as its word, coloured (the word carries it: no information in colour only)."""
    color = STATUS_COLORS.get(status, "#7f7f7f")
    return (
        f'<span class="nbm-status nbm-status-{html.escape(status)}" '
        f'style="color:{color};font-weight:600">{html.escape(status)}</span>'
    )


def more_runs_text(count: int) -> str:
    """The line under a static table that leaves `count` runs out."""
    return f"{count:,} more run{'s' if count != 1 else ''} — `nm.runs()` has them all"


def more_runs_html(count: int) -> str:
    """`more_runs_text` as HTML (`nm.runs()` in <code>)."""
    noun = "run" if count == 1 else "runs"
    return f'<p class="nbm-more">{count:,} more {noun} — <code>nm.runs()</code> has them all</p>'


def run_columns(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(section, key) of every metric, then every param, of `runs` (each section sorted)."""
    cols: list[tuple[str, str]] = []
    for section in ("metrics", "params"):
        keys: set[str] = set()
        for d in runs:
            keys.update(d.get(section) or ())
        cols += [(section, k) for k in sorted(keys)]
    return cols


def runs_table_html(
    runs: list[dict[str, Any]], *, marked: set[str] | None = None, limit: int = STATIC_ROWS
) -> str:
    """The static runs table: id, name, status, metrics, params, experiment, start, duration.

    The first `limit` runs, then a line saying how many are left out. With `marked`, a first
    column ticks (✓) the runs in it (the selected ones). Every cell is escaped; it reads the same
    without its stylesheet or after a sanitizer strips styles.
    """
    esc = html.escape
    cols = run_columns(runs)
    heads = (["selected"] if marked is not None else []) + ["run_id", "name", "status"]
    heads += [f"{s}.{k}" for s, k in cols] + ["experiment", "start", "duration"]
    body = []
    for d in runs[:limit]:
        cells = []
        if marked is not None:
            cells.append(f"<td>{'✓' if d['run_id'] in marked else ''}</td>")
        cells += [
            f"<td><code>{esc(d['run_id'])}</code></td>",
            f"<td>{esc(d.get('name') or '')}</td>",
            f"<td>{status_badge(d.get('status') or '')}</td>",
        ]
        cells += [f"<td>{esc(fmt_value((d.get(s) or {}).get(k)))}</td>" for s, k in cols]
        cells += [
            f"<td>{esc(d.get('experiment') or '')}</td>",
            f"<td>{esc(local_time(d.get('start')))}</td>",
            f"<td>{esc(human_duration(d.get('duration')))}</td>",
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    more = len(runs) - limit
    return (
        f"{TABLE_STYLE}<table class='nbm-table nbm-static'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (more_runs_html(more) if more > 0 else "")
    )


@dataclass(repr=False)
class RunTable(Result):
    """Runs matching a filter, newest first or in `order_by` order (what `%track runs` shows
    and `nm.runs` frames)."""

    runs: list[dict[str, Any]]
    filter: str | None = None
    store: dict[str, Any] = field(default_factory=dict)
    order_by: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        from nb_mlops.tracking.query import runs_frame

        return runs_frame(self.runs)

    def page(self, offset: int, limit: int) -> RunTable:
        """`limit` runs from `offset` on, as a table of their own (a listing shows one page of
        a large selection; only the page's runs are read)."""
        part = getattr(self.runs, "part", None)
        runs = part(offset, offset + limit) if part else self.runs[offset : offset + limit]
        return RunTable(runs, self.filter, self.store, list(self.order_by))

    def _listed(self) -> list[dict[str, Any]]:
        """The runs' listing fields (from the store's columns when selected from them)."""
        summaries = getattr(self.runs, "summaries", None)
        return summaries() if summaries is not None else list(self.runs)

    def to_dict(self) -> dict[str, Any]:
        keys = ("run_id", "name", "experiment", "status", "start", "end", "duration", "parent")
        return {
            "filter": self.filter,
            "order_by": list(self.order_by),
            "count": len(self.runs),
            "store": self.store,
            "runs": [
                {
                    **{k: d.get(k) for k in keys},
                    "params": d.get("params") or {},
                    "metrics": d.get("metrics") or {},
                    "tags": d.get("tags") or {},
                }
                for d in self._listed()
            ],
        }

    def _columns(self) -> list[tuple[str, str]]:
        return run_columns(self._listed())

    def _footer(self) -> str:
        parts = [f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}"]
        if self.filter:
            parts.append(f"matching {self.filter}")
        if self.order_by:
            parts.append(f"ordered by {', '.join(self.order_by)}")
        if self.store:
            size = self.store.get("bytes")
            shown = human_bytes(size) if size is not None else "size not counted (many files)"
            parts.append(f"store {self.store.get('path')}: {shown}")
        return " · ".join(parts)

    def to_text(self) -> str:
        if not self.runs:
            return f"no runs{' match ' + self.filter if self.filter else ''}\n{self._footer()}"
        listed = self._listed()
        cols = run_columns(listed)
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
            for d in listed
        ]
        more = (
            f" (+{len(cols) - len(shown)} more columns: use --json)" if cols[len(shown) :] else ""
        )
        return text_table(header, rows) + "\n" + self._footer() + more

    def to_html(self) -> str:
        """The first STATIC_ROWS runs (then how many more), and the footer."""
        if not self.runs:
            text = f"no runs{' match ' + self.filter if self.filter else ''}"
            return f'<div class="nbm-runs"><p>{html.escape(text)}</p></div>'
        return (
            f'<div class="nbm-runs">{runs_table_html(self._listed())}'
            f'<p class="nbm-footer">{html.escape(self._footer())}</p></div>'
        )


_DETAIL_STYLE = (
    table_css("nbm-kv")[: -len("</style>")] + "table.nbm-kv.nbm-kv th{white-space:nowrap}"
    ".nbm-run h5,.nbm-run-detail h5{margin:10px 0 2px}"
    ".nbm-packages summary{cursor:pointer;margin:8px 0 2px}"
    ".nbm-run pre,.nbm-run-detail pre{max-height:30em;overflow:auto;margin:2px 0 8px;"
    "background:var(--jp-layout-color2, transparent);color:var(--jp-content-font-color1, inherit)}"
    "</style>"
)
_SPARK_POINTS = 240  # per metric sparkline


def _kv_table(rows: list[tuple[str, str]], *, raw_values: bool = False) -> str:
    """A two-column key/value table; values are escaped unless `raw_values` (already HTML)."""
    esc = html.escape
    if not rows:
        return "<i>none</i>"
    body = "".join(
        f"<tr><th>{esc(k)}</th>{f'<td>{v}</td>' if raw_values else td(v)}</tr>" for k, v in rows
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
            ("start", local_time(d.get("start"))),
            ("end", local_time(d.get("end"))),
            ("duration", human_duration(d.get("duration"))),
        ]
        if d.get("parent"):
            overview.append(("parent", d["parent"]))
        if d.get("children"):
            overview.append(("children", ", ".join(d["children"])))
        if d.get("previous"):
            overview.append(("previous run of this cell", d["previous"]))
        series = d.get("series") or {}
        metrics = [
            (k, f"{fmt_value(v)}  ({plural(len(series.get(k, [])), 'point')})")
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
            ("start", local_time(d.get("start"))),
            ("end", local_time(d.get("end"))),
            ("duration", human_duration(d.get("duration"))),
        ]
        for key, label in (("parent", "parent"), ("previous", "previous run of this cell")):
            if d.get(key):
                run.append((label, str(d[key])))
        if d.get("children"):
            run.append(("children", ", ".join(d["children"])))
        run += [("flag", str(f)) for f in d.get("flags") or []]
        status = [("status", status_badge(d.get("status") or ""))]
        metrics = [(k, fmt_value(v)) for k, v in sorted((d.get("metrics") or {}).items())]
        params = [(k, fmt_value(v)) for k, v in sorted((d.get("params") or {}).items())]
        tags = [(k, fmt_value(v)) for k, v in sorted((d.get("tags") or {}).items())]
        return (
            _kv_table(status + [(k, html.escape(v)) for k, v in run], raw_values=True)
            + "<h5>Final metrics</h5>"
            + (_kv_table(metrics) if metrics else "<i>no metrics</i>")
            + "<h5>Params</h5>"
            + (_kv_table(params) if params else "<i>no params</i>")
            + ("<h5>Tags</h5>" + _kv_table(tags) if tags else "")
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
                f"<td>{len(values):,} point{'s' if len(values) != 1 else ''}</td>"
                f"<td>{spark}</td></tr>"
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
            color = "var(--jp-error-color1, #d62728)" if c.get("status") == "error" else "inherit"
            parts.append(
                f"<div style='color:{color}'>[{esc(str(c.get('n')))}] "
                f"{esc(str(c.get('status')))} · {esc(human_duration(c.get('duration')))}</div>"
                f"<pre class='nbm-cell'>{esc(c.get('source') or '')}</pre>"
            )
        return "".join(parts)

    def packages(self) -> dict[str, str]:
        """The Python packages the run had installed, name -> version ({} when not recorded).

        Runs point at one stored environment object (system and packages) instead of carrying
        the list; it is read from the run's store."""
        ref = (self.doc.get("env") or {}).get("packages")
        ws = self._workspace() if ref else None
        if not ref or ws is None:
            return {}
        try:
            env = json.loads(ws.objects.read_bytes(ref))
        except (StoreError, ValueError, OSError):  # gone (gc) or damaged: said as not readable
            return {}
        found = env.get("packages") if isinstance(env, dict) else None
        if not isinstance(found, dict):
            return {}
        return {str(k): str(v) for k, v in sorted(found.items(), key=lambda kv: str(kv[0]).lower())}

    def _environment_html(self) -> str:
        d = self.doc
        env = d.get("env") or {}
        git = env.get("git") or {}
        rows = [("python", env.get("python") or ""), ("platform", env.get("platform") or "")]
        if git:
            dirty = {True: " (dirty)", False: "", None: ""}.get(git.get("dirty"), "")
            rows.append(("git", f"{git.get('commit') or '?'}{dirty} on {git.get('branch')}"))
        rows += [(f"${k}", fmt_value(v)) for k, v in (env.get("vars") or {}).items()]
        rows += [(f"seed.{k}", fmt_value(v)) for k, v in (d.get("seeds") or {}).items()]
        return _kv_table(rows) + self.packages_html()

    def packages_html(self) -> str:
        """The installed packages as a sorted name/version table, folded under a count."""
        esc = html.escape
        packages = self.packages()
        if not packages:
            recorded = (self.doc.get("env") or {}).get("packages")
            why = "not readable from this store" if recorded else "not recorded"
            return f"<h5>Packages</h5><i>packages {why}</i>"
        body = "".join(
            f"<tr><td>{esc(name)}</td><td>{esc(version)}</td></tr>"
            for name, version in packages.items()
        )
        count = len(packages)
        return (
            f"<details class='nbm-packages'><summary>{count:,} "
            f"package{'s' if count != 1 else ''} installed</summary>"
            "<table class='nbm-table nbm-kv'><thead><tr><th>package</th><th>version</th></tr>"
            f"</thead><tbody>{body}</tbody></table></details>"
        )

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
        return f"<pre class='nbm-traceback'>{html.escape(text)}</pre>"

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
