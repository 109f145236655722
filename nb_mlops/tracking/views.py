"""Result objects for runs: each renders itself as text, HTML and JSON-able dicts.

The magic displays them (HTML in a notebook, text elsewhere), the CLI prints their text or
`to_dict()`, and a notebook saved without a kernel still shows their HTML. Every user string goes
through `html.escape`.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nb_mlops.store.gc import human_bytes

if TYPE_CHECKING:
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


def fmt_value(value: Any) -> str:
    """A short display form: floats to 6 significant digits, lists/dicts as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def text_table(header: list[str], rows: list[list[str]], max_width: int = 40) -> str:
    """A plain aligned table (cells cut to `max_width`)."""

    def cut(s: str) -> str:
        s = s.replace("\n", " ")
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cut(h) for h in header]] + [[cut(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _short_time(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")


def status_badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#7f7f7f")
    return (
        f'<span class="nbm-status nbm-status-{html.escape(status)}" '
        f'style="color:{color};font-weight:600">{html.escape(status)}</span>'
    )


@dataclass
class RunTable:
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

    def __str__(self) -> str:
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
                _short_time(d.get("start")),
                fmt_duration(d.get("duration")),
            ]
            + [fmt_value((d.get(s) or {}).get(k)) for s, k in shown]
            for d in self.runs
        ]
        more = (
            f" (+{len(cols) - len(shown)} more columns: use --json)" if cols[len(shown) :] else ""
        )
        return text_table(header, rows) + "\n" + self._footer() + more

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
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
                f"<td>{esc(_short_time(d.get('start')))}</td>",
                f"<td>{esc(fmt_duration(d.get('duration')))}</td>",
            ] + [f"<td>{esc(fmt_value((d.get(s) or {}).get(k)))}</td>" for s, k in cols]
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (
            '<div class="nbm-runs"><table class="nbm-table">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f'<div class="nbm-footer">{esc(self._footer())}</div></div>'
        )


@dataclass
class RunDetail:
    """One run in full (what `%track show RUN` and `nb-mlops show RUN` display)."""

    doc: dict[str, Any]
    ws: Workspace | None = field(default=None, repr=False, compare=False)
    """The store holding the run's figures and tables (found from the open stores if None)."""

    def to_dict(self) -> dict[str, Any]:
        return self.doc

    def __getitem__(self, key: str) -> Any:
        """`nm.get_run("x")["params"]`: the run's fields, as in `to_dict()`."""
        return self.doc[key]

    def _sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
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

    def __str__(self) -> str:
        out = []
        for title, rows in self._sections():
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

    def __repr__(self) -> str:
        return str(self)

    def _workspace(self) -> Workspace | None:
        """The store of this run: the one given, else an open store whose catalog has it."""
        if self.ws is not None:
            return self.ws
        from nb_mlops.store.workspace import _OPEN
        from nb_mlops.tracking import active

        run_id = self.doc.get("run_id")
        candidates = [r.ws for r in active.active_runs()] + list(_OPEN.values())
        for ws in candidates:
            try:
                if ("runs", run_id) in ws.catalog:
                    return ws
            except Exception:  # a store that went away: look at the next
                continue
        return None

    def _rich_html(self, title: str) -> str:
        """The Figures / Tables sections: figures inline, table previews."""
        from nb_mlops.tracking.rich import figure_html, table_html

        ws = self._workspace()
        if title == "Figures":
            items = [figure_html(ws, f) for f in self.doc.get("figures") or []]
        else:
            items = [table_html(ws, t) for t in self.doc.get("tables") or []]
        return (
            f'<h4>{html.escape(title)}</h4><div class="nbm-{title.lower()}" '
            f'style="display:flex;flex-wrap:wrap;gap:8px">{"".join(items)}</div>'
        )

    def _repr_html_(self) -> str:
        from nb_mlops.tracking.svgchart import sparkline

        esc = html.escape
        series = self.doc.get("series") or {}
        parts = ['<div class="nbm-run">']
        for title, rows in self._sections():
            if title in ("Figures", "Tables"):
                parts.append(self._rich_html(title))
                continue
            parts.append(f"<h4>{esc(title)}</h4><table class='nbm-table'>")
            for k, v in rows:
                value = status_badge(v) if (title, k) == ("Run", "status") else esc(v)
                if title == "Metrics":
                    points = series.get(k) or []
                    ordered = sorted(points, key=lambda p: p[0])
                    spark = sparkline([p[1] for p in ordered]) if len(points) > 1 else ""
                    value += f"</td><td>{spark}"
                parts.append(f"<tr><th>{esc(k)}</th><td>{value}</td></tr>")
            parts.append("</table>")
        cells = self.doc.get("cells") or []
        if cells:
            parts.append(f"<h4>Cells ({len(cells)})</h4>")
            for c in cells:
                parts.append(
                    f"<div>[{esc(str(c.get('n')))}] {esc(str(c.get('status')))}</div>"
                    f"<pre>{esc(c.get('source') or '')}</pre>"
                )
        err = self.doc.get("error")
        if err:
            parts.append(f"<h4>Traceback</h4><pre>{esc(err.get('traceback') or '')}</pre>")
        parts.append("</div>")
        return "".join(parts)
