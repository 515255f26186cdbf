"""Regenerate ``collab_reuse/store/allowed_names.py``: what the state format may name, from what the
libraries really store.

It fits every scikit-learn estimator that ``sklearn.utils.all_estimators()`` lists (meta-estimators
around a small base estimator) and a set of variants that reach other internals (losses,
multiclass, categorical inputs, searches with scorers, LightGBM's wrappers and Booster), walks
each fitted object as pickle would record it (class, constructor arguments, state) and collects
every class, function and type met. Classes whose state reaches native code we do not
validate (``EXCLUDED``, with the reason) are left out. Review the diff before committing it:
a new class is new code a stored file can make a reader run.

    PYTHONPATH=$PWD python scripts/allowed_classes.py > /tmp/allowed_names.py && mv /tmp/allowed_names.py collab_reuse/store/
    (not straight into the module: the script imports the store)
"""

from __future__ import annotations

import copyreg
import inspect
import types
import warnings
from typing import Any

import numpy as np

from collab_reuse.store.state import stateless_cython

LIBRARIES = ("sklearn.", "lightgbm.", "xgboost.")
#: module prefix or exact "module:qualname" -> why it may not be named by a stored state
EXCLUDED = {
    "sklearn.neighbors.": "KDTree/BallTree and brute-force neighbor indexes: node arrays and indices read by "
                          "native code without bounds checks; not validated",
    "sklearn.ensemble._hist_gradient_boosting.": "TreePredictor node arrays and bitsets read by native code; "
                                                 "not validated",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingClassifier": "holds TreePredictors",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting:HistGradientBoostingRegressor": "holds TreePredictors",
    "sklearn.cluster._bisect_k_means:": "its tree of centers is read by native code per node; not validated",
    "sklearn.manifold.": "hold neighbor indexes (Isomap, LLE) or fit-only state",
    "sklearn.semi_supervised.": "knn kernels hold neighbor indexes",
    "sklearn.metrics._dist_metrics:": "distance metric objects of neighbor indexes (native code)",
    "sklearn.cluster._kmeans:_kmeans_single_lloyd": "held only by BisectingKMeans (excluded)",
    "sklearn.utils._testing:": "test helpers",
    "sklearn.utils._mocking:": "test helpers",
    "xgboost.core:Booster": "stored as its checked JSON model text by its own node (store/xgboost_json.py), "
                            "never by its state (XGBoost's binary serialization, trusted by native code)",
    "xgboost.core:": "XGBoost's internals other than the Booster",
}


def excluded(name: str) -> str | None:
    for prefix, reason in EXCLUDED.items():
        if name == prefix or (name.startswith(prefix) and (prefix.endswith(".") or prefix.endswith(":"))):
            return reason
    return None


def _name(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def walk(obj: Any, found: dict[str, set[str]], seen: set[int], depth: int = 0) -> None:
    if depth > 60 or id(obj) in seen:
        return
    seen.add(id(obj))
    t = type(obj)
    if t in (list, tuple, set, frozenset):
        for item in obj:
            walk(item, found, seen, depth + 1)
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            walk(k, found, seen, depth + 1)
            walk(v, found, seen, depth + 1)
        return
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            for item in obj.flat:
                walk(item, found, seen, depth + 1)
        return
    if isinstance(obj, type):
        found["types"].add(_name(obj))
        return
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)) or \
            type(obj).__name__ == "_ArrayFunctionDispatcher":
        found["functions"].add(f"{obj.__module__}:{getattr(obj, '__qualname__', obj.__name__)}")
        return
    if isinstance(obj, (np.random.RandomState, np.random.Generator)):
        bit = obj._bit_generator if isinstance(obj, np.random.RandomState) else obj.bit_generator
        found["generators"].add(type(bit).__name__)
        return
    if not t.__module__.startswith(LIBRARIES):
        return
    found["classes"].add(_name(t))
    try:
        reduced = obj.__reduce_ex__(5)
    except Exception:
        return
    if isinstance(reduced, tuple):
        if stateless_cython(reduced[0], tuple(reduced[1]), t):
            return
        if reduced[0] is not copyreg.__newobj__ and reduced[0] is not t:
            found["not_reducible"].add(f"{_name(t)} (rebuilt by {getattr(reduced[0], '__qualname__', reduced[0])})")
            return
        parts = reduced[2:3] if reduced[0] is copyreg.__newobj__ else reduced[1:3]  # (not __newobj__'s class)
        for part in parts:
            walk(part, found, seen, depth + 1)


