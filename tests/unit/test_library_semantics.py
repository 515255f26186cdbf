"""What the tracer assumes of code it does not run itself, tested directly: the static purity judgement of
notebook functions (tracing/purity.py), the library semantics written as data (tracing/specs.py), and the
random-forest warm start (tracing/warmstart.py), whose grown forest must be the forest a plain fit makes."""
from __future__ import annotations

import types

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor

from collab_reuse.tracing import purity, specs, warmstart

matplotlib.use("Agg")


# -- purity ------------------------------------------------------------------------------------

def pure(frame, column):
    out = frame.copy()
    out[column] = out[column] * 2
    return out


def rebinds_then_appends(items):
    items = list(items)
    items.append(1)
    return items


def appends_to_argument(items):
    items.append(1)
    return items


def writes_a_global(x):
    global COUNTER
    COUNTER = x
    return x


def opens_a_file(path):
    with open(path) as f:
        return f.read()


def shows_a_plot(frame):
    import matplotlib.pyplot as plt
    plt.plot(frame)
    return frame


def drops_in_place(frame):
    frame.drop(columns=["a"], inplace=True)
    return frame


def sets_an_attribute_of_an_argument(model, value):
    model.coef_ = value
    return model


def generates(frame):
    yield frame


def samples_from_the_global_random(frame):
    import random
    return frame.iloc[random.sample(range(len(frame)), 2)]  # (its state is an input: ``randomness``)


def draws_os_entropy(frame):
    import random
    return frame.iloc[random.SystemRandom().sample(range(len(frame)), 2)]


class Transformer:
    def fit(self, X, y=None):
        self.mean_ = X.mean()
        return self


@pytest.mark.parametrize("fn, expected", [
    (pure, None),
    (rebinds_then_appends, None),
    (appends_to_argument, "it calls items.append(), which changes an outside object"),
    (writes_a_global, "it declares global or nonlocal names"),
    (opens_a_file, "it calls open()"),
    (shows_a_plot, "it calls plt.plot()"),
    (drops_in_place, "it changes frame in place"),
    (sets_an_attribute_of_an_argument, "it changes model in place"),
    (generates, "it is a generator"),
    (samples_from_the_global_random, None),
    (draws_os_entropy, "it calls random.SystemRandom()"),
])
def test_static_impurity_names_what_forbids_reuse(fn, expected):
    assert purity.static_impurity(fn) == expected


def test_a_method_may_change_its_own_instance_but_not_an_argument():
    assert purity.static_impurity(Transformer.fit, method=True) is None
    assert purity.static_impurity(Transformer.fit, method=False) == "it changes self in place"


def test_a_function_without_source_is_not_judged_pure():
    fn = types.FunctionType(compile("def f(x):\n    return x\n", "<no file>", "exec").co_consts[0], {})
    assert purity.static_impurity(fn) == "its source is not available"


def _appending_helper(items):
    items.append(1)


def _impure_callback(env):
    _appending_helper(env)


def _pure_helper(x):
    return x + 1


def _pure_callback(env):
    return _pure_helper(env)


def test_impurity_is_found_through_the_notebook_functions_a_callback_calls():
    for fn in (_appending_helper, _impure_callback, _pure_helper, _pure_callback):
        fn.__module__ = "__main__"  # as if defined in a cell
    reason = purity.reachable_impurity(_impure_callback)
    assert reason is not None and "_appending_helper" in reason and "items.append()" in reason
    assert purity.reachable_impurity(_pure_callback) is None
    assert purity.reachable_impurity(len) is None  # not notebook code: the library's own


# -- specs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, args, kwargs, effect", [
    ("to_csv", ("out.csv",), {}, True),
    ("to_csv", (), {}, False),                 # returns the text, writes nothing
    ("to_csv", (), {"path_or_buf": "x"}, True),
    ("to_numpy", (), {}, False),
    ("to_parquet", ("x",), {}, True),
    ("plot", (), {}, True),
    ("savefig", ("f.png",), {}, True),
    ("info", (), {}, True),
    ("seed", (0,), {}, True),
    ("head", (), {}, False),
    ("groupby", ("k",), {}, False),
])
def test_is_effect(name, args, kwargs, effect):
    assert specs.is_effect(name, args, kwargs) is effect


