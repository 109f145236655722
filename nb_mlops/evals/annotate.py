"""Human evaluation: annotation tasks that people label one item at a time, from any process.

A task is either `rating` (one response per item, rated on criteria such as fluency or
helpfulness, each with its own scale and level of measurement) or `pairwise` (two responses per
item, the rater picks a, b or tie; which one is shown on the left is drawn per item and rater, and
the layout shown is kept with the label). Several raters label the same task, each under their
own name; a label given again for the same item replaces the earlier one (a correction), so a
rater can stop at any moment and go on later, in another kernel, from the first item they have
neither labelled nor skipped.

On disk, in the task's folder (`Workspace.annotations_dir(name)`):
  task.json              the task (mode, criteria, seed, items), written once, whole
  labels/<rater>.jsonl   one JSON line per label, appended whole under the task's lock and
                         synced to disk, so labels from two processes at once all land
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb_mlops.evals.agreement import Agreement, is_number, missing, plain, rater_agreement
from nb_mlops.evals.model import EvalError
from nb_mlops.results import Result
from nb_mlops.store.layout import is_plain_name
from nb_mlops.store.workspace import Workspace

__all__ = [
    "DEFAULT_CRITERIA",
    "AnnotationSession",
    "AnnotationTask",
    "Criterion",
    "Label",
]

TASK_FILE = "task.json"
LABELS_DIR = "labels"
TASK_FORMAT = 1
MODES = ("rating", "pairwise")
CHOICES = ("a", "b", "tie")
"""A pairwise label's choice, in terms of the task's responses (not of the screen's sides)."""
LEVELS = ("nominal", "ordinal", "interval")
REQUIRED = {"rating": ("prompt", "response"), "pairwise": ("prompt", "response_a", "response_b")}
RESERVED = {"id", "rater", "item", "choice", "shown", "seconds", "time", "skipped", "label"}
"""Column names of `AnnotationTask.frame()` that a criterion cannot take."""
MAX_NAME = 100


def check_name(kind: str, name: Any) -> str:
    """`name` when it can name a file or folder as it is (letters, digits, `._-@`); else a
    one-line EvalError naming it."""
    if not is_plain_name(name, MAX_NAME):
        raise EvalError(
            f"{kind} {name!r} cannot name a file: use letters, digits, '.', '_', '-' or '@' "
            f"(not a leading '.'), at most {MAX_NAME} characters"
        )
    return name


# ------------------------------------------------------------------------------ criteria
@dataclass(frozen=True)
class Criterion:
    """One thing a rater judges about a response, on a scale of allowed values.

    `scale` lists the values in order (numbers or words); `level` says how they may be compared
    (nominal: same or not; ordinal: ordered; interval: differences mean something), which picks
    the agreement statistics.
    """

    name: str
    scale: tuple = (1, 2, 3, 4, 5)
    level: str = "ordinal"
    description: str = ""
    description_ko: str = ""

    def __post_init__(self) -> None:
        name = self.name
        if not isinstance(name, str) or not name.strip() or "\n" in name or len(name) > MAX_NAME:
            raise EvalError(f"a criterion name is one line of text, not {name!r}")
        if name in RESERVED:
            raise EvalError(f"criterion name {name!r} is taken by a label column; choose another")
        if self.level not in LEVELS:
            raise EvalError(
                f"criterion {name!r}: level is nominal, ordinal or interval, not {self.level!r}"
            )
        if isinstance(self.scale, (str, bytes, Mapping)) or not hasattr(self.scale, "__iter__"):
            raise EvalError(f"criterion {name!r}: scale is a list of values, not {self.scale!r}")
        scale = tuple(plain(v) for v in self.scale)
        for v in scale:
            if not (isinstance(v, str) or is_number(v)) or (isinstance(v, float) and math.isnan(v)):
                raise EvalError(f"criterion {name!r}: scale value {v!r} is not text or a number")
        if len(scale) < 2 or len(set(scale)) != len(scale):
            raise EvalError(
                f"criterion {name!r}: a scale has at least 2 distinct values, got {list(scale)!r}"
            )
        if self.level == "interval" and not all(is_number(v) for v in scale):
            raise EvalError(f"criterion {name!r}: an interval scale holds numbers, got {scale!r}")
        object.__setattr__(self, "scale", scale)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": list(self.scale),
            "level": self.level,
            "description": self.description,
            "description_ko": self.description_ko,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Criterion:
        try:
            return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})
        except TypeError as exc:
            raise EvalError(f"a criterion needs a name and a scale: {exc}") from None

    def value(self, given: Any) -> Any:
        """The scale's own value equal to `given` (3.0 is stored as the scale's 3); else an
        EvalError naming both."""
        given = plain(given)
        if not isinstance(given, bool):
            for v in self.scale:
                same_kind = isinstance(v, str) == isinstance(given, str)
                if same_kind and (isinstance(v, str) or is_number(given)) and v == given:
                    return v
        raise EvalError(
            f"{self.name}: {given!r} is not on the scale {', '.join(map(str, self.scale))}"
        )


