"""Monitors as Prometheus metrics: an HTTP endpoint for a live kernel, a textfile for batch
notebooks, and the Grafana dashboard that charts them.

A scrape reads each monitor's state (windows, alerts, feature drift of the latest window) when it
happens, so it shows what is on disk, including what another process observed, not values set
once. prometheus_client (the `monitor` extra) is imported by the functions that need it.

Metric families (all `nbmlops_monitor_*`, labelled by `monitor`; see FAMILIES):
- `metric{metric}` holds every model metric of the latest window (accuracy, f1, auc,
  estimated_accuracy or mae, rmse) in one family, so one PromQL expression charts a classifier's
  and a regressor's metrics alike, and a dashboard panel is never empty for one kind of model.
- A value that is not known (NaN: no labels yet, a metric the window cannot compute) is left
  out rather than published as NaN: NaN would break Grafana's lines, turn `avg`/`max` over it
  into NaN and make alert comparisons silently false, while a missing sample is plainly
  "unknown" (`absent()` sees it) and a stale value ages out as Prometheus intends.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from nb_mlops.monitor.errors import MonitorError
from nb_mlops.results import Result

log = logging.getLogger(__name__)

PREFIX = "nbmlops_monitor"
DASHBOARD = "grafana/nb-mlops-monitor.json"  # inside the nb_mlops.monitor package

# The metric columns of Monitor.windows() published in `metric{metric=...}` (plus the monitor's
# own `metric_names`, should it fill others).
METRIC_COLUMNS = ("accuracy", "f1", "auc", "mae", "rmse", "estimated_accuracy")
ALERT_KINDS = (
    "threshold",
    "drift",
    "constraint",
    "model-version",
)  # always published, 0 until one is raised

# Family (as the text format names it: a counter without its `_total`) -> type, help, labels.
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "up": ("gauge", "1 when the monitor's state could be read for this scrape, else 0", ()),
    "metric": (
        "gauge",
        "Model metric of the latest window (left out while not known)",
        ("metric",),
    ),
    "window_rows": ("gauge", "Rows observed in the latest window", ()),
    "window_labelled_rows": ("gauge", "Rows of the latest window that have a label", ()),
    "rows": ("counter", "Rows observed by the monitor, all windows", ()),
    "drift_share": ("gauge", "Share of drifted columns in the latest window", ()),
    "dataset_drift": ("gauge", "1 when the latest window's dataset drifted, else 0", ()),
    "drifted_columns": ("gauge", "Drifted columns in the latest window", ()),
    "prediction_drift": ("gauge", "1 when the latest window's predictions drifted, else 0", ()),
    "prediction_drift_score": ("gauge", "Prediction drift score of the latest window", ()),
    "feature_drift_score": (
        "gauge",
        "Drift test value (p-value or distance) of a feature in the latest window",
        ("feature", "test"),
    ),
    "feature_drift_threshold": (
        "gauge",
        "Threshold the feature's drift test value is compared with",
        ("feature", "test"),
    ),
    "feature_drifted": (
        "gauge",
        "1 when the feature drifted in the latest window, else 0",
        ("feature", "test"),
    ),
    # A gauge, not a counter: a window's alerts are recomputed with it, so a late label that
    # lifts a metric back over its threshold takes that window's threshold alert away.
    "alerts": ("gauge", "Alerts the monitor's windows hold, by kind", ("kind",)),
    "window_alerts": ("gauge", "Alerts raised in the latest window", ()),
    "model_info": ("info", "The served model of the latest window", ()),
    "model_version": ("gauge", "Registry version of the served model (left out when none)", ()),
    "window_index": ("gauge", "Index of the latest window (0-based)", ()),
    "window_start_timestamp_seconds": ("gauge", "Start of the latest window, Unix time", ()),
}


def client() -> Any:
    """The prometheus_client module, or a MonitorError saying how to install it."""
    try:
        import prometheus_client
    except ImportError:
        raise MonitorError(
            "the Prometheus exporter needs prometheus_client: pip install 'nb-mlops[monitor]'"
        ) from None
    return prometheus_client


def number(value: Any) -> float | None:
    """`value` as a finite float (a bool as 0/1), or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):  # pandas.NA, a string
        return None
    return out if math.isfinite(out) else None


