"""Fingerprints of fitted models: equal across round trips, different when the fit differs."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import nb_mlops.registry.fingerprint as fp_module
from nb_mlops.registry.fingerprint import FINGERPRINT_SCHEME, fingerprint, fingerprint_bytes

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X, Y = make_classification(n_samples=200, n_features=6, n_informative=4, random_state=0)
IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def _roundtrips(obj: object, tmp_path: Path) -> list[object]:
    """The object back from pickle, a joblib file and deepcopy."""
    joblib.dump(obj, tmp_path / "model.joblib")
    return [
        pickle.loads(pickle.dumps(obj)),
        joblib.load(tmp_path / "model.joblib"),
        copy.deepcopy(obj),
    ]


# -- basics ---------------------------------------------------------------------------------------


def test_scheme_and_format() -> None:
    assert FINGERPRINT_SCHEME == 1
    value = fingerprint({"a": 1})
    assert len(value) == 64
    int(value, 16)
    assert fingerprint({"a": 1}) == value


def test_importing_loads_no_ml_library() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('fp', {fp_module.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "heavy = ['numpy', 'torch', 'sklearn', 'xgboost', 'lightgbm', 'pandas']\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_scalars_and_containers_are_type_tagged() -> None:
    values = [None, True, 1, 1.0, 1j, "1", b"1", bytearray(b"1"), [1], (1,), {1}, frozenset({1})]
    assert len({fingerprint(v) for v in values}) == len(values)
    assert fingerprint(0.0) != fingerprint(-0.0)
    assert fingerprint(10**5000) != fingerprint(10**5000 + 1)  # no str() digit limit
    assert fingerprint(memoryview(b"ab")) != fingerprint(memoryview(b"ac"))


def test_dict_and_set_order_do_not_matter() -> None:
    assert fingerprint({"a": 1, "b": [2, 3]}) == fingerprint({"b": [2, 3], "a": 1})
    assert fingerprint({"a": 1, "b": 2}) != fingerprint({"a": 2, "b": 1})
    assert fingerprint({"x", "y", "z"}) == fingerprint({"z", "y", "x"})


def test_fingerprint_bytes_is_tagged_apart() -> None:
    data = b"model bytes"
    assert len(fingerprint_bytes(data)) == 64
    assert fingerprint_bytes(data) != fingerprint(data)
    assert fingerprint_bytes(data) == fingerprint_bytes(bytes(data))
    assert fingerprint_bytes(data) != fingerprint_bytes(data + b"!")


def test_cycles_terminate_and_round_trip() -> None:
    items: list[object] = [1]
    items.append(items)
    table: dict[str, object] = {}
    table["self"] = table
    for obj in (items, table):
        assert fingerprint(obj) == fingerprint(pickle.loads(pickle.dumps(obj)))
    holder = _Holder(5)
    holder.me = holder
    assert fingerprint(holder) == fingerprint(copy.deepcopy(holder))


def test_deep_nesting_is_cut_not_crashing() -> None:
    root: list[object] = []
    node = root
    for _ in range(5000):
        child: list[object] = []
        node.append(child)
        node = child
    assert len(fingerprint(root)) == 64


class _Holder:
    """A plain object for the general walk."""

    def __init__(self, value: object) -> None:
        self.value = value


class _Unreadable:
    """An object whose pickle state cannot even be asked for."""

    def __reduce_ex__(self, protocol: object) -> object:
        raise RuntimeError("no")


def test_unpicklable_attributes_still_fingerprint() -> None:
    a, b = _Holder(1), _Holder(2)
    a.lock = b.lock = threading.Lock()
    a.gen = (i for i in range(3))
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint(a) == fingerprint(a)
    assert len(fingerprint(_Unreadable())) == 64
    assert fingerprint(_Holder(_Unreadable())) == fingerprint(_Holder(_Unreadable()))


def test_functions_and_classes_by_name() -> None:
    assert fingerprint(np.log) != fingerprint(np.exp)
    assert fingerprint(len) != fingerprint(max)
    assert fingerprint(_Holder) == fingerprint(pickle.loads(pickle.dumps(_Holder)))
    assert fingerprint(_roundtrips) != fingerprint(_Holder)


# -- numpy ----------------------------------------------------------------------------------------


def test_numpy_arrays() -> None:
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a.T) == fingerprint(np.ascontiguousarray(a.T))
    assert fingerprint(a) != fingerprint(a.reshape(4, 3))
    assert fingerprint(a) != fingerprint(a.astype(np.float32))
    assert fingerprint(a.astype(">f8")) == fingerprint(a)  # byte order is not content
    assert fingerprint(np.float64(1.0)) != fingerprint(1.0)
    objects = np.array(["a", None, 3], dtype=object)
    assert fingerprint(objects) == fingerprint(pickle.loads(pickle.dumps(objects)))
    assert fingerprint(objects) != fingerprint(np.array(["a", None, 4], dtype=object))


def test_structured_array_padding_is_ignored() -> None:
    dtype = np.dtype([("a", "<i4"), ("b", "<f8")], align=True)  # 4 padding bytes after "a"
    clean = np.zeros(3, dtype)
    dirty = clean.copy()
    dirty.view(np.uint8).reshape(3, -1)[:, 4:8] = 7
    assert fingerprint(clean) == fingerprint(dirty)
    dirty["b"][0] = 1.5
    assert fingerprint(clean) != fingerprint(dirty)


def test_numpy_random_generators_by_state() -> None:
    for make in (np.random.RandomState, np.random.default_rng):
        gen = make(0)
        assert fingerprint(gen) == fingerprint(pickle.loads(pickle.dumps(gen)))
        assert fingerprint(gen) != fingerprint(make(1))
        before = fingerprint(gen)
        gen.random()
        assert fingerprint(gen) != before


# -- scikit-learn ---------------------------------------------------------------------------------

SKLEARN_MODELS = {
    "random_forest": lambda: RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0),
    "logistic": lambda: LogisticRegression(max_iter=500),
    "pipeline": lambda: Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]),
    "hist_gb": lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
}


@pytest.fixture(scope="module")
def fitted() -> dict[str, object]:
    return {name: make().fit(X, Y) for name, make in SKLEARN_MODELS.items()}


@pytest.mark.parametrize("name", list(SKLEARN_MODELS))
def test_sklearn_round_trips_keep_fingerprint(
    name: str, fitted: dict[str, object], tmp_path: Path
) -> None:
    model = fitted[name]
    expected = fingerprint(model)
    for back in _roundtrips(model, tmp_path):
        assert fingerprint(back) == expected
    assert fingerprint(joblib.load(tmp_path / "model.joblib", mmap_mode="r")) == expected


@pytest.mark.parametrize("name", list(SKLEARN_MODELS))
def test_sklearn_refit_is_reproducible(name: str, fitted: dict[str, object]) -> None:
    assert fingerprint(SKLEARN_MODELS[name]().fit(X, Y)) == fingerprint(fitted[name])


def test_sklearn_non_predictive_settings_are_ignored(fitted: dict[str, object]) -> None:
    forest = copy.deepcopy(fitted["random_forest"])
    expected = fingerprint(forest)
    forest.set_params(n_jobs=4, verbose=2, warm_start=True)
    assert fingerprint(forest) == expected
    pipeline = copy.deepcopy(fitted["pipeline"])
    expected = fingerprint(pipeline)
    pipeline.set_params(verbose=True, memory=None, scale__copy=False)
    assert fingerprint(pipeline) == expected
    hist = copy.deepcopy(fitted["hist_gb"])
    expected = fingerprint(hist)
    hist._bin_mapper.n_threads += 3  # the machine's core count, recorded at fit time
    assert fingerprint(hist) == expected
    unfitted = fingerprint(RandomForestClassifier(n_jobs=1))
    assert fingerprint(RandomForestClassifier(n_jobs=8, verbose=1)) == unfitted


def test_sklearn_different_seed_changes_the_forest(fitted: dict[str, object]) -> None:
    other = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=1).fit(X, Y)
    assert fingerprint(other) != fingerprint(fitted["random_forest"])
    # The Cython trees themselves are covered, not just the settings around them.
    trees = [est.tree_ for est in fitted["random_forest"].estimators_]
    assert fingerprint(trees[0]) == fingerprint(pickle.loads(pickle.dumps(trees[0])))
    assert fingerprint(trees[0]) != fingerprint(trees[1])


def test_sklearn_different_data_or_settings_change_fingerprint(fitted: dict[str, object]) -> None:
    logistic = fitted["logistic"]
    assert fingerprint(LogisticRegression(max_iter=500).fit(X[:150], Y[:150])) != fingerprint(
        logistic
    )
    assert fingerprint(LogisticRegression(C=0.01, max_iter=500).fit(X, Y)) != fingerprint(logistic)
    assert fingerprint(LogisticRegression(C=0.5)) != fingerprint(LogisticRegression(C=2.0))
    hist = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(IRIS_X, IRIS_Y)
    assert fingerprint(hist) != fingerprint(fitted["hist_gb"])


# -- torch ----------------------------------------------------------------------------------------


def _torch_net(seed: int):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 2)
    )


def test_torch_module_equals_its_state_dict_and_round_trips(tmp_path: Path) -> None:
    import torch

    net = _torch_net(0)
    expected = fingerprint(net)
    assert fingerprint(net.state_dict()) == expected
    torch.save(net.state_dict(), tmp_path / "state.pt")
    fresh = _torch_net(7)
    assert fingerprint(fresh) != expected
    fresh.load_state_dict(torch.load(tmp_path / "state.pt"))
    assert fingerprint(fresh) == expected
    assert fingerprint(torch.load(tmp_path / "state.pt")) == expected
    torch.save(net, tmp_path / "model.pt")
    assert fingerprint(torch.load(tmp_path / "model.pt", weights_only=False)) == expected
    assert fingerprint(pickle.loads(pickle.dumps(net))) == expected
    assert fingerprint(copy.deepcopy(net)) == expected


def test_torch_weights_decide() -> None:
    import torch

    net = _torch_net(0)
    expected = fingerprint(net)
    assert fingerprint(_torch_net(1)) != expected
    with torch.no_grad():
        net[0].weight[0, 0] += 1e-6
    assert fingerprint(net) != expected


def test_torch_tensors() -> None:
    import torch

    base = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    half = base.to(torch.bfloat16)
    assert fingerprint(half) == fingerprint(half.clone())
    assert fingerprint(half) != fingerprint(base)
    assert fingerprint(half) != fingerprint(half.view(torch.float16))  # same bytes, other dtype
    assert fingerprint(base.t()) == fingerprint(base.t().contiguous())
    assert fingerprint(torch.nn.Parameter(base)) == fingerprint(base)
    assert fingerprint(torch.eye(3).to_sparse()) == fingerprint(torch.eye(3))
    assert fingerprint(torch.tensor([True, False])) != fingerprint(torch.tensor([1, 0]))


# -- xgboost --------------------------------------------------------------------------------------


def _xgb_model(seed: int = 0, data=X):
    import xgboost as xgb

    model = xgb.XGBClassifier(
        n_estimators=5, max_depth=3, subsample=0.7, random_state=seed, n_jobs=1
    )
    return model.fit(data, Y)


@pytest.mark.parametrize("ext", ["json", "ubj"])
def test_xgboost_round_trips(ext: str, tmp_path: Path) -> None:
    import xgboost as xgb

    model = _xgb_model()
    expected = fingerprint(model)
    assert fingerprint(model.get_booster()) == expected
    path = str(tmp_path / f"model.{ext}")
    model.save_model(path)  # adds a "scikit_learn" attribute that a plain Booster keeps
    wrapper = xgb.XGBClassifier()
    wrapper.load_model(path)
    assert fingerprint(wrapper) == expected
    assert fingerprint(xgb.Booster(model_file=path)) == expected
    booster_path = str(tmp_path / f"booster.{ext}")
    model.get_booster().save_model(booster_path)
    booster = xgb.Booster()
    booster.load_model(booster_path)
    assert fingerprint(booster) == expected
    for back in _roundtrips(model, tmp_path):
        assert fingerprint(back) == expected


def test_xgboost_fit_differences() -> None:
    expected = fingerprint(_xgb_model())
    assert fingerprint(_xgb_model(seed=1)) != expected  # subsample < 1: the seed shapes the trees
    assert fingerprint(_xgb_model(data=X * 1.5 + 0.1)) != expected
    assert fingerprint(_xgb_model().set_params(n_jobs=3)) == expected


# -- lightgbm -------------------------------------------------------------------------------------


def _lgb_model(data=X, **params):
    import lightgbm as lgb

    settings = {"n_estimators": 5, "num_leaves": 4, "verbose": -1, "n_jobs": 1, **params}
    return lgb.LGBMClassifier(**settings).fit(data, Y)


def test_lightgbm_round_trips(tmp_path: Path) -> None:
    import lightgbm as lgb

    model = _lgb_model()
    expected = fingerprint(model)
    assert fingerprint(model.booster_) == expected
    path = tmp_path / "model.txt"
    model.booster_.save_model(str(path))
    assert fingerprint(lgb.Booster(model_file=str(path))) == expected
    assert fingerprint(lgb.Booster(model_str=model.booster_.model_to_string())) == expected
    for back in _roundtrips(model, tmp_path):
        assert fingerprint(back) == expected


def test_lightgbm_fit_differences() -> None:
    expected = fingerprint(_lgb_model())
    assert fingerprint(_lgb_model(data=X * 1.5 + 0.1)) != expected
    assert fingerprint(_lgb_model(learning_rate=0.3)) != expected
    assert fingerprint(_lgb_model(n_jobs=2)) == expected  # num_threads sits in the dropped tail


# -- mixed ----------------------------------------------------------------------------------------


def test_bundle_of_models_round_trips(fitted: dict[str, object], tmp_path: Path) -> None:
    bundle = {"net": _torch_net(0), "forest": fitted["random_forest"], "lgb": _lgb_model()}
    expected = fingerprint(bundle)
    for back in _roundtrips(bundle, tmp_path):
        assert fingerprint(back) == expected


def test_pandas_objects_hash_by_data_not_layout() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": pd.Categorical(list("uvu"))})
    assert fingerprint(frame) == fingerprint(frame.copy())
    assert fingerprint(frame) == fingerprint(pickle.loads(pickle.dumps(frame)))
    changed = frame.copy()
    changed.loc[0, "a"] = 9
    assert fingerprint(changed) != fingerprint(frame)
    reordered = frame.copy()
    reordered["c"] = reordered["c"].cat.reorder_categories(["v", "u"])
    assert fingerprint(reordered) != fingerprint(frame)  # the codes mean other values
    assert fingerprint(frame["a"]) == fingerprint(frame.copy()["a"])
    assert fingerprint(frame.index) != fingerprint(frame.set_index("b").index)


def test_a_grid_search_fitted_twice_is_the_same_model() -> None:
    from sklearn.model_selection import GridSearchCV

    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.1, 1.0]}
    first = GridSearchCV(LogisticRegression(max_iter=300), grid).fit(X, y)
    again = GridSearchCV(LogisticRegression(max_iter=300), grid).fit(X, y)
    assert fingerprint(first) == fingerprint(again)  # fit and score timings left out
    other = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.01, 1.0]}).fit(X, y)
    assert fingerprint(other) != fingerprint(first)
