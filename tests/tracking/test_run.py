"""Recording a run through the public API: params, metrics, tags, artifacts, seeds, secrets."""

from __future__ import annotations

import json
import math
import os
import random
import warnings
from pathlib import Path

import numpy as np
import pytest

import nb_mlops as nm
from nb_mlops.errors import (
    MetricValueError,
    NbMlopsError,
    NoActiveRunError,
    ParamConflict,
    StoreError,
)
from nb_mlops.redact import REDACTED
from nb_mlops.store.workspace import Workspace
from nb_mlops.tracking.run import STATUSES, NonFiniteMetricWarning


def doc_of(ws: Workspace, run) -> dict:
    """The raw catalog document of a run."""
    doc = ws.catalog.get("runs", run.run_id)
    assert doc is not None, f"no catalog document for {run.run_id}"
    return doc


def series_of(run_ref: str) -> dict[str, list[tuple[int, float]]]:
    """metric key -> [(step, value), ...] as stored."""
    series = nm.get_run(run_ref).to_dict()["series"]
    return {k: [(int(p[0]), p[1]) for p in pts] for k, pts in series.items()}


def store_text(ws: Workspace) -> str:
    """Every byte of every file in the store, decoded leniently (to search for secrets)."""
    parts = []
    for path in ws.home.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


# --------------------------------------------------------------------------- lifecycle
def test_finished_run_records_params_metrics_tags_duration_and_end(ws: Workspace) -> None:
    with nm.start_run("a", experiment="exp1", tags={"team": "nlp"}) as run:
        assert nm.active_run() is run
        nm.log_param("lr", 0.1)
        nm.log_params({"model": "rf", "layers": (64, 32)})
        nm.log_metric("loss", 0.9)
        nm.log_metric("loss", 0.4)
        nm.log_metrics({"acc": 0.8, "f1": 0.7})
        nm.set_tag("purpose", "baseline")
        running = doc_of(ws, run)
        assert running["status"] == "running"
        assert running["end"] is None
    assert nm.active_run() is None
    doc = doc_of(ws, run)
    assert doc["name"] == "a"
    assert doc["experiment"] == "exp1"
    assert doc["status"] == "finished"
    assert doc["params"] == {"lr": 0.1, "model": "rf", "layers": [64, 32]}
    assert doc["metrics"] == {"loss": 0.4, "acc": 0.8, "f1": 0.7}
    assert doc["tags"] == {"team": "nlp", "purpose": "baseline"}
    assert isinstance(doc["duration"], float) and doc["duration"] >= 0
    assert doc["end"] >= doc["start"]
    assert doc["start"].endswith("+00:00") and doc["end"].endswith("+00:00")
    assert doc["parent"] is None
    assert run.status == "finished"
    assert run.metrics == {"loss": 0.4, "acc": 0.8, "f1": 0.7}


def test_run_without_name_gets_a_readable_name(ws: Workspace) -> None:
    with nm.start_run() as run:
        pass
    name = doc_of(ws, run)["name"]
    assert isinstance(name, str) and name.count("-") == 2
    assert doc_of(ws, run)["experiment"] == "Default"


def test_metric_steps_auto_increment_per_key(ws: Workspace) -> None:
    with nm.start_run("steps") as run:
        nm.log_metric("loss", 3.0)
        nm.log_metric("acc", 0.1)
        nm.log_metric("loss", 2.0)
        nm.log_metric("loss", 1.0)
        nm.log_metric("acc", 0.2)
    series = series_of(run.run_id)
    assert series["loss"] == [(0, 3.0), (1, 2.0), (2, 1.0)]
    assert series["acc"] == [(0, 0.1), (1, 0.2)]


def test_explicit_steps_and_auto_step_after_them(ws: Workspace) -> None:
    with nm.start_run("explicit") as run:
        nm.log_metric("loss", 1.0, step=10)
        nm.log_metric("loss", 0.5)  # 11
        nm.log_metric("loss", 9.0, step=3)  # an earlier step: stored, not the last value
        nm.log_metrics({"acc": 0.5, "f1": 0.25}, step=7)
    series = series_of(run.run_id)
    assert series["loss"] == [(10, 1.0), (11, 0.5), (3, 9.0)]
    assert series["acc"] == [(7, 0.5)]
    assert series["f1"] == [(7, 0.25)]
    assert doc_of(ws, run)["metrics"] == {"loss": 0.5, "acc": 0.5, "f1": 0.25}


