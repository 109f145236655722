"""The baseline of the data a registered model version was trained on: the run's data, the
data given at registration, folders, several datasets, and data missing from the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from monitor.baseline_frames import people

import nb_mlops as nm
from nb_mlops.errors import ModelNotFound
from nb_mlops.monitor.errors import MonitorError
from nb_mlops.monitor.profile import Baseline
from nb_mlops.monitor.trainingdata import baseline_for_model


@pytest.fixture
def trained(project: Path, ws):
    """models:/clf/1, fitted in a run that read data/train.csv version 1."""
    from sklearn.linear_model import LogisticRegression

    (project / "data").mkdir()
    frame = people(300)
    frame.to_csv(project / "data" / "train.csv", index=False)
    assert nm.snapshot("data/train.csv").snapshot.version == 1
    with nm.start_run("fit", data=["data/train.csv"]):
        model = LogisticRegression(max_iter=200).fit(frame[["income", "age"]], frame["member"])
        version = nm.register_model("clf", model)
    return version, frame


def test_the_baseline_of_the_data_a_model_was_trained_on(trained, project: Path, ws) -> None:
    version, frame = trained
    # the workspace file moves on: the baseline still reads version 1 from the cache
    people(50, seed=7).to_csv(project / "data" / "train.csv", index=False)
    b = baseline_for_model("models:/clf/1", ws)
    assert b.rows == 300 and b.names == list(frame.columns)
    assert b.column("income").min == pytest.approx(frame["income"].min())
    assert b.column("kids").type == "integral" and b.column("kids").completeness == 0.9
    assert b.source == {
        "model": "models:/clf/1",
        "run_id": version.run_id,
        "run_name": "fit",
        "dataset": "data/train.csv",
        "version": 1,
        "md5": version.data[0]["md5"],
        "file": None,
    }
    assert "models:/clf/1, trained on data/train.csv version 1" in b.to_text()
    assert Baseline.from_dict(b.to_dict()) == b
    assert baseline_for_model(version).source == b.source  # a ModelVersion, the default store
    assert len(b.check(frame)) == 0


def test_a_model_version_without_training_data_is_a_clear_error(trained, project: Path) -> None:
    model = trained[0].load()
    nm.register_model("bare", model)
    with pytest.raises(MonitorError, match=r"models:/bare/1 was registered without a run and"):
        baseline_for_model("models:/bare/1")
    with nm.start_run("no-data") as run:
        nm.register_model("nodata", model)
    with pytest.raises(MonitorError, match=rf"run no-data \({run.run_id}\), which made "):
        baseline_for_model("models:/nodata@latest")
    with pytest.raises(ModelNotFound, match="no model named 'nope'"):
        baseline_for_model("models:/nope/1")


def test_data_given_at_registration_counts_when_there_is_no_run(trained, project: Path) -> None:
    people(80, seed=2).to_parquet(project / "extra.parquet")
    nm.register_model("pq", trained[0].load(), data=["extra.parquet"])
    b = baseline_for_model("models:/pq/1")
    assert b.rows == 80 and b.source["dataset"] == "extra.parquet" and b.source["run_id"] is None


def test_folders_and_files_that_are_not_tables(trained, project: Path) -> None:
    model = trained[0].load()
    folder = project / "tables"
    folder.mkdir()
    people(30, seed=1).to_csv(folder / "a.csv", index=False)
    people(40, seed=2).to_csv(folder / "b.csv", index=False)
    (folder / "README.txt").write_text("two tables\n")
    with nm.start_run("folder", data=["tables"]):
        nm.register_model("fold", model)
    with pytest.raises(MonitorError, match=r"tables \(version 1\) is a folder of 2 tables"):
        baseline_for_model("models:/fold/1")
    b = baseline_for_model("models:/fold/1", path="tables/b.csv")
    assert b.rows == 40 and b.source["file"] == "b.csv"
    with pytest.raises(MonitorError, match=r"holds no file c.csv"):
        baseline_for_model("models:/fold/1", path="tables/c.csv")
    with pytest.raises(MonitorError, match=r"tables/README.txt is not a tabular file"):
        baseline_for_model("models:/fold/1", path="tables/README.txt")

    (project / "blob.bin").write_bytes(b"\x00\x01")
    with nm.start_run("binary", data=["blob.bin"]):
        nm.register_model("bin", model)
    with pytest.raises(MonitorError, match=r"blob.bin \(version 1\) is not a tabular file"):
        baseline_for_model("models:/bin/1")


def test_several_datasets_need_path(trained, project: Path) -> None:
    model = trained[0].load()
    people(20, seed=4).to_csv(project / "test.csv", index=False)
    with nm.start_run("both", data=["data/train.csv", "test.csv"]):
        nm.register_model("both", model)
    with pytest.raises(MonitorError, match=r"trained on several datasets .*name one with path="):
        baseline_for_model("models:/both/1")
    assert baseline_for_model("models:/both/1", path="test.csv").rows == 20
    with pytest.raises(MonitorError, match=r"was not trained on other.csv"):
        baseline_for_model("models:/both/1", path="other.csv")


def test_data_missing_from_the_cache_says_how_to_fetch_it(trained, ws) -> None:
    version, _ = trained
    md5 = version.data[0]["md5"]
    ws.objects.path_of(md5).unlink()
    with pytest.raises(
        MonitorError, match=r"not in this store's cache: fetch it with `%track pull"
    ):
        baseline_for_model("models:/clf/1", ws)
