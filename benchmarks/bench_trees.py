"""Two source trees of nb-mlops benchmarked side by side in one run (old vs new, e.g. a refactor).

    .venv/bin/python benchmarks/bench_trees.py                       # --old /tmp/old-tree --new .
    .venv/bin/python benchmarks/bench_trees.py --old ../base --rounds 5 --only tracking,data

Runs the existing benchmark scripts (bench_tracking, bench_data, bench_rowdiff, bench_registry,
bench_widgets: nb-mlops's own figures only, no MLflow, DVC or daff) once per tree per round, each
as a subprocess with PYTHONPATH=<tree>, so `import nb_mlops` comes from that tree while the
measuring code (this folder's scripts) is the same for both. The trees alternate, old/new in odd
rounds and new/old in even ones, so the machine's drifts and bursts hit both alike. Each script
reports its medians through --json-out; a figure's value for a tree is the median over rounds.
The table gives both medians, new/old, the range over rounds, and PASS (new <= old x 1.10) or
FAIL; "control" rows (IPython's own cell, md5sum, joblib.dump) are not nb-mlops's and show the
machine's noise.

It also checks, in a fresh interpreter per tree (several per round), that `%load_ext nb_mlops` in
an IPython InteractiveShell (history off) leaves none of pandas, numpy, plotly in sys.modules,
and reports the time of that load for both trees.

The default sizes are smaller than benchmarks/README.md's (listed in SIZES) so that three rounds
take about 13 minutes on a 2-core VM; --full uses the scripts' own defaults (the README's sizes;
much longer). Results: benchmarks/results/trees-<UTC time>.json (every round's figures, the
table, the checks, any traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from common import machine  # noqa: E402

RESULTS = HERE / "results"
HEAVY = ("pandas", "numpy", "plotly")

# Each script's sizes in this harness, cut so that a round of all five takes about 2 minutes per
# tree on a 2-core VM. The README's sizes are kept where they are a target's condition (10,000
# runs in the store; 1,000 runs in the widget; 10 runs x 100,000 points).
SIZES: dict[str, list[str]] = {
    "tracking": ["--runs", "10000", "--cells", "100", "--batches", "100", "--fresh", "3"],
    "data": ["--small-files", "5000", "--big-files", "1", "--rest", "2"],
    "rowdiff": ["--rows", "300000", "--repeat", "1"],
    "registry": [
        "--registers", "10", "--aliases", "30", "--loads", "10", "--fingerprint-trees", "50"
    ],
    "widgets": ["--runs", "1000", "--points", "100000", "--repeat", "3"],
}  # fmt: skip
SCRIPTS = {
    "tracking": ("bench_tracking.py", ["--no-peer"]),
    "data": ("bench_data.py", ["--no-peer"]),
    "rowdiff": ("bench_rowdiff.py", ["--no-peer"]),
    "registry": ("bench_registry.py", ["--no-peer"]),
    "widgets": ("bench_widgets.py", []),
}
SKIPPED = [
    "tracking: MLflow's column (log_metric, empty run, search_runs over 1k runs, import mlflow): "
    "peer tool",
    "tracking: --profile (an extra, untimed cProfile pass)",
    "data: DVC's side (dvc add, dvc status in a git + dvc project): peer tool",
    "rowdiff: daff at every size: peer tool",
    "registry: MLflow's side (log_model + registry, aliases, load): peer tool",
    "widgets: the front end's own drawing (needs a browser; the script never measured it)",
    "widgets: the live chart's cost in a Jupyter kernel (README prose; no script measures it)",
]

LOAD_EXT = r"""
import json, sys, time
heavy = tuple(sys.argv[1].split(","))
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy)
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.HistoryManager.enabled = False
sh = InteractiveShell.instance(config=c)
before = loaded()
t0 = time.perf_counter()
sh.run_line_magic("load_ext", "nb_mlops")
seconds = time.perf_counter() - t0
after = loaded()
import nb_mlops
print(json.dumps({"seconds": seconds, "before": before, "after": after,
                  "track_magic": "track" in sh.magics_manager.magics["cell"],
                  "nb_mlops_file": nb_mlops.__file__}))