DEFAULT_CRITERIA = (
    Criterion(
        "fluency",
        description="Is the response well formed, grammatical and easy to read? (1 worst, 5 best)",
        description_ko="문법에 맞고 자연스럽게 읽히는가? (1 가장 나쁨, 5 가장 좋음)",
    ),
    Criterion(
        "helpfulness",
        description="Does it answer the request and give the user what they need?",
        description_ko="요청에 답하고 사용자에게 필요한 것을 주는가?",
    ),
    Criterion(
        "faithfulness",
        description="Is everything it states backed by the prompt or context, nothing made up?",
        description_ko="모든 내용이 질문이나 주어진 맥락에 근거하고, 지어낸 것이 없는가?",
    ),
    Criterion(
        "harmlessness",
        description="Is it free of harmful, unsafe or offensive content?",
        description_ko="해롭거나 위험하거나 불쾌한 내용이 없는가?",
    ),
)
"""Four 1-5 ordinal criteria (1 worst, 5 best), used when a rating task names none."""


def criteria_list(criteria: Any) -> list[Criterion]:
    """Criteria from Criterion objects, default names ("fluency") or dicts; names distinct."""
    if criteria is None:
        return list(DEFAULT_CRITERIA)
    if isinstance(criteria, (str, Criterion, Mapping)):
        criteria = [criteria]
    defaults = {c.name: c for c in DEFAULT_CRITERIA}
    out: list[Criterion] = []
    for c in criteria:
        if isinstance(c, Criterion):
            out.append(c)
        elif isinstance(c, str):
            if c not in defaults:
                raise EvalError(
                    f"no default criterion named {c!r} (defaults: {', '.join(defaults)}); "
                    "give Criterion(name, scale=..., level=...)"
                )
            out.append(defaults[c])
        elif isinstance(c, Mapping):
            out.append(Criterion.from_dict(c))
        else:
            raise EvalError(f"a criterion is a Criterion, a name or a dict, not {c!r}")
    if not out:
        raise EvalError("a rating task needs at least one criterion")
    names = [c.name for c in out]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise EvalError(f"criterion {twice!r} is given twice")
    return out


# --------------------------------------------------------------------------------- items
def item_rows(items: Any) -> list[Mapping[str, Any]]:
    if hasattr(items, "to_dict") and hasattr(items, "columns"):
        return items.to_dict("records")
    if isinstance(items, (str, bytes, Mapping)) or not hasattr(items, "__iter__"):
        raise EvalError("items are a DataFrame or a list of dicts")
    rows = list(items)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise EvalError(f"item {i} is a {type(row).__name__}, not a dict")
    return rows


JUDGE_NAMES = {
    "question": "prompt",
    "answer": "response",
    "answer_a": "response_a",
    "answer_b": "response_b",
}
"""Field names of judge items (nm.judge) and what they are called here."""


