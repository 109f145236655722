"""MLflow's side of the run-store scale benchmark (100k, 1M runs); runs in .venv-mlflow.

Builds (once) an MLflow SQLite store holding the runs of RUNS.jsonl, bulk-inserted into MLflow's
own tables after a row-for-row check against what MLflow's API writes, then times `search_runs`:
cold (fresh process, end to end and after import) and warm (full and filtered). Prints one JSON
object of seconds (medians, plus every sample) on stdout:

    .venv-mlflow/bin/python benchmarks/peer_mlflow_scale.py --runs-file RUNS.jsonl \
        --db DIR/mlflow.db --filter "metrics.m3 > 0.99" [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import finish_peer, in_fresh_process, summary

# No network, no telemetry, no chatter: we time the tracking calls only.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

EXPERIMENT = "scale"
CHUNK = 5000  # runs per executemany batch (all batches share one transaction)
_HEX32 = re.compile(r"[0-9a-f]{32}")


def mlflow_id(run_id: str) -> str:
    """MLflow's run_uuid for one of our run ids: kept if already 32 hex, else its uuid5."""
    if _HEX32.fullmatch(run_id):
        return run_id
    return uuid.uuid5(uuid.NAMESPACE_URL, f"nb-mlops:{run_id}").hex


def read_runs(path: Path, limit: int | None = None) -> Iterator[dict]:
    """The runs of a RUNS.jsonl file, streamed (a million runs do not fit in memory as dicts)."""
    with path.open(encoding="utf-8") as fh:
        count = 0
        for line in fh:
            if line.strip():
                yield json.loads(line)
                count += 1
                if limit is not None and count >= limit:
                    return


# ------------------------------------------------------------------------------------- build
def create_store(db: Path) -> tuple[str, str]:
    """A new MLflow SQLite store at `db` with one empty experiment; MLflow makes the schema.

    Returns the experiment's id and artifact location, as MLflow stored them."""
    import mlflow

    db.parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    exp_id = mlflow.create_experiment(EXPERIMENT, artifact_location=str(db.parent / "mlruns"))
    with sqlite3.connect(db) as con:
        (location,) = con.execute(
            "SELECT artifact_location FROM experiments WHERE experiment_id = ?", (int(exp_id),)
        ).fetchone()
    return exp_id, location


def _metric_value(value: float) -> tuple[float, int]:
    """(value, is_nan) as MLflow's SQL store keeps a metric: NaN as 0, +-inf as +-max float."""
    value = float(value)
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (sys.float_info.max if value > 0 else -sys.float_info.max), 0
    return value, 0


def bulk_insert(db: Path, exp_id: str, location: str, runs: Iterable[dict]) -> int:
    """Insert `runs` into MLflow's tables with executemany, in one transaction; returns the count.

    Each run: a `runs` row (as SqlAlchemyStore.create_run + set_terminated leave it), the
    mlflow.runName tag, its params, and per metric one `metrics` row (step 0, timestamp = end_ms)
    and the matching `latest_metrics` row."""
    con = sqlite3.connect(db, isolation_level=None)
    # Connection-only settings (the file's format is untouched): speed the one-off load.
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -524288")  # 512 MB: the params indexes grow large
    con.execute("PRAGMA temp_store = MEMORY")
    prefix = location.rstrip("/")
    experiment = int(exp_id)
    total = 0
    seen: set[str] = set()
    con.execute("BEGIN")
    try:
        batch: list[dict] = []
        for run in runs:
            batch.append(run)
            if len(batch) >= CHUNK:
                total += _insert_batch(con, batch, experiment, prefix, seen)
                batch = []
        if batch:
            total += _insert_batch(con, batch, experiment, prefix, seen)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return total


