"""The verdict on a replay: how closely it matched the record, and every difference found.

A replay is judged on the run the record was made for (its target run), matched in the replay
by name and order. The tiers, best first:

- bitwise-identical: every artifact's md5, every model's fingerprint, the params and every
  metric are equal;
- identical-parameters: every model the run registered has the recorded fingerprint;
- parameters-within-tolerance: every model's fitted arrays are close (`rtol_params`, relative to
  the largest magnitude in each array, so arrays holding zeros compare sensibly);
- metrics-within-tolerance: every recorded metric is within `rtol_metrics` of its replay;
- not-reproduced: none of these, or the run was not made, or did not finish as it had.

A run that recorded no model cannot reach the two parameter tiers, and one that recorded
nothing to compare (no artifact, model or metric) is not reproduced: agreement on nothing is
not evidence. Differences are one line each, whatever the tier; differences between the two
environments are listed apart (they explain a verdict, they are not one).

`compare` is pure: it reads the record's manifest and a summary of the replay in the same
shape (see replay.py), and fitted arrays already loaded.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nb_mlops.results import Result

TIERS = (
    "bitwise-identical",
    "identical-parameters",
    "parameters-within-tolerance",
    "metrics-within-tolerance",
    "not-reproduced",
)
ARRAY_LINES = 5
"""At most this many differing arrays are named per model; the rest are counted."""


@dataclass(repr=False)
class Verdict(Result):
    """How a replay compares with its record: `.tier` (one of TIERS) and `.differences`."""

    tier: str
    differences: list[str] = field(default_factory=list)
    run: str | None = None
    run_id: str | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    environment: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rtol_params: float = 1e-6
    rtol_metrics: float = 1e-3
    record: str | None = None
    workdir: str | None = None
    verdict_run: str | None = None

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ValueError(f"a verdict's tier is one of {', '.join(TIERS)}, not {self.tier!r}")

    @property
    def reproduced(self) -> bool:
        """Whether any tier above `not-reproduced` was reached."""
        return self.tier != "not-reproduced"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "reproduced": self.reproduced,
            "run": self.run,
            "run_id": self.run_id,
            "differences": list(self.differences),
            "checks": dict(self.checks),
            "metrics": {k: dict(v) for k, v in self.metrics.items()},
            "environment": list(self.environment),
            "notes": list(self.notes),
            "rtol_params": self.rtol_params,
            "rtol_metrics": self.rtol_metrics,
            "record": self.record,
            "workdir": self.workdir,
            "verdict_run": self.verdict_run,
        }

    def _sections(self) -> list[tuple[str, list[str]]]:
        none = ["none"] if self.tier != "not-reproduced" or not self.differences else []
        return [
            (f"differences ({len(self.differences)})", self.differences or none),
            ("environment differences", self.environment),
            ("notes", self.notes),
        ]

    def headline(self) -> str:
        run = self.run or "the run"
        ident = f" ({self.run_id})" if self.run_id else ""
        return f"reproducing {run}{ident}: {self.tier}"

    def to_text(self) -> str:
        lines = [self.headline()]
        for title, items in self._sections():
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        if self.workdir:
            lines.append(f"work folder: {self.workdir}")
        if self.verdict_run:
            lines.append(f"kept as run {self.verdict_run}")
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        parts = [f"<div class='nbmlops-verdict'><p><b>{esc(self.headline())}</b></p>"]
        for title, items in self._sections():
            if items:
                rows = "".join(f"<li>{esc(item)}</li>" for item in items)
                parts.append(f"<p>{esc(title)}:</p><ul>{rows}</ul>")
        if self.workdir:
            parts.append(f"<p>work folder: <code>{esc(self.workdir)}</code></p>")
        if self.verdict_run:
            parts.append(f"<p>kept as run <code>{esc(self.verdict_run)}</code></p>")
        parts.append("</div>")
        return "".join(parts)


# ------------------------------------------------------------------------------ comparing
def compare(
    recorded: Mapping[str, Any],
    replayed: Mapping[str, Any],
    npz_recorded: Mapping[str, Mapping[str, np.ndarray]],
    npz_replayed: Mapping[str, Mapping[str, np.ndarray]],
    rtol_params: float = 1e-6,
    rtol_metrics: float = 1e-3,
) -> Verdict:
    """The verdict on one replay.

    `recorded` is a record's manifest (record.json). `replayed` summarises the replay:
    `{"run": the matched run {"run_id", "name", "status", "params", "metrics", "children",
    "error"} or None, "artifacts": [{"name", "md5"}], "models": [{"name", "version",
    "fingerprint"}] of that run in the order it made them, "failures": ["cell 4 failed: ..."]}`.
    The npz mappings give each model's fitted arrays by `model_keys` (recorded ones from the
    record, replayed ones from the replay's store).
    """
    for name, value in (("rtol_params", rtol_params), ("rtol_metrics", rtol_metrics)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    target = dict(recorded.get("run") or {})
    name = target.get("name")
    out = Verdict(
        "not-reproduced",
        run=name,
        run_id=target.get("run_id"),
        rtol_params=float(rtol_params),
        rtol_metrics=float(rtol_metrics),
    )
    diffs = out.differences
    diffs += [str(f) for f in replayed.get("failures") or []]
    run = replayed.get("run")
    if not run:
        diffs.append(f"run {name} was not made by the replay")
        out.checks = {"run": False}
        return out

    status_ok = _status(target, run, diffs)
    params_equal = _params(target.get("params") or {}, run.get("params") or {}, diffs)
    rec_metrics = _all_metrics(target)
    rep_metrics = _all_metrics(run)
    metrics_equal, metrics_close = _metrics(rec_metrics, rep_metrics, rtol_metrics, diffs)
    out.metrics = {
        k: {"recorded": rec_metrics.get(k), "replayed": rep_metrics.get(k)}
        for k in {**rec_metrics, **rep_metrics}
    }
    rec_artifacts, rec_models = recorded_outputs(recorded)
    artifacts_equal = _artifacts(rec_artifacts, replayed.get("artifacts") or [], diffs)
    rep_models = list(replayed.get("models") or [])
    fingerprints_equal, extra_models, pairs = _models(rec_models, rep_models, diffs)
    params_close = bool(rec_models) and all(
        fp_same or _arrays(key, npz_recorded, npz_replayed, rtol_params, diffs)
        for key, fp_same in pairs
    )
    has_models = bool(rec_models)
    anything = bool(rec_models or rec_artifacts or rec_metrics)
    out.checks = {
        "run": True,
        "status": status_ok,
        "params_equal": params_equal,
        "artifacts_equal": artifacts_equal,
        "fingerprints_equal": has_models and fingerprints_equal,
        "parameters_within_tolerance": params_close,
        "metrics_equal": metrics_equal,
        "metrics_within_tolerance": metrics_close,
    }
    if not anything:
        diffs.append(f"run {name} recorded no artifact, model or metric: nothing to compare")
    if not status_ok or not anything:
        tier = "not-reproduced"
    elif (
        artifacts_equal
        and fingerprints_equal
        and not extra_models
        and metrics_equal
        and params_equal
    ):
        tier = "bitwise-identical"
    elif has_models and fingerprints_equal:
        tier = "identical-parameters"
    elif params_close:
        tier = "parameters-within-tolerance"
    elif rec_metrics and metrics_close:
        tier = "metrics-within-tolerance"
    else:
        tier = "not-reproduced"
    out.tier = tier
    return out


def recorded_outputs(
    recorded: Mapping[str, Any],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The artifacts and models of the record's target run: from its entry in `runs` (exact,
    even when several runs share its name), with each model's fingerprint from `models`."""
    target = recorded.get("run") or {}
    entry = next(
        (r for r in recorded.get("runs") or [] if r.get("run_id") == target.get("run_id")), None
    )
    listed = list(recorded.get("models") or [])
    if entry is None:
        name = target.get("name")
        arts = [a for a in recorded.get("artifacts") or [] if a.get("run") == name]
        return arts, [m for m in listed if m.get("run") == name]
    known = {(m.get("name"), m.get("version")): m for m in listed}
    models = []
    for made in entry.get("models") or []:
        full = known.get((made.get("name"), made.get("version")), {})
        models.append({**full, **{k: v for k, v in made.items() if v is not None}})
    return list(entry.get("artifacts") or []), models