def clean_items(items: Any, mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The mode (given, or pairwise when items have `response_a`) and the items as stored:
    `id` first (a string; the position when absent), empty fields dropped, values JSON-able."""
    from nb_mlops.values import clean_value

    rows = item_rows(items)
    if not rows:
        raise EvalError("an annotation task needs at least one item")
    if mode is None:
        mode = "pairwise" if {"response_a", "answer_a"} & set(rows[0]) else "rating"
    if mode not in MODES:
        raise EvalError(f"mode is 'rating' or 'pairwise', not {mode!r}")
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        raw_id = plain(row.get("id"))
        item_id = str(i) if missing(raw_id) else str(raw_id)
        if not item_id or "\n" in item_id:
            raise EvalError(f"item {i}: an id is one non-empty line, not {raw_id!r}")
        if item_id in seen:
            raise EvalError(f"item id {item_id!r} is used twice (items {seen[item_id]} and {i})")
        seen[item_id] = i
        doc: dict[str, Any] = {"id": item_id}
        for key, value in row.items():
            if str(key) != "id" and not missing(plain(value)):
                doc[str(key)] = clean_value(value)
        for alias, name in JUDGE_NAMES.items():  # the judge's items can be labelled as they are
            if name not in doc and alias in doc:
                doc[name] = doc[alias]
        for name in REQUIRED[mode]:
            if name not in doc:
                raise EvalError(
                    f"item {item_id!r} has no {name!r} (a {mode} item needs "
                    f"{', '.join(REQUIRED[mode])})"
                )
        out.append(doc)
    return mode, out


# -------------------------------------------------------------------------------- labels
@dataclass
class Label:
    """One rater's judgement of one item: criterion values (or a choice), or a skip."""

    id: str
    rater: str
    item: str
    values: dict[str, Any]
    shown: tuple[str, str] | None = None
    """Pairwise: which response was on the left and which on the right, ("b", "a") say."""
    seconds: float | None = None
    skipped: bool = False
    time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rater": self.rater,
            "item": self.item,
            "values": dict(self.values),
            "shown": list(self.shown) if self.shown else None,
            "seconds": self.seconds,
            "skipped": self.skipped,
            "time": self.time,
        }

    @classmethod
    def from_record(cls, doc: Any) -> Label | None:
        """The label a stored line holds, or None when the line is not a label."""
        if not isinstance(doc, dict):
            return None
        ids = [doc.get(k) for k in ("id", "rater", "item")]
        values, shown, seconds = doc.get("values"), doc.get("shown"), doc.get("seconds")
        if not all(isinstance(v, str) and v for v in ids) or not isinstance(values, dict):
            return None
        if shown is not None and not (isinstance(shown, list) and sorted(shown) == ["a", "b"]):
            return None
        if seconds is not None and not is_number(seconds):
            return None
        return cls(
            doc["id"], doc["rater"], doc["item"], values,
            tuple(shown) if shown else None, seconds,
            doc.get("skipped") is True, str(doc.get("time") or ""),
        )  # fmt: skip