def _insert_batch(
    con: sqlite3.Connection, batch: list[dict], experiment: int, prefix: str, seen: set[str]
) -> int:
    run_rows, tag_rows, param_rows, metric_rows, latest_rows = [], [], [], [], []
    for run in batch:
        rid = mlflow_id(run["run_id"])
        if rid in seen:
            raise ValueError(f"duplicate run id {run['run_id']!r} (MLflow id {rid})")
        seen.add(rid)
        end_ms = int(run["end_ms"])
        run_rows.append(
            (
                rid,
                run["name"],
                "UNKNOWN",  # source_type
                "",  # source_name
                "",  # entry_point_name
                "unknown",  # user_id
                run["status"],
                int(run["start_ms"]),
                end_ms,
                "",  # source_version
                "active",  # lifecycle_stage
                f"{prefix}/{rid}/artifacts",
                experiment,
                None,  # deleted_time
            )
        )
        tag_rows.append(("mlflow.runName", run["name"], rid))
        param_rows.extend((k, str(v), rid) for k, v in run["params"].items())
        for key, raw in run["metrics"].items():
            value, is_nan = _metric_value(raw)
            metric_rows.append((key, value, end_ms, rid, 0, is_nan))
            latest_rows.append((key, value, end_ms, 0, is_nan, rid))
    con.executemany(
        "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id,"
        " status, start_time, end_time, source_version, lifecycle_stage, artifact_uri,"
        " experiment_id, deleted_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        run_rows,
    )
    con.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tag_rows)
    con.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', param_rows)
    con.executemany(
        'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan)'
        " VALUES (?, ?, ?, ?, ?, ?)",
        metric_rows,
    )
    con.executemany(
        'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid)'
        " VALUES (?, ?, ?, ?, ?, ?)",
        latest_rows,
    )
    return len(batch)


def build(db: Path, runs: Iterable[dict]) -> dict[str, float | int]:
    """create_store + bulk_insert, timed."""
    t0 = time.perf_counter()
    exp_id, location = create_store(db)
    t1 = time.perf_counter()
    count = bulk_insert(db, exp_id, location, runs)
    t2 = time.perf_counter()
    return {"runs": count, "schema_s": t1 - t0, "insert_s": t2 - t1, "build_s": t2 - t0}


# ---------------------------------------------------------------------------------- checks
def _api_store(db: Path, runs: list[dict]) -> list[str]:
    """The same runs written through MLflow's API into a new store; their MLflow ids."""
    import mlflow
    from mlflow.tracking import MlflowClient

    create_store(db)
    client = MlflowClient()
    exp = client.get_experiment_by_name(EXPERIMENT)
    ids = []
    for run in runs:
        made = client.create_run(
            exp.experiment_id, start_time=int(run["start_ms"]), run_name=run["name"]
        )
        rid = made.info.run_id
        mlflow.log_params(run["params"], run_id=rid)
        mlflow.log_metrics(run["metrics"], step=0, timestamp=int(run["end_ms"]), run_id=rid)
        client.set_terminated(rid, status=run["status"], end_time=int(run["end_ms"]))
        ids.append(rid)
    return ids


