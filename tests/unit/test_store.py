"""The artifact store: faithful round trips, shared columns, checksums, refusal of what can't be stored."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils import Bunch

from collab_reuse.errors import CorruptArtifact, Unreusable
from collab_reuse.store import ArtifactStore, DiskcacheBlobs, MemoryBlobs, formats, keys
from collab_reuse.store.fidelity import verify_roundtrip


@pytest.fixture(params=["memory", "diskcache"])
def store(request, tmp_path):
    blobs = MemoryBlobs() if request.param == "memory" else DiskcacheBlobs(tmp_path / "blobs")
    yield ArtifactStore(blobs)
    blobs.close()


VALUES = {
    "frame": pd.DataFrame({"a": [1, 2], "s": ["x", None], "c": pd.Categorical(["p", "q"]),
                           "t": pd.to_datetime(["2020-01-01", None]), "n": pd.array([1, None], dtype="Int64")},
                          index=pd.Index([7, 8], name="id")),
    "multiindex": pd.DataFrame({("a", "x"): [1.0], ("b", "y"): [2.0]}),
    "series": pd.Series([1.5, np.nan], name="v"),
    "object_strings": pd.Series(["a", "b"], dtype=object),
    "array": np.arange(12).reshape(3, 4),
    "tuple": (1, "two", 3.0, None, [np.float64(4.5)]),
    "dict": {"auc": 0.75, "n": 3},
    "bunch": Bunch(importances_mean=np.arange(3.0), importances_std=np.ones(3), importances=np.zeros((3, 2))),
    "every dtype": pd.DataFrame({
        **{str(dt): np.arange(3).astype(dt) for dt in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                                     "uint64", "float16", "float32", "float64", "bool")},
        "Int64": pd.array([1, None, 3], dtype="Int64"), "Float64": pd.array([0.5, None, 1.5], dtype="Float64"),
        "boolean": pd.array([True, None, False], dtype="boolean"), "string": pd.array(["a", None, "c"], dtype="string"),
        "str": pd.Series(["x", "y", None], dtype="str"), "category": pd.Categorical(["p", "q", "p"]),
        "datetime": pd.to_datetime(["2020-01-01", None, "2021-06-30"]),
        "tz": pd.to_datetime(["2020-01-01", "2020-01-02", None]).tz_localize("Europe/Paris"),
        "timedelta": pd.to_timedelta([1, None, 3], unit="s"), "period": pd.period_range("2020-01", periods=3, freq="M"),
        "interval": pd.arrays.IntervalArray.from_breaks([0, 1, 2, 3]), "mixed": pd.Series([1, "a", None], dtype=object),
    }),
    # pd.cut / pd.qcut bands (Titanic's FareBand): categories that are intervals, as columns and as the
    # index of what is grouped or counted by them
    "interval_categories": pd.DataFrame({"band": pd.qcut(pd.Series(np.arange(40.0)), 4),
                                         "ordered": pd.cut(pd.Series([1.0, 5.0, np.nan, 9.0] * 10), [0, 3, 6, 10], ordered=True)}),
    "interval_category_index": pd.qcut(pd.Series(np.arange(40.0)), 4).value_counts(sort=False),
}


@pytest.mark.parametrize("name", VALUES)
def test_values_come_back_identical(store, name):
    value = VALUES[name]
    store.put("id", store.encode(value))
    back, _, nbytes = store.get("id")
    verify_roundtrip(value, back)
    assert nbytes > 0 or name in ("dict", "tuple")


def test_models_come_back_predicting_the_same(store):
    X = np.random.default_rng(0).normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    store.put("m", store.encode(model))
    back, _, _ = store.get("m")
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def _warns_when_a_column_is_added(frame) -> bool:
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame["added"] = 1
    return any(issubclass(w.category, pd.errors.PerformanceWarning) for w in caught)


def test_a_reused_frame_warns_of_fragmentation_exactly_when_the_computed_one_does(store):
    consolidated = pd.DataFrame(np.ones((3, 150)))
    fragmented = pd.DataFrame(index=range(3))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for i in range(150):  # a block per column (pandas 2.2 and 3 alike)
            fragmented[i] = np.ones(3)
    for name, frame in (("consolidated", consolidated), ("fragmented", fragmented)):
        store.put(name, store.encode(frame))
        back, _, _ = store.get(name)
        assert _warns_when_a_column_is_added(back) == _warns_when_a_column_is_added(frame.copy(deep=False)), name
    assert not _warns_when_a_column_is_added(consolidated) and _warns_when_a_column_is_added(fragmented)


def test_a_frame_plus_one_column_stores_only_the_new_column(store):
    base = pd.DataFrame({"a": np.arange(10_000), "b": np.arange(10_000) * 2.0})
    first = store.put("base", store.encode(base))
    second = store.put("more", store.encode(base.assign(c=base["a"] + 1)))
    assert second.bytes_written < first.bytes_written / 1.5


def test_a_corrupted_blob_is_detected_not_served():
    blobs = MemoryBlobs()
    store = ArtifactStore(blobs)
    store.put("x", store.encode(pd.DataFrame({"a": range(100)})))
    column_key = next(k for k in blobs.keys() if not k.startswith("m:") and len(blobs.get(k)) > 100)
    blobs.corrupt(column_key)
    with pytest.raises(CorruptArtifact):
        store.get("x")


def test_a_stored_categorical_whose_codes_leave_its_categories_is_refused():
    encoded = ArtifactStore(MemoryBlobs()).encode(pd.qcut(pd.Series(np.arange(40.0)), 4))
    codes_key = encoded.manifest["value"]["cols"][0].split(":")[1]
    blobs = dict(encoded.blobs)
    blobs[codes_key] = formats._arrow_bytes(pa.table({"v": pa.array([0, 1, 7] * 13 + [0], pa.int8())}))
    with pytest.raises(CorruptArtifact, match="categorical"):
        formats.decode(encoded.manifest, blobs.__getitem__, allow_pickle=False)
    manifest = {**encoded.manifest, "value": {**encoded.manifest["value"], "cols": ["c:" + codes_key]}}
    with pytest.raises(CorruptArtifact, match="malformed"):
        formats.decode(manifest, blobs.__getitem__, allow_pickle=False)


def test_a_missing_blob_is_detected(store):
    store.put("x", store.encode(pd.DataFrame({"a": range(100)})))
    for key in list(store.blobs.keys()):
        if not key.startswith("m:"):
            store.blobs.delete(key)
    with pytest.raises(CorruptArtifact):
        store.get("x")


def test_unpicklable_values_are_refused():
    store = ArtifactStore(MemoryBlobs())
    with pytest.raises(Unreusable):
        store.encode((x for x in range(3)))


def test_pickle_is_refused_when_not_trusted():
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    with pytest.raises(Unreusable):
        store.encode(pd.Series([{1}, {2}]))


def test_object_columns_of_other_than_scalars_are_refused_rather_than_changed():
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    with pytest.raises(Unreusable):
        store.encode(pd.DataFrame({"m": pd.Series([{1}, "a"], dtype=object)}))


def test_mixed_scalar_object_columns_are_stored_as_json_without_pickle():
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    frame = pd.DataFrame({"fold": pd.Series([0, 1, "overall", None, 2.5, np.int32(3), float("nan")], dtype=object),
                          "auc": [0.7, 0.71, 0.705, 0.6, 0.5, 0.4, 0.3]})
    encoded = store.encode(frame)
    assert not formats.uses_pickle(encoded.manifest)
    store.put("m", encoded)
    back, _, _ = store.get("m")
    verify_roundtrip(frame, back)
    assert [type(x) for x in back["fold"]] == [type(x) for x in frame["fold"]]


def test_object_columns_of_other_objects_use_pickle_when_trusted():
    store = ArtifactStore(MemoryBlobs(), trust_pickle=True)
    frame = pd.DataFrame({"sets": pd.Series([{0}, {1, 2}, "overall"], dtype=object), "auc": [0.7, 0.71, 0.705]})
    store.put("m", store.encode(frame))
    back, _, _ = store.get("m")
    verify_roundtrip(frame, back)
    assert back["sets"].tolist() == [{0}, {1, 2}, "overall"]


def test_numeric_frames_come_back_identical_without_a_check_pass():
    from collab_reuse.store.fidelity import faithful_by_construction

    frame = pd.DataFrame({"a": np.arange(5), "b": np.linspace(0, 1, 5), "c": np.arange(5) > 2})
    assert faithful_by_construction(frame)
    assert not faithful_by_construction(frame.set_index("b"))
    assert not faithful_by_construction(frame.assign(s=list("abcde")))
    store = ArtifactStore(MemoryBlobs())
    store.put("f", store.encode(frame))
    back, _, _ = store.get("f")
    verify_roundtrip(frame, back)
    assert list(back.columns) == ["a", "b", "c"] and back.columns.dtype == frame.columns.dtype


def test_lightgbm_models_are_stored_as_model_text_without_pickle():
    import lightgbm as lgb

    X = np.random.default_rng(1).normal(size=(400, 4))
    y = (X[:, 0] > 0).astype(int)
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y, eval_set=[(X, y)], eval_metric="auc")
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    assert encoded.manifest["value"]["t"] == "state"
    store.put("m", encoded)
    back, _, _ = store.get("m")
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.best_score_ == model.best_score_ and back.get_params() == model.get_params()


def test_a_forest_is_stored_as_its_trees_node_arrays_without_skops_or_pickle():
    X = np.random.RandomState(0).rand(3000, 4)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    forest = RandomForestClassifier(n_estimators=4, random_state=0).fit(pd.DataFrame(X, columns=list("abcd")), y)
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(forest)
    nodes = _manifest_nodes(encoded.manifest["value"])
    assert encoded.manifest["value"]["t"] == "state"
    assert {"skops", "pickle"}.isdisjoint(nodes)  # every part in a safe form: node arrays, JSON, strings
    store.put("f", encoded)
    back, _, _ = store.get("f")
    frame = pd.DataFrame(X, columns=list("abcd"))
    assert np.array_equal(back.predict_proba(frame), forest.predict_proba(frame))
    assert np.array_equal(back.feature_importances_, forest.feature_importances_)
    assert list(back.feature_names_in_) == list("abcd") and back.feature_names_in_.dtype == object
    assert back.estimator is back.estimator_  # one object in the original, one object back (as pickle does)
    assert back.get_params() == forest.get_params()


def _manifest_nodes(node):
    """Every node type ("t") in a manifest tree."""
    found = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.add(item.get("t"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found - {None}


def _fitted_estimators():
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler
    from sklearn.tree import DecisionTreeRegressor
    import lightgbm as lgb
    from sklearn.cluster import KMeans
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(1)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["x", "y", "z"])
    X.iloc[::5, 1] = np.nan
    y = (X["x"] > 0).astype(int)
    filled = X.fillna(0)
    classes3 = np.digitize(X["y"].fillna(0), [-0.5, 0.5])
    letters = pd.DataFrame({"c": rng.choice(list("aabbbcccccd"), 300), "d": rng.choice(["x", "y"], 300)})
    with_category = filled.assign(k=pd.Categorical(rng.choice(list("pqrs"), 300)))
    return X, {
        "imputer on a frame": (SimpleImputer(strategy="median").fit(X), "transform", X),
        "scaler": (MinMaxScaler().fit(filled), "transform", filled),
        "polynomial": (PolynomialFeatures(degree=2).fit(filled), "transform", filled),
        "logistic regression": (LogisticRegression(C=0.1).fit(filled, y), "predict_proba", filled),
        "pipeline": (make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, y), "predict_proba", X),
        "PCA": (PCA(2).fit(filled), "transform", filled),
        "tree": (DecisionTreeRegressor(random_state=0).fit(filled, X["z"]), "predict", filled),
        "column transformer": (ColumnTransformer([("s", StandardScaler(), ["x"])]).fit(filled), "transform", filled),
        "gradient boosting (a grid of trees)": (GradientBoostingClassifier(n_estimators=3).fit(filled, y),
                                                "predict_proba", filled),
        "gradient boosting, three classes": (GradientBoostingClassifier(n_estimators=3).fit(filled, classes3),
                                             "predict_proba", filled),
        "one-hot encoder with infrequent and dropped categories": (
            OneHotEncoder(min_frequency=40, handle_unknown="infrequent_if_exist", drop="first",
                          sparse_output=False).fit(letters), "transform", letters),
        "k-means": (KMeans(3, n_init=2, random_state=0).fit(filled), "predict", filled),
        "grid search": (GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3, scoring="roc_auc").fit(filled, y),
                        "predict_proba", filled),
        "LightGBM, three classes and a categorical column": (
            lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(with_category, classes3), "predict_proba", with_category),
    }


@pytest.mark.parametrize("name", list(_fitted_estimators()[1]))
def test_fitted_estimators_come_back_computing_the_same(name):
    model, method, X = _fitted_estimators()[1][name]
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    assert not formats.uses_pickle(encoded.manifest)
    store.put("m", encoded)
    back, _, _ = store.get("m")
    assert type(back) is type(model) and back.get_params().keys() == model.get_params().keys()
    assert np.array_equal(getattr(back, method)(X), getattr(model, method)(X), equal_nan=True)


def test_an_estimator_holding_a_random_state_is_stored_with_that_state_as_data():
    from sklearn.ensemble import ExtraTreesClassifier

    X = np.random.RandomState(0).rand(200, 3)
    model = ExtraTreesClassifier(n_estimators=3, random_state=np.random.RandomState(0)).fit(X, X[:, 0] > 0.5)
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    assert "rng" in _manifest_nodes(encoded.manifest["value"]) and not formats.uses_pickle(encoded.manifest)
    store.put("m", encoded)
    back, _, _ = store.get("m")
    assert back.random_state.get_state(legacy=False)["state"]["pos"] == model.random_state.get_state()[2]
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def test_a_random_state_shared_by_a_models_trees_comes_back_shared_and_is_stored_once():
    from sklearn.ensemble import GradientBoostingRegressor

    X = np.random.RandomState(0).rand(200, 4)
    model = GradientBoostingRegressor(n_estimators=30, max_depth=2, random_state=0).fit(X, X[:, 0])
    shared = model.estimators_[0, 0].random_state
    assert all(tree.random_state is shared for tree in model.estimators_[:, 0])
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    assert str(encoded.manifest["value"]).count("'t': 'rng'") == 1
    store.put("m", encoded)
    back, _, _ = store.get("m")
    trees = back.estimators_[:, 0]
    assert all(tree.random_state is trees[0].random_state for tree in trees)
    assert trees[0].random_state.get_state()[2] == shared.get_state()[2]
    assert np.array_equal(back.predict(X), model.predict(X))


def test_an_estimator_whose_state_has_no_data_only_form_leaves_no_stray_blobs():
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X = np.random.RandomState(0).rand(200, 3)
    model = StandardScaler().fit(X)
    model.hook_ = FunctionTransformer(np.log1p).fit(X)  # np.log1p is on no allow-list
    with pytest.raises(Unreusable):
        ArtifactStore(MemoryBlobs(), trust_pickle=False).encode(model)
    store = ArtifactStore(MemoryBlobs(), trust_pickle=True)
    encoded = store.encode(model)
    assert encoded.manifest["value"]["t"] == "pickle"
    assert len(encoded.blobs) == 1  # the failed attempt's arrays were not kept


def test_an_estimator_holding_a_cycle_is_stored_as_data_not_lost_in_recursion():
    from sklearn.preprocessing import StandardScaler

    model = StandardScaler().fit(np.arange(6.0).reshape(3, 2))
    loop: list = []
    loop.append(loop)
    model.loop_ = loop
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)  # (a list is numbered before its items: the item refers to it)
    assert not formats.uses_pickle(encoded.manifest)
    store.put("m", encoded)
    back, _, _ = store.get("m")
    assert back.loop_[0] is back.loop_ and np.array_equal(back.mean_, model.mean_)


def test_the_roundtrip_check_of_a_model_sees_a_change_deep_in_its_last_tree():
    X = np.random.RandomState(0).rand(500, 3)
    forest = RandomForestClassifier(n_estimators=6, random_state=0).fit(X, X[:, 0] > 0.5)
    encoded = formats.encode(forest, allow_pickle=False)
    changed = formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)
    verify_roundtrip(forest, changed)
    changed.estimators_[-1].tree_.threshold[0] += 1e-9  # (a view of the tree's node array)
    with pytest.raises(Unreusable):
        verify_roundtrip(forest, changed)


def test_masked_arrays_keep_their_mask_alone_and_inside_a_model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    masked = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(Unreusable):
        ArtifactStore(MemoryBlobs(), trust_pickle=False).encode(masked)  # never stored as its bare data
    store = ArtifactStore(MemoryBlobs(), trust_pickle=True)
    store.put("a", store.encode(masked))
    back, _, _ = store.get("a")
    assert type(back) is np.ma.MaskedArray and back.mask.tolist() == [False, True, False]

    X = np.random.RandomState(0).rand(120, 2)
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X, X[:, 0] > 0.5)
    assert type(search.cv_results_["param_C"]) is np.ma.MaskedArray
    store.put("g", store.encode(search))
    back, _, _ = store.get("g")
    assert type(back.cv_results_["param_C"]) is np.ma.MaskedArray
    assert back.cv_results_["param_C"].tolist() == search.cv_results_["param_C"].tolist()


@pytest.mark.parametrize("node, message", [
    ({"t": "state", "cls": "os:system", "items": []}, "outside the allow-list"),
    ({"t": "state", "cls": "sklearn.utils:check_array", "items": []}, "outside the allow-list"),
    ({"t": "state", "cls": "sklearn.preprocessing:StandardScaler", "items": []}, "outside the allow-list"),
    ({"t": "state", "cls": "sklearn.preprocessing._data:StandardScaler",
      "items": [["mean_", {"t": "ref", "n": 3}]]}, "reference"),
    ({"t": "func", "name": "builtins:eval"}, "unknown manifest node"),
    ({"t": "json", "x": {"a": 1}}, "container"),
])
def test_a_damaged_model_manifest_is_refused_before_anything_runs(node, message):
    with pytest.raises(CorruptArtifact, match=message):
        formats.decode({"kind": "model", "type": "x", "value": node}, lambda key: b"", allow_pickle=False)


def test_the_roundtrip_check_compares_arrow_string_columns_by_their_arrow_arrays():
    from collab_reuse.store import fidelity as formats

    a = pd.Series(["a", None, "c"] * 1000, dtype="str")
    changed = a.copy()
    changed.iloc[1] = "b"
    assert formats._same_column(a, a.copy())
    assert not formats._same_column(a, changed)
    assert not formats._same_column(a, pd.Series(["a", "c", None] * 1000, dtype="str"))


def test_a_fitted_forest_has_a_size_estimate_before_it_is_encoded():
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    from collab_reuse.kernel.backend import _approximate_bytes

    rng = np.random.RandomState(0)
    X = rng.rand(20000, 4)  # deep trees: their nodes, not skops' per-object overhead, make the size
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, (X[:, 0] + X[:, 1] > 1).astype(int))
    estimate = _approximate_bytes((forest, None))
    encoded = ArtifactStore(MemoryBlobs()).encode(forest)
    actual = sum(len(b) for b in encoded.blobs.values())
    assert estimate is not None and actual / 3 < estimate < actual * 3


@pytest.mark.parametrize("array", [np.arange(300_000, dtype=np.float64).reshape(1000, 300),
                                   np.asfortranarray(np.arange(300_000, dtype=np.int32).reshape(600, 500)),
                                   np.array([[1.5, 2.5]]), np.zeros((0, 3))])
def test_loaded_arrays_are_writable_aligned_and_independent(store, array):
    """Large blobs are read into one buffer the array uses in place: it must still behave as np.load's."""
    store.put("id", store.encode(array))
    first, _, _ = store.get("id")
    second, _, _ = store.get("id")
    assert first.flags.writeable and first.flags.aligned
    assert first.flags.f_contiguous == array.flags.f_contiguous or array.size <= 2
    np.testing.assert_array_equal(first, array)
    assert first.dtype == array.dtype and first.shape == array.shape
    if first.size:
        first.flat[0] = 99  # a change to one loaded copy is not seen by another or by the store
        assert second.flat[0] == array.flat[0]
        third, _, _ = store.get("id")
        np.testing.assert_array_equal(third, array)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), max_size=12), st.sampled_from([None, 2, 3]))
