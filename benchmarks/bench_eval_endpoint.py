"""Endpoint benchmark: 1,000 generate calls against the loopback OpenAI-compatible server.

    .venv/bin/python benchmarks/bench_eval_endpoint.py     # about 1.5 minutes on 2 cores

The fake server (tests/evals/fake_openai.py) runs as a subprocess, so its threads do not share
the client's GIL, and answers every call after a fixed latency (20 ms by default) that stands in
for network and model time. `EndpointModel.generate` sends the same 1,000 distinct prompts at
concurrency 1 and at concurrency 16 (a fresh adapter each time, warmed by a few untimed calls so
the httpx import and the first connections are not timed). Rounds alternate the order (1 then
16, 16 then 1); the figures are medians over rounds: wall time, calls per second, the speed-up,
the largest number of calls the server saw in flight, and the errors (which must be 0).
Results go to benchmarks/results/eval-endpoint-<UTC time>.json (or --json-out PATH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "evals"))
from common import add_json_out, figure, machine, shown, write_json_out  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

RESULTS = HERE / "results"


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.020, help="server seconds per call")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", default="1,16", help="comma-separated pool sizes")
    add_json_out(ap)
    return ap.parse_args()


def one_run(server: FakeOpenAI, prompts: list[str], concurrency: int, latency: float) -> dict:
    """Wall time of generate(prompts) at `concurrency`, and what the server saw."""
    from nb_mlops.evals.endpoint import EndpointModel

    model = EndpointModel(server.url, "bench-model", concurrency=concurrency, max_tokens=8)
    model.generate([f"warm-up {i}" for i in range(concurrency)])
    server.reset(latency=latency)
    start = time.perf_counter()
    replies = model.generate(prompts)
    wall = time.perf_counter() - start
    model.close()
    stats = server.stats()
    return {
        "wall_s": wall,
        "calls_per_s": len(prompts) / wall,
        "errors": sum(not r.ok for r in replies),
        "server_calls": stats["calls"],
        "max_in_flight": stats["max_in_flight"],
    }


def main() -> None:
    args = arguments()
    levels = [int(c) for c in args.concurrency.split(",")]
    prompts = [f"Question {i}: what comes after {i}?" for i in range(args.calls)]
    rounds: dict[int, list[dict]] = {c: [] for c in levels}
    with FakeOpenAI(process=True, latency=args.latency) as server:
        for r in range(args.rounds):
            order = levels if r % 2 == 0 else list(reversed(levels))
            for c in order:
                run = one_run(server, prompts, c, args.latency)
                rounds[c].append(run)
                print(
                    f"round {r + 1} concurrency {c:>3}: {run['wall_s']:.3f} s, "
                    f"{run['calls_per_s']:.0f} calls/s, in flight <= {run['max_in_flight']}, "
                    f"errors {run['errors']}",
                    flush=True,
                )
    medians = {
        c: {
            "wall_s": statistics.median(x["wall_s"] for x in runs),
            "calls_per_s": statistics.median(x["calls_per_s"] for x in runs),
            "max_in_flight": max(x["max_in_flight"] for x in runs),
            "errors": sum(x["errors"] for x in runs),
            "range_s": [min(x["wall_s"] for x in runs), max(x["wall_s"] for x in runs)],
        }
        for c, runs in rounds.items()
    }
    base = medians[levels[0]]["wall_s"]
    print()
    print(f"| concurrency | wall time ({args.calls:,} calls) | calls/s | speed-up | in flight |")
    print("| --- | --- | --- | --- | --- |")
    for c in levels:
        m = medians[c]
        print(
            f"| {c} | {m['wall_s']:.2f} s | {m['calls_per_s']:.0f} | {base / m['wall_s']:.1f}x "
            f"| {m['max_in_flight']} |"
        )
    floor = args.calls * args.latency
    print(f"(the latency alone, one call at a time: {floor:.1f} s)")
    doc = {
        "machine": machine(),
        "calls": args.calls,
        "latency_s": args.latency,
        "rounds": {str(c): runs for c, runs in rounds.items()},
        "medians": {str(c): m for c, m in medians.items()},
    }
    if args.json_out:
        found = [
            figure(f"wall.c{c}", f"{args.calls} calls at concurrency {c}", m["wall_s"])
            for c, m in medians.items()
        ]
        print(f"results: {shown(write_json_out(args.json_out, doc, found))}")
        return
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"eval-endpoint-{stamp}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"results: {shown(path)}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - t0:.0f} s")
