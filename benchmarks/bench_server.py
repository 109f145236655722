"""The store API the JupyterLab panel reads, on a real jupyter_server: the first page of runs.

A project under the server's root holds 10,000 runs (20 params and 10 metrics each, the runs of
bench_store_scale). A `jupyter server` with the extension starts in its own process; then:

- the first `GET /nb-mlops/api/runs?path=...&limit=50` of that server (its catalog opens cold,
  from the checkpoint `nb-mlops gc` wrote);
- the same page again, 30 times (warm), and the page of a filter (`metrics.m3 > 0.99`);
- a later page (offset 5,000).

Each figure is the request's time as the server logged it (tornado's request time, from the
first byte read to the last byte written), and the wall time of the request seen from a client
on loopback beside it. Target (issue 18): the first page in under 300 ms of server time.

    .venv/bin/python benchmarks/bench_server.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_store_scale import fill  # noqa: E402
from common import machine, summary  # noqa: E402

TARGET_FIRST_PAGE_S = 0.300
LOGGED = re.compile(r"(\d{3}) GET \S*nb-mlops/api/runs\S* .*?(\d+\.\d+)ms")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(root: Path, port: int, token: str, log: Path) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "server",
        "--allow-root",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.log_level=DEBUG",
    ]
    env = {**os.environ, "NB_MLOPS_CHECKPOINT_REFRESH": "0", "JUPYTER_PLATFORM_DIRS": "1"}
    env.pop("NB_MLOPS_HOME", None)
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def get(url: str, token: str) -> tuple[float, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return time.perf_counter() - t0, json.loads(body)


def wait_ready(base: str, token: str, deadline_s: float = 60) -> None:
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        try:
            get(f"{base}/api/status", token)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the jupyter server did not start")


def server_times(log: Path) -> list[float]:
    """Seconds of each runs request, as the server logged them, in order."""
    return [float(ms) / 1000 for code, ms in LOGGED.findall(log.read_text()) if code == "200"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    root = tmp / "root"
    home = root / "project" / ".nbmlops"
    (root / "project" / "notebooks").mkdir(parents=True)
    (root / "project" / "notebooks" / "train.ipynb").write_text("{}")
    print(f"filling {args.runs} runs ...", flush=True)
    fill_s = fill(home, args.runs)
    env = {**os.environ, "NB_MLOPS_HOME": str(home), "NB_MLOPS_CHECKPOINT_REFRESH": "0"}
    subprocess.run(
        [str(Path(sys.executable).parent / "nb-mlops"), "gc"],
        env=env,
        check=True,
        capture_output=True,
    )
    port, token = free_port(), secrets.token_hex(16)
    log = tmp / "server.log"
    server = start_server(root, port, token, log)
    out: dict = {"machine": machine(), "runs": args.runs, "fill_s": fill_s}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, token)
        page = f"{base}/nb-mlops/api/runs?path=project/notebooks/train.ipynb&limit=50"
        first_wall, first = get(page, token)
        assert first["total"] == args.runs and len(first["runs"]) == 50, first.get("total")
        warm_wall = [get(page, token)[0] for _ in range(args.repeat)]
        filtered_url = page + "&filter=metrics.m3%20%3E%200.99"
        filtered_wall = [get(filtered_url, token)[0] for _ in range(args.repeat)]
        later_url = page + f"&offset={args.runs // 2}"
        later_wall = [get(later_url, token)[0] for _ in range(args.repeat)]
        time.sleep(0.2)  # the log line of the last request
        logged = server_times(log)
        n = args.repeat
        assert len(logged) == 1 + 3 * n, len(logged)
        out["first_page"] = {"server_s": logged[0], "wall_s": first_wall}
        out["warm_page"] = summary(logged[1 : 1 + n], wall=summary(warm_wall)["median"])
        out["filtered_page"] = summary(
            logged[1 + n : 1 + 2 * n], wall=summary(filtered_wall)["median"]
        )
        out["later_page"] = summary(logged[1 + 2 * n :], wall=summary(later_wall)["median"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / f"server-{stamp}.json").write_text(json.dumps(out, indent=1))
    first_s = out["first_page"]["server_s"]
    verdict = "PASS" if first_s <= TARGET_FIRST_PAGE_S else "FAIL"
    print(f"| {args.runs:,} runs | server time | client wall |")
    print("| --- | --- | --- |")
    print(
        f"| first page (50 runs), new server | {first_s * 1e3:.1f} ms ({verdict}, <= 300 ms) "
        f"| {out['first_page']['wall_s'] * 1e3:.1f} ms |"
    )
    for key, label in (
        ("warm_page", "the same page, warm"),
        ("filtered_page", "a filter's page"),
        ("later_page", f"offset {args.runs // 2}"),
    ):
        row = out[key]
        print(
            f"| {label} (median of {args.repeat}) | {row['median'] * 1e3:.1f} ms "
            f"| {row['wall'] * 1e3:.1f} ms |"
        )
    print(f"results: {results / f'server-{stamp}.json'}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