"""


# --------------------------------------------------------------------------- running
def tree_env(tree: Path, work: Path) -> dict[str, str]:
    """The environment of a subprocess that must import nb_mlops from `tree`.

    Its working directory is a scratch folder too: a `python -c` puts the working directory
    first on sys.path, so started from the repository it would import the new tree whatever
    PYTHONPATH says (the scripts' own fresh processes inherit that directory).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NB_MLOPS_HOME")}
    env["PYTHONPATH"] = str(tree)
    env["NB_MLOPS_HOME"] = str(work / ".nbmlops")  # scripts pin their own stores (nm.init)
    return env


def from_tree(path: str, tree: Path) -> bool:
    return Path(path).resolve().is_relative_to(tree)


def git_info(tree: Path) -> dict[str, object]:
    """The tree's commit and how many files differ from it (read-only: no index refresh)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(tree), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "subject": git("log", "-1", "--format=%s") or None,
        "changed_files": len(changed.splitlines()) if changed else 0,
    }


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def load_ext_check(python: str, tree: Path, scratch: Path) -> dict[str, object]:
    """`%load_ext nb_mlops` in a fresh interpreter importing nb_mlops from `tree`."""
    work = Path(tempfile.mkdtemp(prefix="load-ext-", dir=scratch))
    try:
        done = subprocess.run(
            [python, "-c", LOAD_EXT, ",".join(HEAVY)],
            cwd=work,
            env=tree_env(tree, work),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}", "stderr": tail(done.stderr)}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if not from_tree(out["nb_mlops_file"], tree):
        out["error"] = f"nb_mlops came from {out['nb_mlops_file']}, not {tree}"
    return out


def run_bench(
    python: str, name: str, args: list[str], tree: Path, scratch: Path, timeout: float
) -> dict[str, object]:
    """One script, one tree: its figures (from --json-out), wall time, or the failure."""
    script, fixed = SCRIPTS[name]
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=scratch))
    out = work / "figures.json"
    command = [python, str(HERE / script), *fixed, *args, "--json-out", str(out)]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=work,
            env=tree_env(tree, work),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        wall = time.perf_counter() - t0
        if not out.exists():
            return {
                "error": f"exit {done.returncode}, no --json-out written",
                "stderr": tail(done.stderr),
                "stdout": tail(done.stdout, 15),
                "wall_s": wall,
            }
        doc = json.loads(out.read_text(encoding="utf-8"))
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return {"error": f"timed out after {timeout:.0f} s", "stderr": tail(err), "wall_s": timeout}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result: dict[str, object] = {
        "wall_s": wall,
        "exit": done.returncode,  # 1 = a README target missed (the figures are still there)
        "figures": {f["key"]: f for f in doc["figures"]},
        "nb_mlops_file": doc["nb_mlops_file"],
    }
    if not from_tree(doc["nb_mlops_file"], tree):
        result["error"] = f"nb_mlops came from {doc['nb_mlops_file']}, not {tree}"
    return result


# --------------------------------------------------------------------------- report
def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "bytes":
        return f"{value / 1e6:,.0f} MB"
    if value < 1e-3:
        return f"{value * 1e6:.2f} µs"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.3f} s"


def make_row(measure: str, fig: dict, old: list[float], new: list[float], limit: float) -> dict:
    """One table row: medians over rounds, new/old, and the verdict against `limit`."""
    old_median = statistics.median(old) if old else None
    new_median = statistics.median(new) if new else None
    ratio = new_median / old_median if old_median and new_median is not None else None
    if ratio is None:
        result = "MISSING"
    elif fig["control"]:
        result = "control"
    else:
        result = "PASS" if ratio <= 1 + limit else "FAIL"
    row = {
        "measure": measure,
        "unit": fig["unit"],
        "control": fig["control"],
        "old": old,
        "new": new,
        "old_median": old_median,
        "new_median": new_median,
        "ratio": ratio,
        "result": result,
    }
    if result == "FAIL" and min(new) <= max(old):
        row["note"] = "ranges overlap"
    return row


def compare(samples: dict[str, dict[str, list[dict]]], limit: float) -> list[dict]:
    """The table's rows from samples[bench][tree] = that tree's results, one per round."""
    rows = []
    for name, by_tree in samples.items():
        figs: dict[str, dict] = {}
        for runs in by_tree.values():
            for run in runs:
                for key, fig in run.get("figures", {}).items():
                    figs.setdefault(key, fig)
        for key, fig in figs.items():
            old, new = (
                [r["figures"][key]["value"] for r in by_tree[t] if key in r.get("figures", {})]
                for t in ("old", "new")
            )
            row = make_row(f"{name}: {fig['label']}", fig, old, new, limit)
            rows.append({"bench": name, "key": key, **row})
    return rows


def load_ext_verdicts(checks: dict[str, list[dict]], limit: float) -> tuple[dict, dict]:
    """The load_ext check per tree (heavy modules, errors) and its load time as a table row."""
    verdicts, times = {}, {}
    for tree, results in checks.items():
        good = [c for c in results if "error" not in c]
        times[tree] = [c["seconds"] for c in good]
        verdicts[tree] = {
            "checks": len(results),
            "errors": [c for c in results if "error" in c],
            "heavy_after_load": sorted({m for c in good for m in c["after"]}),
            "heavy_before_load": sorted({m for c in good for m in c["before"]}),
            "track_magic_missing": sum(not c["track_magic"] for c in good),
        }
        v = verdicts[tree]
        v["pass"] = bool(good) and not (
            v["errors"] or v["heavy_after_load"] or v["track_magic_missing"]
        )
    fig = {"unit": "s", "control": False}
    row = make_row(
        "harness: %load_ext nb_mlops, fresh interpreter", fig, times["old"], times["new"], limit
    )
    return verdicts, {"bench": "load_ext_check", "key": "load_ext", **row}


def render(rows: list[dict]) -> str:
    head = ("measure", "old median", "new median", "new/old", "old range", "new range", "result")
    body = []
    for r in rows:
        u = r["unit"]
        spread = [
            f"{fmt(min(r[t]), u)} – {fmt(max(r[t]), u)}" if len(r[t]) > 1 else ""
            for t in ("old", "new")
        ]
        result = r["result"] + (f" ({r['note']})" if r.get("note") else "")
        ratio = f"{r['ratio']:.3f}" if r["ratio"] is not None else "-"
        body.append(
            (r["measure"], fmt(r["old_median"], u), fmt(r["new_median"], u), ratio, *spread, result)
        )
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    out = [line.format(*head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line.format(*b) for b in body]
    return "\n".join(out)


def report(doc: dict) -> int:
    """Print the table, the load_ext check, failures and what was skipped; the exit status."""
    for label, tree in doc["trees"].items():
        print(
            f"{label}: {tree['path']} (commit {(tree['commit'] or '?')[:8]}, "
            f"{tree['changed_files']} tracked files changed)"
        )
    table = doc["table"]
    if table:
        print()
        print(render(table))
    verdicts = doc.get("load_ext_check") or {}
    if verdicts:
        print(f"\n%load_ext nb_mlops in a fresh interpreter leaves none of {', '.join(HEAVY)}:")
        for label, v in verdicts.items():
            times = next(r[label] for r in table if r["bench"] == "load_ext_check")
            when = f"load {fmt(statistics.median(times), 's')} median" if times else "no timing"
            print(
                f"  {label}: {'PASS' if v['pass'] else 'FAIL'} ({v['checks']} interpreters, "
                f"{when}); after the load: {', '.join(v['heavy_after_load']) or 'none'}"
                + (
                    f"; before it: {', '.join(v['heavy_before_load'])}"
                    if v["heavy_before_load"]
                    else ""
                )
                + (
                    f"; %%track missing {v['track_magic_missing']} times"
                    if v["track_magic_missing"]
                    else ""
                )
            )
            for err in v["errors"][:1]:
                print(f"    {err['error']}\n{err.get('stderr', '')}")
    for f in doc["failures"]:
        print(f"\nFAILED: {f['bench']} on the {f['tree']} tree (round {f['round']}): {f['error']}")
        if f.get("stderr"):
            print(f["stderr"])
    print("\nskipped:\n" + "\n".join(f"  - {s}" for s in doc["skipped"]))
    worse = [r["measure"] for r in table if r["result"] in ("FAIL", "MISSING")]
    if worse:
        print(f"\nmore than {doc['limit']:.0%} worse, or missing: " + "; ".join(worse))
    leaked = any(not v["pass"] for v in verdicts.values())
    return 1 if worse or doc["failures"] or leaked else 0


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, default=Path("/tmp/old-tree"), help="the baseline tree")
    ap.add_argument("--new", type=Path, default=REPO, help="the tree under test (this repo)")
    ap.add_argument("--rounds", type=int, default=3, help="old+new runs of every script")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SCRIPTS)}")
    ap.add_argument("--skip", default="", help="comma-separated scripts to leave out")
    ap.add_argument("--full", action="store_true", help="the README's sizes (scripts' defaults)")
    ap.add_argument(
        "--sizes",
        action="append",
        default=[],
        metavar="NAME=OPTIONS",
        help='replace one script\'s sizes, e.g. --sizes "tracking=--runs 1000 --cells 50"',
    )
    ap.add_argument("--limit", type=float, default=0.10, help="largest slowdown allowed (0.10)")
    ap.add_argument("--load-ext", type=int, default=2, help="load_ext checks per tree per round")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per script run")
    ap.add_argument("--python", default=sys.executable, help="interpreter (with the deps)")
    args = ap.parse_args()

    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    for label, tree in trees.items():
        if not (tree / "nb_mlops" / "__init__.py").is_file():
            ap.error(f"--{label} {tree}: no nb_mlops package there")
    only = [n for n in args.only.split(",") if n] or list(SCRIPTS)
    skip = {n for n in args.skip.split(",") if n}
    unknown = (set(only) | skip) - set(SCRIPTS)
    if unknown:
        ap.error(f"unknown scripts: {', '.join(sorted(unknown))} (known: {', '.join(SCRIPTS)})")
    names = [n for n in SCRIPTS if n in only and n not in skip]
    options = {n: [] if args.full else SIZES[n] for n in names}
    for spec in args.sizes:
        name, _, opts = spec.partition("=")
        if name not in SCRIPTS:
            ap.error(f"--sizes {spec!r}: unknown script {name!r}")
        options[name] = shlex.split(opts)

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    t_start = time.perf_counter()
    doc: dict = {
        "date": stamp,
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "trees": {label: {"path": str(t), **git_info(t)} for label, t in trees.items()},
        "options": {n: SCRIPTS[n][1] + options[n] for n in names},
        "skipped": SKIPPED,
        "limit": args.limit,
        "table": [],
        "failures": [],
        "schedule": [],
    }
    samples: dict[str, dict[str, list[dict]]] = {n: {"old": [], "new": []} for n in names}
    checks: dict[str, list[dict]] = {"old": [], "new": []}
    scratch = Path(tempfile.mkdtemp(prefix="bench-trees-"))
    try:
        # An untimed first load per tree: writes its .pyc files (no round pays for compiling),
        # and stops here, with the traceback, when a tree does not import.
        for label, tree in trees.items():
            first = load_ext_check(args.python, tree, scratch)
            doc["trees"][label]["preflight"] = first
            if "error" in first:
                say(f"{label} tree {tree}: %load_ext nb_mlops failed: {first['error']}")
                doc["failures"].append({"round": 0, "bench": "import", "tree": label, **first})
        for rnd in range(1, args.rounds + 1) if not doc["failures"] else ():
            order = ["old", "new"] if rnd % 2 else ["new", "old"]
            say(f"round {rnd}/{args.rounds}: {', '.join(order)}")
            for _ in range(args.load_ext):
                for label in order:
                    checks[label].append(load_ext_check(args.python, trees[label], scratch))
            for name in names:
                for label in order:
                    res = run_bench(
                        args.python, name, options[name], trees[label], scratch, args.timeout
                    )
                    res["round"] = rnd
                    samples[name][label].append(res)
                    doc["schedule"].append(
                        {"round": rnd, "bench": name, "tree": label, "wall_s": res["wall_s"]}
                    )
                    say(f"  {name:<9} {label}: {res['wall_s']:6.1f} s  {res.get('error', 'ok')}")
                    if "error" in res:
                        doc["failures"].append({"round": rnd, "bench": name, "tree": label, **res})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    doc["table"] = compare(samples, args.limit)
    if any(checks.values()):
        verdicts, load_row = load_ext_verdicts(checks, args.limit)
        doc["table"].append(load_row)
        doc["load_ext_check"] = verdicts
    doc["samples"] = samples
    doc["wall_s"] = time.perf_counter() - t_start
    status = report(doc)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"trees-{stamp}.json"
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\nresults: {out.relative_to(REPO)}; took {doc['wall_s'] / 60:.1f} min")
    return status


if __name__ == "__main__":
    sys.exit(main())