def _dump(db: Path, run_ids: list[str]) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table's columns and rows, sorted, with run ids, artifact roots and experiment
    times replaced by placeholders, and each value paired with its Python type."""
    con = sqlite3.connect(db)
    try:
        (root,) = con.execute(
            "SELECT artifact_location FROM experiments WHERE name = ?", (EXPERIMENT,)
        ).fetchone()
        tables = [
            name
            for (name,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        out = {}
        for table in tables:
            cur = con.execute(f'SELECT * FROM "{table}"')
            cols = [c[0] for c in cur.description]
            rows = []
            for row in cur:
                fixed = []
                for col, value in zip(cols, row, strict=True):
                    if table == "experiments" and col in ("creation_time", "last_update_time"):
                        value = "<time>"
                    elif isinstance(value, str):
                        value = value.replace(root, "<artifacts>")
                        for i, rid in enumerate(run_ids):
                            value = value.replace(rid, f"<run{i}>")
                    fixed.append((type(value).__name__, value))
                rows.append(tuple(fixed))
            out[table] = (cols, sorted(rows, key=repr))
        return out
    finally:
        con.close()


def check_bulk_matches_api(runs: list[dict], scratch: Path) -> None:
    """Write `runs` through MLflow's API and through bulk_insert into two scratch stores and
    assert every table holds the same rows, column by column (ids and experiment times aside)."""
    api_db, bulk_db = scratch / "api" / "mlflow.db", scratch / "bulk" / "mlflow.db"
    api_ids = _api_store(api_db, runs)
    build(bulk_db, runs)
    bulk_ids = [mlflow_id(r["run_id"]) for r in runs]
    api, bulk = _dump(api_db, api_ids), _dump(bulk_db, bulk_ids)
    problems = []
    for table in sorted(set(api) | set(bulk)):
        if table not in api or table not in bulk:
            problems.append(f"table {table} only in {'api' if table in api else 'bulk'} store")
            continue
        (cols, a_rows), (b_cols, b_rows) = api[table], bulk[table]
        if cols != b_cols:
            problems.append(f"{table}: columns differ: api {cols} vs bulk {b_cols}")
            continue
        if len(a_rows) != len(b_rows):
            problems.append(f"{table}: api wrote {len(a_rows)} rows, bulk {len(b_rows)}")
            for side, mine, other in (("api", a_rows, b_rows), ("bulk", b_rows, a_rows)):
                problems += [
                    f"{table} row only in {side}: {dict(zip(cols, row, strict=True))}"
                    for row in mine
                    if row not in other
                ]
            continue
        for n, (a, b) in enumerate(zip(a_rows, b_rows, strict=True)):
            for col, x, y in zip(cols, a, b, strict=True):
                if x != y:
                    problems.append(f"{table} row {n} column {col}: api {x!r} vs bulk {y!r}")
    if problems:
        raise AssertionError(
            "bulk insert does not match MLflow's API:\n  " + "\n  ".join(problems[:50])
        )


def check_search(db: Path, runs_file: Path) -> None:
    """search_runs(max_results=5) over the built store returns the file's params and metrics."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    frame = mlflow.search_runs(experiment_names=[EXPERIMENT], max_results=5)
    want = set(frame["run_id"])
    assert len(want) == len(frame) > 0, f"search_runs(max_results=5) gave {len(frame)} rows"
    expected = {}
    for run in read_runs(runs_file):
        rid = mlflow_id(run["run_id"])
        if rid in want:
            expected[rid] = run
    assert set(expected) == want, f"runs not in {runs_file}: {sorted(want - set(expected))}"
    for row in frame.to_dict(orient="records"):
        run = expected[row["run_id"]]
        assert row["status"] == run["status"], (row["run_id"], row["status"])
        assert row["tags.mlflow.runName"] == run["name"], (row["run_id"], "name")
        assert int(row["start_time"].timestamp() * 1000) == int(run["start_ms"]), "start_time"
        got_params = {k[7:]: v for k, v in row.items() if k.startswith("params.") and v}
        assert got_params == {k: str(v) for k, v in run["params"].items()}, row["run_id"]
        got_metrics = {
            k[8:]: v for k, v in row.items() if k.startswith("metrics.") and not math.isnan(v)
        }
        want_metrics = {k: float(v) for k, v in run["metrics"].items() if not math.isnan(v)}
        assert got_metrics == want_metrics, row["run_id"]


# ------------------------------------------------------------------------------ measuring
COLD_E2E = """
import sys
import mlflow
mlflow.set_tracking_uri(URI)
frame = mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER)
sys.stdout.write(frame.to_json(orient="records"))
"""

COLD_AFTER_IMPORT = """
import json, time
t0 = time.perf_counter()
import mlflow
t1 = time.perf_counter()
import pandas
mlflow.set_tracking_uri(URI)
t2 = time.perf_counter()
frame = mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "search_s": t3 - t2, "rows": len(frame)}))
"""

