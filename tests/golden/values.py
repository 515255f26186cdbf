"""The values whose stored form is pinned (of dtypes that are the same under pandas 2.2 and 3) in ``tests/golden/*.json`` (``scripts/golden_formats.py`` writes
them; ``tests/unit/test_golden_formats.py`` checks them). Each is built the same way every time."""
from __future__ import annotations

import numpy as np
import pandas as pd


def frame() -> pd.DataFrame:
    return pd.DataFrame({"i": np.arange(5, dtype="int64"), "f": np.linspace(0.0, 1.0, 5),
                         "s": np.array(["a", "b", None, "d", "e"], dtype=object),
                         "c": pd.Categorical(["x", "y", "x", "x", "y"]),
                         "t": pd.to_datetime(["2020-01-01", "2020-01-02", None, "2020-01-04", "2020-01-05"])},
                        index=pd.Index([10, 11, 12, 13, 14], name="id"))


def array() -> np.ndarray:
    return np.arange(12, dtype="float32").reshape(3, 4)


def results() -> tuple:
    return ({"auc": 0.75, "folds": [0.7, 0.8]}, 3, "text", None)


def model():
    from sklearn.tree import DecisionTreeClassifier

    X, y = model_data()
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)


def model_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype("int64")


VALUES = {"frame": frame, "array": array, "results": results, "model": model}
