"""LiveChart: while a `%%track` cell runs, a small chart of the metrics it logs.

The run itself knows nothing of widgets (DESIGN.md §2): a daemon thread polls it every
`interval` seconds (0.25 s: at most four redraws a second). When the run has metrics, the thread
flushes the run's buffered points and reads what was appended to its metrics file since the
last poll, so each point is parsed once. The chart appears in the cell's output with the first
points, and `finish()` (called by the magic once the run has ended) stops the thread, reads the
last points and updates the display a final time, so the saved notebook's static fallback (an
SVG chart) shows the final values too.

Importing this module costs nothing heavy: plotly is imported with the first point.
"""

from __future__ import annotations

import contextvars
import html
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nb_mlops.notebook.widgets.render import static_bundle
from nb_mlops.store.series import METRICS_FILE

INTERVAL_S = 0.25
MAX_POINTS = 2000  # per metric, drawn

log = logging.getLogger("nb_mlops")


def _display(obj: Any) -> Any:
    from IPython.display import display

    return display(obj, display_id=True)


class LiveChart:
    """A chart of one running run's metrics, polled from a background thread.

    `show(chart)` puts the chart in the output and returns a handle with `update(obj)`
    (default: IPython's `display(..., display_id=True)`). `points` maps each metric to its
    (steps, values) lists; `figure` is the plotly FigureWidget once there is something to draw;
    `updates` counts redraws.
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
        self.figure: Any = None
        self.handle: Any = None
        self.updates = 0
        self.finished = False
        self._show = show or _display
        self._offset = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
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
            return False
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

    # ---------------------------------------------------------------- drawing
    def _redraw(self) -> None:
        import numpy as np

        from nb_mlops.downsample import downsample
        from nb_mlops.svgchart import PALETTE

        if self.figure is None:
            self.figure = self._make_figure()
        fig = self.figure
        names = list(self.points)
        with fig.batch_update():
            missing = len(names) - len(fig.data)
            if missing > 0:
                fig.add_traces([{"type": "scatter", "mode": "lines"} for _ in range(missing)])
            for i, (trace, name) in enumerate(zip(fig.data, names, strict=False)):
                steps, values = self.points[name]
                order = np.argsort(np.asarray(steps), kind="stable")
                x, y = downsample(np.asarray(steps)[order], np.asarray(values)[order], MAX_POINTS)
                trace.update(
                    x=x,
                    y=y,
                    name=html.escape(name),
                    mode="lines+markers" if len(x) <= 50 else "lines",
                    line={"color": PALETTE[i % len(PALETTE)], "width": 1.5},
                    marker={"size": 4},
                )
            fig.layout.title.text = self._title()
        self.updates += 1

    def _title(self) -> str:
        state = self.run.status if self.finished else "running"
        return f"{html.escape(self.run.name)} · {html.escape(state)}"

    def _make_figure(self) -> Any:
        import plotly.graph_objects as go

        fig = go.FigureWidget(
            layout={
                "height": 260,
                "width": 560,
                "autosize": False,
                "margin": {"l": 50, "r": 10, "t": 30, "b": 30},
                "title": {"text": self._title(), "font": {"size": 12}},
                "legend": {"orientation": "h", "y": -0.2},
                "xaxis": {"title": {"text": ""}},
            }
        )
        fig.add_class("nbm-live")
        return fig

    # ---------------------------------------------------------------- display
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = dict(self.figure._repr_mimebundle_(**kwargs) or {}) if self.figure else {}
        data.update(static_bundle(self._fallback_html, self._fallback_text))
        return data

    def _fallback_html(self) -> str:
        from nb_mlops.svgchart import line_chart

        lines = {name: (list(s), list(v)) for name, (s, v) in self.points.items()}
        title = f"{self.run.name} · {self.run.status if self.finished else 'running'}"
        return f"<div class='nbm-live-static'>{line_chart(lines, title=title)}</div>"

    def _fallback_text(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.6g}" for k, (_, v) in self.points.items() if v)
        return f"live metrics of run {self.run.name}: {last}"