def fitted_examples() -> list[Any]:
    import pandas as pd
    from sklearn.base import ClassifierMixin, ClusterMixin, RegressorMixin
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.utils import all_estimators

    rng = np.random.RandomState(0)
    X = np.abs(rng.normal(size=(120, 4))) + 0.1
    y = (X[:, 0] > X[:, 1]).astype(int)
    y3 = rng.randint(0, 3, 120)
    yr = X[:, 0] * 2 + rng.normal(size=120) * 0.1
    out: list[Any] = []

    def fit(est: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            out.append(est.fit(*args, **kwargs))
            return True
        except Exception:
            return False

    def fit_every_way(cls: type, est: Any) -> bool:
        if issubclass(cls, ClassifierMixin):
            return fit(est, X, y) | fit(clone(est), X, y3)
        if issubclass(cls, RegressorMixin):
            return fit(est, X, yr)
        if issubclass(cls, ClusterMixin):
            return fit(est, X)
        with_y = "y" in inspect.signature(cls.fit).parameters and fit(est, X, y)
        return fit(clone(est), X) | with_y

    from sklearn.base import clone
    from sklearn.preprocessing import StandardScaler

    for _name_, cls in all_estimators():  # meta-estimators around a small base estimator that fits
        for make in (lambda: cls(), lambda: cls(LogisticRegression()), lambda: cls([("a", LogisticRegression())]),
                     lambda: cls([("a", LogisticRegression()), ("b", DecisionTreeClassifier())]),
                     lambda: cls(LinearRegression()), lambda: cls([("a", LinearRegression())]),
                     lambda: cls(StandardScaler()), lambda: cls([("a", StandardScaler())])):
            try:
                est = make()
            except Exception:
                continue
            if fit_every_way(cls, est):
                break
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier, GradientBoostingRegressor,
                                  IsolationForest, RandomForestClassifier, RandomForestRegressor)
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    frame = pd.DataFrame({"n": X[:, 0], "c": rng.choice(["a", "b", "c"], 120), "m": X[:, 1]})
    for loss in ("log_loss", "exponential"):
        fit(GradientBoostingClassifier(n_estimators=3, loss=loss), X, y)
    fit(GradientBoostingClassifier(n_estimators=3), X, y3)
    for loss in ("squared_error", "absolute_error", "huber", "quantile"):
        fit(GradientBoostingRegressor(n_estimators=3, loss=loss), X, yr)
    for loss in ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"):
        fit(SGDClassifier(loss=loss), X, y)
    fit(RandomForestClassifier(n_estimators=3, oob_score=True, random_state=np.random.RandomState(0)), X, y3)
    fit(RandomForestRegressor(n_estimators=3, criterion="poisson"), X, yr)
    fit(ExtraTreesClassifier(n_estimators=3, max_features=None), X, y)
    fit(IsolationForest(n_estimators=3), X)
    fit(make_pipeline(ColumnTransformer([("oh", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                              min_frequency=5), ["c"]),
                                         ("s", StandardScaler(), ["n"])], remainder="passthrough"),
                      LogisticRegression()), frame, y)
    fit(ColumnTransformer([("o", OrdinalEncoder(), ["c"])], remainder="drop"), frame)
    fit(OneHotEncoder(drop="first", sparse_output=False), frame[["c"]])
    for scoring in ("roc_auc", "accuracy", "neg_log_loss", "f1", "balanced_accuracy", "average_precision"):
        fit(GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=3, scoring=scoring), X, y)
    for scoring in ("r2", "neg_mean_squared_error", "neg_mean_absolute_error", "neg_root_mean_squared_error"):
        fit(GridSearchCV(LinearRegression(), {"fit_intercept": [True, False]}, cv=3, scoring=scoring), X, yr)
    fit(RandomizedSearchCV(LogisticRegression(), {"C": [0.1, 1.0, 10.0]}, n_iter=2, cv=3), X, y)
    from sklearn.frozen import FrozenEstimator
    from sklearn.multioutput import ClassifierChain, MultiOutputClassifier, MultiOutputRegressor, RegressorChain

    both = np.column_stack([y, y3 > 0])
    for meta in (MultiOutputClassifier, ClassifierChain):
        fit(meta(LogisticRegression()), X, both)
    for meta in (MultiOutputRegressor, RegressorChain):
        fit(meta(LinearRegression()), X, np.column_stack([yr, -yr]))
    fit(FrozenEstimator(LogisticRegression().fit(X, y)), X, y)
    docs = ["the cat sat", "the dog sat", "a cat ran", "dogs and cats"] * 5
    fit(CountVectorizer(), docs)
    fit(TfidfVectorizer(), docs)
    try:
        import lightgbm as lgb

        fit(lgb.LGBMClassifier(n_estimators=3, verbose=-1), X, y)
        fit(lgb.LGBMClassifier(n_estimators=3, verbose=-1), X, y3)
        fit(lgb.LGBMRegressor(n_estimators=3, verbose=-1), X, yr)
        fit(lgb.LGBMClassifier(n_estimators=3, verbose=-1), frame.assign(c=frame["c"].astype("category")), y)
        fit(lgb.LGBMRanker(n_estimators=3, verbose=-1), X, y3, group=[60, 60])
        out.append(lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), num_boost_round=3))
    except ImportError:
        pass
    try:
        import xgboost as xgb

        fit(xgb.XGBClassifier(n_estimators=3), X, y)
        fit(xgb.XGBClassifier(n_estimators=3), X, y3)
        fit(xgb.XGBRegressor(n_estimators=3), X, yr)
    except ImportError:
        pass
    return out