def test_object_arrays_of_strings_come_back_identical(strings, columns):
    from collab_reuse.store import formats

    array = np.empty(len(strings), dtype=object)
    array[:] = strings
    if columns and len(strings) % columns == 0:
        array = array.reshape(-1, columns)
    encoded = formats.encode(array, allow_pickle=False)
    back = formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)
    assert back.dtype == object and back.shape == array.shape and back.tolist() == array.tolist()
    assert all(type(x) is str for x in back.flat)



def test_every_fitted_object_the_libraries_make_comes_back_or_is_refused_for_a_stated_reason():
    """The allow-list is what the libraries store, and the checks refuse none of it: every object
    ``scripts/allowed_classes.py`` fits (every scikit-learn estimator, LightGBM's) round-trips
    without pickle, or is refused only because a class it holds is excluded or has no data form."""
    import importlib.util
    import warnings
    from pathlib import Path

    from collab_reuse.store import allowed_names

    path = Path(__file__).resolve().parents[2] / "scripts" / "allowed_classes.py"
    spec = importlib.util.spec_from_file_location("allowed_classes", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        examples = script.fitted_examples()
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    stored, refused = 0, {}
    for model in examples:
        try:
            store.put("m", store.encode(model))
            back, _, _ = store.get("m")
            assert type(back) is type(model)
            stored += 1
        except Unreusable as exc:
            refused[type(model).__name__] = str(exc)
    assert stored >= 250, stored
    for name, why in refused.items():
        assert "allow-list" in why or "needs pickle" in why, f"{name}: {why}"
    found: dict[str, set] = {k: set() for k in ("classes", "functions", "types", "generators", "not_reducible")}
    for model in examples:
        script.walk(model, found, set())
    met = {c for c in found["classes"] if not script.excluded(c)} - {i.split(" ")[0] for i in found["not_reducible"]}
    assert met <= allowed_names.CLASSES, f"classes met but not allowed (regenerate the list?): {met - allowed_names.CLASSES}"


def test_a_thread_that_used_the_store_leaves_no_database_open():
    """An exiting kernel forks only with no store database open (kernel/handoff.py); a thread's
    diskcache connections used to stay open after it ended, until the garbage collector ran."""
    import tempfile
    import threading
    from pathlib import Path

    from collab_reuse.kernel.handoff import open_databases

    root = Path(tempfile.mkdtemp())
    blobs = DiskcacheBlobs(root / "blobs")
    blobs.close()
    assert open_databases(root) == []

    def write() -> None:
        for i in range(20):
            data = bytes([i]) * 100
            blobs.put(keys.content_key(data), data)

    worker = threading.Thread(target=write)
    worker.start()
    worker.join()
    assert open_databases(root) == []


def test_a_large_artifact_missing_a_blob_is_refused_when_its_blobs_are_read_in_parallel(tmp_path):
    blobs = DiskcacheBlobs(tmp_path / "blobs")
    store = ArtifactStore(blobs)
    X = np.random.RandomState(0).rand(40_000, 4)
    forest = RandomForestClassifier(n_estimators=16, random_state=0).fit(X, np.random.RandomState(1).rand(40_000) > 0.5)
    written = store.put("f", store.encode(forest))
    assert sum(written.blob_sizes.values()) > 16 << 20
    victim = max((k for k in written.blob_sizes if not k.startswith("m:")), key=written.blob_sizes.get)
    blobs.delete(victim)
    with pytest.raises(CorruptArtifact, match="lost its blob"):
        store.get("f")
    blobs.close()


def test_a_bunch_comes_back_a_bunch_and_a_malformed_one_is_refused():
    value = Bunch(scores=np.arange(4.0), name="cv")
    encoded = formats.encode(value, allow_pickle=False)
    back = formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)
    assert type(back) is Bunch and back.name == "cv" and np.array_equal(back.scores, value.scores)
    encoded.manifest["value"]["items"][0][0] = 7  # a key that is not text
    with pytest.raises(CorruptArtifact):
        formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)
    warned = Bunch(data=np.arange(2))
    warned._set_deprecated(np.arange(2), new_key="data", deprecated_key="old", warning_message="old is gone")
    with pytest.raises(Unreusable):
        formats.encode(warned, allow_pickle=False)


