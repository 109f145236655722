"""Figures and tables stored with a run (`track.figure(fig)`, `track.table(df)`).

Their bytes go to the object store; the run document lists them under `figures` and `tables`
and names the objects in its `refs`, so gc keeps them. Records:

- plotly:     {"name", "kind": "plotly", "json": md5}              (fig.to_json(); no static
  image, which would need kaleido: views show a note, the widgets draw it)
- matplotlib: {"name", "kind": "matplotlib", "svg": md5, "png": md5}
- table:      {"name", "kind": "table", "parquet": md5, "preview": md5, "rows": n, "columns": [...]}
  (`preview` is the escaped HTML of the first 20 rows)

A name is unique within a run: storing under the same name again replaces the record.
"""

from __future__ import annotations

import base64
import html
import io
import re
from typing import TYPE_CHECKING, Any

from nb_mlops.errors import NbMlopsError, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from nb_mlops.store.workspace import Workspace
    from nb_mlops.tracking.run import Run

__all__ = [
    "PREVIEW_ROWS",
    "figure_html",
    "load_figure",
    "load_table",
    "store_figure",
    "store_table",
    "table_html",
]

PREVIEW_ROWS = 20
_PREVIEW_COLS = 50
_OBJECT_FIELDS = ("json", "svg", "png", "parquet", "preview")


def _figure_kind(fig: Any) -> tuple[str, Any]:
    """("plotly" | "matplotlib", the object to save) or a one-line error naming the type."""
    if hasattr(fig, "to_plotly_json") and hasattr(fig, "to_json"):
        return "plotly", fig
    if callable(getattr(fig, "savefig", None)):
        return "matplotlib", fig
    owner = getattr(fig, "figure", None)  # matplotlib Axes: store the figure it belongs to
    if owner is not None and callable(getattr(owner, "savefig", None)):
        return "matplotlib", owner
    kind = f"{type(fig).__module__}.{type(fig).__qualname__}"
    raise NbMlopsError(
        f"cannot store a figure of type {kind}: pass a plotly figure or a matplotlib figure"
    )


def _check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or "\n" in name or len(name) > 250:
        raise NbMlopsError(
            f"a {kind} name must be a non-empty line of at most 250 characters, got {name!r:.60}"
        )
    return name


def _default_name(prefix: str, taken: list[dict[str, Any]]) -> str:
    names = {r.get("name") for r in taken}
    n = len(taken) + 1
    while f"{prefix}-{n}" in names:
        n += 1
    return f"{prefix}-{n}"


def _objects(record: dict[str, Any]) -> set[str]:
    return {record[k] for k in _OBJECT_FIELDS if isinstance(record.get(k), str)}


def _save(run: Run, section: str, record: dict[str, Any]) -> dict[str, Any]:
    """Put `record` in the run's `section` list (replacing one of the same name) and its objects
    in the run's refs; refs only the replaced record held are dropped."""
    doc = run.ws.catalog.get("runs", run.run_id) or {}
    records = [r for r in doc.get(section) or [] if r.get("name") != record["name"]]
    replaced = [r for r in doc.get(section) or [] if r.get("name") == record["name"]]
    records.append(record)
    refs = run.refs  # the run's own list: log_artifact rewrites refs from it
    for md5 in sorted(_objects(record)):
        if md5 not in refs:
            refs.append(md5)
    still_used = set(_objects(record))
    for other in ("figures", "tables"):
        for r in records if other == section else doc.get(other) or []:
            still_used |= _objects(r)
    still_used |= {a.get("md5") for a in doc.get("artifacts") or []}
    still_used.add((doc.get("env") or {}).get("packages"))
    for old in replaced:
        for md5 in _objects(old) - still_used:
            if md5 in refs:
                refs.remove(md5)
    run.ws.catalog.set("runs", run.run_id, {section: records, "refs": list(refs)})
    return record


def store_figure(run: Run, fig: Any, name: str | None = None) -> dict[str, Any]:
    """Store a plotly or matplotlib figure with `run`; return its record."""
    run.check_open("store a figure")
    kind, obj = _figure_kind(fig)
    doc = run.ws.catalog.get("runs", run.run_id) or {}
    name = _check_name("figure", name) if name is not None else None
    name = name or _default_name("figure", doc.get("figures") or [])
    add = run.ws.objects.add_bytes
    if kind == "plotly":
        data = obj.to_json()
        record = {"name": name, "kind": "plotly", "json": add(data.encode("utf-8"))}
    else:
        svg, png = io.BytesIO(), io.BytesIO()
        try:
            obj.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
            obj.savefig(png, format="png", bbox_inches="tight")
        except Exception as exc:
            raise NbMlopsError(
                f"cannot store figure {name!r}: matplotlib failed to save it: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        record = {
            "name": name,
            "kind": "matplotlib",
            "svg": add(svg.getvalue()),
            "png": add(png.getvalue()),
        }
    return _save(run, "figures", record)