def test_handle_helpers_log_and_param(ws: Workspace) -> None:
    with nm.start_run("handle") as run:
        run.param(lr=0.01, depth=3)
        run.log(loss=0.3, acc=0.9, step=2)
        run.set_tags({"a": "b"})
    doc = doc_of(ws, run)
    assert doc["params"] == {"lr": 0.01, "depth": 3}
    assert doc["metrics"] == {"loss": 0.3, "acc": 0.9}
    assert doc["tags"] == {"a": "b"}


def test_exception_marks_failed_stores_traceback_and_propagates(ws: Workspace) -> None:
    def train() -> None:
        raise ValueError("boom in training")

    with pytest.raises(ValueError, match="boom in training"), nm.start_run("bad") as run:
        nm.log_metric("loss", 0.7)
        train()
    assert nm.active_run() is None
    doc = doc_of(ws, run)
    assert doc["status"] == "failed"
    assert doc["error"]["type"] == "ValueError"
    assert doc["error"]["message"] == "boom in training"
    tb = doc["error"]["traceback"]
    assert tb.startswith("Traceback (most recent call last)")
    assert "in train" in tb and "ValueError: boom in training" in tb
    assert doc["metrics"] == {"loss": 0.7}
    assert doc["duration"] is not None and doc["end"] is not None


def test_keyboard_interrupt_marks_interrupted(ws: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), nm.start_run("stopped") as run:
        nm.log_metric("loss", 0.2)
        raise KeyboardInterrupt
    assert nm.active_run() is None
    doc = doc_of(ws, run)
    assert doc["status"] == "interrupted"
    assert doc["metrics"] == {"loss": 0.2}
    assert doc["end"] is not None


def test_nothing_left_behind_after_failure_then_new_run_is_top_level(ws: Workspace) -> None:
    with pytest.raises(RuntimeError), nm.start_run("first"):
        raise RuntimeError("x")
    with nm.start_run("second") as run:
        pass
    assert doc_of(ws, run)["parent"] is None
    with pytest.raises(NoActiveRunError):
        nm.log_metric("loss", 1.0)


def test_nested_start_run_makes_a_child(ws: Workspace) -> None:
    with nm.start_run("outer", experiment="sweeps") as outer:
        for lr in (0.1, 0.01):
            with nm.start_run(f"lr={lr}") as child:
                assert nm.active_run() is child
                nm.log_param("lr", lr)
            assert child.parent == outer.run_id
            assert nm.active_run() is outer
        with nm.start_run("solo", nested=False) as solo:
            pass
    children = [d for d in ws.catalog.docs("runs").values() if d["parent"] == outer.run_id]
    assert sorted(d["name"] for d in children) == ["lr=0.01", "lr=0.1"]
    assert all(d["experiment"] == "sweeps" for d in children)
    assert doc_of(ws, solo)["parent"] is None
    assert doc_of(ws, solo)["experiment"] == "Default"
    assert doc_of(ws, outer)["parent"] is None
    assert sorted(nm.get_run(outer.run_id).to_dict()["children"]) == sorted(
        d["run_id"] for d in children
    )


def test_ending_the_outer_run_ends_an_open_child(ws: Workspace) -> None:
    with nm.start_run("outer") as outer:
        child = nm.start_run("left-open")
    assert nm.active_run() is None
    assert doc_of(ws, child)["status"] == "finished"
    assert doc_of(ws, child)["parent"] == outer.run_id


def test_start_and_end_run_without_with(ws: Workspace) -> None:
    run = nm.start_run("script")
    nm.log_metric("m", 1)
    nm.end_run()
    assert nm.active_run() is None
    assert doc_of(ws, run)["status"] == "finished"
    assert doc_of(ws, run)["metrics"] == {"m": 1.0}


def test_end_run_refuses_an_unknown_status(ws: Workspace) -> None:
    """Statuses are lowercase members of a fixed set (DESIGN §4); others must not be stored."""
    run = nm.start_run("typo")
    try:
        nm.end_run("FINSHED")
    except (ValueError, NbMlopsError):
        pass
    finally:
        if run.status == "running":
            run.end("finished")
    assert doc_of(ws, run)["status"] in STATUSES


def test_logging_on_an_ended_run_handle_is_refused(ws: Workspace) -> None:
    with nm.start_run("done") as run:
        pass
    for call in (
        lambda: run.log_metric("loss", 1.0),
        lambda: run.log_param("lr", 1),
        lambda: run.set_tag("k", "v"),
        lambda: run.log_artifact(__file__),
    ):
        with pytest.raises(NbMlopsError, match="has ended"):
            call()
    assert doc_of(ws, run)["metrics"] == {}


