"""Fitted arrays of a model as a plain .npz (records/params.py): what is taken, and reading back
without unpickling."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from nb_mlops.records.params import fitted_arrays, read_npz, write_npz


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


def round_trip(arrays: dict) -> dict:
    buf = io.BytesIO()
    write_npz(arrays, buf)
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_linear_model_fitted_attributes_only(iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    model = LogisticRegression(C=0.5, max_iter=500).fit(X, y)
    arrays = fitted_arrays(model)
    assert set(arrays) == {"classes_", "coef_", "intercept_", "n_features_in_", "n_iter_"}
    np.testing.assert_array_equal(arrays["coef_"], model.coef_)
    back = round_trip(arrays)
    assert back["coef_"].shape == (3, 4)
    np.testing.assert_array_equal(back["coef_"], model.coef_)
    assert int(back["n_features_in_"]) == 4  # settings such as C (no trailing _) are not taken


def test_forest_trees_become_node_arrays(iris):
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    a = fitted_arrays(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y))
    b = fitted_arrays(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y))
    c = fitted_arrays(RandomForestClassifier(n_estimators=3, random_state=1).fit(X, y))
    assert "estimators_.2.tree_.nodes.threshold" in a
    assert a["estimators_.0.tree_.nodes.threshold"].dtype == np.float64
    assert a["estimators_.0.tree_.values"].ndim == 3
    assert not any(v.dtype.hasobject or v.dtype.names for v in a.values())
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)  # same seed: same arrays
    assert not all(
        np.array_equal(a[k], c[k]) for k in a if k in c and a[k].shape == c[k].shape
    )  # another seed: other trees


def test_gradient_boosting_object_array_of_trees(iris):
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = iris
    arrays = fitted_arrays(GradientBoostingClassifier(n_estimators=2, random_state=0).fit(X, y))
    # estimators_ is a 2-d object array of trees: one key per (stage, class)
    assert {"estimators_.1.2.tree_.nodes.feature", "estimators_.0.0.tree_.values"} <= set(arrays)
    round_trip(arrays)


def test_pipeline_steps_by_name_and_labels_as_text(iris):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, labels)
    arrays = fitted_arrays(model)
    assert "steps.standardscaler.mean_" in arrays
    np.testing.assert_allclose(arrays["steps.standardscaler.mean_"], X.mean(axis=0))
    classes = round_trip(arrays)["steps.logisticregression.classes_"]
    assert classes.dtype.kind == "U"  # object labels become a text array
    assert list(classes) == ["setosa", "versicolor", "virginica"]


def test_search_keeps_results_but_not_timings(iris):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y = iris
    search = GridSearchCV(LogisticRegression(max_iter=500), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    arrays = fitted_arrays(search)
    assert "best_estimator_.coef_" in arrays
    assert "cv_results_.mean_test_score" in arrays
    assert not any(k.endswith(("_time", "_time_")) or "_time." in k for k in arrays)
    round_trip(arrays)


def test_column_transformer_named_tuples(iris):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    X, _ = iris
    ct = ColumnTransformer([("std", StandardScaler(), [0, 1]), ("mm", MinMaxScaler(), [2, 3])])
    arrays = fitted_arrays(ct.fit(X))
    assert "transformers_.std.mean_" in arrays
    assert "transformers_.mm.data_max_" in arrays


def test_torch_module_state_dict_and_bfloat16():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    arrays = fitted_arrays(net)
    assert set(arrays) == set(net.state_dict())
    np.testing.assert_array_equal(arrays["0.weight"], net[0].weight.detach().numpy())
    assert fitted_arrays(net.state_dict()).keys() == arrays.keys()
    half = fitted_arrays(net.to(torch.bfloat16))
    assert half["0.weight"].dtype == np.float32  # numpy has no bfloat16: widened
    back = round_trip(half)
    assert back["1.num_batches_tracked"].dtype == np.int64


def test_other_objects_give_none(iris):
    from sklearn.linear_model import LogisticRegression

    assert fitted_arrays(object()) is None
    assert fitted_arrays({"a": 1}) is None
    assert fitted_arrays(LogisticRegression()) is None  # not fitted: nothing to compare


def test_npz_is_deterministic_and_refuses_objects(tmp_path):
    arrays = {"a": np.arange(5.0), "b.c": np.array(["x", "yy"]), "n": np.asarray(3)}
    one, two = io.BytesIO(), io.BytesIO()
    write_npz(arrays, one)
    write_npz(arrays, two)
    assert one.getvalue() == two.getvalue()  # fixed time stamps: same arrays, same bytes
    with zipfile.ZipFile(io.BytesIO(one.getvalue())) as zf:
        assert zf.namelist() == ["a.npy", "b.c.npy", "n.npy"]
    path = tmp_path / "p.npz"
    path.write_bytes(one.getvalue())
    for source in (str(path), one.getvalue()):
        back = read_npz(source)
        assert list(back["b.c"]) == ["x", "yy"]
        np.testing.assert_array_equal(back["a"], arrays["a"])
    with pytest.raises(ValueError):
        write_npz({"bad": np.array([object()], dtype=object)}, io.BytesIO())
