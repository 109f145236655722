"""A model's monitor: batches observed over time, cut into windows, each window's performance,
drift and alerts, kept in the store so a later kernel (or another process) continues it.

    mon = Monitor("churn", model="models:/churn@production", reference=train_df, target="churned")
    mon.observe(batch_df)                      # predictions made by the monitor's model
    mon.add_labels(ids, labels)                # labels that arrive late update their windows
    mon.windows()                              # one row per window: metrics, drift, alerts

Per window: rows and labelled rows; accuracy, F1 and AUC (classification) or MAE and RMSE
(regression) on the labelled rows; the accuracy estimated from the model's calibrated
probabilities (cbpe.py) on every row, labelled or not; input drift (datadrift.drift of the
window's rows against the reference, Evidently's defaults) and prediction drift; the served
model's fingerprint (guard.py). A window is recomputed from all its rows whenever a batch or a
late label lands in it; drift then tests at most `DRIFT_SAMPLE` of the window's rows (a seeded
sample), which keeps a busy day's window as quick to update as its first batch.

Alerts: a metric crossing its threshold (`thresholds`: metric -> bound; accuracy, F1, AUC and
the estimated accuracy alert below their bound, MAE, RMSE and drift share above it), dataset
drift, prediction drift, and the model-version guard. By default: dataset drift at a drift
share of 0.5, prediction drift, and, when the reference carries labels, accuracy, F1 and AUC
more than 0.1 below the reference's (MAE and RMSE 1.5 times above it); `thresholds` adds or
replaces bounds (None removes one). A new alert is shown as a warning (MonitorAlert) and kept
in its window's record.
"""

from __future__ import annotations

import math
import secrets
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from nb_mlops.clock import utcnow
from nb_mlops.monitor import guard, state
from nb_mlops.monitor.driftreport import DriftReport
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.inputs import (
    check_columns,
    checked_ids,
    checked_probabilities,
    checked_values,
    find_task,
    frame_hash,
    plain_list,
    predict,
    probability_matrix,
    sorted_classes,
)
from nb_mlops.monitor.observation import LabelsAdded, Observation
from nb_mlops.monitor.performance import (
    CLASSIFICATION,
    HIGHER_IS_BETTER,
    METRICS,
    TASKS,
    performance,
)
from nb_mlops.monitor.profile import Baseline
from nb_mlops.monitor.profile import baseline as make_baseline
from nb_mlops.monitor.thresholds import CBPE_METRIC, default_thresholds, merged_thresholds
from nb_mlops.monitor.windows import WindowSpec, iso, unix_times, window_spec
from nb_mlops.results import Result
from nb_mlops.store.workspace import Workspace

SHOWN_WINDOWS = 20
"""Windows the text form lists (the latest ones); the dashboard widget shows more."""
SHOWN_ALERTS = 10
MAX_VIOLATIONS = 50
"""Constraint violations a window's record lists (all are counted)."""
ALERTING_VIOLATIONS = ("data_type", "completeness")
"""Violations that raise an alert: the feed changed its shape. Ranges and unseen categories
are listed but do not alert (new extremes are expected on unchanged data); drift alerts on
its own terms."""
CONSTRAINT_OPTIONS = {"range_tolerance": 0.1}
"""Values within a tenth of the reference's span beyond its min or max are in range."""
KEEP_ROWS = 200_000
"""A window of at most this many rows stays in memory after it is computed (stored_rows)."""
DRIFT_SAMPLE = 100_000
"""Rows of a window that drift tests at most (a seeded sample beyond that)."""
DEFAULT_DRIFT_SHARE = 0.5


class MonitorAlert(UserWarning):
    """A monitor's alert: a metric past its threshold, drift, or the model-version guard."""