@pytest.mark.parametrize("make", ["regressor", "binary", "multiclass", "early_stopped"])
def test_xgboost_models_are_stored_as_checked_model_json_without_pickle(make):
    xgb = pytest.importorskip("xgboost")
    X = pd.DataFrame(np.random.RandomState(0).rand(300, 5), columns=list("abcde"))
    y = X.values @ np.arange(5.0)
    model = {"regressor": lambda: xgb.XGBRegressor(n_estimators=20, max_depth=3).fit(X, y),
             "binary": lambda: xgb.XGBClassifier(n_estimators=10).fit(X, (y > y.mean()).astype(int)),
             "multiclass": lambda: xgb.XGBClassifier(n_estimators=10).fit(X, (y * 3 / y.max()).astype(int).clip(0, 2)),
             "early_stopped": lambda: xgb.XGBRegressor(n_estimators=200, early_stopping_rounds=5).fit(
                 X[:200], y[:200], eval_set=[(X[200:], y[200:])], verbose=False)}[make]()
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    assert not formats.uses_pickle(encoded.manifest) and "xgboost" in str(encoded.manifest)
    store.put("m", encoded)
    back, _, _ = store.get("m")
    predict = "predict_proba" if make in ("binary", "multiclass") else "predict"
    assert np.array_equal(getattr(back, predict)(X), getattr(model, predict)(X))
    assert str(back.get_params()) == str(model.get_params()) and list(back.feature_names_in_) == list("abcde")
    assert getattr(back, "best_iteration", None) == getattr(model, "best_iteration", None)


