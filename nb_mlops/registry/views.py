"""The registry's result objects: the model list, one model, one version, two versions compared,
an alias history. Each is built once as titled tables of plain strings, which render as text
(CLI), HTML (notebook, escaped) and JSON (`to_dict`) from the same rows, so the three agree.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nb_mlops.clock import local_time
from nb_mlops.registry.aliases import aliases_of, hook_line
from nb_mlops.registry.versions import (
    ACTIVE,
    MODELS,
    ModelVersion,
    get_doc,
    model_names,
    require_model,
    versions_of,
)
from nb_mlops.results import Result
from nb_mlops.text import fmt_value, human_bytes, text_table
from nb_mlops.tracking.views import table_css, td

if TYPE_CHECKING:
    from nb_mlops.store.workspace import Workspace

_SHORT_FP = 12
_TEXT_HISTORY = 20
_WIDE = 100  # key/value tables: a whole fingerprint or hash fits


@dataclass
class Section:
    """One titled table: a header and rows of display strings (or key/value pairs)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    width: int = 60
    """Text cells are cut to this many characters (HTML shows them whole)."""
    muted: frozenset[int] = frozenset()
    """Indexes of rows shown greyed out in HTML (archived versions)."""


@dataclass(repr=False)
class Tables(Result):
    """Titled tables with a heading; the base of every registry view."""

    heading: str
    sections: list[Section]
    data: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    charts: list[str] = field(default_factory=list)
    """SVG charts (built escaped) shown after the first table in HTML; text has the numbers."""

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def to_text(self) -> str:
        parts = [self.heading]
        for s in self.sections:
            parts.append(f"\n{s.title}")
            parts.append(text_table(s.header, s.rows, max_width=s.width) if s.rows else "  (none)")
        if self.note:
            parts.append("\n" + self.note)
        return "\n".join(parts)

    def to_html(self) -> str:
        """Headed tables, left-aligned, times on one line, names and descriptions whole."""
        esc = html.escape
        out = [f'<div class="nbm-registry">{_STYLE}<h3>{esc(self.heading)}</h3>']
        for s in self.sections:
            out.append(f"<h4>{esc(s.title)}</h4>")
            if not s.rows:
                out.append("<div><i>none</i></div>")
                continue
            head = "".join(f"<th>{esc(h)}</th>" for h in s.header)
            body = "".join(
                ('<tr class="nbm-muted" style="opacity:0.6">' if i in s.muted else "<tr>")
                + "".join(td(c) for c in row)
                + "</tr>"
                for i, row in enumerate(s.rows)
            )
            out.append(
                f'<table class="nbm-table nbm-reg"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table>"
            )
            if self.charts and s is self.sections[0]:
                out.append(
                    '<div class="nbm-charts" style="display:flex;flex-wrap:wrap;gap:8px">'
                    + "".join(self.charts)
                    + "</div>"
                )
        if self.note:
            out.append(f'<div class="nbm-footer">{esc(self.note)}</div>')
        out.append("</div>")
        return "".join(out)


_STYLE = table_css("nbm-reg")


def _when(iso: str | None) -> str:
    """A stored time in the local time zone, e.g. '2026-12-05 10:14:03 CET'."""
    return local_time(iso)