def model_keys(models: Sequence[Mapping[str, Any]]) -> list[str]:
    """The key of each model's fitted arrays: its name, then `NAME#2`, `NAME#3` for further
    versions of one name made by the same run (the npz mappings use these keys)."""
    seen: dict[str, int] = {}
    keys = []
    for model in models:
        name = str(model.get("name"))
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return keys


def _status(target: Mapping[str, Any], run: Mapping[str, Any], diffs: list[str]) -> bool:
    was = target.get("status") or "finished"
    now = run.get("status") or "unknown"
    if was == now:
        return True
    error = run.get("error") or {}
    why = ""
    if isinstance(error, Mapping) and error.get("type"):
        why = f" ({error['type']}: {_one_line(error.get('message') or '')})"
    diffs.append(f"run {target.get('name')} status: {was} -> {now}{why}")
    return was != "finished"  # a run that had failed and fails again is as recorded


def _params(rec: Mapping[str, Any], rep: Mapping[str, Any], diffs: list[str]) -> bool:
    equal = True
    for key in sorted({*rec, *rep}):
        if key not in rep:
            diffs.append(f"param {key}: {_shown(rec[key])} -> missing")
        elif key not in rec:
            diffs.append(f"param {key}: missing -> {_shown(rep[key])}")
        elif not _same(rec[key], rep[key]):
            diffs.append(f"param {key}: {_shown(rec[key])} -> {_shown(rep[key])}")
        else:
            continue
        equal = False
    return equal