def test_a_call_given_something_to_draw_on_draws():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        assert specs.draws_on((np.arange(3),), {"plot": plt})
        assert specs.draws_on((), {"ax": ax})
        assert not specs.draws_on((np.arange(3), "norm"), {"sparams": (1,)})
    finally:
        plt.close(fig)


def test_what_changes_in_place():
    assert specs.mutated_receiver("fillna", {"inplace": True})
    assert not specs.mutated_receiver("fillna", {})
    assert not specs.mutated_receiver("fillna", {"inplace": False})
    assert specs.mutated_receiver("fit", {}) and specs.mutated_receiver("__setitem__", {})
    assert specs.mutated_first_arg("numpy.random", "shuffle")
    assert not specs.mutated_first_arg("pandas", "shuffle")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
@settings(max_examples=200)
def test_every_reader_is_a_source_and_no_writer_is(suffix):
    assert specs.is_source("read_" + suffix)
    assert not specs.is_source("to_" + suffix)


# -- warm start --------------------------------------------------------------------------------

def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def test_only_seeded_growable_forests_are_eligible():
    assert warmstart.eligible("fit", RandomForestClassifier(random_state=0))
    assert not warmstart.eligible("predict", RandomForestClassifier(random_state=0))
    assert not warmstart.eligible("fit", RandomForestClassifier())               # random_state=None
    assert not warmstart.eligible("fit", RandomForestClassifier(random_state=np.random.RandomState(0)))
    assert not warmstart.eligible("fit", RandomForestClassifier(random_state=0, warm_start=True))
    assert not warmstart.eligible("fit", GradientBoostingClassifier(random_state=0))


def test_the_key_ignores_only_what_does_not_change_the_first_trees():
    X, y = _data()
    digest = lambda v: str(id(v))  # (the same arrays in every call below)
    base = warmstart.key(RandomForestClassifier(n_estimators=10, random_state=0), (X, y), {}, digest)
    assert warmstart.key(RandomForestClassifier(n_estimators=50, random_state=0, n_jobs=2, verbose=0),
                         (X, y), {}, digest) == base
    assert warmstart.key(RandomForestClassifier(n_estimators=10, random_state=0, max_depth=3),
                         (X, y), {}, digest) != base
    assert warmstart.key(RandomForestClassifier(n_estimators=10, random_state=1), (X, y), {}, digest) != base


@pytest.mark.parametrize("forest", [RandomForestClassifier, RandomForestRegressor])
def test_a_grown_forest_is_the_forest_a_plain_fit_makes(forest):
    X, y = _data()
    small = forest(n_estimators=8, random_state=3).fit(X, y)
    plain = forest(n_estimators=20, random_state=3).fit(X, y)
    grown = forest(n_estimators=20, random_state=3)
    params = warmstart.grow_from(grown, small)
    grown.fit(X, y)
    warmstart.finish(grown, params)
    predict = getattr(plain, "predict_proba", plain.predict)
    assert np.array_equal(predict(X), getattr(grown, predict.__name__)(X))
    assert grown.get_params() == plain.get_params() and len(grown.estimators_) == 20
    assert all(np.array_equal(a.tree_.threshold, b.tree_.threshold)
               for a, b in zip(plain.estimators_, grown.estimators_))


def sorts_with_numpy(frame):
    return np.sort(frame["a"].to_numpy())  # numpy's function: np itself is not sorted


def sorts_an_argument(items):
    items.sort()
    return items


def test_a_module_function_named_like_a_mutating_method_is_not_an_effect():
    assert purity.static_impurity(sorts_with_numpy) is None
    assert purity.static_impurity(sorts_an_argument) == "it calls items.sort(), which changes an outside object"