def _run_of(ws: Workspace, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The run behind a version: live from the store, else what an imported record carried.

    An imported version is marked `imported` (with the bundle it came from) even when its
    bundle carried no run, so every view labels it.
    """
    run = ws.catalog.get("runs", doc["run_id"]) if doc.get("run_id") else None
    if run is not None:
        return dict(run)
    origin = doc.get("origin") or {}
    if origin.get("kind", "local") != "local":
        return {**(origin.get("run") or {}), "imported": True, "from": origin.get("from") or ""}
    if doc.get("run_id"):  # deleted with --force: what the version kept of it
        kept = doc.get("run_record") or {"run_id": doc["run_id"], "name": doc.get("run_name")}
        return {**kept, "deleted": True}
    return {}


def _run_label(run: Mapping[str, Any]) -> str:
    if not run:
        return ""
    parts = []
    if run.get("run_id") or run.get("name"):
        parts.append(f"{run.get('name') or ''} ({run.get('run_id') or '?'})".strip())
    if run.get("status") not in (None, "finished") and not run.get("deleted"):
        parts.append(f"[{run['status']}]")  # a model from a failed or crashed run stands out
    if run.get("deleted"):
        parts.append("[run deleted]")
    if run.get("imported"):
        parts.append(f"[imported from {run['from']}]" if run.get("from") else "[imported]")
    return " ".join(parts)


def _run_summary(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """What `to_dict` says of a version's run (the flags the label shows included)."""
    if not run:
        return None
    out: dict[str, Any] = {k: run.get(k) for k in ("run_id", "name")}
    out["deleted"] = bool(run.get("deleted"))
    out["imported"] = bool(run.get("imported"))
    if run.get("imported"):
        out["from"] = run.get("from") or ""
    return out


def _tags_label(tags: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={fmt_value(v)}" for k, v in sorted(tags.items()))


def _data_label(items: list[Mapping[str, Any]]) -> str:
    return ", ".join(f"{d.get('path')}@v{d.get('version')}" for d in items)


def _alias_map(ws: Workspace, name: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for d in aliases_of(ws, name):
        if d.get("version") is not None:
            out.setdefault(d["version"], []).append(d["alias"])
    return out


# ------------------------------------------------------------------------------ one version
def _version_sections(mv: ModelVersion) -> list[Section]:
    ws = mv.ws
    d = mv.doc
    art = d.get("artifact") or {}
    origin = d.get("origin") or {}
    same = _same_as(ws, d) if ws is not None else None
    overview = [
        ["uri", mv.uri],
        ["status", mv.status],
        ["aliases", ", ".join(mv.aliases)],
        ["flavor", mv.flavor],
        ["class", (d.get("meta") or {}).get("class", "") + (" (claimed)" if _claimed(d) else "")],
        [
            "fingerprint",
            f"{mv.fingerprint} ({d.get('fingerprint_kind', 'state')})"
            + (f" = v{same}" if same is not None else ""),
        ],
        ["created", f"{_when(d.get('created'))} by {d.get('by', '')}"],
        ["description", mv.description],
        [
            "artifact",
            f"{art.get('file') or 'folder'} · {human_bytes(art.get('size') or 0)} · "
            f"{art.get('nfiles', 1)} file(s) · md5 {art.get('md5', '')}",
        ],
    ]
    if origin.get("kind", "local") != "local":
        overview.append(
            [
                "origin",
                f"imported from {origin.get('from')} "
                f"({origin.get('name')} version {origin.get('version')})",
            ]
        )
    env = d.get("env") or {}
    overview.append(
        ["environment", f"python {env.get('python', '?')} on {env.get('platform', '?')}"]
    )
    sections = [Section("Version", ["field", "value"], overview, width=_WIDE)]
    if mv.tags:
        sections.append(
            Section(
                "Tags",
                ["tag", "value"],
                [[k, fmt_value(v)] for k, v in sorted(mv.tags.items())],
                width=_WIDE,
            )
        )
    run = _run_of(ws, d) if ws is not None else {}
    if run:
        rows = [["run", _run_label(run)]]
        rows += [
            [f"params.{k}", fmt_value(v)] for k, v in sorted((run.get("params") or {}).items())
        ]
        rows += [
            [f"metrics.{k}", fmt_value(v)] for k, v in sorted((run.get("metrics") or {}).items())
        ]
        sections.append(Section("Lineage: run", ["field", "value"], rows, width=_WIDE))
    sections.append(
        Section(
            "Lineage: data",
            ["dataset", "version", "md5"],
            [[x.get("path", ""), str(x.get("version", "")), x.get("md5", "")] for x in mv.data],
        )
    )
    return sections


def _claimed(doc: Mapping[str, Any]) -> bool:
    """A fingerprint an imported bundle gave and nothing here could check (a pickle's)."""
    return doc.get("fingerprint_kind") == "claimed"


def _same_as(ws: Workspace, doc: Mapping[str, Any]) -> int | None:
    """The first earlier version of the model with the same, checked, fingerprint, if any."""
    if _claimed(doc):
        return None
    for other in versions_of(ws, doc["name"]):
        if other["version"] >= doc["version"]:
            return None
        if other["fingerprint"] == doc["fingerprint"] and not _claimed(other):
            return other["version"]
    return None


def version_text(mv: ModelVersion) -> str:
    return _version_tables(mv).to_text()


def version_html(mv: ModelVersion) -> str:
    return _version_tables(mv).to_html()


def _version_tables(mv: ModelVersion) -> Tables:
    return Tables(f"{mv.name} version {mv.version}", _version_sections(mv), {})


# ------------------------------------------------------------------------------ the registry
class ModelList(Tables):
    """Every registered model (what `%track models` shows)."""


def model_list(ws: Workspace) -> ModelList:
    rows, data = [], []
    for name in model_names(ws):
        docs = versions_of(ws, name)
        live = [d for d in docs if d.get("status", ACTIVE) == ACTIVE]
        aliases = {a: v for v, names in _alias_map(ws, name).items() for a in names}
        meta = ws.catalog.get(MODELS, name) or {}
        updated = max([d.get("created") or "" for d in docs] + _moves(ws, name), default="")
        archived = len(docs) - len(live)
        rows.append(
            [
                name,
                str(len(docs)) + (f" ({archived} archived)" if archived else ""),
                str(live[-1]["version"]) if live else "",
                ", ".join(f"@{a}→{v}" for a, v in sorted(aliases.items())),
                _when(updated),
                meta.get("description") or "",
                _tags_label(meta.get("tags") or {}),
            ]
        )
        data.append(
            {
                "name": name,
                "versions": len(docs),
                "archived": archived,
                "latest": live[-1]["version"] if live else None,
                "aliases": aliases,
                "updated": updated,
                "description": meta.get("description") or "",
                "tags": meta.get("tags") or {},
            }
        )
    header = ["model", "versions", "latest", "aliases", "updated", "description", "tags"]
    note = "" if rows else "no models yet: track.model(model, NAME) in a tracked cell registers one"
    return ModelList(
        f"Model registry ({len(rows)} model{'s' * (len(rows) != 1)})",
        [Section("Models", header, rows)],
        {"models": data},
        note,
    )


def _moves(ws: Workspace, name: str) -> list[str]:
    return [e["at"] for d in aliases_of(ws, name) for e in d.get("history", [])]


# ------------------------------------------------------------------------------ one model
class ModelView(Tables):
    """One model: versions with metrics side by side, lineage, aliases, history, hooks."""


def model_view(ws: Workspace, name: str) -> ModelView:
    docs = require_model(ws, name)
    meta = ws.catalog.get(MODELS, name) or {}
    aliases = _alias_map(ws, name)
    runs = {d["version"]: _run_of(ws, d) for d in docs}
    metric_keys = sorted({k for r in runs.values() for k in (r.get("metrics") or {})})
    first_of: dict[str, int] = {}
    version_rows, version_data = [], []
    for d in docs:
        v = d["version"]
        same = v if _claimed(d) else first_of.setdefault(d["fingerprint"], v)
        run = runs[v]
        metrics = run.get("metrics") or {}
        version_rows.append(
            [
                str(v),
                d.get("status", ACTIVE),
                ", ".join(f"@{a}" for a in aliases.get(v, [])),
                d.get("flavor", ""),
                d["fingerprint"][:_SHORT_FP] + (f" (= v{same})" if same != v else ""),
                _run_label(run),
                _data_label(d.get("data") or []),
                *[fmt_value(metrics.get(k)) for k in metric_keys],
                _when(d.get("created")),
                d.get("description") or "",
                _tags_label(d.get("tags") or {}),
            ]
        )
        version_data.append(
            {
                **{k: d.get(k) for k in ("version", "status", "flavor", "fingerprint", "created")},
                "aliases": aliases.get(v, []),
                "same_as": same if same != v else None,
                "run": _run_summary(run),
                "params": run.get("params") or {},
                "metrics": metrics,
                "data": d.get("data") or [],
                "description": d.get("description") or "",
                "tags": d.get("tags") or {},
            }
        )
    header = ["version", "status", "aliases", "flavor", "fingerprint", "run", "data"]
    header += [f"metrics.{k}" for k in metric_keys] + ["created", "description", "tags"]
    alias_docs = aliases_of(ws, name)
    alias_rows = [
        [
            f"@{a['alias']}",
            "(removed)" if a.get("version") is None else str(a["version"]),
            "yes" if a.get("protected") else "",
            _when(a["history"][-1]["at"]) if a.get("history") else "",
            a["history"][-1].get("by", "") if a.get("history") else "",
        ]
        for a in alias_docs
    ]
    history = sorted(
        ({"alias": a["alias"], **e} for a in alias_docs for e in a.get("history", [])),
        key=lambda e: e["at"],
        reverse=True,
    )
    hooks = list(meta.get("hooks") or [])
    archived = frozenset(i for i, d in enumerate(docs) if d.get("status", ACTIVE) != ACTIVE)
    sections = [
        Section("Versions", header, version_rows, muted=archived),
        Section("Aliases", ["alias", "version", "protected", "moved", "by"], alias_rows),
        Section(
            "Alias history (newest first)",
            ["when", "alias", "event", "from", "to", "by", "why", "deploy hooks"],
            [_history_row(e) for e in history[:_TEXT_HISTORY]],
        ),
    ]
    if hooks:
        sections.append(
            Section(
                "Deploy hooks",
                ["alias", "command"],
                [[f"@{h['alias']}" if h.get("alias") else "any", h["command"]] for h in hooks],
            )
        )
    heading = f"{name}: {len(docs)} version{'s' * (len(docs) != 1)}"
    if meta.get("description"):
        heading += f" — {meta['description']}"
    more = len(history) - _TEXT_HISTORY
    note = f"{more} older alias moves: nm.alias_history({name!r})" if more > 0 else ""
    data = {
        "name": name,
        "description": meta.get("description") or "",
        "tags": meta.get("tags") or {},
        "versions": version_data,
        "aliases": [{k: a.get(k) for k in ("alias", "version", "protected")} for a in alias_docs],
        "history": [{k: v for k, v in e.items() if k != "id"} for e in history],
        "hooks": hooks,
    }
    return ModelView(heading, sections, data, note, _metric_charts(docs, runs, metric_keys))


_MAX_CHARTS = 6


def _metric_charts(
    docs: list[dict[str, Any]], runs: Mapping[int, Mapping[str, Any]], keys: list[str]
) -> list[str]:
    """One small chart per metric (at most six): its value at each version that logged it."""
    from nb_mlops.svgchart import line_chart

    charts = []
    for key in keys[:_MAX_CHARTS]:
        points = [
            (d["version"], v)
            for d in docs
            if isinstance(v := (runs[d["version"]].get("metrics") or {}).get(key), (int, float))
        ]
        if len(points) < 2:
            continue
        xs, ys = zip(*points, strict=True)
        svg = line_chart(
            {key: (list(xs), list(ys))},
            title=f"metrics.{key} by version",
            x_label="version",
            width=300,
            height=170,
        )
        values = ", ".join(f"v{x} {fmt_value(y)}" for x, y in points)
        charts.append(
            f'<figure class="nbm-chart-box" style="margin:0">{svg}'
            '<figcaption class="nbm-caption" style="max-width:300px;font-size:0.85em">'
            f"{html.escape(f'metrics.{key} by version: {values}')}</figcaption></figure>"
        )
    return charts


def _history_row(e: Mapping[str, Any]) -> list[str]:
    def show(v: Any) -> str:
        return "" if v is None else str(v)

    hooks = "; ".join(hook_line(h) for h in e.get("hooks") or [])
    why = e.get("why") or ""
    if e.get("forced"):
        why = f"{why} [forced]".strip()
    event = e.get("event", "")
    if e.get("protection"):  # protection changed with the move itself
        event += " +protect" if e["protection"] == "protect" else " -protect"
    return [
        _when(e.get("at")),
        f"@{e.get('alias')}",
        event,
        show(e.get("from")),
        show(e.get("to")),
        e.get("by", ""),
        why,
        hooks,
    ]


class AliasHistory(Tables):
    """Every move of one alias (what `%track alias NAME ALIAS` shows)."""


def history_view(ws: Workspace, name: str, alias: str) -> AliasHistory:
    from nb_mlops.registry.aliases import history

    entries = history(ws, name, alias)
    doc = ws.catalog.get("aliases", f"{name}@{alias}") or {}
    now = doc.get("version")
    heading = f"{name}@{alias} → " + ("(removed)" if now is None else f"version {now}")
    if doc.get("protected"):
        heading += " (protected)"
    rows = [_history_row(e) for e in reversed(entries)]
    header = ["when", "alias", "event", "from", "to", "by", "why", "deploy hooks"]
    data = {"name": name, "alias": alias, "version": now, "protected": bool(doc.get("protected"))}
    data["history"] = list(reversed(entries))  # newest first, as shown
    return AliasHistory(heading, [Section("History (newest first)", header, rows)], data)


# ------------------------------------------------------------------------------ two versions
class VersionComparison(Tables):
    """Two versions side by side: what differs in params, metrics, data and packages."""


def version_comparison(ws: Workspace, name: str, a: int | str, b: int | str) -> VersionComparison:
    da, db = get_doc(ws, name, a), get_doc(ws, name, b)
    ra, rb = _run_of(ws, da), _run_of(ws, db)
    va, vb = f"v{da['version']}", f"v{db['version']}"
    unverified = _claimed(da) or _claimed(db)
    same_fp = da["fingerprint"] == db["fingerprint"] and not unverified
    if unverified:
        verdict = "unknown (an imported pickle's fingerprint is the bundle's claim)"
    else:
        verdict = "same model" if same_fp else "different"
    overview = [
        ["fingerprint", da["fingerprint"][:_SHORT_FP], db["fingerprint"][:_SHORT_FP], verdict],
        ["flavor", da.get("flavor", ""), db.get("flavor", ""), ""],
        ["run", _run_label(ra), _run_label(rb), ""],
        ["created", _when(da.get("created")), _when(db.get("created")), ""],
    ]
    params = _side_by_side(ra.get("params") or {}, rb.get("params") or {})
    metrics = _side_by_side(ra.get("metrics") or {}, rb.get("metrics") or {}, delta=True)
    data = _side_by_side(
        {x["path"]: f"v{x['version']}" for x in da.get("data") or []},
        {x["path"]: f"v{x['version']}" for x in db.get("data") or []},
    )
    packages = _side_by_side(_packages(ws, da), _packages(ws, db), only_differences=True)
    cols = ["", va, vb, ""]
    sections = [
        Section("Versions", cols, overview),
        Section("Params", ["param", va, vb, "differs"], _rows(params)),
        Section("Metrics", ["metric", va, vb, f"{vb} - {va}"], _rows(metrics)),
        Section("Data", ["dataset", va, vb, "differs"], _rows(data)),
        Section("Packages that differ", ["package", va, vb, ""], _rows(packages)),
    ]
    out = {
        "name": name,
        "a": da["version"],
        "b": db["version"],
        "same_fingerprint": same_fp,
        "params": params,
        "metrics": metrics,
        "data": data,
        "packages": packages,
    }
    return VersionComparison(f"{name}: {va} vs {vb}", sections, out)


def _side_by_side(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    *,
    delta: bool = False,
    only_differences: bool = False,
) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        same = json.dumps(x, sort_keys=True, default=str) == json.dumps(
            y, sort_keys=True, default=str
        )
        if only_differences and same:
            continue
        row: dict[str, Any] = {"key": key, "a": x, "b": y, "same": same}
        if delta:
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y))
            row["delta"] = y - x if numbers else None
        rows.append(row)
    return rows


def _rows(items: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in items:
        last = fmt_value(r["delta"]) if "delta" in r else ("" if r["same"] else "≠")
        out.append([r["key"], fmt_value(r["a"]), fmt_value(r["b"]), last])
    return out


def _packages(ws: Workspace, doc: Mapping[str, Any]) -> dict[str, Any]:
    ref = (doc.get("env") or {}).get("packages")
    if not ref or not ws.objects.has(ref):
        return {}
    try:
        env = json.loads(ws.objects.read_bytes(ref))
    except (ValueError, OSError):
        return {}
    packages = env.get("packages") if isinstance(env, dict) else None
    return dict(packages) if isinstance(packages, dict) else {}