WARM = """
import json, resource, sys
sys.path.insert(0, HERE)
from common import per_call
import mlflow
from mlflow.tracking.fluent import SEARCH_MAX_RESULTS_PANDAS
mlflow.set_tracking_uri(URI)
notes = []
limit = N
rows = {}

def full():
    rows["full"] = len(mlflow.search_runs(experiment_names=[EXPERIMENT], max_results=limit))

def filtered():
    frame = mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string=FILTER)
    rows["filtered"] = len(frame)

full_s = []
if FULL_REPEAT:
    try:
        full()  # warm-up
    except Exception as exc:
        notes.append(f"search_runs refused max_results={limit} ({type(exc).__name__}: {exc}); "
                     f"used {SEARCH_MAX_RESULTS_PANDAS}, its default and largest it accepted")
        limit = SEARCH_MAX_RESULTS_PANDAS
        full()
    full_s = per_call(full, FULL_REPEAT)
filtered_s = per_call(filtered, REPEAT, warmup=1)
print(json.dumps({
    "full_s": full_s, "filtered_s": filtered_s, "rows_full": rows.get("full"),
    "rows_filtered": rows["filtered"], "max_results": limit, "notes": notes,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def child_code(body: str, **values: object) -> str:
    """`body` preceded by assignments of `values` (as Python literals)."""
    head = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    return head + body


def cold_e2e(code: str, times: int) -> list[float]:
    """Wall seconds of `python -c code`, stdout discarded, `times` times."""
    samples = []
    for _ in range(times):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        samples.append(time.perf_counter() - t0)
        if out.returncode != 0:
            raise RuntimeError(f"cold search failed ({out.returncode}):\n{out.stderr}")
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs-file", type=Path, required=True, help="RUNS.jsonl, one run a line")
    ap.add_argument("--db", type=Path, required=True, help="MLflow SQLite file (built if absent)")
    ap.add_argument("--filter", required=True, help='search_runs filter, e.g. "metrics.m3 > 0.99"')
    ap.add_argument("--repeat", type=int, default=5, help="samples per figure (medians reported)")
    ap.add_argument(
        "--full-repeat",
        type=int,
        help="samples of the warm full search (default: --repeat; 0 skips it). MLflow takes "
        "minutes per full search at 100k runs, and RAM in proportion",
    )
    args = ap.parse_args()
    runs_file, db = args.runs_file.resolve(), args.db.resolve()

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")

    full_repeat = args.repeat if args.full_repeat is None else args.full_repeat
    tmp = Path(tempfile.mkdtemp(prefix="peer-mlflow-scale-"))
    os.chdir(tmp)  # MLflow writes nothing into the caller's folder
    result: dict[str, object] = {
        "tool": "mlflow",
        "version": mlflow.__version__,
        "backend": "sqlite",
        "db": str(db),
        "runs_file": str(runs_file),
        "filter": args.filter,
        "repeat": args.repeat,
        "full_repeat": full_repeat,
    }
    notes: list[str] = []

    expected = sum(1 for _ in read_runs(runs_file))
    if db.exists():
        result["build_s"] = None
        notes.append("--db existed: reused, not rebuilt")
    else:
        check_bulk_matches_api(list(read_runs(runs_file, limit=3)), tmp / "check")
        # Built beside its final name and renamed once whole: a failed build leaves no --db.
        partial = db.with_name(db.name + ".partial")
        partial.unlink(missing_ok=True)
        built = build(partial, read_runs(runs_file))
        partial.rename(db)
        result.update(build_s=built["build_s"], build_schema_s=built["schema_s"])
        result["build_insert_s"] = built["insert_s"]
    with sqlite3.connect(db) as con:
        (stored,) = con.execute(
            "SELECT COUNT(*) FROM runs JOIN experiments USING (experiment_id)"
            " WHERE experiments.name = ? AND runs.lifecycle_stage = 'active'",
            (EXPERIMENT,),
        ).fetchone()
    assert stored == expected, f"{db} holds {stored} runs, {runs_file} {expected}"
    check_search(db, runs_file)
    size = db.stat().st_size
    result.update(runs=expected, db_bytes=size, db_bytes_per_run=size / max(expected, 1))

    literals = {"URI": f"sqlite:///{db}", "EXPERIMENT": EXPERIMENT, "FILTER": args.filter}
    samples: dict[str, list[float]] = {}
    samples["cold_e2e_s"] = cold_e2e(child_code(COLD_E2E, **literals), args.repeat)
    cold = in_fresh_process(sys.executable, child_code(COLD_AFTER_IMPORT, **literals), args.repeat)
    samples["cold_after_import_s"] = [c["search_s"] for c in cold]
    samples["import_s"] = [c["import_s"] for c in cold]
    here = str(Path(__file__).resolve().parent)
    warm_code = child_code(
        WARM, HERE=here, N=expected, REPEAT=args.repeat, FULL_REPEAT=full_repeat, **literals
    )
    (warm,) = in_fresh_process(sys.executable, warm_code, 1)
    if full_repeat:
        samples["warm_full_s"] = warm["full_s"]
    else:
        result["warm_full_s"] = None
        notes.append("warm full search skipped (--full-repeat 0)")
    samples["warm_filtered_s"] = warm["filtered_s"]
    for name, values in samples.items():
        result[name] = summary(values)["median"]
    result.update(
        rows_filtered=warm["rows_filtered"],
        rows_full=warm["rows_full"],
        full_max_results=warm["max_results"],
        peak_rss_mb=warm["peak_rss_mb"],
        samples=samples,
    )
    notes.extend(warm["notes"])
    if {c["rows"] for c in cold} != {warm["rows_filtered"]}:
        notes.append(f"cold filtered searches returned {sorted({c['rows'] for c in cold})} rows")
    if warm["rows_filtered"] >= 100_000:
        notes.append("filtered search hit search_runs' default max_results (100,000)")
    if full_repeat and warm["rows_full"] != expected:
        notes.append(f"full search returned {warm['rows_full']} of {expected} runs")
    result["notes"] = notes
    finish_peer(result, tmp)


if __name__ == "__main__":
    main()