def append_record(path: Path, line: bytes) -> None:
    """Append one whole line and sync it; a torn last line (a writer killed mid-write) is ended
    first, so the new record stands on its own line. The caller holds the task's lock."""
    from nb_mlops.store.files import unwritable, write_all

    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise unwritable(path.parent, exc) from None
    try:
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)
            if os.read(fd, 1) != b"\n":
                line = b"\n" + line
        write_all(fd, line)
        os.fsync(fd)
    except OSError as exc:
        raise unwritable(path.parent, exc) from None
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- task
class AnnotationTask:
    """Items to label, the criteria (or the pairwise choice), and the labels raters gave.

    Open (or create) one with `AnnotationTask.open(ws, name, items)`; every method reads the
    labels from disk, so what other processes recorded is seen at once.
    """

    def __init__(self, ws: Workspace, doc: Mapping[str, Any]) -> None:
        self.ws = ws
        self.name: str = doc["name"]
        self.mode: str = doc["mode"]
        self.seed: int = doc.get("seed", 0)
        self.created: str = doc.get("created", "")
        self.criteria: list[Criterion] = [Criterion.from_dict(c) for c in doc.get("criteria", [])]
        self.items: list[dict[str, Any]] = list(doc["items"])
        self.choices: tuple[str, ...] = CHOICES if self.mode == "pairwise" else ()
        self.folder = ws.annotations_dir(self.name)
        self.position = {item["id"]: i for i, item in enumerate(self.items)}

    def __repr__(self) -> str:
        return f"AnnotationTask({self.name!r}, mode={self.mode!r}, items={len(self.items)})"

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        ws: Workspace | None,
        name: str,
        items: Any = None,
        *,
        mode: str | None = None,
        criteria: Any = None,
        seed: int = 0,
    ) -> AnnotationTask:
        """The task `name`: created from `items` the first time, reopened afterwards.

        Reopening with items, a mode or criteria checks they are the task's (with items, the
        seed too): a different task under the same name is an EvalError saying what differs.
        """
        from nb_mlops.store.files import atomic_write

        if ws is None:
            from nb_mlops.store.workspace import open_workspace

            ws = open_workspace()
        check_name("annotation task name", name)
        if mode is not None and mode not in MODES:
            raise EvalError(f"mode is 'rating' or 'pairwise', not {mode!r}")
        path = ws.annotations_dir(name) / TASK_FILE
        if items is None:
            task = cls(ws, read_task(path, name))
            task.check_same(mode=mode, criteria=criteria)
            return task
        wanted = task_doc(name, items, mode, criteria, seed)
        with ws.locked(f"annotations.{name}"):
            if path.exists():
                task = cls(ws, read_task(path, name))
                task.check_same(doc=wanted)
                return task
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(wanted, ensure_ascii=False, indent=1) + "\n")
        return cls(ws, wanted)

    def check_same(
        self, *, mode: str | None = None, criteria: Any = None, doc: Mapping | None = None
    ) -> None:
        """Refuse a reopening that asks for a different task under this name."""
        if doc is not None:
            mode, criteria = doc["mode"], doc["criteria"]
        if mode is not None and mode != self.mode:
            self.differs(f"mode {self.mode!r}, not {mode!r}")
        if criteria is not None and self.mode == "rating":
            if doc is None:
                criteria = [c.to_dict() for c in criteria_list(criteria)]
            given = list(criteria)
            mine = [c.to_dict() for c in self.criteria]
            if canonical(given) != canonical(mine):
                names = [c["name"] for c in given]
                self.differs(f"criteria {[c.name for c in self.criteria]}, given {names}")
        elif criteria is not None and self.mode == "pairwise" and doc is None:
            raise EvalError("a pairwise task has no criteria: raters choose a, b or tie")
        if doc is None:
            return
        if doc["seed"] != self.seed:
            self.differs(f"seed {self.seed}, not {doc['seed']}")
        given_items = doc["items"]
        if len(given_items) != len(self.items):
            self.differs(f"{len(self.items)} items, not {len(given_items)}")
        for mine, given in zip(self.items, given_items, strict=True):
            if canonical(mine) != canonical(given):
                self.differs(f"item {mine['id']!r} differs from the one given")

    def differs(self, what: str) -> None:
        raise EvalError(
            f"annotation task {self.name!r} already exists with {what}; open it by its name "
            "alone to go on with it, or choose another name"
        )

    # ------------------------------------------------------------------ helpers
    def item(self, item_id: Any) -> dict[str, Any]:
        """The item with id `item_id` (ids are strings; 3 finds "3")."""
        key = str(plain(item_id))
        if key not in self.position:
            raise EvalError(f"annotation task {self.name!r} has no item {key!r}")
        return self.items[self.position[key]]

    def sides(self, item_id: Any, rater: str) -> tuple[str, str]:
        """Which response is shown left and right for this item and rater: ("a", "b") or
        ("b", "a"), drawn from the seed, task, item and rater, so a resumed session shows the
        same layout and the side never tells which response is which."""
        if self.mode != "pairwise":
            raise EvalError(f"annotation task {self.name!r} rates one response; it has no sides")
        check_name("rater name", rater)
        key = self.item(item_id)["id"]
        digest = hashlib.sha256(f"{self.seed}\0{self.name}\0{key}\0{rater}".encode()).digest()
        return ("b", "a") if digest[0] & 1 else ("a", "b")

    def labels_file(self, rater: str) -> Path:
        return self.folder / LABELS_DIR / f"{check_name('rater name', rater)}.jsonl"

    # ------------------------------------------------------------------ writing
    def record(
        self,
        rater: str,
        item_id: Any,
        values: Mapping[str, Any] | None = None,
        *,
        shown: Sequence[str] | None = None,
        seconds: float | None = None,
        skipped: bool = False,
    ) -> Label:
        """Store one label of `rater` for `item_id`; a later one for the same item replaces it.

        Rating tasks take `values` = {criterion: value on its scale}, every criterion unless
        `skipped`. Pairwise tasks take {"choice": "a" | "b" | "tie"} about the task's responses
        (not the screen's sides) and `shown`, the sides as shown (default: `sides(...)`).
        `seconds` is the time the rater spent on the item.
        """
        from nb_mlops.clock import utcnow

        check_name("rater name", rater)
        item = self.item(item_id)["id"]
        clean = self.check_values(values, skipped=bool(skipped))
        if self.mode == "pairwise":
            shown = self.check_shown(item, rater, shown)
        elif shown is not None:
            raise EvalError("shown is the layout of a pairwise item; this task rates one response")
        seconds = plain(seconds)
        if seconds is not None and (not is_number(seconds) or not 0 <= seconds < math.inf):
            raise EvalError(f"seconds is a time spent (a number >= 0), not {seconds!r}")
        label = Label(
            id=uuid.uuid4().hex,
            rater=rater,
            item=item,
            values=clean,
            shown=shown,
            seconds=None if seconds is None else round(float(seconds), 3),
            skipped=bool(skipped),
            time=utcnow(),
        )
        line = json.dumps(label.to_dict(), ensure_ascii=False, separators=(",", ":"))
        with self.ws.locked(f"annotations.{self.name}"):
            append_record(self.labels_file(rater), line.encode() + b"\n")
        return label

    def check_values(self, values: Any, *, skipped: bool) -> dict[str, Any]:
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise EvalError(f"label values are a dict, not {type(values).__name__}")
        out: dict[str, Any] = {}
        if self.mode == "pairwise":
            unknown = [k for k in values if k != "choice"]
            if unknown:
                raise EvalError(f"a pairwise label has only 'choice', not {unknown[0]!r}")
            choice = plain(values.get("choice"))
            if choice is None and skipped:
                return out
            if not isinstance(choice, str) or choice.strip().lower() not in CHOICES:
                raise EvalError(f"choice is 'a', 'b' or 'tie', not {choice!r}")
            out["choice"] = choice.strip().lower()
            return out
        known = {c.name: c for c in self.criteria}
        for key, value in values.items():
            if key not in known:
                raise EvalError(
                    f"task {self.name!r} has no criterion {key!r} (it has {', '.join(known)})"
                )
            if not (skipped and missing(plain(value))):
                out[key] = known[key].value(value)
        if not skipped:
            absent = [c for c in known if c not in out]
            if absent:
                raise EvalError(f"no value for {absent[0]!r}: every criterion is needed")
        return out

    def check_shown(self, item: str, rater: str, shown: Any) -> tuple[str, str]:
        if shown is None:
            return self.sides(item, rater)
        if isinstance(shown, str):
            shown = tuple(shown)
        pair = tuple(str(s).lower() for s in shown) if hasattr(shown, "__iter__") else ()
        if pair not in (("a", "b"), ("b", "a")):
            raise EvalError(f"shown is ('a', 'b') or ('b', 'a'), not {shown!r}")
        return pair  # type: ignore[return-value]

    # ------------------------------------------------------------------ reading
    def raters(self) -> list[str]:
        """Names of the raters who have recorded anything, sorted."""
        folder = self.folder / LABELS_DIR
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.jsonl") if p.is_file())

    def effective(self, rater: str) -> dict[str, Label]:
        """The rater's latest label per item (skips included), by item id."""
        from nb_mlops.jsonl import read_jsonl

        latest: dict[str, Label] = {}
        for doc in read_jsonl(self.labels_file(rater)):
            label = Label.from_record(doc)
            if label is not None and label.rater == rater and label.item in self.position:
                latest[label.item] = label
        return latest

    def labels(self, rater: str | None = None, *, include_skipped: bool = False) -> list[Label]:
        """The labels in force (the latest per rater and item), by rater then task order."""
        out = []
        for name in [rater] if rater is not None else self.raters():
            latest = self.effective(name)
            out += sorted(
                (lb for lb in latest.values() if include_skipped or not lb.skipped),
                key=lambda lb: self.position[lb.item],
            )
        return out

    def next_item(self, rater: str) -> str | None:
        """The first item in task order this rater has neither labelled nor skipped."""
        done = self.effective(rater)
        return next((it["id"] for it in self.items if it["id"] not in done), None)

    def progress(self, rater: str) -> tuple[int, int]:
        """(items the rater is done with, labelled or skipped; items in the task)."""
        return len(self.effective(rater)), len(self.items)

    def counts(self, rater: str) -> dict[str, int]:
        """How many items the rater labelled and skipped, of the total."""
        latest = self.effective(rater).values()
        skipped = sum(lb.skipped for lb in latest)
        return {"labelled": len(latest) - skipped, "skipped": skipped, "total": len(self.items)}

    def frame(self, *, include_skipped: bool = True) -> Any:
        """One row per label in force: rater, item, one column per criterion (or `choice`,
        with `shown` = "ab" or "ba", the responses left to right), seconds, time, skipped."""
        import pandas as pd

        names = [c.name for c in self.criteria] if self.mode == "rating" else ["choice", "shown"]
        columns = ["rater", "item", *names, "seconds", "time", "skipped", "label"]
        rows = []
        for lb in self.labels(include_skipped=include_skipped):
            row = {"rater": lb.rater, "item": lb.item, **lb.values}
            if self.mode == "pairwise":
                row["shown"] = "".join(lb.shown) if lb.shown else None
            row.update(seconds=lb.seconds, time=lb.time, skipped=lb.skipped, label=lb.id)
            rows.append(row)
        return pd.DataFrame(rows, columns=columns)

    # ------------------------------------------------------------------ analysis
    def agreement(self, criterion: str | None = None) -> Agreement:
        """Agreement between the raters, per criterion (or on the pairwise choice)."""
        labels = self.labels()
        if self.mode == "pairwise":
            if criterion not in (None, "choice"):
                raise EvalError(
                    f"a pairwise task has one thing to agree on, 'choice', not {criterion!r}"
                )
            chosen = [("choice", "nominal", CHOICES)]
        elif criterion is None:
            chosen = [(c.name, c.level, c.scale) for c in self.criteria]
        else:
            chosen = [(c.name, c.level, c.scale) for c in self.criteria if c.name == criterion]
            if not chosen:
                names = ", ".join(c.name for c in self.criteria)
                raise EvalError(
                    f"task {self.name!r} has no criterion {criterion!r} (it has {names})"
                )
        out = []
        for name, level, scale in chosen:
            ratings: dict[str, dict[str, Any]] = {}
            for lb in labels:
                if name in lb.values:
                    ratings.setdefault(lb.rater, {})[lb.item] = lb.values[name]
            out.append(rater_agreement(ratings, level=level, scale=scale, criterion=name))
        return Agreement(out, task=self.name)

    def battles(self) -> Any:
        """Pairwise labels as Chatbot Arena rows: item, model_a, model_b, winner (model_a,
        model_b or tie), judge = "human:<rater>", rater, seconds."""
        import pandas as pd

        if self.mode != "pairwise":
            raise EvalError(f"annotation task {self.name!r} rates one response; battles need pairs")
        winners = {"a": "model_a", "b": "model_b", "tie": "tie"}
        rows = []
        for lb in self.labels():
            item = self.items[self.position[lb.item]]
            if "model_a" not in item or "model_b" not in item:
                raise EvalError(
                    f"item {lb.item!r} has no model_a/model_b: battles need model names"
                )
            rows.append({
                "item": lb.item,
                "model_a": str(item["model_a"]),
                "model_b": str(item["model_b"]),
                "winner": winners[lb.values["choice"]],
                "judge": f"human:{lb.rater}",
                "rater": lb.rater,
                "seconds": lb.seconds,
            })  # fmt: skip
        columns = ["item", "model_a", "model_b", "winner", "judge", "rater", "seconds"]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "seed": self.seed,
            "criteria": [c.to_dict() for c in self.criteria],
            "items": len(self.items),
            "raters": self.raters(),
        }


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def task_doc(name: str, items: Any, mode: str | None, criteria: Any, seed: Any) -> dict[str, Any]:
    """The task.json document for new items (criteria only for rating tasks)."""
    from nb_mlops.clock import utcnow

    seed = plain(seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise EvalError(f"seed is a whole number, not {seed!r}")
    mode, clean = clean_items(items, mode)
    if mode == "pairwise" and criteria is not None:
        raise EvalError("a pairwise task has no criteria: raters choose a, b or tie")
    doc = {
        "format": TASK_FORMAT,
        "name": name,
        "mode": mode,
        "seed": seed,
        "criteria": [c.to_dict() for c in criteria_list(criteria)] if mode == "rating" else [],
        "items": clean,
        "created": utcnow(),
    }
    return json.loads(json.dumps(doc, ensure_ascii=False))  # as it reads back from disk


def read_task(path: Path, name: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalError(
            f"no annotation task named {name!r} (in {path.parent.parent}); give items to create it"
        ) from None
    except OSError as exc:
        from nb_mlops.store.files import read_error

        raise read_error(path, exc) from None
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not {"name", "mode", "items"} <= doc.keys():
        raise EvalError(f"annotation task file {path} is damaged (not a task document)")
    if doc.get("format", 1) > TASK_FORMAT:
        raise EvalError(
            f"annotation task {name!r} was written by a newer nb-mlops (format {doc['format']})"
        )
    return doc


# ------------------------------------------------------------------------------ session
@dataclass(repr=False)
class AnnotationSession(Result):
    """One rater at work on one task: progress, time per item and what they chose so far."""

    task: AnnotationTask
    rater: str

    def __post_init__(self) -> None:
        check_name("rater name", self.rater)

    def state(self) -> dict[str, Any]:
        """Counts, next item, seconds per item and value counts, read once from disk."""
        latest = self.task.effective(self.rater)
        done = [lb for lb in latest.values() if not lb.skipped]
        summary: dict[str, dict[str, int]] = {}
        if self.task.mode == "pairwise":
            summary["choice"] = dict.fromkeys(CHOICES, 0)
            for lb in done:
                summary["choice"][lb.values["choice"]] += 1
        else:
            for c in self.task.criteria:
                counts = {str(v): 0 for v in c.scale}
                for lb in done:
                    if c.name in lb.values:
                        counts[str(lb.values[c.name])] += 1
                summary[c.name] = counts
        times = sorted(lb.seconds for lb in latest.values() if lb.seconds is not None)
        median = None
        if times:
            mid = len(times) // 2
            median = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
        nxt = next((it["id"] for it in self.task.items if it["id"] not in latest), None)
        return {
            "task": self.task.name,
            "mode": self.task.mode,
            "rater": self.rater,
            "labelled": len(done),
            "skipped": len(latest) - len(done),
            "total": len(self.task.items),
            "next_item": nxt,
            "median_seconds": median,
            "summary": summary,
        }

    def to_dict(self) -> dict[str, Any]:
        return self.state()

    def lines(self, state: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        from nb_mlops.text import human_duration

        head = (
            f"annotation task {state['task']} ({state['mode']}), rater {state['rater']}: "
            f"{state['labelled']} of {state['total']} labelled, {state['skipped']} skipped"
        )
        if state["median_seconds"] is not None:
            head += f"; median {human_duration(state['median_seconds'])} per item"
        head += "; all done" if state["next_item"] is None else f"; next: item {state['next_item']}"
        rows = []
        for name, counts in state["summary"].items():
            if name == "choice":
                shown = {"a": "A", "b": "B", "tie": "tie"}
                rows.append(("choices", ", ".join(f"{shown[k]} {n}" for k, n in counts.items())))
            else:
                rows.append((name, "  ".join(f"{k}: {n}" for k, n in counts.items())))
        return head, rows

    def to_text(self) -> str:
        head, rows = self.lines(self.state())
        width = max((len(n) for n, _ in rows), default=0)
        return "\n".join([head, *(f"  {n.ljust(width)}  {v}" for n, v in rows)])

    def to_html(self) -> str:
        head, rows = self.lines(self.state())
        body = "".join(
            f"<tr><th>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>" for n, v in rows
        )
        table = f"<table class='nbm-table'>{body}</table>" if rows else ""
        return f"<div class='nbm-annotate'><div>{html.escape(head)}</div>{table}</div>"
