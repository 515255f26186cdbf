"""Adopting a stored fitted estimator into the user's own objects."""

import copy
import pickle

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from collab_reuse.tracing import fitted

X = np.random.RandomState(0).rand(300, 4)
y = (X[:, 0] > 0.5).astype(int)


def make():
    scaler, lr = StandardScaler(), LogisticRegression()
    return Pipeline([("union", FeatureUnion([("s", scaler), ("p", PCA(2, random_state=0))])), ("lr", lr)]), scaler, lr


def test_a_pipeline_fits_its_steps_in_place_and_a_search_its_clones():
    pipe, scaler, lr = make()
    nested = fitted.Nested(pipe)
    pipe.fit(X, y)
    assert set(nested.fitted_in_place()) == {"union", "union__s", "union__p", "lr"}
    search = GridSearchCV(LogisticRegression(), {"C": [1, 2]}, cv=2)
    nested = fitted.Nested(search)
    search.fit(X, y)
    assert nested.fitted_in_place() == {}


def test_adopting_fits_the_user_s_objects_and_keeps_their_parameters():
    stored, _, _ = make()
    stored.fit(X, y)
    stored = pickle.loads(pickle.dumps(stored))  # as it comes back from the store: other objects
    pipe, scaler, lr = make()
    steps = pipe.steps
    keys = ["union", "union__s", "union__p", "lr"]
    assert fitted.adoptable(pipe, stored, keys)
    fitted.adopt(pipe, stored, keys)
    assert pipe.steps is steps and pipe.named_steps["lr"] is lr
    assert (scaler.mean_ == stored.named_steps["union"].transformer_list[0][1].mean_).all()
    assert (pipe.predict(X) == stored.predict(X)).all()


def test_adopting_a_search_leaves_the_estimator_it_was_given_alone():
    base = LogisticRegression()
    stored = GridSearchCV(copy.deepcopy(base), {"C": [1, 2]}, cv=2).fit(X, y)
    search = GridSearchCV(base, {"C": [1, 2]}, cv=2)
    fitted.adopt(search, stored, [])
    assert search.estimator is base and not hasattr(base, "coef_")
    assert search.best_params_ == stored.best_params_


def test_a_stored_model_of_another_shape_is_not_adopted():
    stored, _, _ = make()
    other = Pipeline([("lr", LogisticRegression())])
    assert not fitted.adoptable(other, stored, ["union"])
    assert not fitted.adoptable(LogisticRegression(), stored, [])


def test_an_adopted_column_transformer_shares_the_live_column_lists_as_a_plain_fit_does():
    """ColumnTransformer keeps its ``transformers``' own column lists in ``_columns`` and
    ``transformers_``: adopted, they are the live lists, and the model pickles as a plain fit's."""
    import io
    import json

    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    from collab_reuse.store import formats

    frame = pd.read_csv(io.StringIO("a,b,c\n1,2,x\n3,4,y\n5,7,x\n"))

    def make_transformer():
        numeric = list(frame.columns[:2])  # (strings made at run time, shared with the frame's labels)
        return ColumnTransformer([("num", StandardScaler(), numeric), ("cat", OneHotEncoder(), ["c"])]), numeric

    original, _ = make_transformer()
    encoded = formats.encode(original.fit(frame), allow_pickle=False)
    stored = formats.decode(json.loads(json.dumps(encoded.manifest)), encoded.blobs.__getitem__, allow_pickle=False)
    live, numeric = make_transformer()
    fitted.adopt(live, stored, [])
    assert live._columns[0] is numeric and live.transformers_[0][2] is numeric
    plain, _ = make_transformer()
    assert pickle.dumps(live) == pickle.dumps(plain.fit(frame))
