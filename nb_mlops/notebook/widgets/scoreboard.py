"""ScoreboardWidget: evaluations as models x metrics, with a drill-down and regressions.

The table is the Scoreboard's own HTML (the static fallback shows the same). Below it, two
pickers choose a "before" and an "after" evaluation of the same dataset: the widget shows the
items that went from right to wrong between them and the two answers of every item side by
side, a page at a time. The "items" view shows one evaluation's rows instead, with the reasons
kept beside the scores (a judge's rationale, which claim a RAG answer made up, which retrieved
chunk was off the point). Everything shown is escaped HTML built by the domain results; nothing
but the page on screen crosses the wire.
"""

from __future__ import annotations

import html
import math
from typing import Any

import ipywidgets as widgets
import traitlets

from nb_mlops.notebook.widgets.render import StaticFallback

PAGE = 20


class ScoreboardWidget(StaticFallback, widgets.VBox):
    """A Scoreboard with before/after pickers, regressions and paged answers side by side."""

    page = traitlets.Int(0)

    def __init__(self, board: Any, **kwargs: Any) -> None:
        from nb_mlops import api

        self.board = board
        self.fallback = board
        self.ws = api.workspace()
        self.table = widgets.HTML(board.to_html())
        rows = board.rows
        options = [(f"{r['label']} · {r['dataset']} · {r['run_id']}", r["run_id"]) for r in rows]
        before, after = _default_pair(rows)
        self.before = widgets.Dropdown(options=options, value=before, description="before")
        self.after = widgets.Dropdown(options=options, value=after, description="after")
        self.view = widgets.ToggleButtons(
            options=[("before / after", "compare"), ("one run's items", "items")],
            value="compare" if len(rows) >= 2 else "items",
        )
        self.view.add_class("nbm-scoreboard-view")
        last = rows[-1]["run_id"] if rows else None
        self.items_of = widgets.Dropdown(options=options, value=last, description="items of")
        self.pickers = widgets.HBox([self.before, self.after])
        self.detail = widgets.HTML()
        self.items = widgets.HTML(layout=widgets.Layout(overflow="auto"))
        self.prev_button = widgets.Button(description="◀ prev", layout=widgets.Layout(width="80px"))
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="80px"))
        self.page_label = widgets.Label()
        self.prev_button.on_click(lambda _: self.go_to(self.page - 1))
        self.next_button.on_click(lambda _: self.go_to(self.page + 1))
        self.before.observe(self._on_pick, "value")
        self.after.observe(self._on_pick, "value")
        self.items_of.observe(self._on_pick, "value")
        self.view.observe(self._on_pick, "value")
        self._frame: Any = None
        children: list[Any] = [self.table]
        if rows:
            children += [
                self.view,
                self.pickers,
                self.items_of,
                self.detail,
                self.items,
                widgets.HBox([self.prev_button, self.page_label, self.next_button]),
            ]
        super().__init__(children, **kwargs)
        self.add_class("nbm-scoreboard-widget")
        if rows:
            self._on_pick(None)

    # ----------------------------------------------------------------- drill-down
    def _on_pick(self, _change: Any) -> None:
        compare = self.view.value == "compare"
        self.pickers.layout.display = None if compare else "none"
        self.items_of.layout.display = "none" if compare else None
        if compare:
            self._compare()
        else:
            self._show_items()

    def _show_items(self) -> None:
        from nb_mlops.evals.model import EvalError
        from nb_mlops.evals.scoreboard import examples

        self._frame = None
        run = self.items_of.value
        try:
            frame = examples(self.ws, run)
        except EvalError as exc:
            self.detail.value = f"<i>{html.escape(str(exc))}</i>"
        else:
            self._frame = readable(frame)
            self.detail.value = f"<b>items of evaluation run {html.escape(str(run))}</b>"
        self.page = 0
        self._render()

    def _compare(self) -> None:
        from nb_mlops.evals.model import EvalError
        from nb_mlops.evals.scoreboard import regressions, side_by_side

        a, b = self.before.value, self.after.value
        self._frame = None
        if a is None or b is None or a == b:
            self.detail.value = "<i>pick two different evaluations to compare</i>"
            self._render()
            return
        try:
            found = regressions(self.ws, a, b)
            self._frame = side_by_side(self.ws, [a, b]).frame
        except EvalError as exc:
            self.detail.value = f"<i>{html.escape(str(exc))}</i>"
        else:
            self.detail.value = found.to_html()
        self.page = 0
        self._render()

    @property
    def page_count(self) -> int:
        total = 0 if self._frame is None else len(self._frame)
        return max(1, math.ceil(total / PAGE))

    def go_to(self, page: int) -> None:
        self.page = min(max(0, page), self.page_count - 1)

    @traitlets.observe("page")
    def _page_changed(self, _change: Any) -> None:
        self._render()

    def _render(self) -> None:
        if self._frame is None:
            self.items.value = ""
            self.page_label.value = ""
            return
        start = self.page * PAGE
        part = self._frame.iloc[start : start + PAGE]
        self.items.value = part.to_html(escape=True, index=False, border=0, classes="nbm-table")
        self.page_label.value = f"items {start + 1}-{start + len(part)} of {len(self._frame)}"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.page_count - 1


HIDDEN = ("raw", "cached", "version", "attempts", "turns")
"""Per-item columns the items view leaves out (they stay in the run's table)."""


def readable(frame: Any) -> Any:
    """One run's rows with the columns a reader wants on screen."""
    return frame[[c for c in frame.columns if c not in HIDDEN]]


def _default_pair(rows: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """Two evaluations to compare first: the latest changed model (row naming a difference)
    and the row before it of the same name and data; else the last two rows."""
    if not rows:
        return None, None
    for i in range(len(rows) - 1, 0, -1):
        if rows[i]["differences"]:
            for j in range(i - 1, -1, -1):
                same = rows[j]["model"]["name"] == rows[i]["model"]["name"]
                if same and rows[j]["dataset_hash"] == rows[i]["dataset_hash"]:
                    return rows[j]["run_id"], rows[i]["run_id"]
    if len(rows) == 1:
        return rows[0]["run_id"], rows[0]["run_id"]
    return rows[-2]["run_id"], rows[-1]["run_id"]
