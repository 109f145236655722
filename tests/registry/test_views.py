"""Registry views: the model list, one model, one version, two versions, an alias history.

Each view is read three ways (text, HTML, `to_dict()`), and the three must hold the same real
data: the runs' metrics and params, the data versions the runs read, the aliases and their
history. The text and HTML renderings are parsed back into tables and compared cell by cell.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

import nb_mlops as nm
from nb_mlops.clock import local_time
from nb_mlops.errors import ModelNotFound, RefusedError
from nb_mlops.registry.views import history_view

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"

X = [[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]]
Y = [0, 0, 0, 1, 1, 1]


# ----------------------------------------------------------------------------------- parsing
Table = tuple[list[str], list[list[str]]]


def text_tables(text: str) -> dict[str, Table]:
    """Every table of a text view by its title, cells cut at the columns the dash line marks."""
    lines = text.splitlines()
    out: dict[str, Table] = {}
    for i, line in enumerate(lines):
        if i < 2 or not line or set(line.replace(" ", "")) != {"-"}:
            continue
        starts = [m.start() for m in re.finditer(r"-+", line)]
        bounds = list(zip(starts, [*starts[1:], None], strict=True))

        def cells(row: str, bounds: list[tuple[int, int | None]] = bounds) -> list[str]:
            return [row[a:b].strip() for a, b in bounds]

        rows = []
        for row in lines[i + 1 :]:
            if not row.strip():
                break
            rows.append(cells(row))
        out[lines[i - 2]] = (cells(lines[i - 1]), rows)
    return out


class _HtmlTables(HTMLParser):
    """Headings, tables (cells unescaped), muted rows and the footer of an HTML view."""

    def __init__(self) -> None:
        super().__init__()
        self.heading = ""
        self.tables: dict[str, Table] = {}
        self.muted: dict[str, list[int]] = {}
        self.empty: list[str] = []
        self.footer = ""
        self._title = ""
        self._tag: str | None = None
        self._text = ""
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag in ("h3", "h4", "th", "td", "i") or (tag == "div" and cls == "nbm-footer"):
            self._tag, self._text = ("footer" if tag == "div" else tag), ""
        elif tag == "table":
            self.tables[self._title] = ([], [])
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr":
            self._row = []
            if "nbm-muted" in cls:
                self.muted.setdefault(self._title, []).append(len(self.tables[self._title][1]))

    def handle_data(self, data: str) -> None:
        if self._tag:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3":
            self.heading = self._text
        elif tag == "h4":
            self._title = self._text
        elif tag in ("th", "td") and self._row is not None:
            self._row.append(self._text)
        elif tag == "i" and self._text == "none":
            self.empty.append(self._title)
        elif tag == "div" and self._tag == "footer":
            self.footer = self._text
        elif tag == "tr" and self._row is not None:
            header, rows = self.tables[self._title]
            if self._in_head:
                header.extend(self._row)
            else:
                rows.append(self._row)
            self._row = None
        if tag in ("h3", "h4", "th", "td", "i", "div"):
            self._tag = None


def html_tables(markup: str) -> _HtmlTables:
    parser = _HtmlTables()
    parser.feed(markup)
    parser.close()
    return parser


def _same_cell(text: str, full: str) -> bool:
    """A text cell equals the HTML cell, or is the HTML cell cut with an ellipsis."""
    full = full.replace("\n", " ")
    return text == full or (text.endswith("…") and full.startswith(text[:-1]))


def read_view(view: Any) -> _HtmlTables:
    """Parse a view's HTML and text, check they hold the same tables, return the HTML side."""
    markup = view._repr_html_()
    assert EVIL not in markup
    h = html_tables(markup)
    text = str(view)
    t = text_tables(text)
    assert text.splitlines()[0] == h.heading
    assert set(t) == set(h.tables), (set(t), set(h.tables))
    for title, (header, rows) in h.tables.items():
        t_header, t_rows = t[title]
        assert t_header == header, title
        assert len(t_rows) == len(rows), title
        for t_row, row in zip(t_rows, rows, strict=True):
            assert all(_same_cell(a, b) for a, b in zip(t_row, row, strict=True)), (t_row, row)
    for title in h.empty:
        assert f"{title}\n  (none)" in text
    if h.footer:
        assert text.rstrip().endswith(h.footer)
    if hasattr(view, "to_dict"):
        json.dumps(view.to_dict())  # JSON as it is, no default= needed
    return h


