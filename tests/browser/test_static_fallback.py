"""The widgets' static fallback: a saved notebook shown with no kernel, no network, no JavaScript.

The widgets notebook is executed once (nbconvert --execute), its widget state is dropped, and it
is exported with `jupyter nbconvert --to html` (no kernel). nbconvert then renders each widget
output from its text/html fallback. The HTML must hold the runs table, the diff rows and the
curves as inline SVG; Chromium must show them with every non-file request blocked, and again
with JavaScript disabled (a viewer like GitHub's).
Screenshots: test-artifacts/screenshots/static-*.png.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_CELLS = ("runs", "diff", "show", "show_malicious")
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
    """The text/html that the widget output of cell `key` carries beside its widget view."""
    cell = static_export.executed.cells[static_export.nb.cells[key]]
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if WIDGET_VIEW in data:
            assert "text/html" in data, (
                f"the {key!r} widget has no text/html fallback: {list(data)}"
            )
            return data["text/html"]
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
    assert f'type="{WIDGET_VIEW}"' not in page, "nbconvert kept a widget view without state"
    assert_views(markup, static_export.nb.run_names)
    assert html.escape(static_export.nb.malicious, quote=False) in page
    assert static_export.nb.malicious not in page, "the malicious run name is in the HTML raw"


def test_html_renders_offline_in_chromium(browser, static_export, screenshot_file):
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
        runs_out.first.screenshot(path=str(screenshot_file("static-offline-runs")))
        page.screenshot(path=str(screenshot_file("static-offline-page")), full_page=True)
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
        page.screenshot(path=str(screenshot_file("static-nojs-page")), full_page=True)
    finally:
        context.close()