def test_bad_param_and_tag_names_are_refused(ws: Workspace) -> None:
    with nm.start_run("names"):
        for bad in ("", "  ", "two\nlines", "x" * 300, 5):
            with pytest.raises(NbMlopsError):
                nm.log_param(bad, 1)  # type: ignore[arg-type]
            with pytest.raises(NbMlopsError):
                nm.set_tag(bad, 1)  # type: ignore[arg-type]
            with pytest.raises(NbMlopsError):
                nm.log_metric(bad, 1.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- params
def test_param_logged_again_with_same_value_is_fine(ws: Workspace) -> None:
    with nm.start_run("same") as run:
        nm.log_param("lr", 0.1)
        nm.log_param("lr", 0.1)
        nm.log_params({"layers": [1, 2], "model": "rf"})
        nm.log_params({"layers": (1, 2), "model": "rf"})
        nm.log_param("n", np.int64(5))
        nm.log_param("n", 5)
    assert doc_of(ws, run)["params"] == {"lr": 0.1, "layers": [1, 2], "model": "rf", "n": 5}


def test_param_conflict_names_the_param_and_keeps_first_value(ws: Workspace) -> None:
    with nm.start_run("conflict") as run:
        nm.log_param("lr", 0.1)
        with pytest.raises(ParamConflict, match="'lr'") as info:
            nm.log_param("lr", 0.2)
        assert "0.1" in str(info.value) and "0.2" in str(info.value)
        # a batch with one conflicting entry writes none of it
        with pytest.raises(ParamConflict, match="'lr'"):
            nm.log_params({"depth": 3, "lr": 0.3})
        assert run.params == {"lr": 0.1}
    assert doc_of(ws, run)["params"] == {"lr": 0.1}
    assert nm.runs()["params.lr"].tolist() == [0.1]


def test_param_given_at_start_conflicts_too(ws: Workspace) -> None:
    with nm.start_run("start-params", params={"model": "rf"}) as run:
        nm.log_param("model", "rf")
        with pytest.raises(ParamConflict, match="'model'"):
            nm.log_param("model", "gbm")
    assert doc_of(ws, run)["params"] == {"model": "rf"}


def test_nan_param_logged_again_is_the_same_value(ws: Workspace) -> None:
    """Re-logging the same value is fine, NaN included (float('nan') != itself)."""
    with nm.start_run("nan-param") as run:
        nm.log_param("dropout", math.nan)
        nm.log_param("dropout", math.nan)
    assert math.isnan(doc_of(ws, run)["params"]["dropout"])


# --------------------------------------------------------------------------- metric values
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (2.5, 2.5),
        (-1, -1.0),
        (np.float64(0.125), 0.125),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (np.array(0.25), 0.25),
        (np.array(4, dtype=np.int32), 4.0),
    ],
)
def test_metric_numeric_values_are_accepted(ws: Workspace, value, expected: float) -> None:
    with nm.start_run("ok") as run:
        nm.log_metric("m", value)
    stored = doc_of(ws, run)["metrics"]["m"]
    assert type(stored) is float and stored == expected


@pytest.mark.parametrize(
    "value", ["0.5", None, [0.5], (1,), {"a": 1}, np.array([0.5]), object(), b"1"]
)
def test_metric_non_numbers_raise_naming_the_metric(ws: Workspace, value) -> None:
    with nm.start_run("bad-values") as run:
        with pytest.raises(MetricValueError, match="'val_acc'"):
            nm.log_metric("val_acc", value)
        with pytest.raises(TypeError):  # MetricValueError is also a TypeError
            nm.log_metrics({"val_acc": value})
    assert doc_of(ws, run)["metrics"] == {}
    assert series_of(run.run_id) == {}


@pytest.mark.parametrize("step", [-1, 1.5, 2.0, "3", [1]])
def test_bad_steps_are_rejected(ws: Workspace, step) -> None:
    with (
        nm.start_run("bad-steps") as run,
        pytest.raises(MetricValueError, match="step of metric 'loss'"),
    ):
        nm.log_metric("loss", 0.5, step=step)
    assert series_of(run.run_id) == {}


def test_numpy_integer_steps_are_accepted(ws: Workspace) -> None:
    with nm.start_run("np-step") as run:
        nm.log_metric("loss", 0.5, step=np.int64(4))
    assert series_of(run.run_id)["loss"] == [(4, 0.5)]


