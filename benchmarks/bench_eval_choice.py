"""Multiple-choice throughput on a local transformers model, nb-mlops beside lm-eval (issue 12).

    .venv/bin/python benchmarks/bench_eval_choice.py     # ~13 minutes on 2 cores

A 1,000-item ARC-style set (4 choices each, so 4,000 log-likelihood requests; generated with a
fixed seed, English and Korean words mixed, questions of 6 to 30 words, choices of 1 to 6) is
written as JSON lines, with an lm-eval task YAML beside it (`dataset_path: json`, the ARC prompt
"Question: ...\\nAnswer:"), and scored on the tiny local GPT-2 of `nb_mlops.evals.tinylm`
(2 layers, 32 wide, trained 100 steps; nothing downloaded) at batch_size 1, 16 and 32 by:

* nb-mlops in a fresh process: `.venv/bin/python -c` imports nb_mlops, loads `HFModel(folder,
  batch_size=B)`, computes its fingerprint, then times `multiple_choice(model, items.jsonl,
  style="arc")` (reading the file, prompts, tokenization, forward passes, picking, acc).
* lm-eval 0.4.13 in a fresh process (`.venv-lmeval`): the `lm_eval --model hf --model_args
  pretrained=FOLDER --tasks NAME --include_path DIR --device cpu --batch_size B --output_path OUT`
  command line, run by a `python -c` launcher that calls the same entry point as the `lm_eval`
  script (`lm_eval.__main__.cli_evaluate`) and times, from inside, lm-eval's own
  `lm_eval.evaluator.evaluate` (contexts, tokenization, forward passes, metrics: the work our
  timed call does) and `simple_evaluate` (that plus loading the model and the task). lm-eval's
  results JSON gives acc, acc_norm and its `total_evaluation_time_seconds`.
* nb-mlops in this process, warm (the figure this tool gave before the peer was added): the same
  call after a warm-up, the model loaded and fingerprinted outside the timing.

For both fresh processes the end-to-end figure is the subprocess's wall time, interpreter start to
exit (imports, model load, scoring, results). Each round runs every (tool, batch size) once, the
order alternating between rounds; figures are medians over rounds, ratios nb-mlops / lm-eval
from the same run. Every run must give the same acc and acc_norm. Also counted once: how many
forward rows our 4,000 requests needed (requests that share a context and whose input is
contained in another's ride on that row).
Results go to benchmarks/results/eval-choice-<UTC time>.json (or --json-out PATH).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import add_json_out, figure, machine, shown, summary, write_json_out  # noqa: E402

RESULTS = HERE / "results"
LMEVAL_PYTHON = HERE.parent / ".venv-lmeval" / "bin" / "python"
TASK = "nbm_bench_arc"
SCORES = ("acc", "acc_norm")
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

WORDS_EN = (
    "the sun water city river light plant metal train library school north east small warm "
    "cold bright quiet heavy green seven twelve hundred animal flower cloud window morning "
    "evening market teacher student number answer question capital country ocean mountain"
).split()
WORDS_KO = (
    "해 물 도시 강 빛 식물 금속 기차 도서관 학교 북쪽 동쪽 작은 따뜻한 차가운 밝은 조용한 "
    "무거운 초록 일곱 열두 백 동물 꽃 구름 창문 아침 저녁 시장 선생님 학생 숫자 대답 질문 "
    "수도 나라 바다 산"
).split()

# Our side in a fresh interpreter: the folder, the data file and the batch size are filled in.
OURS_CODE = """
import json, time
from nb_mlops.evals.choice import multiple_choice
from nb_mlops.evals.hf import HFModel
model = HFModel({folder!r}, batch_size={batch_size})
model.identity
t0 = time.perf_counter()
result = multiple_choice(model, {data!r}, style="arc")
seconds = time.perf_counter() - t0
print(json.dumps({{"scoring": seconds, "acc": result.acc, "acc_norm": result.acc_norm}}))
"""

# lm-eval's command line run through its own entry point, with two of its functions timed from
# inside. `lm_eval` loads its evaluator lazily (a module __getattr__); the wrappers go on when the
# command line asks for `simple_evaluate`, so nothing is imported earlier than lm-eval would.
THEIR_CODE = """
import json, sys, time
import lm_eval
spans = {{}}
def timed(name, fn):
    def call(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spans[name] = time.perf_counter() - t0
    return call
lazy = lm_eval.__getattr__
def patched(name):
    value = lazy(name)
    if name == "simple_evaluate":
        import lm_eval.evaluator as evaluator
        evaluator.evaluate = timed("evaluate", evaluator.evaluate)
        value = timed("simple_evaluate", value)
    return value
lm_eval.__getattr__ = patched
sys.argv = {argv!r}
from lm_eval.__main__ import cli_evaluate
cli_evaluate()
print(json.dumps(spans))
"""


def make_items(n: int, seed: int = 0) -> list[dict[str, object]]:
    """n ARC-style items: a question of 6-30 words, 4 choices of 1-6 words, a gold index."""
    rng = random.Random(seed)

    def words(k: int) -> str:
        pool = WORDS_KO if rng.random() < 0.3 else WORDS_EN
        return " ".join(rng.choice(pool) for _ in range(k))

    return [
        {
            "id": f"b{i:04d}",
            "question": words(rng.randint(6, 30)).capitalize() + "?",
            "choices": [words(rng.randint(1, 6)) for _ in range(4)],
            "answer": rng.randrange(4),
        }
        for i in range(n)
    ]


def write_task(folder: Path, items: list[dict[str, object]]) -> Path:
    """The items and an lm-eval task YAML (ARC prompt) beside them, as the parity test writes
    them (tests/evals/lm_fixtures.py); the data file."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "evals"))
    from lm_fixtures import write_arc_task

    return write_arc_task(folder, TASK, items)


def run(folder: Path, items: list, batch_size: int) -> tuple[float, object]:
    """Our scoring call in this (warm) process: seconds and the result."""
    from nb_mlops.evals.choice import multiple_choice
    from nb_mlops.evals.hf import HFModel

    model = HFModel(folder, batch_size=batch_size)
    model.identity  # noqa: B018  (the fingerprint is computed once, outside the timing)
    t0 = time.perf_counter()
    result = multiple_choice(model, items, style="arc")
    return time.perf_counter() - t0, result


def forward_rows(folder: Path, items: list) -> dict[str, int]:
    """Forward calls and rows one run needs (an untimed pass that counts them)."""
    from nb_mlops.evals.choice import multiple_choice
    from nb_mlops.evals.hf import HFModel

    model = HFModel(folder, batch_size=16)
    seen = {"calls": 0, "rows": 0}
    real = model.logits

    def counting(ids):  # type: ignore[no-untyped-def]
        seen["calls"] += 1
        seen["rows"] += int(ids.shape[0])
        return real(ids)

    model.logits = counting  # type: ignore[method-assign]
    multiple_choice(model, items, style="arc")
    return seen


def fresh(python: Path, code: str, env: dict[str, str], cwd: Path) -> tuple[float, dict]:
    """`python -c code` in a new process: its wall time and the JSON of its last stdout line."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{python} -c ... failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def ours(folder: Path, data: Path, batch_size: int, env: dict, cwd: Path) -> dict[str, float]:
    """nb-mlops in a fresh process: end-to-end seconds, scoring seconds, acc, acc_norm."""
    code = OURS_CODE.format(folder=str(folder), data=str(data), batch_size=batch_size)
    wall, got = fresh(Path(sys.executable), code, env, cwd)
    return {"end_to_end": wall, **got}


def theirs(
    folder: Path, task_dir: Path, out: Path, batch_size: int, env: dict, limit: int | None = None
) -> dict[str, object]:
    """lm-eval in a fresh process: end-to-end seconds, its timed spans, acc, acc_norm."""
    argv = ["lm_eval", "--model", "hf", "--model_args", f"pretrained={folder}"]
    argv += ["--tasks", TASK, "--include_path", str(task_dir), "--device", "cpu"]
    argv += ["--batch_size", str(batch_size), "--output_path", str(out)]
    if limit is not None:
        argv += ["--limit", str(limit)]
    out.mkdir(parents=True)
    wall, spans = fresh(LMEVAL_PYTHON, THEIR_CODE.format(argv=argv), env, out)
    if set(spans) != {"evaluate", "simple_evaluate"}:
        raise RuntimeError(f"lm-eval: the timed functions did not run (timed: {sorted(spans)})")
    found = list(out.rglob("results_*.json"))
    if len(found) != 1:
        raise RuntimeError(f"lm-eval: expected one results_*.json under {out}, found {found}")
    doc = json.loads(found[0].read_text("utf-8"))
    scores = doc["results"][TASK]
    return {
        "end_to_end": wall,
        "scoring": spans["evaluate"],
        "simple_evaluate": spans["simple_evaluate"],
        "total_evaluation_time": float(doc["total_evaluation_time_seconds"]),
        "acc": scores["acc,none"],
        "acc_norm": scores["acc_norm,none"],
        "lm_eval_version": doc.get("lm_eval_version"),
        "transformers_version": doc.get("transformers_version"),
    }


def same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(abs(x - y) <= 1e-12 for x, y in zip(a, b, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-sizes", default="1,16,32", help="comma-separated; 1 = batching off")
    ap.add_argument("--train-steps", type=int, default=100)
    ap.add_argument("--no-peer", action="store_true", help="skip lm-evaluation-harness")
    add_json_out(ap)
    args = ap.parse_args()
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    if 1 not in sizes:
        sizes.insert(0, 1)
    peer = not args.no_peer
    if peer and not LMEVAL_PYTHON.exists():
        sys.exit(
            f"lm-evaluation-harness is not installed in {LMEVAL_PYTHON.parents[1]}: run "
            "./dev setup (or pass --no-peer)"
        )

    import torch

    import nb_mlops
    from nb_mlops.evals.tinylm import build_tiny_lm

    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-choice-"))
    env = {**os.environ, **OFFLINE, "HF_HOME": str(tmp / "hf-home")}
    ours_env = {**env, "PYTHONPATH": str(Path(nb_mlops.__file__).resolve().parents[1])}
    tools = ["ours", "theirs"] if peer else ["ours"]
    loads: list[float] = [os.getloadavg()[0]]
    try:
        folder = build_tiny_lm(tmp / "tiny", train_steps=args.train_steps)
        items = make_items(args.items)
        data = write_task(tmp / "task", items)
        warm_data = write_task(tmp / "warm", items[:20])
        requests = 4 * len(items)
        # warm-up: imports and first forward passes here; the interpreters' files in the page
        # cache; lm-eval's copy of the data set (its datasets cache, kept for the timed runs)
        run(folder, items[:20], 16)
        ours(folder, warm_data, 16, ours_env, tmp)
        if peer:
            theirs(folder, tmp / "task", tmp / "out" / "warm", 16, env, limit=20)
        warm: dict[int, list[float]] = {b: [] for b in sizes}
        samples = {t: {b: [] for b in sizes} for t in tools}
        scores: dict[str, set] = {"warm": set(), "ours": set(), "theirs": set()}
        versions: dict[str, object] = {}
        for r in range(args.rounds):
            for b in sizes if r % 2 == 0 else list(reversed(sizes)):  # alternate the order
                loads.append(os.getloadavg()[0])
                seconds, result = run(folder, items, b)
                warm[b].append(seconds)
                scores["warm"].add((result.acc, result.acc_norm))
                print(f"round {r + 1}: batch_size {b:>3}: warm    {seconds:7.2f} s", flush=True)
                for tool in tools if (r + b) % 2 == 0 else list(reversed(tools)):
                    if tool == "ours":
                        got = ours(folder, data, b, ours_env, tmp)
                    else:
                        got = theirs(folder, tmp / "task", tmp / "out" / f"r{r}b{b}", b, env)
                        versions = {
                            k: got.pop(k) for k in ("lm_eval_version", "transformers_version")
                        }
                    samples[tool][b].append(got)
                    scores[tool].add((got["acc"], got["acc_norm"]))
                    print(
                        f"round {r + 1}: batch_size {b:>3}: {tool:<7} "
                        f"{got['scoring']:7.2f} s scoring, {got['end_to_end']:7.2f} s end to end",
                        flush=True,
                    )
        rows = forward_rows(folder, items)
        loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    every = sorted(set().union(*scores.values()))
    agree = all(same(every[0], s) for s in every)
    medians = {
        t: {
            b: {k: statistics.median(one[k] for one in runs) for k in runs[0] if k not in SCORES}
            for b, runs in by_size.items()
        }
        for t, by_size in samples.items()
    }
    warm_median = {b: statistics.median(s) for b, s in warm.items()}
    doc = {
        "stamp": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
        "machine": machine(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "peer": versions,
        "items": len(items),
        "requests": requests,
        "forward": rows,
        "load_average_1min": {"samples": loads, "min": min(loads), "max": max(loads)},
        "acc_acc_norm": {k: sorted(v) for k, v in scores.items()},
        "scores_agree": agree,
        "warm_seconds": {str(b): summary(s) for b, s in warm.items()},
        "runs": {
            t: {str(b): runs for b, runs in by_size.items()} for t, by_size in samples.items()
        },
        "medians": {t: {str(b): m for b, m in by_size.items()} for t, by_size in medians.items()},
    }
    print()
    print(
        f"{len(items):,} items, {requests:,} requests, {rows['rows']:,} forward rows "
        f"in {rows['calls']} calls at batch_size 16 (nb-mlops)"
    )
    for name, got in scores.items():
        if got:
            shown_scores = ", ".join(f"{a:.4f} / {n:.4f}" for a, n in sorted(got))
            print(f"acc / acc_norm, {name}: {shown_scores}")
    print(f"load average (1 min) during the run: {min(loads):.2f}-{max(loads):.2f}")
    print()
    print(
        "| tool | batch_size | scoring | end-to-end | requests/s (scoring) "
        "| nb-mlops / lm-eval, scoring | nb-mlops / lm-eval, end-to-end |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    names = {"ours": "nb-mlops", "theirs": "lm-eval"}
    for b in sizes:
        for t in tools:
            m = medians[t][b]
            ratio = ["", ""]
            if t == "ours" and peer:
                ratio = [f"{m[k] / medians['theirs'][b][k]:.3f}" for k in ("scoring", "end_to_end")]
            print(
                f"| {names[t]} | {b} | {m['scoring']:.2f} s | {m['end_to_end']:.2f} s "
                f"| {requests / m['scoring']:,.0f} | {ratio[0]} | {ratio[1]} |"
            )
    print()
    print("nb-mlops in a warm process (the call alone, after a warm-up):")
    print("| batch_size | seconds (median) | requests / s | vs batching off |")
    print("| --- | --- | --- | --- |")
    for b in sizes:
        label = f"{b} (batching off)" if b == 1 else str(b)
        ratio = warm_median[1] / warm_median[b]
        print(
            f"| {label} | {warm_median[b]:.2f} | {requests / warm_median[b]:,.0f} | {ratio:.1f}x |"
        )
    if peer:
        print()
        print(
            "lm-eval, inside its process (median seconds): evaluate() / simple_evaluate() / "
            "total_evaluation_time_seconds"
        )
        for b in sizes:
            m = medians["theirs"][b]
            print(
                f"  batch_size {b:>3}: {m['scoring']:.2f} / {m['simple_evaluate']:.2f} / "
                f"{m['total_evaluation_time']:.2f}"
            )
    if args.json_out:
        found = [
            figure(f"choice.b{b}", f"{len(items):,} items, batch_size {b}", warm_median[b])
            for b in sizes
        ] + [
            figure(
                f"choice.fresh.b{b}.{k}",
                f"{len(items):,} items, batch_size {b}, fresh process, {k.replace('_', ' ')}",
                medians["ours"][b][k],
            )
            for b in sizes
            for k in ("scoring", "end_to_end")
        ]
        print(f"results: {shown(write_json_out(args.json_out, doc, found))}")
    else:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"eval-choice-{doc['stamp']}.json"
        path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"results: {shown(path)}")
    if not agree:
        sys.exit(f"the scores differ between runs or tools: {every}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"took {time.perf_counter() - t0:.0f} s")
