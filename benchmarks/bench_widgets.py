"""Widgets benchmark: building the runs comparison widget, and redrawing curves on selection.

    .venv/bin/python benchmarks/bench_widgets.py        # ~1 minute on 2 cores

Targets (issue 4), in process, in Python time (no browser; the front end's own drawing is not
counted):
  1. `RunComparisonWidget(nm.compare())` over 1,000 runs × 30 table columns (6 base columns,
     12 params, 12 metrics) builds in at most 1 s;
  2. selecting 10 runs with 100,000 points each redraws in at most 0.5 s.

Each figure is the median of `--repeat` timings after one untimed warm-up (which pays the
one-time imports; before issue 11 plotly's FigureWidget alone cost ~1.2 s on first use), in
temporary stores. The curves are counted from the widget's `curves.traces` (plotly traces
before issue 11, chart-spec dicts after), so the script measures old and new trees alike.
The redraw is timed as a user causes it: `widget.select(ten run ids)` (table, curves,
differing view, data versions, figures), from an empty selection. "Cold" is the first selection
of those runs in a fresh widget (their 10 × 100,000 points are read from the store); "warm"
selects them again (series cached by the Comparison). The metric dropdown and the smoothing
slider are timed too. Results go to benchmarks/results/widgets-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import add_json_out, figure, machine, shown, summary, write_json_out  # noqa: E402

RESULTS = HERE / "results"
TARGETS = {"build_1k": 1.0, "select_10x100k_cold": 0.5, "select_10x100k_warm": 0.5}


@contextlib.contextmanager
def store(label: str) -> Iterator[Path]:
    """A fresh temporary store, pinned for this process (nm.init), removed afterwards."""
    import nb_mlops as nm
    from nb_mlops import api
    from nb_mlops.store.workspace import forget_open_workspaces

    folder = Path(tempfile.mkdtemp(prefix=f"bench-widgets-{label}-"))
    with contextlib.redirect_stderr(io.StringIO()):  # the "created a store" notice
        nm.init(folder / ".nbmlops")
    try:
        yield folder
    finally:
        api.reset()
        forget_open_workspaces()
        shutil.rmtree(folder, ignore_errors=True)


def timed(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def fill_1k(runs: int) -> None:
    """`runs` runs with 12 params, 12 metrics (a 5-point curve each for the first 6)."""
    import nb_mlops as nm

    for i in range(runs):
        params = {f"p{j:02d}": (i * 7 + j) % 50 if j % 3 else f"v{(i + j) % 9}" for j in range(12)}
        with nm.start_run(f"run-{i}", params=params) as run:
            for j in range(12):
                steps = 5 if j < 6 else 1
                for step in range(steps):
                    run.log_metric(f"m{j:02d}", (i * 13 + j + step) / 97, step=step)


def fill_long(runs: int, points: int) -> list[str]:
    """`runs` runs of `points` points of `loss` (noisy decay) and one `acc`; their ids."""
    import numpy as np

    import nb_mlops as nm

    rng = np.random.default_rng(0)
    ids = []
    for i in range(runs):
        values = np.exp(-np.arange(points) / (points / 5)) + 0.05 * rng.standard_normal(points)
        with nm.start_run(f"long-{i}", params={"lr": 10.0 ** -(i % 4), "seed": i}) as run:
            log = run.log_metric
            for step, value in enumerate(values.tolist()):
                log("loss", value, step)
            log("acc", 0.5 + i / 40)
        ids.append(run.run_id)
    return ids


def run_curves(curves: object) -> list[int]:
    """Points of each run's curve drawn (the raw curves under smoothed ones left out): from a
    plotly FigureWidget's traces (trees before issue 11) or a chart spec's trace dicts (after).
    A run's curve carries its run id as `meta`."""
    out = []
    for t in curves.traces:  # type: ignore[attr-defined]
        trace = t if isinstance(t, dict) else {"meta": t.meta, "x": t.x}
        if trace.get("meta"):
            out.append(len(trace.get("x") or []))
    return out


def bench_build(runs: int, repeat: int) -> dict[str, object]:
    import nb_mlops as nm

    with store("build"):
        t0 = time.perf_counter()
        fill_1k(runs)
        fill_s = time.perf_counter() - t0
        comparison = nm.compare()
        t0 = time.perf_counter()
        from nb_mlops.notebook.widgets.compare import RunComparisonWidget

        first = RunComparisonWidget(comparison)
        first_s = time.perf_counter() - t0
        columns = len(first.table.columns) - 1  # the run_id is the checkboxes' label
        compare_s = timed(nm.compare, repeat)
        build_s = timed(lambda: RunComparisonWidget(comparison), repeat, warmup=0)
        both_s = timed(lambda: RunComparisonWidget(nm.compare()), repeat, warmup=0)
        w = RunComparisonWidget(comparison)
        w.table.sort_by.value = "metrics.m03"
        page_s = timed(lambda: w.table.go_to((w.table.page + 1) % w.table.page_count), repeat)
        sort_s = timed(
            lambda: setattr(w.table.ascending, "value", not w.table.ascending.value), repeat
        )
        return {
            "runs": runs,
            "table_columns": columns + 1,
            "fill_seconds": fill_s,
            "first_build_with_imports": first_s,
            "build": summary(build_s),
            "compare": summary(compare_s),
            "compare_and_build": summary(both_s),
            "table_next_page": summary(page_s),
            "table_resort": summary(sort_s),
        }