def test_a_randomized_search_over_scipy_distributions_is_stored_without_pickle():
    import scipy.stats
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import RandomizedSearchCV

    X = np.random.RandomState(0).rand(200, 4)
    distributions = {"n_estimators": scipy.stats.randint(low=1, high=20), "max_features": scipy.stats.randint(1, 4),
                     "min_samples_split": scipy.stats.uniform(0.01, 0.2)}
    search = RandomizedSearchCV(RandomForestRegressor(random_state=42), distributions, n_iter=3, cv=3,
                                random_state=42).fit(X, X[:, 0])
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    store.put("s", store.encode(search))
    back, _, _ = store.get("s")
    assert np.array_equal(back.predict(X), search.predict(X)) and back.best_params_ == search.best_params_
    rebuilt = back.param_distributions["min_samples_split"]
    assert rebuilt.dist.name == "uniform" and rebuilt.args == (0.01, 0.2)
    search.param_distributions["max_features"].random_state = np.random.RandomState(3)
    with pytest.raises(Unreusable, match="own random state"):  # not what a rebuilt one would draw from
        store.encode(search)


@pytest.mark.parametrize("node", [
    {"t": "frozen", "dist": "system", "args": [], "kwds": {}},            # not a scipy.stats distribution
    {"t": "frozen", "dist": "randint", "args": ["1", 3], "kwds": {}},     # not numbers
    {"t": "frozen", "dist": "randint", "args": [], "kwds": {"low": [1]}},
    {"t": "frozen", "dist": "uniform", "args": [], "kwds": {"nonsense": 1.0}},  # a parameter it refuses
])
def test_a_stored_distribution_other_than_scipys_with_numbers_is_refused(node):
    from collab_reuse.store import state

    with pytest.raises(CorruptArtifact):
        state.decode_part(node, lambda key: b"", {})