def _as_frame(df: Any, name: str) -> pd.DataFrame:
    import pandas as pd

    if isinstance(df, pd.DataFrame):
        return df
    try:
        return pd.DataFrame(df)
    except Exception as exc:
        kind = f"{type(df).__module__}.{type(df).__qualname__}"
        raise NbMlopsError(
            f"cannot store table {name!r}: {kind} is not a DataFrame and pandas.DataFrame() "
            f"does not accept it ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None


def store_table(run: Run, df: Any, name: str | None = None) -> dict[str, Any]:
    """Store a DataFrame (or what `pandas.DataFrame()` accepts) with `run`; return its record."""
    run.check_open("store a table")
    doc = run.ws.catalog.get("runs", run.run_id) or {}
    name = _check_name("table", name) if name is not None else None
    name = name or _default_name("table", doc.get("tables") or [])
    frame = _as_frame(df, name)
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, engine="pyarrow")
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NbMlopsError(
            f"cannot store table {name!r} as Parquet: {first} "
            "(give columns string names and one type each)"
        ) from None
    preview = frame.head(PREVIEW_ROWS).to_html(
        escape=True, max_cols=_PREVIEW_COLS, border=0, classes="nbm-table nbm-preview"
    )
    add = run.ws.objects.add_bytes
    record = {
        "name": name,
        "kind": "table",
        "parquet": add(buf.getvalue()),
        "preview": add(preview.encode("utf-8")),
        "rows": len(frame),
        "columns": [str(c) for c in frame.columns],
    }
    return _save(run, "tables", record)


def load_figure(ws: Workspace, record: dict[str, Any]) -> Any:
    """A stored figure: a plotly Figure (plotly records) or the SVG text (matplotlib records)."""
    kind = record.get("kind")
    if kind == "plotly":
        try:
            import plotly.io
        except ImportError:
            raise NbMlopsError(
                f"figure {record.get('name')!r} is a plotly figure: loading it needs the plotly "
                "package (pip install plotly)"
            ) from None
        return plotly.io.from_json(ws.objects.read_bytes(record["json"]).decode("utf-8"))
    if kind == "matplotlib":
        return ws.objects.read_bytes(record["svg"]).decode("utf-8")
    raise NbMlopsError(f"figure {record.get('name')!r} has an unknown kind {kind!r}")


def load_table(ws: Workspace, record: dict[str, Any]) -> pd.DataFrame:
    """A stored table as a DataFrame."""
    import pandas as pd

    if record.get("kind") != "table":
        raise NbMlopsError(f"{record.get('name')!r} is not a stored table")
    return pd.read_parquet(io.BytesIO(ws.objects.read_bytes(record["parquet"])), engine="pyarrow")


# ------------------------------------------------------------------ static HTML (views, compare)
_SVG_START = re.compile(rb"<svg[\s>]")
_SVG_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_UNSAFE_SVG = re.compile(
    rb"<script|<foreignObject|javascript:|<[^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL
)


def figure_html(ws: Workspace | None, record: dict[str, Any], max_width: int = 480) -> str:
    """A figure as self-contained HTML for a page without a kernel.

    matplotlib: its stored SVG inline (XML prologue and comments cut), or the PNG as a base64
    `<img>` when the SVG holds anything active (scripts, event handlers, links); plotly: a
    note, since a static image of a plotly figure needs kaleido. Missing objects give a note.
    """
    esc = html.escape
    name = str(record.get("name") or "")
    kind = record.get("kind")
    caption = f'<div class="nbm-caption">{esc(name)}</div>'
    if kind == "plotly":
        return (
            f'<div class="nbm-figure nbm-note">plotly figure {esc(name)} '
            "(interactive in the widget)</div>"
        )
    if kind != "matplotlib" or ws is None:
        return f'<div class="nbm-figure nbm-note">figure {esc(name)} ({esc(str(kind))})</div>'
    style = f"max-width:{int(max_width)}px;overflow:auto"
    try:
        svg = _SVG_COMMENT.sub(b"", ws.objects.read_bytes(record["svg"]))
        found = _SVG_START.search(svg)
        if found and not _UNSAFE_SVG.search(svg):
            body = svg[found.start() :].decode("utf-8", errors="replace")
            return f'<div class="nbm-figure" style="{style}">{body}{caption}</div>'
        png = base64.b64encode(ws.objects.read_bytes(record["png"])).decode("ascii")
    except (StoreError, KeyError):
        return f'<div class="nbm-figure nbm-note">figure {esc(name)}: not in this store</div>'
    return (
        f'<div class="nbm-figure" style="{style}"><img alt="{esc(name)}" style="max-width:100%" '
        f'src="data:image/png;base64,{png}"/>{caption}</div>'
    )


def table_html(ws: Workspace | None, record: dict[str, Any]) -> str:
    """A stored table's preview (escaped HTML of its first rows) with its size."""
    esc = html.escape
    name = str(record.get("name") or "")
    rows = record.get("rows")
    cols = record.get("columns") or []
    cut = f" (first {PREVIEW_ROWS} shown)" if isinstance(rows, int) and rows > PREVIEW_ROWS else ""
    head = (
        f'<div class="nbm-caption">{esc(name)}: {esc(str(rows))} rows × {len(cols)} columns'
        f"{cut}</div>"
    )
    if ws is None:
        return f'<div class="nbm-table-preview">{head}</div>'
    try:
        preview = ws.objects.read_bytes(record["preview"]).decode("utf-8", errors="replace")
    except (StoreError, KeyError):
        preview = '<div class="nbm-note">preview not in this store</div>'
    return f'<div class="nbm-table-preview" style="overflow:auto">{head}{preview}</div>'