def _all_metrics(run: Mapping[str, Any]) -> dict[str, float]:
    """The run's last metric values, and its children's as `CHILD/metric` (children matched
    by name and order: the second child named `fold` is `fold#2`). System metrics (CPU,
    memory, GPU readings) describe the machine, not the model: they are left out."""
    from nb_mlops.tracking.sysmetrics import is_system_metric

    found = {
        k: v
        for k, v in (run.get("metrics") or {}).items()
        if _is_number(v) and not is_system_metric(k)
    }
    seen: dict[str, int] = {}
    for child in run.get("children") or []:
        if not isinstance(child, Mapping):
            continue
        label = str(child.get("name") or child.get("run_id") or "child")
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        for key, value in (child.get("metrics") or {}).items():
            if _is_number(value) and not is_system_metric(key):
                found[f"{label}/{key}"] = value
    return found


def _metrics(
    rec: Mapping[str, float], rep: Mapping[str, float], rtol: float, diffs: list[str]
) -> tuple[bool, bool]:
    equal = set(rec) == set(rep)
    close = True
    for key in sorted(rec):
        a = rec[key]
        if key not in rep:
            diffs.append(f"metric {key}: {_num(a)} -> missing")
            equal = close = False
            continue
        b = rep[key]
        if _same_number(a, b):
            continue
        equal = False
        within = _close(a, b, rtol)
        close = close and within
        note = f"within rtol {rtol:g}" if within else f"rtol {rtol:g}"
        diffs.append(f"metric {key}: {_num(a, b)} -> {_num(b, a)} ({note})")
    for key in sorted(set(rep) - set(rec)):
        diffs.append(f"metric {key}: missing -> {_num(rep[key])}")
    return equal, close


def _artifacts(
    rec: Sequence[Mapping[str, Any]], rep: Sequence[Mapping[str, Any]], diffs: list[str]
) -> bool:
    equal = True
    replayed = {a.get("name"): a for a in rep}
    for art in rec:
        other = replayed.pop(art.get("name"), None)
        if other is None:
            diffs.append(f"artifact {art.get('name')}: not made by the replay")
            equal = False
        elif other.get("md5") != art.get("md5"):
            diffs.append(
                f"artifact {art.get('name')}: md5 {_short(art.get('md5'))} -> "
                f"{_short(other.get('md5'))}"
            )
            equal = False
    for name in replayed:
        diffs.append(f"artifact {name}: made by the replay only")
        equal = False
    return equal


