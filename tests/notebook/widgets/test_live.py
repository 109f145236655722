"""LiveChart: a `%%track` cell's metrics drawn while it runs, throttled, final values at the end."""

from __future__ import annotations

import json
import time

import pytest
from IPython.utils.capture import capture_output

import nb_mlops as nm
from nb_mlops.notebook.extension import tracker
from nb_mlops.notebook.widgets import live as live_module
from nb_mlops.notebook.widgets.chart import CHART_MIME
from nb_mlops.notebook.widgets.live import INTERVAL_S, MAX_POINTS, MAX_WAIT, LiveChart
from nb_mlops.notebook.widgets.render import WIDGET_VIEW

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def widgets_on(ip):
    import nb_mlops.notebook.widgets.chart  # noqa: F401  (the first chart is not held up by it)

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
    # first display while running, then updates of the same display (no widget: a chart spec)
    first, last = cap.outputs[0], cap.outputs[-1]
    assert not first.update and last.update
    assert first.transient["display_id"] == last.transient["display_id"]
    assert CHART_MIME in first.data and CHART_MIME in last.data
    assert WIDGET_VIEW not in first.data
    assert first.data[CHART_MIME]["layout"]["title"]["text"] == "live-run · running"
    assert "live-run · running" in first.data["text/html"]
    assert "live-run · finished" in last.data["text/html"] and "<svg" in last.data["text/html"]
    assert last.data["text/plain"] == (
        "<chart: live-run · finished: loss=0.125, acc=0.7 (steps 0–7)>"
    )
    assert 2 <= live.updates <= 1 + 1.2 / INTERVAL_S + 1  # throttled: one per poll at most
    spec = live.spec
    assert spec == last.data[CHART_MIME]
    loss, acc = spec["data"]
    assert (loss["name"], acc["name"]) == ("loss", "acc")
    assert loss.get("yaxis", "y") != acc.get("yaxis")  # one axis per metric kind
    assert loss["x"] == list(range(8))
    assert loss["y"][-1] == pytest.approx(1 / 8) and acc["y"][-1] == pytest.approx(0.7)
    layout = spec["layout"]
    assert layout["title"]["text"] == "live-run · finished"
    assert layout["xaxis"]["title"]["text"] == layout["xaxis2"]["title"]["text"] == "step"
    assert (layout["yaxis"]["title"]["text"], layout["yaxis2"]["title"]["text"]) == ("loss", "acc")


def test_metrics_of_one_kind_share_a_chart(ws) -> None:
    with nm.start_run("kinds") as run:
        chart = LiveChart(run, show=lambda obj: None)
        for i in range(3):
            run.log(**{"train/loss": 1 / (i + 1), "val/loss": 2 / (i + 1), "val/acc": i / 3})
        assert chart.poll()
    spec = chart.spec
    assert [(t["name"], t.get("yaxis", "y")) for t in spec["data"]] == [
        ("train/loss", "y"),
        ("val/loss", "y"),
        ("val/acc", "y2"),
    ]
    assert len({t["line"]["color"] for t in spec["data"]}) == 3


def test_an_update_costs_a_bounded_number_of_bytes(ws) -> None:
    with nm.start_run("long") as run:
        chart = LiveChart(run, show=lambda obj: None)
        for i in range(20_000):
            run.log(loss=1 / (i + 1), acc=i / 20_000)
        assert chart.poll()
    bundle = chart._repr_mimebundle_()
    assert all(len(t["x"]) == MAX_POINTS for t in bundle[CHART_MIME]["data"])
    assert len(json.dumps(bundle)) < 60_000  # 40,000 points sent as 1,000, plus the SVG


def test_long_runs_are_redrawn_less_often(ws, monkeypatch) -> None:
    with nm.start_run("slow") as run:
        chart = LiveChart(run, show=lambda obj: None)
        assert chart.wait() == INTERVAL_S
        now = time.monotonic()
        monkeypatch.setattr(live_module.time, "monotonic", lambda: now + 60)
        assert INTERVAL_S < chart.wait() < MAX_WAIT
        monkeypatch.setattr(live_module.time, "monotonic", lambda: now + 3600)
        assert chart.wait() == MAX_WAIT


def test_the_spec_is_plain_json(ws) -> None:
    with nm.start_run("light") as run:
        chart = LiveChart(run, show=lambda obj: None)
        run.log(loss=1.0)
        run.log(loss=0.5)
        chart.poll()
    json.dumps(chart._repr_mimebundle_(), allow_nan=False)
    assert [type(v) for v in chart.spec["data"][0]["y"]] == [float, float]


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
    assert CHART_MIME in out.data and "fast · finished" in out.data["text/html"]


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
    title = live.spec["layout"]["title"]["text"]
    assert live.finished and title.endswith("· failed")
    assert EVIL not in title and "&lt;img" in title
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
        assert chart.spec is None
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