def _notebook_classes(monkeypatch):
    """Two classes as a notebook defines them (in ``__main__``): an estimator and a plain helper."""
    import sys

    from sklearn.base import BaseEstimator, TransformerMixin

    namespace: dict = {"__name__": "__main__", "BaseEstimator": BaseEstimator, "TransformerMixin": TransformerMixin,
                       "np": np}
    exec("class Keep(BaseEstimator, TransformerMixin):\n"
         "    def __init__(self, k=1):\n        self.k = k\n"
         "    def fit(self, X, y=None):\n        self.cols_ = np.arange(self.k)\n        return self\n"
         "    def transform(self, X):\n        return X[:, self.cols_]\n"
         "class Helper:\n    pass\n", namespace)
    main = sys.modules["__main__"]
    for name in ("Keep", "Helper"):
        monkeypatch.setattr(main, name, namespace[name], raising=False)
    return namespace["Keep"], namespace["Helper"]


def test_an_estimator_class_defined_in_the_notebook_is_stored_by_its_state_and_read_back_as_that_class(
        monkeypatch):
    keep, _ = _notebook_classes(monkeypatch)
    model = keep(k=2).fit(np.arange(12.0).reshape(3, 4))
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    assert encoded.manifest["value"]["cls"] == "__main__:Keep" and not formats.uses_pickle(encoded.manifest)
    store.put("m", encoded)
    back, _, _ = store.get("m")
    assert type(back) is keep and back.cols_.tolist() == [0, 1]