def _models(
    rec: Sequence[Mapping[str, Any]], rep: Sequence[Mapping[str, Any]], diffs: list[str]
) -> tuple[bool, bool, list[tuple[str, bool]]]:
    """Match recorded and replayed models by name and order; (every recorded model has its
    fingerprint, the replay registered models the record does not have, the arrays key of each
    recorded model with whether its fingerprint matched)."""
    pending: dict[str, list[Mapping[str, Any]]] = {}
    for model in rep:
        pending.setdefault(str(model.get("name")), []).append(model)
    pairs: list[tuple[str, bool]] = []
    equal = True
    for model, key in zip(rec, model_keys(rec), strict=True):
        name = str(model.get("name"))
        queue = pending.get(name) or []
        other = queue.pop(0) if queue else None
        if other is None:
            diffs.append(f"model {name}: not registered by the replay")
            pairs.append((key, False))
            equal = False
            continue
        same = bool(model.get("fingerprint")) and other.get("fingerprint") == model.get(
            "fingerprint"
        )
        if not same:
            diffs.append(
                f"model {name}: fingerprint {_short(model.get('fingerprint'))} -> "
                f"{_short(other.get('fingerprint'))}"
            )
            equal = False
        pairs.append((key, same))
    extra = False
    for name, left in pending.items():
        for _ in left:
            diffs.append(f"model {name}: registered by the replay only")
            extra = True
    return equal, extra, pairs


def _arrays(
    name: str,
    npz_rec: Mapping[str, Mapping[str, np.ndarray]],
    npz_rep: Mapping[str, Mapping[str, np.ndarray]],
    rtol: float,
    diffs: list[str],
) -> bool:
    """Whether a model's fitted arrays (key `name`) are close in the record and the replay."""
    rec, rep = npz_rec.get(name), npz_rep.get(name)
    if rec is None or rep is None:
        side = "the record" if rec is None else "the replay"
        diffs.append(f"model {name}: no fitted arrays in {side} to compare")
        return False
    if not rec:
        diffs.append(f"model {name}: the record holds no fitted arrays to compare")
        return False
    problems: list[str] = []
    for key in sorted({*rec, *rep}):
        if key not in rep:
            problems.append(f"array {key} missing in the replay")
        elif key not in rec:
            problems.append(f"array {key} only in the replay")
        else:
            problem = _array_problem(np.asarray(rec[key]), np.asarray(rep[key]), rtol)
            if problem:
                problems.append(f"array {key}: {problem}")
    for line in problems[:ARRAY_LINES]:
        diffs.append(f"model {name}: {line}")
    if len(problems) > ARRAY_LINES:
        diffs.append(f"model {name}: and {len(problems) - ARRAY_LINES} more arrays differ")
    return not problems


def _array_problem(a: np.ndarray, b: np.ndarray, rtol: float) -> str | None:
    if a.shape != b.shape:
        return f"shape {a.shape} -> {b.shape}"
    numeric = a.dtype.kind in "biufc" and b.dtype.kind in "biufc"
    if not numeric:
        return None if np.array_equal(a, b) else "values differ"
    if a.size == 0:
        return None
    x = a.astype(np.complex128 if "c" in (a.dtype.kind, b.dtype.kind) else np.float64)
    y = b.astype(x.dtype)
    scale = float(np.nanmax(np.abs(x))) if np.isfinite(np.abs(x)).any() else 0.0
    if np.allclose(x, y, rtol=rtol, atol=rtol * scale, equal_nan=True):
        return None
    gap = np.abs(x - y)
    worst = float(np.nanmax(gap)) if np.isfinite(gap).any() else math.inf
    relative = worst / scale if scale else math.inf
    return f"largest difference {worst:.3g} ({relative:.2g} of its largest value; rtol {rtol:g})"


# ------------------------------------------------------------------------------- small helpers
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_number(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _close(a: float, b: float, rtol: float) -> bool:
    if _same_number(a, b):
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return _same_number(a, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _num(value: float, other: float | None = None) -> str:
    """A metric value, with as many digits as it takes to tell it from `other`."""
    if not math.isfinite(value):
        return str(value)
    for digits in (4, 6, 9, 12, 17):
        text = f"{value:.{digits}g}"
        if other is None or not math.isfinite(other) or text != f"{other:.{digits}g}":
            return text
    return repr(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _short(value: Any) -> str:
    text = str(value) if value else "none"
    return text[:8] + ".." if len(text) > 10 else text


def _one_line(text: str) -> str:
    first = " ".join(str(text).split())
    return first if len(first) <= 160 else first[:159] + "…"
