"""Display integration: every widget carries a static fallback, and domain results show as widgets.

A widget's bundle holds the live view through our front-end extension
(`application/vnd.nbmlops.view+json`: the widget's model id) *and* `text/html` + `text/plain`.
There is no `application/vnd.jupyter.widget-view+json` at the top level: front ends pick the
richest mime they can draw, and a saved widget state would make them pick the widget view and
show it blank wherever its model is gone. With our mime, every front end without the extension
(nbconvert, GitHub, VS Code) shows the static HTML, and the extension falls back to it too.

`%load_ext nb_mlops` registers mimebundle printers for the domain results (RunTable, Comparison,
RunDetail, DataDiff, Scoreboard, ArenaRatings, AnnotationSession, Monitor) by module and class
name, so loading imports neither the domain modules nor ipywidgets; the printers build the
widget on first display.

This module is imported at `%load_ext` time: keep its imports to the standard library.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # never at the top level (see above)

log = logging.getLogger("nb_mlops")

# (module, class name) of each domain result -> name of the builder below
DOMAIN_TYPES: dict[tuple[str, str], str] = {
    ("nb_mlops.tracking.views", "RunTable"): "_runs_widget",
    ("nb_mlops.tracking.compare", "Comparison"): "_comparison_widget",
    ("nb_mlops.tracking.views", "RunDetail"): "_detail_widget",
    ("nb_mlops.data.diff", "DataDiff"): "_datadiff_widget",
    ("nb_mlops.evals.scoreboard", "Scoreboard"): "_scoreboard_widget",
    ("nb_mlops.evals.arena", "ArenaRatings"): "_leaderboard_widget",
    ("nb_mlops.evals.annotate", "AnnotationSession"): "_annotator_widget",
    ("nb_mlops.monitor.monitor", "Monitor"): "_monitoring_widget",
}


class StaticFallback:
    """Mixin for widgets: `_repr_mimebundle_` = our view mime (model id) + text/html + text/plain.

    The fallback is the `to_html()` and `to_text()` of `fallback`, the domain result the widget
    shows (escaped HTML that needs no JavaScript); widgets without one override
    `_fallback_html`. A fallback that fails never hides the widget: its error is shown instead.
    """

    fallback: Any = None

    def _fallback_html(self) -> str:
        return self.fallback.to_html()

    def _fallback_text(self) -> str:
        if self.fallback is None:
            return f"<{type(self).__name__}>"
        return self.fallback.to_text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return view_bundle(self, self._fallback_html, self._fallback_text)


def view_bundle(
    widget: Any, make_html: Callable[[], str], make_text: Callable[[], str]
) -> dict[str, Any]:
    """A widget's top-level bundle: our view mime with its model id, and the static forms."""
    from nb_mlops.notebook.widgets.chart import VIEW_MIME  # not at `%load_ext`: numpy, ipywidgets

    data: dict[str, Any] = {
        VIEW_MIME: {"model_id": widget.model_id, "version_major": 2, "version_minor": 0}
    }
    data.update(static_bundle(make_html, make_text))
    return data


def static_bundle(make_html: Callable[[], str], make_text: Callable[[], str]) -> dict[str, str]:
    """text/html and text/plain from two callables; an error becomes an escaped note."""
    out = {}
    for mime, make in (("text/html", make_html), ("text/plain", make_text)):
        try:
            out[mime] = make()
        except Exception as exc:  # a broken fallback must not break the live display
            log.warning("nb-mlops: no %s fallback: %s", mime, exc)
            note = f"(no static view: {type(exc).__name__}: {exc})"
            out[mime] = f"<pre>{html.escape(note)}</pre>" if mime == "text/html" else note
    return out


def widget_for(obj: Any) -> Any:
    """The widget that shows a domain result (RunTable, Comparison, RunDetail, DataDiff)."""
    for cls in type(obj).__mro__:
        builder = DOMAIN_TYPES.get((cls.__module__, cls.__name__))
        if builder is not None:
            return globals()[builder](obj)
    raise TypeError(f"nb-mlops has no widget for a {type(obj).__name__}")