def unix_time(iso: Any) -> float | None:
    """An ISO-8601 time (`Z` or an offset; naive means UTC) as Unix seconds, None if not one."""
    if not isinstance(iso, str) or not iso:
        return None
    try:
        when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def as_monitors(monitors: Any) -> list[Any]:
    """One monitor or an iterable of them, as a list; names must be unique (they are labels)."""
    found = [monitors] if hasattr(monitors, "windows") else list(monitors)
    if not found:
        raise MonitorError("no monitors to export: pass a Monitor or a list of them")
    seen: set[str] = set()
    for monitor in found:
        if not hasattr(monitor, "windows"):
            raise MonitorError(f"cannot export {type(monitor).__name__!r}: not a Monitor")
        if monitor.name in seen:
            raise MonitorError(f"two monitors named {monitor.name!r}: names label the metrics")
        seen.add(monitor.name)
    return found


class MonitorCollector:
    """A prometheus_client collector over monitors: each `collect()` (one per scrape) reads
    their state afresh. A monitor whose state cannot be read publishes `up 0` (and the error
    goes to this module's logger once), so one broken monitor never fails the whole scrape."""

    def __init__(self, monitors: Any) -> None:
        self.monitors = as_monitors(monitors)
        self.lock = threading.Lock()  # scrapes run on server threads: read one at a time
        self.errors: dict[str, str] = {}  # monitor -> last error logged
        self.cache: dict[str, tuple[Any, list]] = {}  # monitor -> (state_key, samples)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            InfoMetricFamily,
        )

        kinds = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}
        families: dict[str, Any] = {}
        for key, (kind, doc, labels) in FAMILIES.items():
            if kind == "info":
                name = f"{PREFIX}_{key.removesuffix('_info')}"  # the class adds `_info`
                families[key] = InfoMetricFamily(name, doc, labels=["monitor"])
            else:
                families[key] = kinds[kind](f"{PREFIX}_{key}", doc, labels=["monitor", *labels])
        with self.lock:
            for monitor in self.monitors:
                samples = self.read(monitor)
                for key, labels, value in samples:
                    families[key].add_metric([monitor.name, *labels], value)
        yield from families.values()

    def read(self, monitor: Any) -> list[tuple[str, tuple[str, ...], Any]]:
        """The samples of one monitor: (family, extra label values, value), read again only
        when its window records changed on disk since the last scrape."""
        key = state_key(monitor)
        cached = self.cache.get(monitor.name)
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        try:
            samples = [("up", (), 1.0), *monitor_samples(monitor)]
        except Exception as exc:  # a scrape must not fail for one monitor; `up 0` says it
            message = f"{type(exc).__name__}: {exc}"
            if self.errors.get(monitor.name) != message:
                log.warning("cannot read monitor %r for Prometheus: %s", monitor.name, message)
                self.errors[monitor.name] = message
            self.cache.pop(monitor.name, None)
            return [("up", (), 0.0)]
        self.errors.pop(monitor.name, None)
        self.cache[monitor.name] = (key, samples)
        return samples


def state_key(monitor: Any) -> tuple[int, ...] | None:
    """What identifies the state of a monitor's window records on disk: the identity, size and
    change time of its windows file, which every observation and late label appends to (None
    when it cannot be told: the monitor is then read on every scrape). Statted before reading,
    so a write during a read only makes the next scrape read again."""
    from nb_mlops.monitor.state import WINDOWS

    folder = getattr(getattr(monitor, "files", None), "folder", None)
    if folder is None:
        return None
    try:
        st = (Path(folder) / WINDOWS).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def monitor_samples(monitor: Any) -> list[tuple[str, tuple[str, ...], Any]]:
    """Read `monitor` (windows, alerts, feature drift of the latest window) into samples."""
    out: list[tuple[str, tuple[str, ...], Any]] = []
    frame = monitor.windows()
    alerts = monitor.alerts()
    counts = Counter(str(a.get("kind", "")) for a in alerts)
    for kind in sorted(set(ALERT_KINDS) | set(counts)):
        out.append(("alerts", (kind,), float(counts.get(kind, 0))))
    rows = [number(r) for r in frame["rows"]] if len(frame) else []
    out.append(("rows", (), float(sum(r for r in rows if r is not None))))
    if not len(frame):
        return out
    latest = frame.iloc[-1]

    def put(key: str, column: str, labels: tuple[str, ...] = ()) -> None:
        value = number(latest.get(column))
        if value is not None:
            out.append((key, labels, value))

    names = list(METRIC_COLUMNS)
    names += [n for n in getattr(monitor, "metric_names", ()) or () if n not in names]
    for name in names:
        if name in frame.columns:
            put("metric", name, (name,))
    put("window_rows", "rows")
    put("window_labelled_rows", "labelled")
    put("drift_share", "drift_share")
    put("dataset_drift", "dataset_drift")
    put("drifted_columns", "drifted_columns")
    put("prediction_drift", "prediction_drift")
    put("prediction_drift_score", "prediction_drift_score")
    put("window_alerts", "alerts")
    put("model_version", "model_version")
    put("window_index", "index")
    start = unix_time(latest.get("start"))
    if start is not None:
        out.append(("window_start_timestamp_seconds", (), start))
    version = number(latest.get("model_version"))
    fingerprint = latest.get("fingerprint")
    out.append(
        (
            "model_info",
            (),
            {
                "fingerprint": fingerprint if isinstance(fingerprint, str) else "",
                "model_version": "" if version is None else str(int(version)),
            },
        )
    )
    report = monitor.feature_drift()
    for column in report.columns:
        if column.test is None:  # not tested (all missing, a type change): no number to show
            continue
        labels = (str(column.column), column.test)
        for key, value in (
            ("feature_drift_score", column.value),
            ("feature_drift_threshold", column.threshold),
        ):
            value = number(value)
            if value is not None:
                out.append((key, labels, value))
        out.append(("feature_drifted", labels, 1.0 if column.drifted else 0.0))
    return out