def column(table: Table, name: str) -> list[str]:
    header, rows = table
    i = header.index(name)
    return [r[i] for r in rows]


def by_first(table: Table) -> dict[str, list[str]]:
    """Rows keyed by their first cell, the rest of the row as the value."""
    return {r[0]: r[1:] for r in table[1]}


# ---------------------------------------------------------------------------------- the data
def write_csv(rows: int) -> str:
    """data.csv with `rows` rows; returns the md5 of its bytes (the DVC hash of a file)."""
    text = "x0,x1,y\n" + "".join(f"{i},{i % 2},{int(i >= 3)}\n" for i in range(rows))
    Path("data.csv").write_text(text)
    return hashlib.md5(text.encode()).hexdigest()


def fit(c: float) -> LogisticRegression:
    return LogisticRegression(C=c).fit(X, Y)


def build() -> dict[str, Any]:
    """Three versions of `clf`: v1 and v3 the same fitted model, v2 another one on newer data.

    v1 (run fit-a, data.csv v1): C=1, accuracy 0.8, loss 0.5
    v2 (run fit-b, data.csv v2): C=10, accuracy 0.9, f1 0.85
    v3 (run fit-c, data.csv v2): the v1 model object again, accuracy 0.8
    """
    md5_v1 = write_csv(6)
    same = fit(1.0)
    with nm.start_run("fit-a", data=["data.csv"], params={"C": 1.0, "solver": "lbfgs"}) as a:
        nm.log_metrics({"accuracy": 0.8, "loss": 0.5})
        v1 = a.model(same, "clf", description="first try", tags={"owner": "ana"})
    md5_v2 = write_csv(9)
    with nm.start_run("fit-b", data=["data.csv"], params={"C": 10.0, "solver": "lbfgs"}) as b:
        nm.log_metrics({"accuracy": 0.9, "f1": 0.85})
        v2 = b.model(fit(10.0), "clf")
    with nm.start_run("fit-c", data=["data.csv"], params={"C": 1.0, "solver": "lbfgs"}) as c:
        nm.log_metrics({"accuracy": 0.8})
        v3 = c.model(same, "clf")
    return {
        "runs": {"fit-a": a.run_id, "fit-b": b.run_id, "fit-c": c.run_id},
        "md5": {1: md5_v1, 2: md5_v2},
        "versions": [v1, v2, v3],
    }