def _runs_widget(table: Any) -> Any:
    from nb_mlops import api
    from nb_mlops.notebook.widgets.compare import RunComparisonWidget
    from nb_mlops.tracking.compare import Comparison

    # The table's documents as they are (running runs already carry live metrics); the newest
    # few are selected, as `nm.compare()` does.
    comparison = Comparison(api.workspace(), list(table.runs), filter=table.filter)
    return RunComparisonWidget(comparison, title=_runs_title(table))


def _runs_title(table: Any) -> str:
    count = len(table.runs)
    text = f"{count:,} run{'s' if count != 1 else ''}"
    return f"{text} matching {table.filter}" if table.filter else text


def _comparison_widget(comparison: Any) -> Any:
    from nb_mlops.notebook.widgets.compare import RunComparisonWidget

    return RunComparisonWidget(comparison)


def _detail_widget(detail: Any) -> Any:
    from nb_mlops.notebook.widgets.detail import RunDetailWidget

    return RunDetailWidget(detail)


def _datadiff_widget(diff: Any) -> Any:
    from nb_mlops.notebook.widgets.datadiff import DataDiffWidget

    return DataDiffWidget(diff)


def _scoreboard_widget(board: Any) -> Any:
    from nb_mlops.notebook.widgets.scoreboard import ScoreboardWidget

    return ScoreboardWidget(board)


def _leaderboard_widget(ratings: Any) -> Any:
    from nb_mlops.notebook.widgets.leaderboard import LeaderboardWidget

    return LeaderboardWidget(ratings)


def _annotator_widget(session: Any) -> Any:
    from nb_mlops.notebook.widgets.annotate import AnnotatorWidget

    return AnnotatorWidget(session)


def _monitoring_widget(monitor: Any) -> Any:
    from nb_mlops.notebook.widgets.monitoring import MonitoringWidget

    return MonitoringWidget(monitor)


def domain_bundle(obj: Any) -> dict[str, Any] | None:
    """The widget's bundle for a domain result, or None (IPython then shows its static HTML).

    The bundle's text/html is the widget's fallback: the static view of what the widget shows
    (for a RunTable, the Comparison over its runs, curves as inline SVG included).
    """
    try:
        return widget_for(obj)._repr_mimebundle_()
    except Exception as exc:  # the static HTML is still right; say why the widget is missing
        log.warning("nb-mlops: showing the static view; the widget failed: %r", exc)
        return None


class Printers:
    """The mimebundle printers one shell got from `register`, so `unregister` removes them only."""

    def __init__(self, shell: Any, wanted: Callable[[], bool]) -> None:
        self.shell = shell
        self.wanted = wanted
        self.previous: dict[tuple[str, str], Any] = {}

    def __call__(self, obj: Any) -> dict[str, Any] | None:
        if not self.wanted():
            return None  # a terminal: IPython falls back to text
        return domain_bundle(obj)


def register(shell: Any, wanted: Callable[[], bool]) -> Printers:
    """Show RunTable, Comparison, RunDetail and DataDiff as widgets in this shell."""
    formatter = shell.display_formatter.mimebundle_formatter
    printers = Printers(shell, wanted)
    for module, name in DOMAIN_TYPES:
        old = formatter.for_type_by_name(module, name, printers)
        if old is not None:
            printers.previous[(module, name)] = old
    return printers


def unregister(printers: Printers) -> None:
    """Remove what `register` added (and put back any printer it replaced)."""
    formatter = printers.shell.display_formatter.mimebundle_formatter
    for key in DOMAIN_TYPES:
        if formatter.deferred_printers.get(key) is printers:
            del formatter.deferred_printers[key]
    for typ, printer in list(formatter.type_printers.items()):
        if printer is printers:  # moved here by IPython on first lookup
            del formatter.type_printers[typ]
    for (module, name), old in printers.previous.items():
        formatter.for_type_by_name(module, name, old)
