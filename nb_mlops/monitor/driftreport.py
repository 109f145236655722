"""What `drift` returns: one line per column (test, statistic, p-value or distance, threshold,
drifted, missing shares, unseen categories) and the verdict on the whole dataset."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from nb_mlops.results import Result

MAX_UNSEEN_SHOWN = 20  # unseen categories listed per column (the count and share cover them all)


def finite_or_none(value: float | None) -> float | None:
    """A float for JSON: an infinite chi-squared (a value the reference never had) or a NaN
    becomes None; the p-value and the drifted flag still say what happened."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def number_or_none(value: Any) -> float | None:
    """A finite number read back from a file, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class ColumnDrift:
    """The drift of one column. `test` is None when the column could not be tested (`problem`
    says why: all values missing, dates, a type change); such a column is never `drifted`."""

    column: str
    kind: str | None  # "numerical" or "categorical"; None when not tested
    test: str | None = None  # "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"
    measure: str | None = None  # "p_value" or "distance"
    statistic: float | None = None
    value: float | None = None  # the p-value or the distance, compared with the threshold
    threshold: float | None = None
    drifted: bool = False
    n_reference: int = 0  # values tested (missing ones left out)
    n_current: int = 0
    missing_share_reference: float = 0.0
    missing_share_current: float = 0.0
    unseen_categories: list[Any] | None = None  # values only the current frame has (categorical)
    unseen_count: int = 0  # how many distinct unseen values (the list stops at 20)
    unseen_share: float = 0.0  # share of the current's non-missing rows holding one
    problem: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "column": self.column,
            "kind": self.kind,
            "test": self.test,
            "statistic": finite_or_none(self.statistic),
        }
        out[self.measure or "p_value"] = finite_or_none(self.value)
        out.update(
            threshold=self.threshold,
            drifted=self.drifted,
            n_reference=self.n_reference,
            n_current=self.n_current,
            missing_share_reference=self.missing_share_reference,
            missing_share_current=self.missing_share_current,
            unseen_categories=self.unseen_categories,
            unseen_count=self.unseen_count,
            unseen_share=self.unseen_share,
            problem=self.problem,
            note=self.note,
        )
        return out

    @classmethod
    def from_dict(cls, doc: Any) -> ColumnDrift:
        """A column's drift as `to_dict` gave it (read back from a monitor's files: checked)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("column"), str):
            raise ValueError(f"not a column's drift: {str(doc)[:80]!r}")
        measure = "distance" if "distance" in doc else "p_value"
        unseen = doc.get("unseen_categories")
        return cls(
            column=doc["column"],
            kind=text_or_none(doc.get("kind")),
            test=text_or_none(doc.get("test")),
            measure=measure if doc.get("test") else None,
            statistic=number_or_none(doc.get("statistic")),
            value=number_or_none(doc.get(measure)),
            threshold=number_or_none(doc.get("threshold")),
            drifted=doc.get("drifted") is True,
            n_reference=int(number_or_none(doc.get("n_reference")) or 0),
            n_current=int(number_or_none(doc.get("n_current")) or 0),
            missing_share_reference=number_or_none(doc.get("missing_share_reference")) or 0.0,
            missing_share_current=number_or_none(doc.get("missing_share_current")) or 0.0,
            unseen_categories=list(unseen) if isinstance(unseen, list) else None,
            unseen_count=int(number_or_none(doc.get("unseen_count")) or 0),
            unseen_share=number_or_none(doc.get("unseen_share")) or 0.0,
            problem=text_or_none(doc.get("problem")),
            note=text_or_none(doc.get("note")),
        )

    def row(self) -> list[str]:
        """The column's cells in the text and HTML tables."""
        measure = {"p_value": "p", "distance": "distance"}.get(self.measure or "", "")
        verdict = "not tested" if self.test is None else ("DRIFT" if self.drifted else "ok")
        unseen = ""
        if self.unseen_count:
            shown = ", ".join(str(v) for v in (self.unseen_categories or [])[:3])
            more = f" +{self.unseen_count - 3}" if self.unseen_count > 3 else ""
            unseen = f"{shown}{more} ({self.unseen_share:.1%})"
        return [
            self.column,
            self.kind or "",
            self.test or "",
            number(self.statistic),
            f"{measure} {number(self.value)}".strip() if self.test else "",
            number(self.threshold),
            verdict,
            f"{self.missing_share_reference:.1%} / {self.missing_share_current:.1%}",
            unseen,
            self.problem or self.note or "",
        ]


