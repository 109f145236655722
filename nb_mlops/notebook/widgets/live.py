"""LiveChart: while a `%%track` cell runs, a small chart of the metrics it logs.

The run itself knows nothing of widgets (DESIGN.md §2): a daemon thread polls it every
`interval` seconds (0.25 s: at most four redraws a second). When the run has metrics, the thread
flushes the run's buffered points and reads what was appended to its metrics file since the
last poll, so each point is parsed once. The chart appears in the cell's output with the first
points, and `finish()` (called by the magic once the run has ended) stops the thread, reads the
last points and updates the display a final time, so the saved notebook's static fallback (an
SVG chart) shows the final values too.

The chart is no widget: it is a display (`display_id`) whose bundle is the chart spec
(`CHART_MIME`, redrawn in place by our front-end extension on each `update_display`), inline
SVG and text, so it is part of the saved notebook and survives a page reload. Metrics of one
kind (train and val loss) share a small chart and its y axis; each curve is downsampled to
`MAX_POINTS`, so an update costs a bounded number of bytes however long the run, and redraws
come less often as the run goes on (every `interval` s at first, at most `MAX_WAIT` s apart).

Importing this module costs nothing heavy: numpy and the chart helpers load with the first point.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nb_mlops.store.series import METRICS_FILE

INTERVAL_S = 0.25
MAX_WAIT = 5.0  # s: the longest wait between redraws of a long run
SLOWDOWN = 20  # the wait grows as the run's age / SLOWDOWN (from INTERVAL_S to MAX_WAIT)
MAX_POINTS = 500  # per metric, drawn

log = logging.getLogger("nb_mlops")


def _display(obj: Any) -> Any:
    from IPython.display import display

    return display(obj, display_id=True)


class LiveChart:
    """A chart of one running run's metrics, polled from a background thread.

    `show(chart)` puts the chart in the output and returns a handle with `update(obj)`
    (default: IPython's `display(..., display_id=True)`). `points` maps each metric to its
    (steps, values) lists; `spec` is the chart spec once there is something to draw; `updates`
    counts redraws.
    """

    def __init__(
        self,
        run: Any,
        *,
        interval: float = INTERVAL_S,
        show: Callable[[Any], Any] | None = None,
    ) -> None:
        self.run = run
        self.path = Path(run.dir) / METRICS_FILE
        self.interval = interval
        self.points: dict[str, tuple[list[int], list[float]]] = {}
        self.spec: dict[str, Any] | None = None
        self.static_html = ""
        self.text = ""
        self.handle: Any = None
        self.updates = 0
        self.finished = False
        self._show = show or _display
        self._offset = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    # ---------------------------------------------------------------- control
    def start(self) -> LiveChart:
        """Start polling (the thread runs in a copy of this context, so ipykernel routes its
        display to the cell that started it)."""
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop,), name="nb-mlops-live", daemon=True
        )
        self._thread.start()
        return self

    def finish(self) -> None:
        """Stop polling, draw the final points and refresh the display once more."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self.finished = True
            self._read()
            if self.handle is None and not any(len(s) > 1 for s, _ in self.points.values()):
                return  # never shown, and a single value per metric needs no chart
            self._redraw()  # the last points, and the run's final status in the title
            if self.handle is not None:
                self.handle.update(self)
            else:  # a cell too quick to be polled still gets its curves
                self.handle = self._show(self)

    def poll(self) -> bool:
        """Read new points; redraw, and show the chart on the first ones. True if redrawn."""
        with self._lock:
            if self.finished:
                return False
            try:
                has_metrics = bool(self.run.metrics)
            except RuntimeError:  # the run's dict changed size while copied: next tick
                return False
            if not has_metrics:
                return False
            self.run.flush()
            if not self._read():
                return False
            self._redraw()
            if self.handle is None:
                self.handle = self._show(self)
            return True

    def wait(self) -> float:
        """Seconds until the next poll: `interval` at first, longer as the run goes on, so a
        long run does not send its chart four times a second for hours."""
        age = time.monotonic() - self._started
        return min(MAX_WAIT, max(self.interval, age / SLOWDOWN))

    def _loop(self) -> None:
        while not self._stop.wait(self.wait()):
            try:
                self.poll()
            except Exception as exc:  # the chart is a nicety: never disturb the run
                log.warning("nb-mlops: the live chart stopped: %r", exc)
                return

    # ---------------------------------------------------------------- reading
    def _read(self) -> bool:
        """Parse the whole lines appended to the metrics file since the last read."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return self.finished and self._read_packed()
        end = data.rfind(b"\n") + 1
        if not end:
            return False
        self._offset += end
        for line in data[:end].splitlines():
            try:
                key, value, step, _ts = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash; the ones after it are whole
            steps, values = self.points.setdefault(str(key), ([], []))
            steps.append(int(step))
            values.append(float(value))
        return True

    def _read_packed(self) -> bool:
        """All the points of an ended run whose folder went to the pack (store/pack.py)."""
        from nb_mlops.store.pack import read_run_points

        doc = self.run.ws.catalog.get("runs", self.run.run_id)
        if doc is None:
            return False
        self.points = {}
        for key, value, step, _ts in read_run_points(self.run.ws, doc):
            steps, values = self.points.setdefault(str(key), ([], []))
            steps.append(int(step))
            values.append(float(value))
        return bool(self.points)

    # ---------------------------------------------------------------- drawing
    def _redraw(self) -> None:
        from nb_mlops.notebook.widgets.chart import (
            metric_panels,
            panels_html,
            panels_spec,
            x_span,
        )

        panels = metric_panels(self.points, max_points=MAX_POINTS)
        title = self._title()
        self.spec = panels_spec(panels, x_title="step", columns=2, row_height=230, title=title)
        last = ", ".join(f"{k}={v[-1]:.6g}" for k, (_, v) in self.points.items() if v)
        span = x_span(panels, x_title="step")
        self.text = f"{title}: {last}" + (f" ({span})" if span else "")
        self.static_html = panels_html(panels, x_title="step", caption=self.text)
        self.updates += 1

    def _title(self) -> str:
        state = self.run.status if self.finished else "running"
        return f"{self.run.name} · {state}"

    # ---------------------------------------------------------------- display
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        from nb_mlops.notebook.widgets.chart import chart_data

        if self.spec is None:
            return {"text/plain": f"live metrics of run {self.run.name}: none yet"}
        return chart_data(self.spec, self.static_html, self.text)
