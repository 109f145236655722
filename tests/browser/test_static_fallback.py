"""Exports: a saved notebook shows its results with no kernel, no network, no JavaScript.

The widgets notebook is executed once (nbconvert --execute, which saves the widget state) and
exported with `jupyter nbconvert --to html` (no kernel) twice: with the saved widget state and
stripped of it. Each widget result is shown through our VIEW mime type
(`application/vnd.nbmlops.view+json`), which nbconvert does not know, so it renders the
bundle's text/html. The HTML must hold the runs table, the diff rows and the curves as inline
SVG; Chromium must show them with JavaScript on, with every non-file request blocked, and with
JavaScript off (a viewer like GitHub's). The quickstart executed by nbconvert weighs at most
1.5 MB.
Screenshots: test-artifacts/screenshots/static-*.png.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest

from nb_mlops.notebook.widgets.chart import VIEW_MIME

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_CELLS = ("runs", "diff", "show", "show_malicious", "board", "leaderboard", "annotate")
SHOWN_CELLS = (*WIDGET_CELLS, "models")  # outputs that must never be blank
QUICKSTART_MAX_BYTES = 1_500_000  # issue 11: the quickstart executed by nbconvert
DIFF_ROWS = {"added": "great", "removed": "bad", "changed": "fine"}


class Markup(HTMLParser):
    """What a browser without JavaScript shows: tables, rows, inline SVGs and images, with the
    contents of <script> and <style> left out."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[str] = []
        self.rows: list[tuple[str, str]] = []  # (class attribute, text)
        self.svgs = 0
        self.imgs: list[dict[str, str | None]] = []
        self._skip = 0
        self._open_tables: list[list[str]] = []
        self._open_rows: list[tuple[str, list[str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if self._skip:
            return
        if tag == "table":
            self._open_tables.append([])
        elif tag == "tr":
            self._open_rows.append((dict(attrs).get("class") or "", []))
        elif tag == "svg":
            self.svgs += 1
        elif tag == "img":
            self.imgs.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "table" and self._open_tables:
            self.tables.append(" ".join(self._open_tables.pop()))
        elif tag == "tr" and self._open_rows:
            klass, parts = self._open_rows.pop()
            self.rows.append((klass, " ".join(parts)))

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            return
        for parts in self._open_tables:
            parts.append(data.strip())
        for _, parts in self._open_rows:
            parts.append(data.strip())


def fallback(static_export, key: str) -> str:
    """The text/html that the widget output of cell `key` carries beside its VIEW."""
    cell = static_export.executed.cells[static_export.nb.cells[key]]
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        assert WIDGET_VIEW not in data, (
            f"cell {key!r} shows a widget view at the top level (contract: {VIEW_MIME})"
        )
        if VIEW_MIME in data:
            assert "text/html" in data, (
                f"the {key!r} widget has no text/html fallback: {list(data)}"
            )
            text = data["text/html"]
            return "".join(text) if isinstance(text, list) else text
    raise AssertionError(f"cell {key!r} shows no widget: {str(cell.get('outputs'))[:1500]}")


def assert_views(markup: Markup, names: list[str]) -> None:
    """The runs table, the diff rows and the curves' SVG, as a viewer without JS sees them."""
    runs = [t for t in markup.tables if all(n in t for n in names)]
    assert runs, f"no table lists every run {names}; tables: {markup.tables}"
    for kind, text in DIFF_ROWS.items():
        hits = [t for klass, t in markup.rows if f"nbm-row-{kind}" in klass.split()]
        assert any(text in t for t in hits), f"no nbm-row-{kind} row with {text!r}: {hits}"
    assert markup.svgs >= 1, "no inline <svg> (the metric curves)"
    bad = [a for a in markup.imgs if a.get("src") == "x" or "onerror" in a]
    assert not bad, f"a user string became an <img>: {bad}"


def test_every_widget_carries_a_static_fallback(static_export):
    for key in WIDGET_CELLS:
        fallback(static_export, key)
    runs = Markup(fallback(static_export, "runs"))
    assert runs.svgs >= 1, "the runs fallback draws no inline <svg> curves"
    assert any(all(n in t for n in static_export.nb.run_names) for t in runs.tables), runs.tables
    detail = Markup(fallback(static_export, "show")).tables
    assert any("fast" in t for t in detail), f"the run detail fallback: {detail}"


def test_html_export_shows_tables_rows_and_curves(static_export):
    page = static_export.html
    markup = Markup(page)
    # nbconvert re-serializes the HTML (BeautifulSoup): compare what a reader sees, not bytes
    for key in WIDGET_CELLS:
        tables = Markup(fallback(static_export, key)).tables
        missing = [t[:200] for t in tables if t not in markup.tables]
        assert tables, f"the {key!r} fallback has no table"
        assert not missing, f"tables of the {key!r} fallback missing from the HTML: {missing}"
    svgs = Markup(fallback(static_export, "runs")).svgs
    assert markup.svgs >= svgs >= 1, f"{markup.svgs} <svg> in the HTML, {svgs} in the fallback"
    views = re.findall(rf"<script[^>]*type=.{re.escape(WIDGET_VIEW)}", page)
    assert not views, f"nbconvert wrote {len(views)} widget view(s) (none is shown at top level)"
    assert_views(markup, static_export.nb.run_names)
    assert html.escape(static_export.nb.malicious, quote=False) in page
    assert static_export.nb.malicious not in page, "the malicious run name is in the HTML raw"


def outputs_never_blank(page, static_export) -> None:
    """Every widget cell's output shows text (its static form), and no widget error."""
    texts = page.eval_on_selector_all(
        ".jp-Cell", "cells => cells.map(c => (c.querySelector('.jp-OutputArea') || {}).innerText)"
    )
    for key in SHOWN_CELLS:
        i = static_export.nb.cells[key]
        text = (texts[i] if i < len(texts) else "") or ""
        assert text.strip(), f"the {key!r} output is blank ({static_export.variant})"
        for bad in ("Error displaying widget", "Loading widget", "No renderer"):
            assert bad not in text, f"the {key!r} output says {bad!r}: {text[:300]}"


@pytest.mark.parametrize("network", ["offline", "js-on"])
def test_html_renders_in_chromium(browser, static_export, screenshot_file, network):
    """JavaScript on; `offline`: every non-file request blocked; `js-on`: requests go out as
    they would (this machine has no network, so the CDN scripts nbconvert links fail here)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []
    dialogs: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    try:
        page = context.new_page()
        if network == "offline":
            page.route("**/*", route)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(static_export.html_path.as_uri(), wait_until="load", timeout=60_000)
        names = static_export.nb.run_names
        table = page.locator("table", has_text=names[0]).filter(has_text=names[-1])
        table.first.wait_for(state="visible", timeout=30_000)
        runs_out = page.locator(".jp-OutputArea-output", has=table.first)
        runs_out.locator("svg").first.wait_for(state="visible", timeout=30_000)
        for kind, text in DIFF_ROWS.items():
            page.locator(f"tr.nbm-row-{kind}", has_text=text).first.wait_for(
                state="visible", timeout=30_000
            )
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator("img[onerror]").count() == 0
        assert dialogs == [], f"a dialog fired: {dialogs}"
        page.wait_for_timeout(2000)  # what scripts there are (html-manager) have had their turn
        outputs_never_blank(page, static_export)
        svg = runs_out.locator("svg").first.bounding_box() or {"width": 0, "height": 0}
        assert svg["width"] > 50 and svg["height"] > 50, f"the curves' SVG is not shown: {svg}"
        name = f"static-{static_export.variant}-{network}"
        runs_out.first.screenshot(path=str(screenshot_file(f"{name}-runs")))
        page.screenshot(path=str(screenshot_file(f"{name}-page")), full_page=True)
    finally:
        context.close()


def test_tables_show_without_javascript(browser, static_export, screenshot_file):
    assert_views(Markup(static_export.html), static_export.nb.run_names)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1400, "height": 1000}
    )
    try:
        page = context.new_page()
        page.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
        )
        page.goto(static_export.html_path.as_uri(), wait_until="load", timeout=60_000)
        names = static_export.nb.run_names
        table = page.locator("table", has_text=names[0]).filter(has_text=names[-1])
        table.first.wait_for(state="visible", timeout=30_000)
        for kind, text in DIFF_ROWS.items():
            page.locator(f"tr.nbm-row-{kind}", has_text=text).first.wait_for(
                state="visible", timeout=30_000
            )
        runs_out = page.locator(".jp-OutputArea-output", has=table.first)
        svg = runs_out.locator("svg").first
        svg.wait_for(state="visible", timeout=30_000)
        box = svg.bounding_box() or {"width": 0, "height": 0}
        assert box["width"] > 50 and box["height"] > 50, f"the curves' SVG is not shown: {box}"
        page.screenshot(
            path=str(screenshot_file(f"static-{static_export.variant}-nojs-page")), full_page=True
        )
    finally:
        context.close()


def test_quickstart_executed_by_nbconvert_is_light(executed_quickstart, figures):
    """notebooks/quickstart.ipynb executed by nbconvert (widget state saved) weighs <= 1.5 MB."""
    size = executed_quickstart.path.stat().st_size
    nb = executed_quickstart.notebook
    state = len(json.dumps(nb.metadata.get("widgets", {})))
    figures("quickstart", {"executed_bytes": size, "widget_state_bytes": state})
    assert size <= QUICKSTART_MAX_BYTES, (
        f"the executed quickstart weighs {size:,} bytes (widget state {state:,}); "
        f"at most {QUICKSTART_MAX_BYTES:,}"
    )
    views = [o for c in nb.cells for o in c.get("outputs", []) if VIEW_MIME in o.get("data", {})]
    assert views, "the quickstart shows no result through the VIEW mime type"
    assert all("text/html" in o["data"] for o in views), "a VIEW without text/html"
