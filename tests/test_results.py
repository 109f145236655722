"""Result: the one shape of every result object (dict, text, HTML; str/repr/_repr_html_ follow)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import pytest

from nb_mlops.results import Result

RESULT_CLASSES = [
    "nb_mlops.tracking.views:RunTable",
    "nb_mlops.tracking.views:RunDetail",
    "nb_mlops.tracking.compare:Comparison",
    "nb_mlops.store.gc:GcReport",
    "nb_mlops.store.transfer:TransferReport",
    "nb_mlops.data.views:VersionTable",
    "nb_mlops.data.views:StatusList",
    "nb_mlops.data.snapshot:SnapshotResult",
    "nb_mlops.data.checkout:Status",
    "nb_mlops.data.checkout:CheckoutResult",
    "nb_mlops.data.diff:DataDiff",
    "nb_mlops.data.rowdiff:RowDiff",
    "nb_mlops.data.sync:SyncResult",
    "nb_mlops.registry.views:Tables",
    "nb_mlops.registry.views:ModelList",
    "nb_mlops.registry.views:ModelView",
    "nb_mlops.registry.views:AliasHistory",
    "nb_mlops.registry.views:VersionComparison",
    "nb_mlops.registry.versions:ModelVersion",
    "nb_mlops.registry.aliases:AliasMove",
]


@dataclass(repr=False)
class Note(Result):
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text}

    def to_text(self) -> str:
        return self.text


def test_str_repr_and_html_follow_from_to_text() -> None:
    note = Note("a <b> & c")
    assert str(note) == repr(note) == "a <b> & c"
    assert note._repr_html_() == note.to_html() == "<pre>a &lt;b&gt; &amp; c</pre>"


def test_a_result_must_say_its_dict_and_text() -> None:
    with pytest.raises(NotImplementedError):
        Result().to_dict()
    with pytest.raises(NotImplementedError):
        str(Result())


@pytest.mark.parametrize("where", RESULT_CLASSES)
def test_every_result_class_is_a_result(where: str) -> None:
    module, name = where.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, Result)
    assert cls.to_text is not Result.to_text and cls.to_dict is not Result.to_dict
    for dunder in ("__str__", "_repr_html_"):  # built from to_text / to_html only
        assert getattr(cls, dunder) is getattr(Result, dunder), f"{name}.{dunder}"


def test_repr_is_the_text_except_where_a_short_form_is_kept() -> None:
    from nb_mlops.data.checkout import CheckoutResult
    from nb_mlops.registry.aliases import AliasMove
    from nb_mlops.store.gc import GcReport
    from nb_mlops.store.transfer import TransferReport

    moved = CheckoutResult("d.csv", 2, 1, 0, 3, [])
    assert repr(moved) == str(moved) == moved.to_text()
    alias = AliasMove("clf", "production", "set", 1, 2)
    assert repr(alias) == str(alias) == "clf@production: moved from version 1 to version 2"
    assert alias._repr_html_() == f"<pre>{alias.to_text()}</pre>"
    # reports keep their dataclass repr (fields), their text is str()
    assert repr(GcReport()).startswith("GcReport(objects_removed=0")
    report = TransferReport("origin", "push", moved=2, bytes=2048)
    assert repr(report).startswith("TransferReport(remote='origin'")
    assert str(report) == "pushed 2 objects (2.0 KiB) to origin"
    assert report._repr_html_() == "<code>pushed 2 objects (2.0 KiB) to origin</code>"