@pytest.mark.parametrize("edit, message", [
    (lambda v: v.update(code="0" * 64), "with the code it was stored with"),        # another definition
    (lambda v: v.update(cls="__main__:Missing"), "defines no class"),
    (lambda v: v.update(cls="__main__:Helper"), "defines no class"),                # not an estimator
    (lambda v: v.update(cls="__main__:np.random.RandomState"), "defines no class"),  # a path, not a name
    (lambda v: v.update(args={"t": "list", "items": []}), "never rebuilt by a constructor"),
])
def test_a_stored_notebook_class_other_than_the_notebooks_own_estimator_is_refused(monkeypatch, edit, message):
    keep, _ = _notebook_classes(monkeypatch)
    encoded = ArtifactStore(MemoryBlobs()).encode(keep(k=2).fit(np.arange(12.0).reshape(3, 4)))
    edit(encoded.manifest["value"])
    with pytest.raises(CorruptArtifact, match=message):
        formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)


def _notebook_function(monkeypatch, body="return X * 2"):
    import sys

    namespace: dict = {"__name__": "__main__"}
    exec(f"def double(X):\n    {body}\n", namespace)
    monkeypatch.setattr(sys.modules["__main__"], "double", namespace["double"], raising=False)
    return namespace["double"]


def test_a_function_transformer_of_a_notebook_function_is_stored_by_reference_to_the_notebooks_function(
        monkeypatch):
    from sklearn.preprocessing import FunctionTransformer

    double = _notebook_function(monkeypatch)
    model = FunctionTransformer(double).fit(np.arange(6.0).reshape(3, 2))
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    encoded = store.encode(model)
    store.put("f", encoded)
    back, _, _ = store.get("f")
    assert back.func is double and not formats.uses_pickle(encoded.manifest)
    _notebook_function(monkeypatch, body="return X * 3")  # the notebook's function has changed since
    with pytest.raises(CorruptArtifact, match="with the code it was stored with"):
        formats.decode(encoded.manifest, encoded.blobs.__getitem__, allow_pickle=False)