def bench_select(runs: int, points: int, repeat: int) -> dict[str, object]:
    import nb_mlops as nm
    from nb_mlops.notebook.widgets.compare import RunComparisonWidget

    with store("select"):
        t0 = time.perf_counter()
        ids = fill_long(runs, points)
        fill_s = time.perf_counter() - t0
        RunComparisonWidget(nm.compare(*ids[:1]))  # untimed warm-up: imports, first figure

        cold = []
        for _ in range(repeat):
            widget = RunComparisonWidget(nm.compare(filter="params.seed >= 0"))
            widget.curves.metric.value = "loss"
            widget.select([])
            widget.comparison.invalidate()  # the series are read from the store again
            t0 = time.perf_counter()
            widget.select(ids)
            cold.append(time.perf_counter() - t0)
            drawn = run_curves(widget.curves)
            assert len(drawn) == runs, drawn
            assert all(n <= 2000 for n in drawn), drawn

        def again() -> None:
            widget.select([])
            t0 = time.perf_counter()
            widget.select(ids)
            warm.append(time.perf_counter() - t0)

        warm: list[float] = []
        for _ in range(repeat):
            again()
        curves_only = timed(lambda: widget.curves.update(ids), repeat)

        def smooth() -> None:
            widget.curves.smoothing.value = 0.9 if widget.curves.smoothing.value != 0.9 else 0.6

        smoothing = timed(smooth, repeat)

        def switch() -> None:
            widget.curves.metric.value = "acc" if widget.curves.metric.value == "loss" else "loss"

        metric = timed(switch, repeat)
        widget.curves.metric.value = "loss"
        sent = sum(run_curves(widget.curves))
        return {
            "runs": runs,
            "points_per_run": points,
            "fill_seconds": fill_s,
            "points_sent_to_browser": sent,
            "select_cold": summary(cold),
            "select_warm": summary(warm),
            "curves_update_only": summary(curves_only),
            "smoothing_change": summary(smoothing),
            "metric_change_both_ways": summary(metric),
        }


def ms(seconds: float) -> str:
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="runs in the build benchmark")
    ap.add_argument("--long-runs", type=int, default=10, help="runs selected in the redraw")
    ap.add_argument("--points", type=int, default=100_000, help="points per selected run")
    ap.add_argument("--repeat", type=int, default=7, help="timings per measure (median)")
    add_json_out(ap)
    args = ap.parse_args()

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    print(f"building the comparison widget over {args.runs:,} runs ...", file=sys.stderr)
    build = bench_build(args.runs, args.repeat)
    print(
        f"selecting {args.long_runs} runs of {args.points:,} points ...",
        file=sys.stderr,
    )
    select = bench_select(args.long_runs, args.points, args.repeat)
    results = {"stamp": stamp, "machine": machine(), "build": build, "select": select}
    if not args.json_out:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"widgets-{stamp}.json"
        out.write_text(json.dumps(results, indent=1))

    rows = [
        (
            f"comparison widget, {build['runs']:,} runs × {build['table_columns']} columns",
            build["build"]["median"],
            TARGETS["build_1k"],
        ),
        ("  `nm.compare()` (the data, not the widget)", build["compare"]["median"], None),
        ("  compare + build", build["compare_and_build"]["median"], None),
        ("  first build in the process (imports)", build["first_build_with_imports"], None),
        ("  table: next page", build["table_next_page"]["median"], None),
        ("  table: reverse the sort (by a metric)", build["table_resort"]["median"], None),
        (
            f"select {select['runs']} runs × {select['points_per_run']:,} points, cold",
            select["select_cold"]["median"],
            TARGETS["select_10x100k_cold"],
        ),
        (
            "  same, series already read (warm)",
            select["select_warm"]["median"],
            TARGETS["select_10x100k_warm"],
        ),
        ("  `CurvesWidget.update` alone, warm", select["curves_update_only"]["median"], None),
        ("  smoothing slider moved", select["smoothing_change"]["median"], None),
        ("  metric dropdown changed", select["metric_change_both_ways"]["median"], None),
    ]
    if args.json_out:
        keys = [  # the rows above, in order
            "build",
            "compare",
            "compare_and_build",
            "first_build_with_imports",
            "table_next_page",
            "table_resort",
            "select_cold",
            "select_warm",
            "curves_update_only",
            "smoothing_change",
            "metric_change_both_ways",
        ]
        found = [
            figure(k, name.strip(), value) for k, (name, value, _) in zip(keys, rows, strict=True)
        ]
        out = write_json_out(args.json_out, results, found)
    print("| measure | median | target | result |")
    print("| --- | --- | --- | --- |")
    for name, value, target in rows:
        verdict = "" if target is None else ("PASS" if value <= target else "FAIL")
        goal = "" if target is None else f"<= {ms(target)}"
        print(f"| {name} | {ms(value)} | {goal} | {verdict} |")
    print(
        f"\npoints sent to the browser for the {select['runs']} runs: "
        f"{select['points_sent_to_browser']:,}; results: {shown(out)}"
    )
    cold, built = select["select_cold"], build["build"]
    print(
        f"spread: cold selection {ms(cold['min'])}–{ms(cold['max'])}, "
        f"build {ms(built['min'])}–{ms(built['max'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
