"""RunDetailWidget: one run in full (`%track show RUN`), as tabs.

Overview (status, params, tags), metrics (last values with sparklines and a small curves
figure), artifacts, data inputs, captured cells, environment, printed output, the traceback of
a failed run, and the run's figures and table previews. Figures inside tabs get a fixed size,
since a hidden tab has no width for plotly to autosize to. The static fallback is the
RunDetail's own HTML.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from nb_mlops.notebook.widgets.render import StaticFallback
from nb_mlops.store.gc import human_bytes
from nb_mlops.tracking.downsample import downsample
from nb_mlops.tracking.svgchart import PALETTE, sparkline
from nb_mlops.tracking.views import fmt_duration, fmt_value, status_badge

CURVE_POINTS = 1000  # per metric in the small curves figure
_STYLE = (
    "<style>.nbm-kv{border-collapse:collapse;font-size:0.9em}"
    ".nbm-kv td,.nbm-kv th{padding:2px 8px;border-bottom:1px solid rgba(128,128,128,.25);"
    "text-align:left;vertical-align:middle}"
    ".nbm-run-detail pre{max-height:30em;overflow:auto;margin:2px 0 8px}</style>"
)


def kv_table(rows: list[tuple[str, str]], *, raw_values: bool = False) -> str:
    """A two-column key/value table; values are escaped unless `raw_values` (already HTML)."""
    esc = html.escape
    if not rows:
        return "<i>none</i>"
    body = "".join(
        f"<tr><th>{esc(k)}</th><td>{v if raw_values else esc(v)}</td></tr>" for k, v in rows
    )
    return f"{_STYLE}<table class='nbm-table nbm-kv'>{body}</table>"


def _grid(header: list[str], rows: list[list[str]], *, code_last: bool = False) -> str:
    """An escaped table with a header row; the last column in <code> (hashes)."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td><code>{esc(c)}</code></td>"
            if code_last and i == len(r) - 1
            else f"<td>{esc(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return (
        f"{_STYLE}<table class='nbm-table nbm-kv'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