HEADER = [
    "column",
    "kind",
    "test",
    "statistic",
    "p-value / distance",
    "threshold",
    "drift",
    "missing ref / cur",
    "unseen",
    "note",
]


def number(value: float | None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}"


@dataclass
class DriftReport(Result):
    """Per-column drift and dataset drift: the dataset drifts when the share of drifted columns
    among those tested reaches `drift_share`. Columns only one frame has are listed, not
    tested."""

    columns: list[ColumnDrift]
    drift_share: float = 0.5
    n_reference: int = 0  # rows
    n_current: int = 0
    missing_columns: list[str] = field(default_factory=list)  # in the reference, not the current
    extra_columns: list[str] = field(default_factory=list)  # in the current, not the reference

    @property
    def tested(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.test is not None]

    @property
    def drifted_columns(self) -> list[str]:
        """Names of the columns that drifted, in column order."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def share_drifted(self) -> float:
        tested = self.tested
        return len(self.drifted_columns) / len(tested) if tested else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.tested) and self.share_drifted >= self.drift_share

    @property
    def problems(self) -> dict[str, str]:
        """Column -> why it was not tested."""
        return {c.column: c.problem for c in self.columns if c.problem}

    def column(self, name: str) -> ColumnDrift:
        """The drift of column `name`."""
        for c in self.columns:
            if c.column == name:
                return c
        from nb_mlops.monitor.errors import MonitorError

        raise MonitorError(f"no column {name!r} in this drift report")

    @classmethod
    def from_dict(cls, doc: Any) -> DriftReport:
        """A report as `to_dict` gave it (read back from a monitor's files: checked; a damaged
        report is a ValueError)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list):
            raise ValueError("not a drift report")
        share = number_or_none(doc.get("drift_share"))
        return cls(
            columns=[ColumnDrift.from_dict(c) for c in doc["columns"]],
            drift_share=share if share is not None and 0 < share <= 1 else 0.5,
            n_reference=int(number_or_none(doc.get("n_reference")) or 0),
            n_current=int(number_or_none(doc.get("n_current")) or 0),
            missing_columns=[str(c) for c in doc.get("missing_columns") or []],
            extra_columns=[str(c) for c in doc.get("extra_columns") or []],
        )

    def to_frame(self) -> Any:
        """One row per column (pandas DataFrame), the fields of `to_dict()["columns"]`."""
        import pandas as pd

        return pd.DataFrame([c.to_dict() for c in self.columns])

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "share_drifted": self.share_drifted,
            "n_drifted": len(self.drifted_columns),
            "n_tested": len(self.tested),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "drifted_columns": self.drifted_columns,
            "missing_columns": list(self.missing_columns),
            "extra_columns": list(self.extra_columns),
            "columns": [c.to_dict() for c in self.columns],
        }

    def summary(self) -> list[str]:
        """The verdict and what was left out, one line each."""
        n_drifted, n_tested = len(self.drifted_columns), len(self.tested)
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        lines = [
            f"{verdict}: {n_drifted} of {n_tested} columns drifted "
            f"({self.share_drifted:.0%}; the dataset drifts at {self.drift_share:.0%}) — "
            f"reference {self.n_reference} rows, current {self.n_current} rows"
        ]
        if self.missing_columns:
            lines.append("missing from current: " + ", ".join(self.missing_columns))
        if self.extra_columns:
            lines.append("only in current (not tested): " + ", ".join(self.extra_columns))
        for name, problem in self.problems.items():
            lines.append(f"not tested: {name}: {problem}")
        return lines

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        return "\n".join([*self.summary(), text_table(HEADER, [c.row() for c in self.columns])])

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
        body = []
        for c in self.columns:
            style = " style='color:#b00020;font-weight:bold'" if c.drifted else ""
            cells = "".join(f"<td>{html.escape(v)}</td>" for v in c.row())
            body.append(f"<tr{style}>{cells}</tr>")
        lines = "".join(f"<div>{html.escape(line)}</div>" for line in self.summary())
        return (
            f"<div class='nbm-drift'>{lines}<table class='nbm-table'><thead><tr>{head}</tr>"
            f"</thead><tbody>{''.join(body)}</tbody></table></div>"
        )
