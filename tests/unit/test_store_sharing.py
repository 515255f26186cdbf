"""A stored model comes back pickling to the very bytes the original pickles to.

A notebook that ends with ``joblib.dump(model, "model.pkl")`` must write the plain run's file when the
fit was reused (the corpus run of ageron_housing once wrote another ``my_model.pkl``). Pickle's bytes
depend on more than values: a part met twice (the list of column names a ColumnTransformer keeps in two
places, a column name in every ``feature_names_in_``, a dict key shared with an attribute name) is
written once and then referred to; a random generator is written with its seed sequence, an XGBoost
booster with its training configuration, a tree's node records with their padding. The store keeps all
of it, and refuses to store what would come back otherwise (``fidelity.verify_roundtrip``).
"""
from __future__ import annotations

import io
import json
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_reuse.errors import Unreusable
from collab_reuse.store import ArtifactStore, DiskcacheBlobs, formats
from collab_reuse.store.fidelity import verify_roundtrip


def _table() -> pd.DataFrame:
    """Read from CSV text, as a notebook reads its data: column names and categories are strings made at
    run time (not interned), each one object shared by everything fitted on the frame."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"longitude": rng.normal(size=120), "median_income": rng.normal(size=120),
                          "ocean_proximity": rng.choice(["NEAR BAY", "INLAND", "ISLAND"], 120)})
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def _models() -> dict:
    from scipy.stats import randint
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = _table()
    numeric = list(df.columns[:2])
    y = df["longitude"].to_numpy() * 2 + df["median_income"].to_numpy()

    def preparation():
        return ColumnTransformer([("num", Pipeline([("imputer", SimpleImputer(strategy="median")),
                                                    ("scaler", StandardScaler())]), numeric),
                                  ("cat", OneHotEncoder(), ["ocean_proximity"])])

    return {
        "column transformer pipeline": lambda: Pipeline([("prep", preparation()), ("linear", LinearRegression())]).fit(df, y),
        "feature union": lambda: FeatureUnion([("a", StandardScaler()), ("b", StandardScaler())]).fit(df[numeric]),
        "forest": lambda: RandomForestRegressor(n_estimators=5, random_state=0).fit(df[numeric], y),
        "boosting on numpy's global generator": lambda: GradientBoostingRegressor(n_estimators=5).fit(df[numeric], y),
        "grid search (param_grid keys shared with attribute names)": lambda: GridSearchCV(
            RandomForestRegressor(random_state=0), [{"n_estimators": [3, 5], "max_features": [1, 2]},
                                                   {"bootstrap": [False], "n_estimators": [3]}], cv=3).fit(df[numeric], y),
        "randomized search": lambda: RandomizedSearchCV(RandomForestRegressor(random_state=0),
                                                        {"n_estimators": randint(2, 6)}, n_iter=2, cv=3,
                                                        random_state=1).fit(df[numeric], y),
        "grid search over a pipeline": lambda: GridSearchCV(Pipeline([("prep", preparation()), ("ridge", Ridge())]),
                                                            {"ridge__alpha": [0.1, 1.0]}, cv=3).fit(df, y),
        "lightgbm with an eval set": lambda: pytest.importorskip("lightgbm").LGBMRegressor(
            n_estimators=5, verbose=-1).fit(df[numeric], y, eval_set=[(df[numeric], y)]),
        "xgboost": lambda: pytest.importorskip("xgboost").XGBRegressor(n_estimators=5).fit(df[numeric], y),
    }


def _dumps(value) -> dict[str, bytes]:
    out = io.BytesIO()
    joblib.dump(value, out)
    return {"joblib": out.getvalue(), "pickle 4": pickle.dumps(value, protocol=4),
            "pickle 5": pickle.dumps(value, protocol=5)}


@pytest.mark.parametrize("name", list(_models()))
def test_a_model_read_back_from_the_store_dumps_to_the_same_bytes(name, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (LightGBM's eval_set deprecation)
        model = _models()[name]()
    blobs = DiskcacheBlobs(tmp_path / "blobs")
    try:
        store = ArtifactStore(blobs)
        store.put("m", store.encode(model))
        back, _, _ = store.get("m")
    finally:
        blobs.close()
    assert back is not model
    assert _dumps(back) == _dumps(model)


def _scaler():
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(np.arange(6.0).reshape(3, 2))


def _roundtrip(value):
    """Encoded, and decoded from the manifest's JSON text as a reader gets it (not one string of the
    original's comes back: sharing is what the manifest says, nothing else)."""
    encoded = formats.encode(value, allow_pickle=False)
    return formats.decode(json.loads(json.dumps(encoded.manifest)), encoded.blobs.__getitem__, allow_pickle=False)


def test_a_copy_that_shares_a_part_differently_is_not_taken_for_the_original():
    model = _scaler()
    names = ["".join(["a", "b"]), "".join(["c", "d"])]
    model.columns_, model.selected_ = names, names  # (one list, met twice: pickled once)
    back = _roundtrip(model)
    assert back.columns_ is back.selected_
    verify_roundtrip(model, back)
    back.selected_ = list(back.columns_)  # equal, but a second list
    with pytest.raises(Unreusable, match="pickle"):
        verify_roundtrip(model, back)
    back.selected_ = back.columns_
    back.columns_[1] = "".join(["c", "d"])  # another equal string, met once as the original's was: alike
    verify_roundtrip(model, back)