@pytest.fixture
def reg(ws: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("NB_MLOPS_USER", "tester")
    return build()


WHO = f"tester@{socket.gethostname()}"


# ------------------------------------------------------------------------------ empty, unknown
def test_empty_registry_says_how_to_start(ws: Any) -> None:
    view = nm.models()
    h = read_view(view)
    assert view.to_dict() == {"models": []}
    assert h.heading == "Model registry (0 models)"
    assert h.tables == {} and h.empty == ["Models"]
    assert "no models yet" in h.footer and "track.model(model, NAME)" in h.footer
    assert "no models yet" in str(view)


def test_unknown_model_is_named(ws: Any) -> None:
    with pytest.raises(ModelNotFound, match=r"no model named 'ghost'; none is registered yet"):
        nm.models("ghost")
    build()
    with pytest.raises(ModelNotFound, match=r"no model named 'ghost'; registered: clf"):
        nm.models("ghost")
    with pytest.raises(ModelNotFound, match="ghost"):
        nm.compare_versions("ghost", 1, 2)
    with pytest.raises(ModelNotFound, match=r"clf has no version 7 \(versions: 1, 2, 3\)"):
        nm.compare_versions("clf", 1, 7)
    with pytest.raises(ModelNotFound, match="ghost"):
        history_view(nm.workspace(), "ghost", "production")
    with pytest.raises(ModelNotFound, match="clf has no alias 'production'"):
        history_view(nm.workspace(), "clf", "production")


# ---------------------------------------------------------------------------- the model list
def test_model_list_holds_counts_latest_aliases(reg: dict[str, Any]) -> None:
    with nm.start_run("other"):
        nm.register_model("b-model", fit(0.5))
    nm.set_alias("clf", "production", 1)
    nm.set_alias("clf", "staging", 2)
    nm.archive_model_version("clf", 3)
    nm.update_model("clf", description="churn classifier", tags={"team": "risk"})
    view = nm.models()
    h = read_view(view)
    assert h.heading == "Model registry (2 models)"
    rows = by_first(h.tables["Models"])
    assert list(rows) == ["b-model", "clf"]  # sorted by name
    header = h.tables["Models"][0]
    clf = dict(zip(header[1:], rows["clf"], strict=True))
    assert clf["versions"] == "3 (1 archived)"
    assert clf["latest"] == "2"  # the archived v3 is not @latest
    assert clf["aliases"] == "@production→1, @staging→2"
    assert clf["description"] == "churn classifier" and clf["tags"] == "team=risk"
    assert dict(zip(header[1:], rows["b-model"], strict=True))["versions"] == "1"
    data = {m["name"]: m for m in view.to_dict()["models"]}
    assert data["clf"]["versions"] == 3 and data["clf"]["archived"] == 1
    assert data["clf"]["latest"] == 2
    assert data["clf"]["aliases"] == {"production": 1, "staging": 2}
    assert data["clf"]["description"] == "churn classifier"
    assert data["clf"]["tags"] == {"team": "risk"}
    assert data["b-model"] == {**data["b-model"], "versions": 1, "archived": 0, "latest": 1}
    assert local_time(data["clf"]["updated"]) == clf["updated"]


# ---------------------------------------------------------------------------- one model
def test_model_view_puts_run_metrics_side_by_side(reg: dict[str, Any]) -> None:
    view = nm.models("clf")
    h = read_view(view)
    assert h.heading == "clf: 3 versions"
    table = h.tables["Versions"]
    header = table[0]
    # metric columns: the union over the versions' runs, each once, sorted
    assert [c for c in header if c.startswith("metrics.")] == [
        "metrics.accuracy",
        "metrics.f1",
        "metrics.loss",
    ]
    assert column(table, "version") == ["1", "2", "3"]
    assert column(table, "metrics.accuracy") == ["0.8", "0.9", "0.8"]
    assert column(table, "metrics.f1") == ["", "0.85", ""]
    assert column(table, "metrics.loss") == ["0.5", "", ""]
    ids = reg["runs"]
    assert column(table, "run") == [f"{n} ({ids[n]})" for n in ("fit-a", "fit-b", "fit-c")]
    assert column(table, "data") == ["data.csv@v1", "data.csv@v2", "data.csv@v2"]
    assert column(table, "status") == ["active"] * 3
    assert column(table, "flavor") == ["sklearn"] * 3
    assert column(table, "description") == ["first try", "", ""]
    assert column(table, "tags") == ["owner=ana", "", ""]
    data = view.to_dict()
    assert data["name"] == "clf" and [v["version"] for v in data["versions"]] == [1, 2, 3]
    for v, run_name in zip(data["versions"], ("fit-a", "fit-b", "fit-c"), strict=True):
        run = nm.get_run(ids[run_name]).to_dict()
        assert v["metrics"] == run["metrics"]
        assert v["params"] == run["params"]
        assert v["run"] == {"run_id": ids[run_name], "name": run_name} | {
            "deleted": False,
            "imported": False,
        }
    assert data["versions"][1]["metrics"] == {"accuracy": 0.9, "f1": 0.85}
    assert data["versions"][0]["params"] == {"C": 1.0, "solver": "lbfgs"}
    assert [v["fingerprint"] for v in data["versions"]] == [v.fingerprint for v in reg["versions"]]
    for v, cell in zip(data["versions"], column(table, "fingerprint"), strict=True):
        assert cell.startswith(v["fingerprint"][:12])


def test_same_fingerprint_points_back_to_the_first_version(reg: dict[str, Any]) -> None:
    v1, v2, v3 = reg["versions"]
    assert v1.fingerprint == v3.fingerprint != v2.fingerprint
    view = nm.models("clf")
    fps = column(read_view(view).tables["Versions"], "fingerprint")
    assert fps == [v1.fingerprint[:12], v2.fingerprint[:12], f"{v1.fingerprint[:12]} (= v1)"]
    assert [v["same_as"] for v in view.to_dict()["versions"]] == [None, None, 1]
    # the one-version view says the same
    fields = by_first(read_view(nm.get_model_version("clf", 3)).tables["Version"])
    assert fields["fingerprint"] == [f"{v1.fingerprint} (state) = v1"]
    fields = by_first(read_view(nm.get_model_version("clf", 1)).tables["Version"])
    assert fields["fingerprint"] == [f"{v1.fingerprint} (state)"]


def test_model_view_aliases_and_history_newest_first(reg: dict[str, Any]) -> None:
    seen: list[tuple[str, int]] = []
    nm.add_deploy_hook("clf", "echo deployed {uri}", alias="production")

    def notify(uri: str, version: int) -> None:
        seen.append((uri, version))

    remove = nm.add_deploy_hook("clf", notify)
    try:
        nm.set_alias("clf", "production", 1, why="first release")
        nm.set_alias("clf", "staging", 2, why="try the bigger C")
        nm.protect_alias("clf", "production", why="guard it")
        with pytest.raises(RefusedError, match="protected"):
            nm.set_alias("clf", "production", 2)
        nm.set_alias("clf", "production", 2, why="promote", force=True)
        nm.rollback("clf", "production", why="f1 dropped", force=True)
    finally:
        remove()
    assert seen == [
        ("models:/clf/1", 1),
        ("models:/clf/2", 2),
        ("models:/clf/2", 2),
        ("models:/clf/1", 1),
    ]
    view = nm.models("clf")
    h = read_view(view)
    assert column(h.tables["Versions"], "aliases") == ["@production", "@staging", ""]
    aliases = by_first(h.tables["Aliases"])
    assert aliases["@production"][:2] == ["1", "yes"] and aliases["@production"][3] == WHO
    assert aliases["@staging"][:2] == ["2", ""]
    hist = h.tables["Alias history (newest first)"]
    assert column(hist, "event") == ["rollback", "set", "protect", "set", "set"]
    assert column(hist, "alias") == [
        "@production",
        "@production",
        "@production",
        "@staging",
        "@production",
    ]
    assert column(hist, "from") == ["2", "1", "1", "", ""]
    assert column(hist, "to") == ["1", "2", "1", "2", "1"]
    assert column(hist, "why") == [
        "f1 dropped [forced]",
        "promote [forced]",
        "guard it",
        "try the bigger C",
        "first release",
    ]
    assert set(column(hist, "by")) == {WHO}
    hooks = column(hist, "deploy hooks")
    assert hooks[0].startswith("echo deployed {uri}: ok (") and ".notify: ok (" in hooks[0]
    assert hooks[2] == ""  # protecting runs no hook
    assert ".notify: ok (" in hooks[3] and "echo" not in hooks[3]  # the command: production only
    assert by_first(h.tables["Deploy hooks"]) == {"@production": ["echo deployed {uri}"]}
    data = view.to_dict()
    assert [(e["alias"], e["event"], e["to"]) for e in data["history"]] == [
        ("production", "rollback", 1),
        ("production", "set", 2),
        ("production", "protect", 1),
        ("staging", "set", 2),
        ("production", "set", 1),
    ]
    newest = data["history"][0]
    assert newest["by"] == WHO and newest["why"] == "f1 dropped"
    assert [o["ok"] for o in newest["hooks"]] == [True, True]
    assert newest["hooks"][0]["output"].strip() == "deployed models:/clf/1"
    assert data["history"][0]["forced"] is data["history"][1]["forced"] is True
    assert data["history"][2]["forced"] is False
    assert data["aliases"] == [
        {"alias": "production", "version": 1, "protected": True},
        {"alias": "staging", "version": 2, "protected": False},
    ]
    assert [v["aliases"] for v in data["versions"]] == [["production"], ["staging"], []]
    # the one alias's history agrees with the model's
    one = history_view(nm.workspace(), "clf", "production")
    oh = read_view(one)
    assert oh.heading == "clf@production → version 1 (protected)"
    rows = oh.tables["History (newest first)"][1]
    assert rows == [r for r in hist[1] if r[1] == "@production"]
    assert one.to_dict()["version"] == 1 and one.to_dict()["protected"] is True
    assert [e["event"] for e in one.to_dict()["history"]] == ["rollback", "set", "protect", "set"]
    assert one.to_dict()["history"] == [e for e in data["history"] if e["alias"] == "production"]


def test_removed_alias_and_long_history(reg: dict[str, Any]) -> None:
    for i in range(22):
        nm.set_alias("clf", "canary", 1 + i % 2)
    nm.delete_alias("clf", "canary", why="done")
    view = nm.models("clf")
    h = read_view(view)
    assert by_first(h.tables["Aliases"])["@canary"][0] == "(removed)"
    assert len(h.tables["Alias history (newest first)"][1]) == 20
    assert column(h.tables["Alias history (newest first)"], "event")[0] == "remove"
    assert h.footer == "3 older alias moves: nm.alias_history('clf')"
    assert len(view.to_dict()["history"]) == 23
    assert view.to_dict()["aliases"] == [{"alias": "canary", "version": None, "protected": False}]
    one = history_view(nm.workspace(), "clf", "canary")
    assert read_view(one).heading == "clf@canary → (removed)"
    assert len(one.to_dict()["history"]) == 23 and one.to_dict()["version"] is None


def test_archived_versions_show_as_archived(reg: dict[str, Any]) -> None:
    nm.archive_model_version("clf", 2)
    view = nm.models("clf")
    h = read_view(view)
    assert column(h.tables["Versions"], "status") == ["active", "archived", "active"]
    assert h.muted == {"Versions": [1]}
    assert [v["status"] for v in view.to_dict()["versions"]] == ["active", "archived", "active"]
    fields = by_first(read_view(nm.get_model_version("clf", 2)).tables["Version"])
    assert fields["status"] == ["archived"]
    nm.restore_model_version("clf", 2)
    assert html_tables(nm.models("clf")._repr_html_()).muted == {}


# ---------------------------------------------------------------------------- lineage
def test_version_lineage_runs_to_data(reg: dict[str, Any]) -> None:
    ids, md5 = reg["runs"], reg["md5"]
    for number, run_name, data_version in ((1, "fit-a", 1), (2, "fit-b", 2)):
        mv = nm.get_model_version("clf", number)
        h = read_view(mv)
        assert h.heading == f"clf version {number}"
        fields = by_first(h.tables["Version"])
        assert fields["uri"] == [f"models:/clf/{number}"]
        assert fields["flavor"] == ["sklearn"]
        assert fields["class"] == ["sklearn.linear_model._logistic.LogisticRegression"]
        assert fields["created"][0].endswith(f" by {WHO}")
        assert mv.doc["artifact"]["md5"] in fields["artifact"][0]
        run = by_first(h.tables["Lineage: run"])
        assert run["run"] == [f"{run_name} ({ids[run_name]})"]
        detail = nm.get_run(ids[run_name]).to_dict()
        for k, v in detail["params"].items():
            assert run[f"params.{k}"] == [str(v) if not isinstance(v, float) else f"{v:.6g}"]
        for k, v in detail["metrics"].items():
            assert run[f"metrics.{k}"] == [f"{v:.6g}"]
        # the data the run read, at the version it read
        assert h.tables["Lineage: data"][1] == [["data.csv", str(data_version), md5[data_version]]]
        assert detail["data"][0]["version"] == data_version
        assert detail["data"][0]["md5"] == md5[data_version]
        assert mv.data == [{"path": "data.csv", "version": data_version, "md5": md5[data_version]}]
    versions = nm.versions("data.csv").to_dict()["versions"]
    assert [(v["version"], v["md5"]) for v in versions] == [(1, md5[1]), (2, md5[2])]
    tags = by_first(read_view(nm.get_model_version("clf", 1)).tables["Tags"])
    assert tags == {"owner": ["ana"]}


def test_deleted_run_is_marked_and_its_record_stays(reg: dict[str, Any]) -> None:
    run_id = reg["runs"]["fit-a"]
    with pytest.raises(RefusedError):
        nm.delete_run(run_id)
    nm.delete_run(run_id, force=True)
    view = nm.models("clf")
    table = read_view(view).tables["Versions"]
    assert column(table, "run")[0] == f"fit-a ({run_id}) [run deleted]"
    # the version kept the run's params and metrics when the run was deleted
    assert column(table, "metrics.accuracy") == ["0.8", "0.9", "0.8"]
    assert column(table, "metrics.loss") == ["0.5", "", ""]
    assert column(table, "data")[0] == "data.csv@v1"
    v1 = view.to_dict()["versions"][0]
    assert v1["run"] == {"run_id": run_id, "name": "fit-a", "deleted": True, "imported": False}
    assert v1["metrics"] == {"accuracy": 0.8, "loss": 0.5}
    assert v1["params"] == {"C": 1.0, "solver": "lbfgs"}
    h = read_view(nm.get_model_version("clf", 1))
    lineage = by_first(h.tables["Lineage: run"])
    assert lineage["run"] == [f"fit-a ({run_id}) [run deleted]"]
    assert lineage["metrics.loss"] == ["0.5"]
    assert h.tables["Lineage: data"][1][0][:2] == ["data.csv", "1"]
    cmp = nm.compare_versions("clf", 1, 2)
    overview = by_first(read_view(cmp).tables["Versions"])
    assert overview["run"][0] == f"fit-a ({run_id}) [run deleted]"


def test_imported_version_is_labelled(reg: dict[str, Any], tmp_path: Path) -> None:
    bundle = nm.export_model("models:/clf/2", tmp_path)
    assert bundle.name == "clf-v2.zip"
    imported = nm.import_model(bundle)
    assert imported.version == 4
    view = nm.models("clf")
    table = read_view(view).tables["Versions"]
    run_b = reg["runs"]["fit-b"]
    assert column(table, "run")[3] == f"fit-b ({run_b}) [imported from clf-v2.zip]"
    # the bundle carried the run's metrics, and the data lineage
    assert column(table, "metrics.accuracy")[3] == "0.9"
    assert column(table, "data")[3] == "data.csv@v2"
    # a pickle's fingerprint from a bundle is a claim: never shown as the same model
    assert not column(table, "fingerprint")[3].endswith("(= v2)")
    verdict = by_first(read_view(nm.compare_versions("clf", 2, 4)).tables["Versions"])
    assert verdict["fingerprint"][2].startswith("unknown")
    v4 = view.to_dict()["versions"][3]
    assert v4["run"] == {
        "run_id": run_b,
        "name": "fit-b",
        "deleted": False,
        "imported": True,
        "from": "clf-v2.zip",
    }
    assert v4["metrics"] == {"accuracy": 0.9, "f1": 0.85}
    h = read_view(imported)
    fields = by_first(h.tables["Version"])
    assert fields["origin"] == ["imported from clf-v2.zip (clf version 2)"]
    assert by_first(h.tables["Lineage: run"])["run"] == [
        f"fit-b ({run_b}) [imported from clf-v2.zip]"
    ]
    # a bundle of a file registered outside any run carries no run: still labelled
    Path("notes.txt").write_text("not a model\n")
    plain = nm.register_model("clf", "notes.txt")
    again = nm.import_model(nm.export_model(plain.uri, tmp_path))
    table = read_view(nm.models("clf")).tables["Versions"]
    assert column(table, "run")[plain.version - 1] == ""
    assert column(table, "run")[again.version - 1] == f"[imported from clf-v{plain.version}.zip]"
    assert column(table, "flavor")[again.version - 1] == "file"


# ---------------------------------------------------------------------------- two versions
def test_compare_versions_flags_differences(reg: dict[str, Any]) -> None:
    v1, v2, _ = reg["versions"]
    cmp = nm.compare_versions("clf", 1, 2)
    h = read_view(cmp)
    assert h.heading == "clf: v1 vs v2"
    overview = by_first(h.tables["Versions"])
    assert overview["fingerprint"] == [v1.fingerprint[:12], v2.fingerprint[:12], "different"]
    assert h.tables["Params"] == (
        ["param", "v1", "v2", "differs"],
        [["C", "1", "10", "≠"], ["solver", "lbfgs", "lbfgs", ""]],
    )
    assert h.tables["Metrics"] == (
        ["metric", "v1", "v2", "v2 - v1"],
        [["accuracy", "0.8", "0.9", "0.1"], ["f1", "", "0.85", ""], ["loss", "0.5", "", ""]],
    )
    assert h.tables["Data"][1] == [["data.csv", "v1", "v2", "≠"]]
    assert "Packages that differ" in h.empty  # one process, one environment
    data = cmp.to_dict()
    assert (data["name"], data["a"], data["b"]) == ("clf", 1, 2)
    assert data["same_fingerprint"] is False
    params = {r["key"]: r for r in data["params"]}
    assert params["C"] == {"key": "C", "a": 1.0, "b": 10.0, "same": False}
    assert params["solver"]["same"] is True
    metrics = {r["key"]: r for r in data["metrics"]}
    assert isinstance(metrics["accuracy"]["delta"], float)
    assert metrics["accuracy"]["delta"] == pytest.approx(0.1)
    assert metrics["f1"]["delta"] is None and metrics["f1"]["a"] is None
    assert data["data"] == [{"key": "data.csv", "a": "v1", "b": "v2", "same": False}]
    assert data["packages"] == []


def test_compare_same_model_and_by_alias(reg: dict[str, Any]) -> None:
    nm.set_alias("clf", "production", 3)
    cmp = nm.compare_versions("clf", 1, "production")
    h = read_view(cmp)
    assert h.heading == "clf: v1 vs v3"
    assert by_first(h.tables["Versions"])["fingerprint"][2] == "same model"
    assert cmp.to_dict()["same_fingerprint"] is True
    assert h.tables["Data"][1] == [["data.csv", "v1", "v2", "≠"]]
    assert [r[3] for r in h.tables["Params"][1]] == ["", ""]
    assert h.tables["Metrics"][1][0] == ["accuracy", "0.8", "0.8", "0"]


# ---------------------------------------------------------------------------- escaping
def test_every_user_string_is_escaped_in_html(reg: dict[str, Any], tmp_path: Path) -> None:
    with nm.start_run(EVIL, params={EVIL: EVIL}):
        nm.log_metric("acc", 0.5)
        nm.set_tag("note", EVIL)
        nm.register_model("clf", fit(2.0), description=EVIL, tags={EVIL: EVIL})
    nm.update_model("clf", description=EVIL, tags={"t": EVIL})
    nm.update_model_version("clf", 2, description=EVIL, tags={"why": EVIL})
    nm.add_deploy_hook("clf", f"echo '{EVIL}'", alias="production")
    nm.set_alias("clf", "production", 4, why=EVIL)
    nm.import_model(nm.export_model("models:/clf/4", tmp_path / f"{'x'}.zip"))
    views = [
        nm.models(),
        nm.models("clf"),
        nm.get_model_version("clf", 4),
        nm.get_model_version("clf", 5),
        nm.compare_versions("clf", 2, 4),
        history_view(nm.workspace(), "clf", "production"),
    ]
    for view in views:
        markup = view._repr_html_()
        assert EVIL not in markup and "<script" not in markup
        assert ESCAPED in markup, type(view).__name__
        assert EVIL in str(view)  # text is shown as text
        read_view(view)
    model = read_view(nm.models("clf"))
    assert model.heading == f"clf: 5 versions — {EVIL}"
    assert column(model.tables["Versions"], "description")[3] == EVIL
    assert column(model.tables["Versions"], "tags")[3] == f"{EVIL}={EVIL}"
    history = column(model.tables["Alias history (newest first)"], "why")
    assert history == [EVIL]
    hooks = column(model.tables["Alias history (newest first)"], "deploy hooks")[0]
    assert hooks.startswith(f"echo '{EVIL}': ok")
    one = read_view(nm.get_model_version("clf", 4))
    assert by_first(one.tables["Lineage: run"])["run"][0].startswith(f"{EVIL} (")
    assert by_first(one.tables["Lineage: run"])[f"params.{EVIL}"] == [EVIL]
    assert by_first(one.tables["Tags"]) == {EVIL: [EVIL]}
    assert nm.models("clf").to_dict()["versions"][3]["description"] == EVIL


# ---------------------------------------------------------------------------- surfaces
def test_cli_json_is_the_views_to_dict(reg: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    from nb_mlops.cli import main

    nm.set_alias("clf", "production", 1, why="ship")
    for argv, view in (
        (["models"], nm.models()),
        (["models", "clf"], nm.models("clf")),
        (["models", "clf", "1", "2"], nm.compare_versions("clf", 1, 2)),
        (["alias", "clf", "production"], history_view(nm.workspace(), "clf", "production")),
    ):
        assert main([*argv, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == view.to_dict()
        assert main(argv) == 0
        assert capsys.readouterr().out.rstrip("\n") == str(view)


def test_magic_returns_the_views(reg: dict[str, Any], ip: Any) -> None:
    listed = ip.run_line_magic("track", "models")
    assert listed.to_dict() == nm.models().to_dict()
    one = ip.run_line_magic("track", "models clf")
    assert one.to_dict() == nm.models("clf").to_dict()
    version = ip.run_line_magic("track", "models clf 2")
    assert version == nm.get_model_version("clf", 2)
    assert str(version) == str(nm.get_model_version("clf", 2))
    cmp = ip.run_line_magic("track", "models clf 1 2")
    assert cmp.to_dict() == nm.compare_versions("clf", 1, 2).to_dict()


def test_a_model_from_a_failed_run_says_so(ws: Any) -> None:
    with pytest.raises(ZeroDivisionError), nm.start_run("crashy") as run:
        run.model({"w": [1]}, "risky")
        1 / 0  # noqa: B018
    table = read_view(nm.models("risky")).tables["Versions"]
    assert column(table, "run") == [f"crashy ({run.run_id}) [failed]"]


def test_model_view_charts_each_metric_across_versions(reg: dict[str, Any]) -> None:
    view = nm.models("clf")
    page = view._repr_html_()
    assert page.count("<svg") == 1  # accuracy is on all three versions; f1 and loss on one each
    assert "metrics.accuracy by version" in page
    assert "metrics.f1 by version" not in page
    assert "<svg" not in str(view)  # text keeps the numbers in the table
    with nm.start_run("odd") as run:
        nm.log_metric("<b>odd</b>", 1.0)
        run.model({"w": 1}, "clf")
    with nm.start_run("odd2") as run:
        nm.log_metric("<b>odd</b>", 2.0)
        run.model({"w": 2}, "clf")
    page = nm.models("clf")._repr_html_()
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt; by version" in page


# ---------------------------------------------------------------------------- polish
def _cells(markup: str) -> list[tuple[str, str]]:
    """(class, text) of every <td> of a view's HTML."""
    return [
        (m.group(1) or "", m.group(2))
        for m in re.finditer(r"<td(?: class='([^']*)')?>(.*?)</td>", markup, re.S)
    ]


def css_rules(markup: str) -> dict[str, str]:
    """The first <style> of `markup` as {selector: declarations} (rules listing several
    selectors are split; the declarations of a selector seen twice are joined)."""
    style = re.search(r"<style>(.*?)</style>", markup, re.S).group(1)
    out: dict[str, str] = {}
    for rule in style.split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        for sel in selectors.split(","):
            out[sel.strip()] = out.get(sel.strip(), "") + body + ";"
    return out


def test_registry_tables_read_like_the_runs_table(reg: dict[str, Any]) -> None:
    long_words = "fine-tuned on the reviews export " + "x" * 60
    nm.update_model("clf", description=f"a churn classifier, {long_words}")
    t = "table.nbm-reg.nbm-reg"  # outranks JupyterLab's right-aligning table rules
    for view in (nm.models(), nm.models("clf"), nm.get_model_version("clf", 1)):
        page = view._repr_html_()
        rules = css_rules(page)
        assert "text-align:left" in rules[f"{t} td"] and "hyphens:manual" in rules[f"{t} td"]
        assert "white-space:nowrap" in rules[f"{t} .nbm-time"]
        assert "overflow-wrap:anywhere" in rules[f"{t} .nbm-long"]
        assert "overflow-wrap:normal" in rules[f"{t} td"]
        assert "hyphens:auto" not in page and "break-all" not in page
        assert "text-overflow" not in page and "overflow:hidden" not in page  # nothing clipped
        for klass, text in _cells(page):
            if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", text):
                assert klass == "nbm-time", text  # a date stays on one line
        assert "var(--jp-border-color2," in page and "var(--jp-ui-font-color1," in page
        assert '<table class="nbm-table nbm-reg">' in page
    cells = {text: klass for klass, text in _cells(nm.models()._repr_html_())}
    described = next(t for t in cells if t.startswith("a churn classifier"))
    assert cells[described] == "nbm-long"  # only a very long token may break anywhere
    assert cells["clf"] == ""  # a name is never broken


def test_registry_times_are_local_and_readable(
    reg: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        created = nm.get_model_version("clf", 1).doc["created"]
        shown = local_time(created)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", shown), shown
        fields = by_first(read_view(nm.get_model_version("clf", 1)).tables["Version"])
        assert fields["created"][0] == f"{shown} by {WHO}"
        assert local_time("2026-12-05T09:14:03+00:00") == "2026-12-05 10:14:03 CET"
        assert local_time("2026-07-05T09:14:03Z") == "2026-07-05 11:14:03 CEST"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_registry_charts_have_a_text_caption(reg: dict[str, Any]) -> None:
    page = nm.models("clf")._repr_html_()
    without_svg = re.sub(r"<svg.*?</svg>", "", page, flags=re.S)
    caption = re.search(r"<figcaption[^>]*>(.*?)</figcaption>", without_svg).group(1)
    assert caption == "metrics.accuracy by version: v1 0.8, v2 0.9, v3 0.8"