class Monitor(Result):
    """A monitor, made (with a reference) or reopened by name; see the module's docstring.

    `model`: a fitted model (anything with `predict`, and `predict_proba` for probabilities) or
    a registry URI (`models:/NAME@ALIAS` makes the guard follow that alias). Without a model,
    `observe` needs `predictions=`. `reference`: a DataFrame of the model's inputs (and of the
    labels, in the column `target`). `window`: a span of time per window ("1D" by default,
    "6h", "30min", a timedelta) or `rows=`: a count of rows per window. `task`:
    "classification" or "regression", found from the model or the labels when not given.
    """

    def __init__(
        self,
        name: str,
        model: Any = None,
        reference: Any = None,
        *,
        target: str | None = None,
        window: Any = None,
        rows: int | None = None,
        task: str | None = None,
        thresholds: Mapping[str, float | None] | None = None,
        drift_share: float = DEFAULT_DRIFT_SHARE,
        reference_predictions: Any = None,
        ws: Workspace | None = None,
    ) -> None:
        if ws is None:
            from nb_mlops.tracking.active import workspace

            ws = workspace()
        self.ws = ws
        self.files = state.MonitorFiles(ws, name)
        self.name = name
        self._model: Any = None
        self._ref_cache: Any = None
        self._kept: tuple[int, tuple[str, ...], Any] | None = None  # see stored_rows
        self._baseline: Any = None
        with self.files.locked():
            if self.files.exists():
                self.definition = self.files.read_definition()
                self.check_reopen(reference, target, window, rows, task)
                if thresholds is not None:
                    self.definition["thresholds"] = merged_thresholds(
                        self.definition["thresholds"], thresholds
                    )
                    self.files.write_definition(self.definition)
            else:
                if reference is None:
                    raise MonitorError(self.files.no_such_monitor())
                self.definition = self.create(
                    model, reference, target, window_spec(window, rows), task, thresholds,
                    drift_share, reference_predictions,
                )  # fmt: skip
        self.spec = WindowSpec.from_dict(self.definition.get("window"))
        self.task = self.definition["task"]
        if model is not None:
            self.model = model

    # ------------------------------------------------------------------ making and reopening
    def create(
        self,
        model: Any,
        reference: Any,
        target: str | None,
        spec: WindowSpec,
        task: str | None,
        thresholds: Mapping[str, float | None] | None,
        drift_share: float,
        reference_predictions: Any,
    ) -> dict[str, Any]:
        """Check the reference, run the model on it, and write the monitor's files."""
        import numpy as np

        from nb_mlops.monitor.datadrift import as_frame

        if isinstance(drift_share, bool) or not isinstance(drift_share, (int, float)):
            raise MonitorError(f"drift_share must be a number in (0, 1], not {drift_share!r}")
        if not 0 < drift_share <= 1:
            raise MonitorError(f"drift_share must be in (0, 1], not {drift_share!r}")
        ref = as_frame(reference, "reference")
        check_columns(ref.columns, "reference")
        labels = None
        if target is not None:
            if target not in ref.columns:
                raise MonitorError(f"target {target!r} is not a column of the reference")
            labels = ref[target]
            if labels.isna().any():
                raise MonitorError(f"the reference's target {target!r} has missing labels")
            ref = ref.drop(columns=[target])
            if ref.shape[1] == 0:
                raise MonitorError("the reference has no columns besides its target")
        obj, uri = self.resolve(model)
        self._model = obj
        task = find_task(task, obj, labels, reference_predictions)
        preds, probs, classes = None, None, None
        if obj is not None:
            preds, probs, classes = predict(obj, ref, task, "the reference")
        elif reference_predictions is not None:
            preds = checked_values(reference_predictions, len(ref), "reference_predictions")
        if task == CLASSIFICATION and classes is None:
            seen = [v for v in (labels, preds) if v is not None]
            classes = sorted_classes(np.concatenate([np.asarray(v, dtype=object) for v in seen]))
        table = ref.copy()
        if labels is not None:
            table[state.TARGET] = labels.to_numpy()
        if preds is not None:
            table[state.PREDICTION] = preds
        if probs is not None:
            for i in range(probs.shape[1]):
                table[f"{state.PROBA}{i}"] = probs[:, i]
        ref_metrics: dict[str, float] = {}
        calibrator = None
        if labels is not None and preds is not None:
            ref_metrics = performance(task, labels.to_numpy(), preds, probs, classes)
            if probs is not None:
                calibrator = self.fit_calibration(probs, labels.to_numpy(), classes)
        served = guard.served(self.ws, obj) if obj is not None else None
        definition = {
            "name": self.name,
            "created": iso(time.time()),
            "task": task,
            "target": target,
            "window": spec.to_dict(),
            "features": [str(c) for c in ref.columns],
            "classes": plain_list(classes) if classes is not None else None,
            "model": {
                "uri": uri,
                "class": type(obj).__qualname__ if obj is not None else None,
                **(served.to_dict() if served else {}),
            },
            "reference": {"rows": len(ref), "hash": frame_hash(ref)},
            "reference_metrics": {k: v for k, v in ref_metrics.items() if math.isfinite(v)},
            "calibrator": calibrator,
            "drift_share": float(drift_share),
            "thresholds": merged_thresholds(
                default_thresholds(task, ref_metrics, drift_share), thresholds or {}
            ),
        }
        self.files.write_table(self.files.reference, table)
        make_baseline(ref, sample_size=0).save(self.files.baseline)  # drift: the whole reference
        self.files.write_definition(definition)
        self._ref_cache = table
        return definition

    def baseline(self) -> Baseline | None:
        """The reference's baseline the windows are checked against (None for a monitor made
        before baselines were kept)."""
        if self._baseline is None and self.files.baseline.is_file():
            self._baseline = Baseline.load(self.files.baseline)
        return self._baseline

    def constraint_violations(self, rows: Any) -> list[dict[str, Any]]:
        """The window's violations of the baseline's constraints (types, completeness, ranges,
        categories; drift is the monitor's own, tested on the whole reference)."""
        base = self.baseline()
        if base is None:
            return []
        found = base.check(rows[self.features], drift=False, **CONSTRAINT_OPTIONS)
        return [plain_violation(v) for v in found.to_dict()["violations"]]

    def fit_calibration(self, probs: Any, labels: Any, classes: Any) -> dict | None:
        """The CBPE calibrator fitted on the reference (None when it cannot be fitted)."""
        from nb_mlops.monitor.cbpe import fit_calibrator

        try:
            return fit_calibrator(probs, labels, classes=plain_list(classes)).to_dict()
        except MonitorError as exc:
            warnings.warn(f"monitor {self.name}: no accuracy estimate: {exc}", stacklevel=3)
            return None

    def check_reopen(self, reference: Any, target: Any, window: Any, rows: Any, task: Any) -> None:
        """Options given again when reopening must say what the monitor already is."""
        d = self.definition
        if reference is not None:
            from nb_mlops.monitor.datadrift import as_frame

            ref = as_frame(reference, "reference")
            if target is not None and target in ref.columns:
                ref = ref.drop(columns=[target])
            if frame_hash(ref) != (d.get("reference") or {}).get("hash"):
                raise MonitorError(
                    f"monitor {self.name} exists with another reference; reopen it with "
                    f"Monitor({self.name!r}) or make a monitor under a new name"
                )
        if target is not None and target != d.get("target"):
            raise MonitorError(
                f"monitor {self.name}'s target is {d.get('target')!r}, not {target!r}"
            )
        if (window is not None or rows is not None) and window_spec(window, rows).to_dict() != (
            WindowSpec.from_dict(d.get("window")).to_dict()
        ):
            raise MonitorError(
                f"monitor {self.name} has windows of "
                f"{WindowSpec.from_dict(d.get('window')).describe()}; they cannot change"
            )
        if task is not None and task != d.get("task"):
            raise MonitorError(f"monitor {self.name} is a {d.get('task')} monitor, not {task}")
        damaged = f"monitor {self.name}: {self.files.definition} is damaged"
        if d.get("task") not in TASKS or not isinstance(d.get("features"), list):
            raise MonitorError(damaged)
        if not all(isinstance(f, str) for f in d["features"]) or not d["features"]:
            raise MonitorError(f"{damaged}: its features are not a list of column names")
        try:
            d["thresholds"] = merged_thresholds({}, d.get("thresholds") or {})
        except MonitorError as exc:
            raise MonitorError(f"{damaged}: {exc}") from None
        share = d.get("drift_share")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise MonitorError(f"{damaged}: drift_share {share!r} is not in (0, 1]")

    def resolve(self, model: Any) -> tuple[Any, str | None]:
        """(model object, registry URI or None) for `model` as given."""
        if model is None:
            return None, None
        if isinstance(model, str):
            from nb_mlops.registry.load import load_model

            return load_model(self.ws, model), model.strip()
        if not callable(getattr(model, "predict", None)):
            raise MonitorError(
                f"model must have a predict method or be a models:/ URI, not {type(model).__name__}"
            )
        return model, None

    @property
    def model(self) -> Any:
        """The model serving predictions (loaded from the registry URI on first use)."""
        if self._model is None:
            uri = (self.definition.get("model") or {}).get("uri")
            if uri:
                self._model, _ = self.resolve(uri)
        return self._model

    @model.setter
    def model(self, model: Any) -> None:
        obj, uri = self.resolve(model)
        self._model = obj
        if uri is not None and uri != (self.definition.get("model") or {}).get("uri"):
            with self.files.locked():
                self.definition = self.files.read_definition()
                self.definition["model"] = {**(self.definition.get("model") or {}), "uri": uri}
                self.files.write_definition(self.definition)

    @property
    def uri(self) -> str | None:
        return (self.definition.get("model") or {}).get("uri")

    @property
    def features(self) -> list[str]:
        return list(self.definition["features"])

    @property
    def metric_names(self) -> list[str]:
        names = list(METRICS[self.task])
        if self.task == CLASSIFICATION:
            names.append(CBPE_METRIC)
        return names

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.definition.get("thresholds") or {})

    def reference(self) -> Any:
        """The reference rows as stored (features, and the target, predictions, probabilities
        the monitor keeps beside them under `__` names)."""
        if self._ref_cache is None:
            self._ref_cache = self.files.read_table(self.files.reference)
        return self._ref_cache

    # ------------------------------------------------------------------ observing
    def observe(
        self,
        batch: Any,
        predictions: Any = None,
        labels: Any = None,
        ids: Any = None,
        timestamp: Any = None,
        *,
        probabilities: Any = None,
    ) -> Observation:
        """Add a batch of the model's inputs (a DataFrame with the reference's feature columns;
        others are ignored, except the target's, taken as labels when `labels` is None).
        `predictions` (made by the monitor's model when not given), `labels` and `ids` have one
        value per row; `timestamp` is one time for the batch or one per row (now by default)."""
        import numpy as np

        from nb_mlops.monitor.datadrift import as_frame

        frame = as_frame(batch, "batch")
        n = len(frame)
        features = self.features
        missing = [c for c in features if c not in frame.columns]
        if missing:
            raise MonitorError(
                f"the batch lacks the reference's column{'s' if len(missing) > 1 else ''} "
                + ", ".join(repr(c) for c in missing[:10])
            )
        target = self.definition.get("target")
        ignored = [str(c) for c in frame.columns if c not in features and c != target]
        if labels is None and target is not None and target in frame.columns:
            labels = frame[target]
        x = frame[features]
        served = self.model
        if predictions is None:
            if served is None:
                raise MonitorError(
                    f"monitor {self.name} has no model to predict with: pass predictions= or "
                    "give the monitor a model (Monitor(name, model=...) or monitor.model = ...)"
                )
            preds, probs, _ = predict(served, x, self.task, "the batch")
        else:
            preds = checked_values(predictions, n, "predictions")
            probs = None
        if probabilities is not None:
            probs = checked_probabilities(probabilities, n, len(self.definition["classes"] or []))
        label_values = None if labels is None else checked_values(labels, n, "labels")
        id_values = checked_ids(ids, n)
        now = time.time()
        seconds = unix_times(timestamp, n, now)
        obs_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{secrets.token_hex(4)}"
        if id_values is None:
            id_values = [f"{obs_id}-{i}" for i in range(n)]
        table = x.copy()
        table[state.ID] = id_values
        table[state.TIME] = seconds
        table[state.PREDICTION] = preds
        if probs is not None:
            for i in range(probs.shape[1]):
                table[f"{state.PROBA}{i}"] = probs[:, i]
        if label_values is not None:
            table[state.LABEL] = label_values
        who = guard.served(self.ws, served) if served is not None else None
        at = utcnow()  # as alias moves are stamped: the guard compares the two
        with self.files.locked():
            observations = self.files.observations()
            if self.spec.kind == "rows":
                first = sum(o["rows"] for o in observations)
                table[state.WINDOW] = (first + np.arange(n)) // int(self.spec.size)
            else:
                table[state.WINDOW] = self.spec.index_of(seconds)
            touched = sorted(int(w) for w in np.unique(table[state.WINDOW].to_numpy()))
            guard_alerts = []
            if who is not None:
                previous = observations[-1] if observations else None
                guard_alerts = guard.check(self.ws, who, self.uri, previous, at)
            doc = {
                "id": obs_id,
                "time": at,
                "rows": n,
                "windows": touched,
                "ignored_columns": ignored[:50],
                **(who.to_dict() if who else {"fingerprint": None}),
                "alerts": guard_alerts,
            }
            records = self.compute(touched, [*observations, doc], {obs_id: table})
            self.files.write_table(self.files.batch(obs_id), table)
            self.files.append(state.OBSERVATIONS, doc)
            fresh = self.save_windows(records)
        self.announce(fresh)
        return Observation(self.name, doc, records, fresh)

    def add_labels(self, ids: Any, labels: Any) -> LabelsAdded:
        """Join labels that arrived late to the rows observed with these ids, and recompute the
        windows those rows are in. An id never observed is an error (nothing is written)."""
        id_values = checked_ids(ids, None)
        if id_values is None:
            raise MonitorError("add_labels needs the ids of the rows the labels belong to")
        label_values = checked_values(labels, len(id_values), "labels")
        wanted = set(id_values)
        with self.files.locked():
            observations = self.files.observations()
            touched: set[int] = set()
            found: set[str] = set()
            for obs in observations:
                got = self.files.read_table(self.files.batch(obs["id"]), [state.ID, state.WINDOW])
                hit = got[got[state.ID].isin(wanted)]
                found.update(hit[state.ID].tolist())
                touched.update(int(w) for w in hit[state.WINDOW].unique())
            unknown = [i for i in id_values if i not in found]
            if unknown:
                shown = ", ".join(repr(i) for i in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                raise MonitorError(
                    f"monitor {self.name} observed no row with id {shown}{more}; nothing was added"
                )
            self.files.append(
                state.LABELS,
                {"time": iso(time.time()), "ids": id_values, "labels": plain_list(label_values)},
            )
            records = self.compute(sorted(touched), observations, {})
            fresh = self.save_windows(records)
        self.announce(fresh)
        return LabelsAdded(self.name, len(id_values), records, fresh)

    # ------------------------------------------------------------------ windows
    def compute(
        self, indices: Sequence[int], observations: list[dict], held: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """The records of windows `indices` from all their rows (`held`: batches in memory)."""

        late = self.files.late_labels()
        records = []
        for index in indices:
            obs_in = [obs for obs in observations if index in obs["windows"]]
            rows = self.stored_rows(index, obs_in, held)
            records.append(self.window_record(index, rows, obs_in, late))
            if len(rows) <= KEEP_ROWS:
                self._kept = (index, tuple(o["id"] for o in obs_in), rows)
        return records

    def stored_rows(
        self, index: int, observations: list[dict], held: Mapping[str, Any] | None = None
    ) -> Any:
        """Every stored row of window `index` (the monitor's own `__` columns included). The
        rows of the window this monitor object computed last are kept in memory, so a batch
        added to a busy window reads only itself (batch files never change once written)."""
        import pandas as pd

        parts = []
        kept = self._kept
        ids = [o["id"] for o in observations]
        if kept is not None and kept[0] == index and tuple(ids[: len(kept[1])]) == kept[1]:
            parts.append(kept[2])
            observations = observations[len(kept[1]) :]
        for obs in observations:
            table = (held or {}).get(obs["id"])
            if table is None:
                table = self.files.read_table(self.files.batch(obs["id"]))
            parts.append(table[table[state.WINDOW] == index])
        if not parts:
            raise MonitorError(f"monitor {self.name} has no rows in window {index}")
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def window_rows(self, window: int | str | None = None) -> Any:
        """The rows observed in a window (the latest, or one by index or label): the features,
        and `id`, `time`, `prediction` and `label` (late labels joined; missing when unknown)."""
        import pandas as pd

        rec = self.window_record_of(window)
        index = rec["index"]
        obs_in = [o for o in self.files.observations() if index in o["windows"]]
        rows = self.stored_rows(index, obs_in)
        out = rows[self.features].copy()
        out["id"] = rows[state.ID].to_numpy()
        out["time"] = pd.to_datetime(rows[state.TIME], unit="s", utc=True).to_numpy()
        out["prediction"] = rows[state.PREDICTION].to_numpy()
        labels = rows[state.LABEL] if state.LABEL in rows.columns else None
        late = self.files.late_labels()
        if late:
            joined = rows[state.ID].map(late)
            labels = joined if labels is None else joined.where(joined.notna(), labels)
        out["label"] = None if labels is None else labels.to_numpy()
        return out

    def window_record_of(self, window: int | str | None) -> dict[str, Any]:
        """The record of the latest window, or of one by index or label."""
        records = self.window_records()
        if not records:
            raise MonitorError(f"monitor {self.name} has observed nothing yet")
        if window is None:
            return records[-1]
        rec = next((r for r in records if window in (r.get("index"), r.get("window"))), None)
        if rec is None:
            raise MonitorError(f"monitor {self.name} has no window {window!r}")
        return rec

    def window_record(
        self, index: int, rows: Any, observations: list[dict], late: Mapping[str, Any]
    ) -> dict[str, Any]:
        import numpy as np

        labels = rows[state.LABEL] if state.LABEL in rows.columns else None
        if late:
            joined = rows[state.ID].map(late)
            labels = joined if labels is None else joined.where(joined.notna(), labels)
        probs = probability_matrix(rows)
        record: dict[str, Any] = {"index": index, "window": self.spec.label(index)}
        start, end = self.spec.bounds(index)
        times = rows[state.TIME].to_numpy()
        record["start"] = start or iso(float(times.min()))
        record["end"] = end or iso(float(times.max()))
        record["rows"] = len(rows)
        metrics = dict.fromkeys(self.metric_names, math.nan)
        labelled = 0 if labels is None else int(labels.notna().sum())
        record["labelled"] = labelled
        has_probs = None if probs is None else np.isfinite(probs).all(axis=1)
        if labelled:
            mask = labels.notna().to_numpy()
            with_probs = probs is not None and bool(has_probs[mask].all())
            metrics.update(
                performance(
                    self.task,
                    labels.to_numpy()[mask],
                    rows[state.PREDICTION].to_numpy()[mask],
                    probs[mask] if with_probs else None,  # AUC only when every row has them
                    self.definition.get("classes"),
                )
            )
        calibrated = self.definition.get("calibrator")
        if self.task == CLASSIFICATION and probs is not None and calibrated and has_probs.any():
            # estimated on the rows observed with probabilities
            metrics[CBPE_METRIC] = self.estimate(
                probs[has_probs], rows[state.PREDICTION].to_numpy()[has_probs]
            )
        record.update(metrics)
        report = self.input_drift(rows)
        record["drift_share"] = report.share_drifted
        record["dataset_drift"] = report.dataset_drift
        record["drifted_columns"] = len(report.drifted_columns)
        record.update(self.prediction_drift(rows))
        last = observations[-1]
        record["fingerprint"] = last.get("fingerprint")
        record["model_version"] = last.get("version")
        record["fingerprints"] = sorted(
            {o["fingerprint"] for o in observations if o.get("fingerprint")}
        )
        record["observations"] = len(observations)
        violations = self.constraint_violations(rows)
        record["violation_count"] = len(violations)
        record["violations"] = violations[:MAX_VIOLATIONS]
        record["drift"] = report.to_dict()
        record["alerts"] = self.window_alerts(record, observations)
        record["updated"] = iso(time.time())
        record["rows_sampled_for_drift"] = min(len(rows), DRIFT_SAMPLE)
        return {k: none_if_nan(v) for k, v in record.items()}

    def estimate(self, probs: Any, predictions: Any) -> float:
        from nb_mlops.monitor.cbpe import Calibrator, estimate_accuracy

        calibrator = Calibrator.from_dict(self.definition["calibrator"])
        return float(estimate_accuracy(probs, calibrator, predictions=predictions).value)

    def input_drift(self, rows: Any) -> DriftReport:
        from nb_mlops.monitor.datadrift import drift

        features = self.features
        current = rows[features]
        if len(current) > DRIFT_SAMPLE:
            current = current.sample(DRIFT_SAMPLE, random_state=0)
        return drift(
            self.reference()[features], current, drift_share=self.definition["drift_share"]
        )

    def prediction_drift(self, rows: Any) -> dict[str, Any]:
        """Drift of the predictions against the reference's (NaN when the reference has none)."""
        import pandas as pd

        from nb_mlops.monitor.datadrift import drift

        ref = self.reference()
        if state.PREDICTION not in ref.columns:
            return {"prediction_drift": False, "prediction_drift_score": math.nan}
        kind = {"categorical": ["prediction"]} if self.task == CLASSIFICATION else {}
        cur = rows[state.PREDICTION]
        if len(cur) > DRIFT_SAMPLE:
            cur = cur.sample(DRIFT_SAMPLE, random_state=0)
        try:
            report = drift(
                pd.DataFrame({"prediction": ref[state.PREDICTION].to_numpy()}),
                pd.DataFrame({"prediction": cur.to_numpy()}),
                **kind,
            )
        except MonitorError:
            return {"prediction_drift": False, "prediction_drift_score": math.nan}
        column = report.columns[0]
        return {
            "prediction_drift": bool(column.drifted),
            "prediction_drift_score": column.value if column.value is not None else math.nan,
            "prediction_drift_test": column.test,
        }

    def window_alerts(self, record: Mapping[str, Any], observations: list[dict]) -> list[dict]:
        """The alerts a window's record raises: thresholds, drift, and the guard's."""
        out = []
        for metric, bound in self.thresholds.items():
            value = record.get(metric)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            low = metric in HIGHER_IS_BETTER
            if (value < bound) if low else (value > bound):
                kind = "drift" if metric == "drift_share" else "threshold"
                side = "below" if low else "above"
                out.append(
                    {
                        "kind": kind,
                        "metric": metric,
                        "value": value,
                        "threshold": bound,
                        "message": f"{metric} {value:.4g} is {side} its threshold {bound:.4g}",
                    }
                )
        if record.get("prediction_drift"):
            score = record.get("prediction_drift_score")
            out.append(
                {
                    "kind": "drift",
                    "metric": "prediction_drift",
                    "value": score,
                    "threshold": None,
                    "message": f"the predictions drifted ({record.get('prediction_drift_test')} "
                    f"{score:.4g})",
                }
            )
        broken = [v for v in record.get("violations") or [] if v["kind"] in ALERTING_VIOLATIONS]
        if broken:
            listed = "; ".join(f"{v['kind']} of {v['column']}" for v in broken[:3])
            more = f" and {len(broken) - 3} more" if len(broken) > 3 else ""
            out.append(
                {
                    "kind": "constraint",
                    "metric": "violations",
                    "value": len(broken),
                    "threshold": None,
                    "message": f"the batch breaks the reference's constraints: {listed}{more}",
                }
            )
        for obs in observations:
            for alert in obs.get("alerts") or []:
                out.append({**alert, "value": None, "threshold": None, "observation": obs["id"]})
        for alert in out:
            alert.update(window=record["window"], index=record["index"])
        return out

    def save_windows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append the records; the alerts they raise that their window's record had not."""
        before = self.files.windows()
        fresh = []
        for record in records:
            old = before.get(record["index"], {}).get("alerts") or []
            seen = {alert_key(a) for a in old}
            stamp = record["updated"]
            for alert in record["alerts"]:
                if alert_key(alert) in seen:
                    alert["time"] = next(
                        (a.get("time") for a in old if alert_key(a) == alert_key(alert)), stamp
                    )
                else:
                    alert["time"] = stamp
                    fresh.append(alert)
            self.files.append(state.WINDOWS, record)
        self.files.compact_windows()
        return fresh

    def announce(self, alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            warnings.warn(
                MonitorAlert(f"monitor {self.name}, window {alert['window']}: {alert['message']}"),
                stacklevel=3,
            )

    # ------------------------------------------------------------------ reading
    def window_records(self) -> list[dict[str, Any]]:
        return list(self.files.windows().values())

    def windows(self) -> Any:
        """One row per window (pandas DataFrame), by index: its label, start and end, rows and
        labelled rows, metrics, drift, the served model and the number of alerts."""
        import pandas as pd

        columns = [
            "index", "window", "start", "end", "rows", "labelled", *self.metric_names,
            "drift_share", "dataset_drift", "drifted_columns", "prediction_drift",
            "prediction_drift_score", "violations", "fingerprint", "model_version", "alerts",
        ]  # fmt: skip
        rows = []
        for rec in self.window_records():
            row = {c: rec.get(c) for c in columns}
            row["alerts"] = len(rec.get("alerts") or [])
            row["violations"] = rec.get("violation_count") or 0
            rows.append(row)
        frame = pd.DataFrame(rows, columns=columns)
        for c in [*self.metric_names, "drift_share", "prediction_drift_score"]:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        return frame

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every window, oldest window first."""
        return [a for rec in self.window_records() for a in rec.get("alerts") or []]

    def feature_drift(self, window: int | str | None = None) -> DriftReport:
        """The input drift of the latest window (or of one, by index or label)."""
        rec = self.window_record_of(window)
        try:
            return DriftReport.from_dict(rec.get("drift"))
        except ValueError as exc:
            raise MonitorError(f"monitor {self.name}: window {rec['window']}: {exc}") from None

    # ------------------------------------------------------------------ Result
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "window": self.spec.to_dict(),
            "model": dict(self.definition.get("model") or {}),
            "features": self.features,
            "thresholds": self.thresholds,
            "reference_metrics": dict(self.definition.get("reference_metrics") or {}),
            "windows": [
                {k: v for k, v in rec.items() if k != "drift"} for rec in self.window_records()
            ],
        }

    def summary(self) -> list[str]:
        model = self.definition.get("model") or {}
        what = model.get("uri") or model.get("class") or "no model (predictions given)"
        records = self.window_records()
        alerts = sum(len(r.get("alerts") or []) for r in records)
        return [
            f"monitor {self.name}: {self.task}, windows of {self.spec.describe()}, model {what}",
            f"{len(records)} window{'s' if len(records) != 1 else ''}, "
            f"{sum(r.get('rows') or 0 for r in records):,} rows observed, "
            f"{alerts} alert{'s' if alerts != 1 else ''}",
        ]

    def to_text(self) -> str:
        from nb_mlops.text import text_table

        frame = self.windows()
        shown = ["window", "rows", "labelled", *self.metric_names, "drift_share", "alerts"]
        latest = frame[shown].tail(SHOWN_WINDOWS)
        table = text_table(
            shown, [[cell(v) for v in row] for row in latest.itertuples(index=False)]
        )
        lines = self.summary()
        if len(frame) > SHOWN_WINDOWS:
            lines.append(f"(the latest {SHOWN_WINDOWS} of {len(frame)} windows)")
        lines.append(table)
        alerts = self.alerts()
        if len(alerts) > SHOWN_ALERTS:
            lines.append(f"(the latest {SHOWN_ALERTS} of {len(alerts)} alerts)")
        for alert in alerts[-SHOWN_ALERTS:]:
            lines.append(f"ALERT {alert['window']}: {alert['message']}")
        return "\n".join(lines)

    def to_html(self) -> str:
        import html

        body = html.escape(self.to_text())
        return f"<pre class='nbm-monitor'>{body}</pre>"


# ---------------------------------------------------------------------- helpers
def plain_violation(violation: Mapping[str, Any]) -> dict[str, Any]:
    """A violation as a window's record keeps it: what it is and its sentence (the observed and
    expected values are in the sentence; their lists can be long)."""
    return {k: violation.get(k) for k in ("column", "kind", "description")}


def alert_key(alert: Mapping[str, Any]) -> tuple:
    return (alert.get("kind"), alert.get("metric"), alert.get("observation"))


def cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def none_if_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return none_if_nan(value.item())
    return value