class RunDetailWidget(StaticFallback, widgets.VBox):
    """A RunDetail (what `nm.get_run` returns) as a header and tabs."""

    def __init__(self, detail: Any, **kwargs: Any) -> None:
        self.detail = detail
        self.fallback = detail
        self.doc: dict[str, Any] = detail.to_dict()
        self.ws = getattr(detail, "ws", None)
        self.curves: go.FigureWidget | None = None
        tabs: list[tuple[str, widgets.Widget]] = [
            ("overview", widgets.HTML(self._overview_html())),
            ("metrics", self._metrics_tab()),
            ("artifacts", widgets.HTML(self._artifacts_html())),
            ("data", widgets.HTML(self._data_html())),
            ("cells", widgets.HTML(self._cells_html())),
            ("environment", widgets.HTML(self._environment_html())),
        ]
        if self.doc.get("stdout") or self.doc.get("stderr"):
            tabs.append(("output", widgets.HTML(self._output_html())))
        if self.doc.get("error"):
            tabs.append(("traceback", widgets.HTML(self._error_html())))
        if self.doc.get("figures"):
            tabs.append(("figures", self._figures_tab()))
        if self.doc.get("tables"):
            tabs.append(("tables", widgets.HTML(self._tables_html())))
        self.tabs = widgets.Tab(children=[w for _, w in tabs], titles=[t for t, _ in tabs])
        super().__init__([widgets.HTML(self._header_html()), self.tabs], **kwargs)
        self.add_class("nbm-run-detail")

    @property
    def tab_titles(self) -> list[str]:
        return list(self.tabs.titles)

    def _workspace(self) -> Any:
        if self.ws is None:
            from nb_mlops import api

            self.ws = api.workspace()
        return self.ws

    # ---------------------------------------------------------------- sections
    def _header_html(self) -> str:
        d, esc = self.doc, html.escape
        err = d.get("error") or {}
        line = (
            f"<b>{esc(d.get('name') or '')}</b> <code>{esc(d['run_id'])}</code> · "
            f"{status_badge(d.get('status') or '')} · {esc(d.get('experiment') or '')} · "
            f"{esc(fmt_duration(d.get('duration')))}"
        )
        if err:
            line += (
                f"<div style='color:#d62728'>{esc(err.get('type') or 'error')}: "
                f"{esc(err.get('message') or '')} (see the traceback tab)</div>"
            )
        return f"<div class='nbm-run-header'>{line}</div>"

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
            kv_table(status, raw_values=True)
            + kv_table(run)
            + "<h4>Params</h4>"
            + kv_table(params)
            + ("<h4>Tags</h4>" + kv_table(tags) if tags else "")
        )

    def _metric_series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        for key, points in (self.doc.get("series") or {}).items():
            arr = np.asarray(points, dtype=np.float64).reshape(-1, 3)
            arr = arr[np.argsort(arr[:, 0], kind="stable")]
            out[key] = (arr[:, 0], arr[:, 1])
        return out

    def _metrics_tab(self) -> widgets.Widget:
        esc = html.escape
        series = self._metric_series()
        metrics = self.doc.get("metrics") or {}
        names = sorted(set(metrics) | set(series))
        if not names:
            return widgets.HTML("<i>no metrics</i>")
        rows = []
        for name in names:
            steps, values = series.get(name, (np.empty(0), np.empty(0)))
            spark = sparkline(downsample(steps, values, 240)[1]) if len(values) > 1 else ""
            rows.append(
                f"<tr><th>{esc(name)}</th><td>{esc(fmt_value(metrics.get(name)))}</td>"
                f"<td>{len(values):,} points</td><td>{spark}</td></tr>"
            )
        table = widgets.HTML(
            f"{_STYLE}<table class='nbm-table nbm-kv nbm-metrics'><thead><tr><th>metric</th>"
            f"<th>last</th><th>points</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table>"
        )
        curves = [(n, *series[n]) for n in names if len(series.get(n, ((), ()))[0]) > 1]
        if not curves:
            return table
        self.curves = go.FigureWidget(
            layout={
                "width": 640,
                "height": 300,
                "autosize": False,
                "margin": {"l": 50, "r": 10, "t": 20, "b": 40},
                "xaxis": {"title": {"text": "step"}},
                "legend": {"orientation": "h", "y": -0.25},
            }
        )
        self.curves.add_class("nbm-detail-curves")
        with self.curves.batch_update():
            for i, (name, steps, values) in enumerate(curves):
                x, y = downsample(steps, values, CURVE_POINTS)
                self.curves.add_scatter(
                    x=x,
                    y=y,
                    name=esc(name),
                    mode="lines",
                    line={"color": PALETTE[i % len(PALETTE)], "width": 1.5},
                )
        return widgets.VBox([table, self.curves])

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
        return _grid(["name", "path", "size", "md5"], rows, code_last=True)

    def _data_html(self) -> str:
        items = self.doc.get("data") or []
        if not items:
            return "<i>no dataset versions recorded (%%track --data PATH records one)</i>"
        rows = [[str(i.get("path")), str(i.get("version")), str(i.get("md5") or "")] for i in items]
        return _grid(["dataset", "version", "md5"], rows, code_last=True)

    def _cells_html(self) -> str:
        esc = html.escape
        cells = self.doc.get("cells") or []
        if not cells:
            return "<i>no cells captured</i>"
        parts = [_STYLE]
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
        return kv_table(rows)

    def _output_html(self) -> str:
        esc = html.escape
        parts = [_STYLE]
        for stream in ("stdout", "stderr"):
            text = self.doc.get(stream) or ""
            if text:
                parts.append(f"<h4>{stream}</h4><pre>{esc(text)}</pre>")
        return "".join(parts)

    def _error_html(self) -> str:
        esc = html.escape
        err = self.doc.get("error") or {}
        text = err.get("traceback") or f"{err.get('type')}: {err.get('message')}"
        return f"{_STYLE}<pre class='nbm-traceback' style='color:#a00'>{esc(text)}</pre>"

    def _figures_tab(self) -> widgets.Widget:
        from nb_mlops.notebook.widgets.compare import figure_cell

        ws = self._workspace()
        cells = [
            figure_cell(ws, record, caption=str(record.get("name")), width=420)
            for record in self.doc.get("figures") or []
        ]
        return widgets.HBox(cells, layout=widgets.Layout(flex_flow="row wrap"))

    def _tables_html(self) -> str:
        from nb_mlops.tracking.rich import table_html

        ws = self._workspace()
        return "".join(table_html(ws, record) for record in self.doc.get("tables") or [])
