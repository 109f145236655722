"""The runs view of `%track runs` in a real JupyterLab 4 and Notebook 7: the table's column
order, sorting by a header click, one fixed colour per run (the table's swatch and the run's
curves agree, whatever else is selected), the text filter narrowing the charts, and the charts
in the light and the dark theme.

Screenshots: test-artifacts/screenshots/{lab,notebook7}-{colours,filtered,theme-light,
theme-dark}.png.
"""

from __future__ import annotations

import re

import pytest

from nb_mlops.svgchart import PALETTE

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PARAMS = ("lr", "layers", "note")
METRICS = ("loss", "accuracy")
DARK, LIGHT = "JupyterLab Dark", "JupyterLab Light"


@pytest.fixture(scope="module", params=["lab", "notebook7"])
def ui(request, open_notebook):
    server = request.getfixturevalue(f"{request.param}_server")
    with open_notebook(server, f"runs-view-{server.label}.ipynb") as ui:
        yield ui


# JS: the runs table as shown (a CSS grid of role=row/cell elements, or a <table>): header
# texts (the header buttons, else <th>), and per row its id, cell texts and its swatch colour
# (the first non-transparent background in the row's .nbm-swatch).
TABLE_JS = """(root) => {
    const table = root.querySelector('.nbm-runs-table');
    if (!table) return null;
    const widget = table.closest('.nbm-table-widget') || root;
    let heads = Array.from(widget.querySelectorAll('.nbm-head')).map(b => b.innerText.trim());
    if (!heads.length) {
        heads = Array.from(table.querySelectorAll('thead th')).map(th => th.innerText.trim());
    }
    const colour = (row) => {
        const sw = row.querySelector('.nbm-swatch, [class*="swatch"]');
        if (!sw) return null;
        for (const el of [sw, ...sw.querySelectorAll('*')]) {
            const bg = getComputedStyle(el).backgroundColor;
            if (bg && bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
        }
        return null;
    };
    const rows = Array.from(table.querySelectorAll('[role=row][data-id], tbody tr')).map(r => ({
        id: r.getAttribute('data-id'),
        cells: Array.from(r.querySelectorAll('[role=cell], td')).map(c => c.innerText.trim()),
        colour: colour(r),
    }));
    return {heads, rows};
}"""


def table(ui) -> dict:
    out = ui.output("runs")
    ui.visible(out.locator(".nbm-runs-table"), "the runs table")
    return out.evaluate(TABLE_JS)


def column(t: dict, name: str) -> int:
    """The index of the header `name` (exact, or as `group.name`)."""
    for i, h in enumerate(t["heads"]):
        h = re.sub(r"[^\w.\-]+$", "", h.strip().lower())  # the sort arrow
        if h == name or h.split(".")[-1] == name:
            return i
    raise AssertionError(f"no {name!r} column in the runs table: {t['heads']}")


def names_in_order(ui) -> list[str]:
    t = table(ui)
    i = column(t, "name")
    offset = len(t["heads"]) - len(t["rows"][0]["cells"]) if t["rows"] else 0
    return [r["cells"][i - offset] for r in t["rows"]]


def rgb(colour: str | None) -> tuple[int, int, int] | None:
    """'#636efa', 'rgb(99, 110, 250)' or 'rgba(99,110,250,0.3)' -> (99, 110, 250)."""
    if not colour:
        return None
    c = colour.strip().lower()
    if c.startswith("#") and len(c) in (4, 7):
        c = c[1:] if len(c) == 7 else "".join(ch * 2 for ch in c[1:])
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    m = re.match(r"rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)", c)
    return tuple(round(float(v)) for v in m.groups()) if m else None  # type: ignore[return-value]


def trace_run(trace: dict) -> str | None:
    """The run a curve belongs to: its `meta` (the run id), else the id its label ends with
    (`name (id)`)."""
    if trace["meta"] is not None:
        return str(trace["meta"])
    m = re.search(r"\(([^()\s]+)\)\s*$", trace["name"])
    return m.group(1) if m else None


def trace_colours(ui) -> dict[str, set]:
    """Run id -> the colours of its visible curves (raw and smoothed) in every chart."""
    out: dict[str, set] = {}
    for c in ui.charts("runs"):
        if c["kind"] != "xy":
            continue
        for t in c["traces"]:
            run = trace_run(t)
            if t["visible"] is False or not t["points"] or run is None:
                continue
            out.setdefault(run, set()).add(rgb(t["color"]))
    return out


def swatches(ui) -> dict[str, tuple]:
    """Run id -> its swatch colour in the table."""
    t = table(ui)
    found = {}
    for r in t["rows"]:
        assert r["colour"], f"run row {r['cells']} has no colour swatch"
        assert r["id"], f"run row {r['cells']} has no data-id"
        found[r["id"]] = rgb(r["colour"])
    return found


def visible_ids(ui) -> set[str]:
    return {r["id"] for r in table(ui)["rows"]}


def test_columns_come_name_status_metrics_then_params(ui):
    t = table(ui)
    name, status = column(t, "name"), column(t, "status")
    metrics = [column(t, m) for m in METRICS]
    params = [column(t, p) for p in PARAMS]
    assert name < status < min(metrics), t["heads"]
    assert max(metrics) < min(params), f"metrics must come before params: {t['heads']}"


