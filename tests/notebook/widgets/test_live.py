"""LiveChart: a `%%track` cell's metrics drawn while it runs, throttled, final values at the end."""

from __future__ import annotations

import time

import pytest
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.notebook.extension import tracker
from nb_mlops.notebook.widgets.live import INTERVAL_S, LiveChart
from nb_mlops.notebook.widgets.render import WIDGET_VIEW

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def widgets_on(ip):
    import plotly.graph_objects  # noqa: F401  (so the first chart is not held up by the import)

    ip.run_line_magic("config", "TrackMagics.widgets = 'on'")
    yield ip
    ip.run_line_magic("config", "TrackMagics.widgets = 'auto'")


SLOW_CELL = (
    "%%track -n live-run\n"
    "import time\n"
    "for i in range(8):\n"
    "    track.log(loss=1 / (i + 1), acc=i / 10)\n"
    "    time.sleep(0.15)\n"
)


def test_chart_shows_during_the_cell_and_ends_with_the_final_values(widgets_on, ws) -> None:
    with capture_output() as cap:
        result = widgets_on.run_cell(SLOW_CELL)
    assert result.error_in_exec is None
    live = tracker(widgets_on).live
    assert live is not None and live.finished
    # first display while running, then the final update of the same display
    first, last = cap.outputs[0].data, cap.outputs[-1].data
    assert WIDGET_VIEW in first and first[WIDGET_VIEW] == last[WIDGET_VIEW]
    assert "live-run · running" in first["text/html"]
    assert "live-run · finished" in last["text/html"]
    assert last["text/plain"] == "live metrics of run live-run: loss=0.125, acc=0.7"
    assert 2 <= live.updates <= 1 + 1.2 / INTERVAL_S + 1  # throttled: one per poll at most
    fig = live.figure
    assert "nbm-live" in fig._dom_classes
    assert [t.name for t in fig.data] == ["loss", "acc"]
    assert list(fig.data[0].x) == list(range(8))
    assert fig.data[0].y[-1] == pytest.approx(1 / 8) and fig.data[1].y[-1] == pytest.approx(0.7)
    assert fig.layout.title.text == "live-run · finished"


def test_a_quick_cell_with_single_values_gets_no_chart(widgets_on, ws) -> None:
    with capture_output() as cap:
        widgets_on.run_cell("%%track -n quick\ntrack.log(acc=0.9)\n")
    assert cap.outputs == []
    assert tracker(widgets_on).live.handle is None


def test_a_quick_cell_with_curves_shows_them_at_the_end(widgets_on, ws) -> None:
    with capture_output() as cap:
        widgets_on.run_cell(
            "%%track -n fast\nfor i in range(5):\n    track.log(loss=1 / (i + 1))\n"
        )
    (out,) = cap.outputs
    assert WIDGET_VIEW in out.data and "fast · finished" in out.data["text/html"]


def test_a_failing_cell_still_finishes_the_chart(widgets_on, ws) -> None:
    cell = (
        f"%%track -n '{EVIL}'\nimport time\n"
        "for i in range(3):\n    track.log(loss=float(i))\n    time.sleep(0.15)\n"
        "raise RuntimeError('boom')\n"
    )
    with capture_output() as cap:
        result = widgets_on.run_cell(cell)
    assert isinstance(result.error_in_exec, RuntimeError)
    live = tracker(widgets_on).live
    assert live.finished and live.figure.layout.title.text.endswith("· failed")
    assert EVIL not in live.figure.layout.title.text
    assert all(EVIL not in o.data["text/html"] for o in cap.outputs)


def test_no_chart_when_widgets_are_off(ip, ws) -> None:
    with capture_output() as cap:
        ip.run_cell("%%track -n plain\nfor i in range(3):\n    track.log(loss=i)\n")
    assert tracker(ip).live is None
    assert cap.outputs == []


def test_polling_reads_only_new_whole_lines(ws) -> None:
    shown = []

    class Handle:
        def update(self, obj) -> None:
            shown.append(("update", obj))

    def show(obj):
        shown.append(("show", obj))
        return Handle()

    with nm.start_run("polled") as run:
        chart = LiveChart(run, show=show)
        assert chart.poll() is False  # no metrics yet: nothing drawn, nothing shown
        assert chart.figure is None
        run.log_metric("loss", 1.0)
        run.log_metric("loss", 0.5)
        assert chart.poll() is True
        assert chart.points == {"loss": ([0, 1], [1.0, 0.5])}
        assert [s[0] for s in shown] == ["show"]
        assert chart.poll() is False  # nothing new: no redraw
        with open(chart.path, "ab") as fh:
            fh.write(b'["loss",0.25,2,1.0]\n["loss",0.1')  # the last line still being written
        assert chart.poll() is True
        assert chart.points["loss"] == ([0, 1, 2], [1.0, 0.5, 0.25])
        with open(chart.path, "ab") as fh:
            fh.write(b",3,2.0]\n")
        assert chart.poll() is True
        assert chart.points["loss"] == ([0, 1, 2, 3], [1.0, 0.5, 0.25, 0.1])
    chart.finish()
    assert [s[0] for s in shown] == ["show", "update"]
    assert chart.updates == 4


def test_the_thread_polls_on_its_own_and_stops(ws) -> None:
    with nm.start_run("threaded") as run:
        chart = LiveChart(run, show=lambda obj: None, interval=0.05).start()
        run.log_metric("loss", 1.0)
        deadline = time.monotonic() + 5
        while not chart.points and time.monotonic() < deadline:
            time.sleep(0.02)
        assert chart.points == {"loss": ([0], [1.0])}
    chart.finish()
    assert chart._thread is not None and not chart._thread.is_alive()