def test_nonfinite_values_are_stored_warned_once_per_key_and_flagged(ws: Workspace) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nm.start_run("nan") as run:
            nm.log_metric("loss", 1.0)
            nm.log_metric("loss", math.nan)
            nm.log_metric("loss", math.nan)
            nm.log_metric("loss", math.inf)
            nm.log_metric("grad", -math.inf, step=4)
            nm.log_metric("grad", np.float64("nan"))
            nm.log_metric("acc", 0.5)
            assert "flags" not in doc_of(ws, run)
    ours = [w for w in caught if issubclass(w.category, NonFiniteMetricWarning)]
    assert len(ours) == 2
    assert "'loss'" in str(ours[0].message) and "step 1" in str(ours[0].message)
    assert "'grad'" in str(ours[1].message) and "step 4" in str(ours[1].message)
    doc = doc_of(ws, run)
    assert len(doc["flags"]) == 2
    assert any("'loss'" in f and "step 1" in f for f in doc["flags"])
    assert any("'grad'" in f and "step 4" in f for f in doc["flags"])
    assert doc["metrics"]["loss"] == math.inf
    assert math.isnan(doc["metrics"]["grad"])
    series = series_of(run.run_id)
    assert math.isnan(series["loss"][1][1]) and math.isnan(series["loss"][2][1])
    assert series["grad"][0] == (4, -math.inf)
    frame = nm.runs()
    assert math.isnan(frame.loc[0, "metrics.grad"])
    assert frame.loc[0, "metrics.loss"] == math.inf
    assert frame.loc[0, "metrics.acc"] == 0.5