def test_clicking_a_header_sorts(ui):
    out = ui.output("runs")
    before = names_in_order(ui)
    header = out.locator(".nbm-head", has_text=re.compile(r"^\s*name\b")).first
    header.click()
    first = ui.wait_until(
        lambda: (n := names_in_order(ui)) != before and n, "a click on `name` did not sort"
    )
    assert first in (sorted(first), sorted(first, reverse=True)), first
    header.click()
    again = ui.wait_until(
        lambda: (n := names_in_order(ui)) != first and n, "a second click did not reverse it"
    )
    assert again == list(reversed(first)), (first, again)


def test_each_run_keeps_its_colour_whatever_is_selected(ui):
    """A run's swatch and its curves share one palette colour, and neither changes when other
    runs are selected or deselected."""
    ui.wait_charts("runs", curves=1)
    palette = {rgb(c) for c in PALETTE}
    sw = swatches(ui)
    assert set(sw.values()) <= palette, f"swatch colours not from the palette: {sw}"
    assert len(set(sw.values())) == len(sw), f"two runs share a colour: {sw}"

    def check(when: str) -> dict[str, set]:
        traces = trace_colours(ui)
        assert traces, f"{when}: no curve belongs to a run"
        for run, colours in traces.items():
            assert run in sw, f"{when}: a curve of run {run} not in the table {sorted(sw)}"
            assert colours == {sw[run]}, f"{when}: run {run} swatch {sw[run]}, curves {colours}"
        return traces

    before = check("as shown")
    boxes = ui.select_boxes("runs")
    toggled = []
    for i in range(boxes.count()):  # select every run not selected, then deselect the first
        if not boxes.nth(i).is_checked():
            boxes.nth(i).click()
            toggled.append(i)
    assert toggled, "every run was selected already"
    ui.wait_until(lambda: len(trace_colours(ui)) > len(before), "selecting runs drew nothing")
    after = check("after selecting more runs")
    assert swatches(ui) == sw, "a swatch changed colour when runs were selected"
    first = next(i for i in range(boxes.count()) if boxes.nth(i).is_checked())
    boxes.nth(first).click()
    ui.wait_until(lambda: len(trace_colours(ui)) < len(after), "deselecting drew nothing")
    check("after deselecting a run")
    assert swatches(ui) == sw, "a swatch changed colour when a run was deselected"
    ui.screenshot("colours", ui.output("runs"))
    boxes.nth(first).click()
    for i in reversed(toggled):
        boxes.nth(i).click()
    ui.wait_until(lambda: trace_colours(ui) == before, "the first selection is not back")


def test_the_text_filter_narrows_the_charts(ui):
    out = ui.output("runs")
    box = out.locator(".nbm-table-widget input[placeholder^=filter]").first
    ui.wait_charts("runs", curves=1)
    before = trace_colours(ui)
    rows_before = visible_ids(ui)
    names = {r["id"]: r for r in table(ui)["rows"]}
    # a run that has curves now, named so that no other run's text contains its name
    word = next(
        w for w in ("medium", "slow", "cell-run", "fast")
        if any(w in " ".join(names[r]["cells"]) for r in before)
    )  # fmt: skip
    box.fill(word)
    ui.wait_until(lambda: visible_ids(ui) < rows_before, f"filtering {word!r} left every row")
    narrowed = ui.wait_until(
        lambda: (t := trace_colours(ui)) and len(t) < len(before) and t,
        f"filtering {word!r} did not narrow the curves",
    )
    rows = visible_ids(ui)
    assert set(narrowed) <= rows, f"runs filtered out still have curves: {set(narrowed) - rows}"
    ui.screenshot("filtered", out)
    box.fill("")
    ui.wait_until(lambda: trace_colours(ui) == before, "clearing the filter brought back")


def theme_state(ui) -> dict:
    charts = ui.wait_charts("runs", curves=1, parcoords=1)
    light = ui.page.evaluate("() => document.body.dataset.jpThemeLight")
    return {"light": light, "fonts": sorted({c["font"] for c in charts}), "charts": charts}


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_charts_are_drawn_in_light_and_dark_themes(ui, theme):
    """Theme menu's command; the charts are redrawn with the theme's font colour on a
    transparent background."""
    ui.command("apputils:change-theme", {"theme": theme})
    want = "true" if theme == LIGHT else "false"
    ui.wait_until(
        lambda: ui.page.evaluate("() => document.body.dataset.jpThemeLight") == want,
        f"the theme did not change to {theme}",
    )
    font = ui.page.evaluate(
        "() => getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color1').trim()"
    )
    state = ui.wait_until(
        lambda: (s := theme_state(ui)) and all(rgb(f) == rgb(font) for f in s["fonts"]) and s,
        f"the charts do not use the {theme} font colour {font}",
    )
    for c in state["charts"]:
        paper = rgb(c["paper"])
        transparent = "rgba" in (c["paper"] or "") and c["paper"].replace(" ", "").endswith(",0)")
        assert transparent or paper is None, f"{theme}: chart background {c['paper']}"
    assert ui.problems() == [], ui.problems()
    slug = "theme-dark" if theme == DARK else "theme-light"
    ui.screenshot(slug, ui.output("runs"))
    if theme == DARK:
        ui.command("apputils:change-theme", {"theme": LIGHT})