def collector(monitors: Any) -> MonitorCollector:
    """A collector over one monitor or a list of them, to register in any prometheus_client
    registry (`prometheus_client.REGISTRY.register(collector(m))` adds them to the default
    one, beside the process metrics)."""
    return MonitorCollector(monitors)


def registry(monitors: Any) -> Any:
    """A fresh `prometheus_client.CollectorRegistry` holding only the monitors' metrics: the
    endpoint and the textfile publish what the dashboard charts, not the kernel's process
    metrics."""
    found = as_monitors(monitors)
    out = client().CollectorRegistry()
    out.register(collector(found))
    return out


class QuietHandler(WSGIRequestHandler):
    """A request handler that does not print a line per scrape into the notebook."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in flight never holds the kernel at exit


class MetricsServer6(MetricsServer):
    address_family = socket.AF_INET6


class Exporter(Result):
    """A running metrics endpoint (`url`), served from a background thread until `stop()` or
    the end of a `with` block."""

    def __init__(self, monitors: list[Any], server: WSGIServer, addr: str) -> None:
        self.monitors = monitors
        self.server = server
        self.addr = addr
        self.port: int = server.server_address[1]
        host = f"[{addr}]" if ":" in addr else addr
        self.url = f"http://{host}:{self.port}/metrics"
        self.thread = threading.Thread(
            target=server.serve_forever, name=f"nb-mlops exporter :{self.port}", daemon=True
        )
        self.thread.start()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Stop serving and free the port (safe to call twice)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
        self.server.server_close()

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "port": self.port,
            "addr": self.addr,
            "running": self.running,
            "monitors": [m.name for m in self.monitors],
        }

    def to_text(self) -> str:
        state = "serving" if self.running else "stopped"
        names = ", ".join(m.name for m in self.monitors)
        return f"Prometheus exporter {state} at {self.url} (monitors: {names})"


def serve(monitors: Any, port: int = 0, addr: str = "127.0.0.1") -> Exporter:
    """Serve the monitors' metrics over HTTP on `addr:port` (port 0: a free one; see
    `.port`/`.url`) from a background thread. The default address is loopback: pass
    "0.0.0.0" to let a Prometheus on another machine scrape it."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise MonitorError(f"port must be a number from 0 to 65535, not {port!r}")
    found = as_monitors(monitors)
    reg = registry(found)
    server_class = MetricsServer6 if ":" in addr else MetricsServer
    try:
        server = server_class((addr, port), QuietHandler)
    except OSError as exc:
        raise MonitorError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from exc
    server.set_app(client().make_wsgi_app(reg))
    return Exporter(found, server, addr)


def write_textfile(monitors: Any, path: str | Path) -> Path:
    """Write the monitors' metrics to `path` in the text format node_exporter's textfile
    collector reads (it reads `*.prom` files in its `--collector.textfile.directory`).
    prometheus_client writes a temporary file and renames it, so a reader never sees half."""
    path = Path(path)
    reg = registry(monitors)
    if not path.parent.is_dir():
        raise MonitorError(f"no folder {str(path.parent)!r} to write {path.name!r} into")
    try:
        client().write_to_textfile(str(path), reg)
    except OSError as exc:
        raise MonitorError(f"cannot write metrics to {str(path)!r}: {exc.strerror or exc}") from exc
    return path


def dashboard_json() -> dict[str, Any]:
    """The Grafana dashboard for these metrics (what ships as
    nb_mlops/monitor/grafana/nb-mlops-monitor.json): put the file in a Grafana dashboards
    provisioning folder, or import it; pick the Prometheus data source and the monitors in its
    variables."""
    from importlib import resources

    text = (resources.files("nb_mlops.monitor") / DASHBOARD).read_text(encoding="utf-8")
    return json.loads(text)