def test_nonfinite_warning_points_at_the_callers_line(ws: Workspace) -> None:
    """The warning is the user's: it must name their file, for every logging verb."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nm.start_run("where"):
            nm.log_metric("a", math.nan)
            nm.log_metrics({"b": math.nan})
    ours = [w for w in caught if issubclass(w.category, NonFiniteMetricWarning)]
    assert [Path(w.filename).name for w in ours] == [Path(__file__).name] * 2


# --------------------------------------------------------------------------- secrets
def test_secret_named_params_and_tags_with_text_are_redacted(ws: Workspace) -> None:
    secrets = {"api_key": "sk-live-111", "HF_TOKEN": "hf_222", "db_password": "hunter2-333"}
    with nm.start_run("secrets", params={"OPENAI_API_KEY": "sk-start-444"}) as run:
        nm.log_params(secrets)
        nm.log_param("max_tokens", 256)
        nm.log_param("model", "gpt")
        nm.set_tag("github_token", "ghp_555")
        nm.set_tags({"client_secret": "cs-666", "owner": "kim"})
    doc = doc_of(ws, run)
    assert doc["params"] == {
        "OPENAI_API_KEY": REDACTED,
        "api_key": REDACTED,
        "HF_TOKEN": REDACTED,
        "db_password": REDACTED,
        "max_tokens": 256,
        "model": "gpt",
    }
    assert doc["tags"] == {"github_token": REDACTED, "client_secret": REDACTED, "owner": "kim"}
    row = nm.runs().iloc[0]
    assert row["params.api_key"] == REDACTED
    assert row["params.HF_TOKEN"] == REDACTED
    assert row["params.db_password"] == REDACTED
    assert row["params.max_tokens"] == 256.0
    assert row["tags.github_token"] == REDACTED
    text = store_text(ws)
    for value in ("sk-live-111", "hf_222", "hunter2-333", "sk-start-444", "ghp_555", "cs-666"):
        assert value not in text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("client", {"base_url": "https://api.example", "api_key": "sk-nested-777"}),
        ("api_keys", ["sk-nested-777", "sk-other-888"]),
        ("auth", ("user", {"password": "sk-nested-777"})),
    ],
    ids=["dict-with-secret-key", "list-under-secret-name", "tuple-with-nested-dict"],
)
def test_secret_inside_a_container_param_is_redacted(ws: Workspace, key: str, value) -> None:
    """Text under a secret name must not reach the store when it sits inside a dict or list."""
    with nm.start_run("nested-secret", tags={key: value}):
        nm.log_param(key, value)
    assert "sk-nested-777" not in store_text(ws)


def test_secret_env_vars_never_reach_the_store(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-aaa111")
    monkeypatch.setenv("HF_TOKEN", "hf-env-bbb222")
    monkeypatch.setenv("NB_MLOPS_SECRET_TOKEN", "nbm-env-ccc333")
    monkeypatch.setenv("NB_MLOPS_REMOTE_PASSWORD", "nbm-env-ddd444")
    monkeypatch.setenv("NB_MLOPS_SOMETHING", "plain-value")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-env-eee555")
    with nm.start_run("env") as run:
        nm.log_metric("m", 1.0)
    env = doc_of(ws, run)["env"]["vars"]
    assert "OPENAI_API_KEY" not in env and "HF_TOKEN" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["NB_MLOPS_SECRET_TOKEN"] == REDACTED
    assert env["NB_MLOPS_REMOTE_PASSWORD"] == REDACTED
    assert env["NB_MLOPS_SOMETHING"] == "plain-value"
    assert env["OMP_NUM_THREADS"] == "3"
    journal = (ws.home / "catalog" / "journal.jsonl").read_text(encoding="utf-8")
    text = store_text(ws)
    for secret in ("sk-env-aaa111", "hf-env-bbb222", "nbm-env-ccc333", "nbm-env-ddd444"):
        assert secret not in journal
        assert secret not in text
    assert "aws-env-eee555" not in text
    assert "OMP_NUM_THREADS" in json.dumps(nm.get_run(run.run_id).to_dict()["env"])


def test_config_capture_env_records_extra_names_secrets_redacted(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws.home / "config.toml").write_text(
        '[capture]\nenv = ["MY_SETTING", "MY_API_KEY"]\n', encoding="utf-8"
    )
    monkeypatch.setenv("MY_SETTING", "fast")
    monkeypatch.setenv("MY_API_KEY", "extra-secret-999")
    monkeypatch.setenv("NOT_LISTED", "nope")
    with nm.start_run("extra") as run:
        pass
    env = doc_of(ws, run)["env"]["vars"]
    assert env["MY_SETTING"] == "fast"
    assert env["MY_API_KEY"] == REDACTED
    assert "NOT_LISTED" not in env
    assert "extra-secret-999" not in store_text(ws)


# --------------------------------------------------------------------------- seeds
def _draws() -> tuple[list[float], list[float]]:
    return [random.random() for _ in range(3)], np.random.rand(3).tolist()


def test_seed_makes_draws_reproducible_and_is_recorded(ws: Workspace) -> None:
    with nm.start_run("s1", seed=5) as first:
        a = _draws()
    random.seed(999)
    np.random.seed(999)
    with nm.start_run("s2", seed=5) as second:
        b = _draws()
    with nm.start_run("s3", seed=6):
        c = _draws()
    assert a == b
    assert a != c
    seeds = doc_of(ws, first)["seeds"]
    assert seeds["random"] == 5 and seeds["numpy"] == 5
    assert doc_of(ws, second)["seeds"]["numpy"] == 5


def test_no_seed_records_no_seeds(ws: Workspace) -> None:
    with nm.start_run("unseeded") as run:
        pass
    assert doc_of(ws, run)["seeds"] == {}


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "5", True])
def test_invalid_seed_raises_value_error_and_starts_nothing(ws: Workspace, seed) -> None:
    with pytest.raises(ValueError, match="seed"):
        nm.start_run("bad-seed", seed=seed)
    assert nm.active_run() is None
    assert ws.catalog.docs("runs") == {}


# --------------------------------------------------------------------------- artifacts
def test_artifact_file_and_folder_are_stored_and_readable(ws: Workspace, project: Path) -> None:
    model = project / "model.bin"
    model.write_bytes(b"\x00weights\xff" * 10)
    folder = project / "out dir"
    (folder / "sub").mkdir(parents=True)
    (folder / "모델 가중치.txt").write_text("한국어 내용", encoding="utf-8")
    (folder / "sub" / "b.json").write_text('{"x": 1}', encoding="utf-8")
    with nm.start_run("arts") as run:
        rec_file = nm.log_artifact("model.bin")
        rec_dir = nm.log_artifact(folder, name="outputs")
    assert rec_file["name"] == "model.bin"
    assert rec_file["path"] == "model.bin"
    assert rec_file["size"] == len(model.read_bytes()) == 90 and rec_file["nfiles"] == 1
    assert len(rec_file["md5"]) == 32
    assert ws.objects.read_bytes(rec_file["md5"]) == model.read_bytes()
    assert rec_dir["name"] == "outputs"
    assert rec_dir["md5"].endswith(".dir")
    assert rec_dir["nfiles"] == 2
    assert rec_dir["size"] == len("한국어 내용".encode()) + len(b'{"x": 1}')
    listing = {e["relpath"]: e["md5"] for e in ws.objects.listing(rec_dir["md5"])}
    assert set(listing) == {"모델 가중치.txt", "sub/b.json"}
    assert ws.objects.read_bytes(listing["모델 가중치.txt"]).decode() == "한국어 내용"
    doc = doc_of(ws, run)
    assert [a["name"] for a in doc["artifacts"]] == ["model.bin", "outputs"]
    assert rec_file["md5"] in doc["refs"] and rec_dir["md5"] in doc["refs"]
    # gc keeps what the run refers to (and removes an unreferenced object)
    orphan = ws.objects.add_bytes(b"nobody refers to me")
    report = nm.gc(grace_s=0)
    assert orphan in report.removed
    assert rec_file["md5"] not in report.removed and rec_dir["md5"] not in report.removed
    assert ws.objects.read_bytes(rec_file["md5"]) == model.read_bytes()
    assert ws.objects.read_bytes(listing["sub/b.json"]) == b'{"x": 1}'


def test_artifact_logged_again_under_same_name_replaces_record(
    ws: Workspace, project: Path
) -> None:
    path = project / "m.txt"
    with nm.start_run("replace") as run:
        path.write_text("v1")
        first = nm.log_artifact(path)
        path.write_text("v2 longer")
        second = nm.log_artifact(path)
    doc = doc_of(ws, run)
    assert [a["md5"] for a in doc["artifacts"]] == [second["md5"]]
    assert first["md5"] in doc["refs"] and second["md5"] in doc["refs"]


def test_missing_artifact_path_raises_a_one_line_error_naming_it(
    ws: Workspace, project: Path
) -> None:
    with nm.start_run("missing") as run, pytest.raises(StoreError) as info:
        nm.log_artifact("no_such_model.pkl")
    message = str(info.value)
    assert "no_such_model.pkl" in message
    assert "\n" not in message
    assert doc_of(ws, run)["artifacts"] == []
    assert doc_of(ws, run)["status"] == "finished"


def test_environment_is_recorded_and_kept_by_gc(ws: Workspace) -> None:
    with nm.start_run("env-ref") as run:
        pass
    env = doc_of(ws, run)["env"]
    assert env["python"].count(".") == 2
    assert env["packages"] in doc_of(ws, run)["refs"]
    packages = json.loads(ws.objects.read_bytes(env["packages"]))
    assert "pandas" in packages["packages"]
    assert "python" in packages["system"]
    nm.gc(grace_s=0)
    assert ws.objects.has(env["packages"])
    assert doc_of(ws, run)["proc"]["pid"] == os.getpid()


def test_seed_reaches_torch_when_the_kernel_imported_it(ws: Workspace, monkeypatch) -> None:
    """torch is seeded only when already imported (never imported for the user)."""
    import sys
    import types

    seen = []
    fake = types.ModuleType("torch")
    fake.manual_seed = seen.append
    monkeypatch.setitem(sys.modules, "torch", fake)
    with nm.start_run("torch-seeded", seed=11) as run:
        pass
    assert seen == [11]
    assert doc_of(ws, run)["seeds"] == {"random": 11, "numpy": 11, "torch": 11}
    monkeypatch.delitem(sys.modules, "torch")
    with nm.start_run("no-torch", seed=11) as run:
        pass
    assert "torch" not in doc_of(ws, run)["seeds"]


@pytest.mark.parametrize("step", [2**63, 2**64 + 5, 10**30])
def test_steps_beyond_int64_are_rejected_naming_the_metric(ws: Workspace, step: int) -> None:
    with nm.start_run("huge-step") as run:
        with pytest.raises(MetricValueError, match=r"step of metric 'loss' must be at most"):
            nm.log_metric("loss", 0.5, step=step)
        nm.log_metric("loss", 0.25, step=2**63 - 1)  # the largest int64 is fine
        with pytest.raises(MetricValueError, match=r"metric 'loss' is at step 2\*\*63-1"):
            nm.log_metric("loss", 0.125)  # the next automatic step would not fit
    assert series_of(run.run_id)["loss"] == [(2**63 - 1, 0.25)]
    # every view still reads the run
    assert nm.runs()["metrics.loss"].tolist() == [0.25]
    detail = nm.get_run(run.run_id)
    assert detail.to_dict()["series"]["loss"][0][0] == 2**63 - 1
    assert "loss" in str(detail)
    assert "huge-step" in str(nm.compare(run.run_id))
