"""Two processes observing one monitor at once lose nothing: every row lands in exactly one
window, row windows stay whole, and late labels from a third process join them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from nb_mlops.monitor import Monitor

pytestmark = pytest.mark.timeout(240)

FEEDER = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np, pandas as pd
    from nb_mlops.monitor import Monitor, MonitorAlert
    warnings.simplefilter("ignore", MonitorAlert)
    who, batches = sys.argv[1], int(sys.argv[2])
    mon = Monitor("shared")
    rng = np.random.default_rng(int(who == "b"))
    for i in range(batches):
        n = int(rng.integers(20, 80))
        frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x", "y", "z"])
        ids = [f"{who}-{i}-{j}" for j in range(n)]
        mon.observe(frame, predictions=(frame["x"] > 0).astype(int), ids=ids)
    print("done", who)
    """
)


def test_two_processes_observe_at_once(ws, project, tmp_path):
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x", "y", "z"])
    model = LogisticRegression().fit(ref, (ref["x"] > 0).astype(int))
    Monitor("shared", model=model, reference=ref, rows=100, ws=ws)
    script = tmp_path / "feed.py"
    script.write_text(FEEDER)
    env = {**os.environ, "NB_MLOPS_HOME": str(ws.home)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), who, "15"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("a", "b")
    ]
    for p in procs:
        _out, err = p.communicate(timeout=200)
        assert p.returncode == 0, err[-2000:]
    mon = Monitor("shared", ws=ws)
    observations = mon.files.observations()
    assert len(observations) == 30
    total = sum(o["rows"] for o in observations)
    windows = mon.windows()
    assert windows["rows"].sum() == total
    assert (windows["rows"].iloc[:-1] == 100).all(), windows["rows"].tolist()
    assert list(windows["index"]) == list(range(len(windows)))
    ids = pd.concat([mon.window_rows(int(i))["id"] for i in windows["index"]])
    assert ids.is_unique and len(ids) == total
    # late labels for rows of both processes, then every window still whole
    some = [i for i in ids if i.endswith("-0")]
    mon.add_labels(some, [1] * len(some))
    assert mon.windows()["labelled"].sum() == len(some)
