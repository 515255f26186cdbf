"""LightGBM trained on a stored binned matrix gives the model binning would have given, byte for byte.

Real LightGBM, no kernel: the hook is driven by a handler that keeps the binned matrix of one
training and hands it to the next, as the tracer does through the store.
"""
from __future__ import annotations

import weakref

import numpy as np
import pandas as pd
import pytest

lgb = pytest.importorskip("lightgbm")

from collab_reuse.tracing import binned  # noqa: E402

QUIET = dict(n_jobs=1, random_state=3, deterministic=True, force_col_wise=True, verbose=-1)


class KeepThenLoad:
    """The tracer's part, in memory: bin and keep the first time, load the kept one after. A
    validation matrix's key holds its training matrix's key."""

    def __init__(self):
        self.kept: dict[tuple, tuple] = {}
        self.keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.calls: list[str] = []

    def __call__(self, dataset, mat, params_str, reference):
        key = binned.key_parameters(params_str) + (mat.tobytes(),)
        role = "training"
        if reference is not None:
            key, role = key + self.keys[reference], "validation"
        self.keys[dataset] = key
        if key in self.kept and binned.load_binned(dataset, self.kept[key], params_str, reference):
            self.calls.append(f"{role} loaded")
            return
        binned.bin_matrix(dataset, mat, params_str, reference)
        self.kept[key] = binned.binary_of(dataset, params_str)
        self.calls.append(f"{role} binned")


BINNED_THEN_LOADED = ["training binned", "validation binned", "training loaded", "validation loaded"]


@pytest.fixture
def hook():
    assert binned.install()
    handler = KeepThenLoad()
    yield handler
    binned.uninstall()


def _data(n=600, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8)).astype(dtype)
    X[rng.random(X.shape) < 0.05] = np.nan
    X[:, 3] = np.round(X[:, 3] * 2)
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=n) > 0.8).astype(int)
    return X, y


def _fit(X, y, handler=None, **params):
    model = lgb.LGBMClassifier(n_estimators=25, **{**QUIET, **params})
    if handler is None:
        return model.fit(X, y)
    with binned.handling(handler):
        return model.fit(X, y, eval_set=[(X[:100], y[:100])])


def _same_model(a, b):
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
    assert a.evals_result_ == b.evals_result_  # (also scored on the validation matrix alike)
    np.testing.assert_array_equal(a.predict_proba(_data(seed=9)[0]), b.predict_proba(_data(seed=9)[0]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_retrained_model_on_the_loaded_matrix_is_the_cold_model(hook, dtype):
    X, y = _data(dtype=dtype)
    _fit(X, y, hook, learning_rate=0.1, class_weight="balanced")
    warm = _fit(X, y, hook, learning_rate=0.05, num_leaves=7, class_weight="balanced")
    assert hook.calls == BINNED_THEN_LOADED
    binned.uninstall()
    _same_model(warm, lgb.LGBMClassifier(n_estimators=25, learning_rate=0.05, num_leaves=7, class_weight="balanced",
                                         **QUIET).fit(X, y, eval_set=[(X[:100], y[:100])]))


def test_pandas_input_with_a_categorical_column(hook):
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    frame["city"] = pd.Categorical(np.array(["a", "b", "c"])[np.arange(len(frame)) % 3])
    _fit(frame, y, hook, learning_rate=0.1)
    warm = _fit(frame, y, hook, learning_rate=0.2)
    assert hook.calls == BINNED_THEN_LOADED
    binned.uninstall()
    cold = lgb.LGBMClassifier(n_estimators=25, learning_rate=0.2, **QUIET).fit(frame, y,
                                                                               eval_set=[(frame[:100], y[:100])])
    assert warm.booster_.model_to_string() == cold.booster_.model_to_string()
    assert warm.evals_result_ == cold.evals_result_


def test_changed_dataset_parameters_are_refused_silently(hook, capfd):
    X, y = _data()
    _fit(X, y, hook, max_bin=255)
    stored = next(iter(hook.kept.values()))
    params = stored[0].replace("max_bin=255", "max_bin=63")
    dataset = lgb.Dataset(X, label=y)
    assert not binned.load_binned(dataset, stored, params)
    assert dataset._handle is None
    out, err = capfd.readouterr()
    assert "LightGBM" not in out + err


def test_a_damaged_binary_is_refused_silently(hook, capfd):
    X, y = _data()
    _fit(X, y, hook)
    params, data = next(iter(hook.kept.values()))
    dataset = lgb.Dataset(X, label=y)
    assert not binned.load_binned(dataset, (params, np.zeros(64, np.uint8)), params)
    assert not binned.load_binned(dataset, "not a stored matrix", params)
    text = np.frombuffer(b"1,0.5,0.25\n0,0.1,0.2\n1,0.3,0.9\n", dtype=np.uint8)  # LightGBM would read it as text data
    assert not binned.load_binned(dataset, (params, text), params)
    assert binned.load_binned(dataset, (params, data), params)
    out, err = capfd.readouterr()
    assert "LightGBM" not in out + err


def test_a_logging_training_is_left_alone(hook):
    X, y = _data()
    _fit(X, y, hook, verbose=0)
    assert hook.calls == []


def test_without_a_handler_binning_is_lightgbms_own(hook):
    X, y = _data()
    a = _fit(X, y)
    binned.uninstall()
    _same_model(a, _fit(X, y))
    assert hook.calls == []


def test_key_keeps_dataset_parameters_and_drops_training_ones():
    a = binned.key_parameters("learning_rate=0.1 max_bin=255 num_leaves=31 seed=3 verbose=-1")
    b = binned.key_parameters("seed=3 verbose=-1 num_leaves=63 learning_rate=0.05 max_bin=255")
    assert a == b == ("max_bin=255", "seed=3", "verbose=-1")
    assert binned.key_parameters("max_bin=63") != binned.key_parameters("max_bin=255")
    assert binned.key_parameters("min_data_in_leaf=5") != binned.key_parameters("min_data_in_leaf=20")


@pytest.mark.parametrize("params,silent", [("verbose=-1", True), ("verbosity=-2 max_bin=3", True),
                                           ("", False), ("verbose=0", False), ("verbose=x", False),
                                           ("verbose=-1 verbosity=1", False), ("verbosity=1 verbose=-1", False)])
def test_only_trainings_that_log_nothing_qualify(params, silent):
    assert binned.silent(params) is silent


def test_uninstall_gives_lightgbm_its_own_method_back():
    from lightgbm import basic

    own = basic.Dataset._Dataset__init_from_np2d
    assert binned.install() and binned.install()  # once only: a second install keeps the first original
    assert basic.Dataset._Dataset__init_from_np2d is not own
    binned.uninstall()
    assert basic.Dataset._Dataset__init_from_np2d is own


def test_a_validation_matrix_binned_against_another_training_matrix_is_not_loaded(hook):
    X, y = _data()
    _fit(X, y, hook)
    other = _data(seed=1)[0]
    model = lgb.LGBMClassifier(n_estimators=25, **QUIET)
    with binned.handling(hook):
        model.fit(other, y, eval_set=[(X[:100], y[:100])])  # same validation matrix, other training matrix
    assert hook.calls == ["training binned", "validation binned", "training binned", "validation binned"]
    binned.uninstall()
    cold = lgb.LGBMClassifier(n_estimators=25, **QUIET).fit(other, y, eval_set=[(X[:100], y[:100])])
    _same_model(model, cold)