def extra_references() -> list[Any]:
    """What a state may refer to beyond the fits above: every scorer (a search's ``scorer_``), the
    univariate score functions, the dtypes given as classes."""
    from sklearn import feature_selection
    from sklearn.metrics import get_scorer, get_scorer_names

    from sklearn.utils._metadata_requests import MetadataRequest

    out: list[Any] = [get_scorer(name) for name in get_scorer_names()]
    out.append(MetadataRequest(owner="an estimator"))  # (some meta-estimators keep theirs once asked for it)
    out += [feature_selection.f_classif, feature_selection.f_regression, feature_selection.chi2,
            feature_selection.mutual_info_classif, feature_selection.mutual_info_regression,
            feature_selection.r_regression]
    out += [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
            np.uint32, np.uint64, np.bool_, np.complex64, np.complex128, float, int, bool, str, object]
    return out


def main() -> None:
    warnings.filterwarnings("ignore")
    import lightgbm
    import sklearn

    found: dict[str, set[str]] = {"classes": set(), "functions": set(), "types": set(), "generators": set(),
                                  "not_reducible": set()}
    for est in fitted_examples():
        walk(est, found, set())
    for extra in extra_references():
        walk(extra, found, set())
    rebuilt_otherwise = {item.split(" ")[0] for item in found["not_reducible"]}
    classes = sorted(c for c in found["classes"] if not excluded(c) and c not in rebuilt_otherwise)
    functions = sorted(f for f in found["functions"] if not excluded(f))
    print('"""Exact names the state format may hold (generated by scripts/allowed_classes.py from what')
    print(f'scikit-learn {sklearn.__version__} and LightGBM {lightgbm.__version__} store in fitted objects; '
          'review changes).')
    print('')
    print('Excluded (their state reaches native code that is not validated here):')
    for prefix, reason in EXCLUDED.items():
        print(f"  {prefix}: {reason}")
    print('"""')
    print("")
    print("CLASSES = frozenset({")
    for c in classes:
        print(f'    "{c}",')
    print("})")
    print("")
    print("#: functions a state may hold as a reference (score functions, pooling functions)")
    print("FUNCTIONS = frozenset({")
    for f in functions:
        print(f'    "{f}",')
    print("})")
    print("")
    print("#: types a state may hold as a value (dtypes given as classes, e.g. OneHotEncoder(dtype=np.float64))")
    print("TYPES = frozenset({")
    for t in sorted(found["types"]):
        print(f'    "{t}",')
    print("})")
    print("")
    print("#: numpy bit generators a stored random state may use")
    print(f"BIT_GENERATORS = frozenset({sorted(found['generators'])!r})")
    if found["not_reducible"]:
        import sys

        print("\nnot rebuilt by construct-then-set-state (never stored in the state format):", file=sys.stderr)
        for item in sorted(found["not_reducible"]):
            print(f"  {item}", file=sys.stderr)


if __name__ == "__main__":
    main()