def test_a_search_over_a_pipeline_of_a_column_transformer_of_pipelines_is_stored():
    # (twelve levels of objects: the round-trip check followed only twenty levels of its own, three per object)
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.RandomState(0).rand(120, 3)
    prep = ColumnTransformer([("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), [0, 1])])
    search = GridSearchCV(Pipeline([("prep", prep), ("ridge", Ridge())]), {"ridge__alpha": [0.1, 1.0]}, cv=3)
    search.fit(X, X[:, 0])
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    store.put("s", store.encode((search, None)))
    back, _, _ = store.get("s")
    assert np.array_equal(back[0].predict(X), search.predict(X))


@pytest.mark.parametrize("size", [100, 40_000, 3_000_000])  # a SQLite row, and value files of a shard
def test_another_users_namespace_is_read_whole_read_only(tmp_path, size):
    """``ReadOnlyDiskcache`` (how a team member reads another's namespace) reads what ``DiskcacheBlobs``
    wrote there, rows and value files alike (a value file's name is relative to its shard)."""
    from collab_reuse.store.blobs import ReadOnlyDiskcache

    writer = DiskcacheBlobs(tmp_path / "ns", private_files=True)
    data = np.random.default_rng(size).bytes(size)
    key = keys.content_key(data)
    writer.put(key, data)
    writer.put_row("m:artifact", b'{"a": 1}')
    writer.close()
    reader = ReadOnlyDiskcache(tmp_path / "ns")
    try:
        assert bytes(reader.get(key)) == data
        assert reader.get_row("m:artifact") == b'{"a": 1}'
        assert key in reader
    finally:
        reader.close()


def test_a_lightgbm_model_of_one_leaf_trees_is_stored():
    """Trees that found no split (few rows, a large min_child_weight: a 300-row fold of a Kaggle
    kernel's parameters) are written with an empty leaf_weight; the model is LightGBM's own and
    must be stored, not refused as malformed (it was: every fold of such a notebook computed again)."""
    import lightgbm as lgb

    X = np.random.default_rng(2).normal(size=(60, 3))
    y = np.r_[np.zeros(55, dtype=int), np.ones(5, dtype=int)]
    model = lgb.LGBMClassifier(n_estimators=5, min_child_weight=39.3, verbose=-1).fit(X, y)
    assert "num_leaves=1\n" in model.booster_.model_to_string()
    store = ArtifactStore(MemoryBlobs(), trust_pickle=False)
    store.put("m", store.encode(model))
    back, _, _ = store.get("m")
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.booster_.model_to_string() == model.booster_.model_to_string()