def test_an_attribute_name_shared_with_a_dict_key_stays_shared():
    model = _scaler()
    model.best_params_ = {"with_mean": True}  # (the key is the interned name, as a param_grid's keys are)
    model.label_ = "".join(["with", "_mean"])  # (equal text, another string)
    back = _roundtrip(model)
    assert next(iter(back.best_params_)) is next(k for k in vars(back) if k == "with_mean")
    assert back.label_ == "with_mean" and back.label_ is not next(iter(back.best_params_))
    assert pickle.dumps(back) == pickle.dumps(model)


# -- any sharing, drawn at random ----------------------------------------------------------------

_TEXTS = st.text(alphabet="abcxyz_", min_size=0, max_size=6)


@st.composite
def _shared_structures(draw):
    """A value of lists, tuples and dicts over a small pool of strings and lists, each pool member
    possibly met many times; strings made at run time or interned."""
    strings = [draw(_TEXTS) for _ in range(draw(st.integers(1, 4)))]
    strings = [__import__("sys").intern(s) if draw(st.booleans()) else "".join(list(s)) for s in strings]
    pool: list = list(strings)

    def build(depth):
        kind = draw(st.sampled_from(["pool", "pool", "int", "float", "list", "tuple", "dict", "array"]
                                    if depth < 3 else ["pool", "int"]))
        if kind == "pool":
            return draw(st.sampled_from(pool))
        if kind == "int":
            return draw(st.integers(-5, 5))
        if kind == "float":
            return draw(st.floats(allow_nan=False, width=32))
        if kind == "array":
            array = np.empty(draw(st.integers(0, 3)), dtype=object)
            array[:] = [draw(st.sampled_from(strings)) for _ in range(len(array))]
            pool.append(array)
            return array
        items = [build(depth + 1) for _ in range(draw(st.integers(0, 3)))]
        if kind == "dict":
            made = {draw(st.sampled_from(strings)): item for item in items}
        else:
            made = tuple(items) if kind == "tuple" else items
        pool.append(made)
        return made

    return [build(0) for _ in range(draw(st.integers(1, 4)))]


@settings(max_examples=150, deadline=None)
@given(_shared_structures())
def test_any_sharing_in_a_models_state_comes_back_and_pickles_the_same(structure):
    model = _scaler()
    model.extra_ = structure
    try:
        back = _roundtrip(model)
        verify_roundtrip(model, back)
    except Unreusable as exc:
        pytest.fail(f"refused: {exc}")
    assert pickle.dumps(back, protocol=4) == pickle.dumps(model, protocol=4)


def test_a_search_s_results_pickle_the_same_after_they_were_printed():
    """What a printed ``cv_results_`` and a ``RandomizedSearchCV``'s distributions leave behind: a
    masked array's fill value, which numpy sets lazily and pickle writes, and a frozen distribution's
    keyword names, interned like every call's keywords (shared with a ``gamma='scale'`` elsewhere)."""
    from scipy.stats import expon

    model = _scaler()
    shown = np.ma.MaskedArray(np.array(["rbf", "linear"], dtype=object), mask=[False, True])
    str(shown.fill_value)  # (printing the results asks for it)
    model.results_ = {"param_kernel": shown, "untouched": np.ma.MaskedArray(np.arange(2.0), mask=[0, 1])}
    model.distributions_, model.gamma_ = {"gamma": expon(scale=1.0)}, "scale"
    back = _roundtrip(model)
    verify_roundtrip(model, back)
    assert pickle.dumps(back, protocol=4) == pickle.dumps(model, protocol=4)


def test_a_model_on_numpy_s_global_generator_holds_the_reader_s_global_generator(tmp_path):
    """``random_state=None`` resolves to numpy's global generator, which the fitted model holds: draws made
    after the fit advance it, and pickle writes its state of the moment. Read back, the model holds the
    reader's global generator (was: a copy of its state when stored, which dumped differently as soon as
    anything drew from ``np.random`` after the fit)."""
    from sklearn.ensemble import GradientBoostingRegressor

    df = _table()
    model = GradientBoostingRegressor(n_estimators=5).fit(df[list(df.columns[:2])], df["median_income"])
    assert model._rng is np.random.mtrand._rand
    blobs = DiskcacheBlobs(tmp_path / "blobs")
    try:
        store = ArtifactStore(blobs)
        encoded = store.encode(model)
        store.put("m", encoded)
        np.random.random(7)  # (the notebook draws after the fit)
        back, _, _ = store.get("m")
    finally:
        blobs.close()
    assert back._rng is np.random.mtrand._rand
    assert _dumps(back) == _dumps(model)
    assert '"global_rng"' in json.dumps(encoded.manifest) and '"rng"' not in json.dumps(encoded.manifest)
