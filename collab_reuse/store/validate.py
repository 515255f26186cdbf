"""Checks of a decoded library object's parts before anything uses them.

The state format rebuilds only allow-listed classes from data-only parts, but the parts
themselves come from the store: a tree's node array with a child index out of range makes
scikit-learn's Cython code read outside it at ``predict`` (a crash, not an exception), a KMeans
center row shorter than the data is read past its end, a category list out of order makes
OneHotEncoder build a sparse matrix with column indices past its width. So before an object
is built, and again before it is handed out, its parts are checked:

* ``before_construction``: constructor arguments (a ``Tree``'s feature, class and output counts,
  which its constructor uses to size its buffers);
* ``before_state``: the state ``__setstate__`` would take (a ``Tree``'s node and value arrays:
  exact dtypes and shapes, children after their parent and each node reached exactly once, split
  features in range, the recorded depth the real one; a Booster's model text, ``lightgbm_text``;
  scikit-learn's version, whose mismatch would make ``__setstate__`` warn in the cell);
* ``after_state``: every estimator's hyperparameters by scikit-learn's own constraints, the
  fitted attributes whose meaning is fixed by convention (``n_features_in_``,
  ``feature_names_in_``, per-feature arrays, ``coef_``, ``components_``, ``cluster_centers_``,
  ``classes_``...) by type and shape, and per class what native code reads (an ensemble's trees
  against the features they are given, a gradient boosting grid against its output width,
  encoders' categories, vectorizers' vocabularies, LightGBM's wrapper against its Booster).

Anything that fails is ``CorruptArtifact``: the value is recomputed. Classes whose state reaches
native code that is not checked here are not on the allow-list at all (``allowed_names.py``).
"""

from __future__ import annotations

import math
import numbers
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..errors import CorruptArtifact
from . import lightgbm_text

_TREE = "sklearn.tree._tree:Tree"
_BOOSTER = "lightgbm.basic:Booster"
#: fitted attributes whose last dimension (or length) is the number of input features
_PER_FEATURE = ("mean_", "var_", "scale_", "center_", "max_abs_", "min_", "data_min_", "data_max_", "data_range_",
                "statistics_", "variances_", "lambdas_", "idf_", "coef_", "components_", "cluster_centers_",
                "quantiles_", "theta_", "feature_count_", "n_bins_", "bin_edges_", "categories_")


def _fail(message: str) -> None:
    raise CorruptArtifact(message)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# -- before an object is built ---------------------------------------------------------------

def before_construction(name: str, args: list) -> None:
    if name == _TREE:
        if len(args) != 3 or not _is_int(args[0]) or not _is_int(args[2]):
            _fail("a tree's constructor arguments are not (features, classes, outputs)")
        n_features, n_classes, n_outputs = args
        if (type(n_classes) is not np.ndarray or n_classes.dtype.kind != "i" or n_classes.ndim != 1
                or not 1 <= n_outputs == len(n_classes) or n_features < 1 or np.any(n_classes < 1)):
            _fail("a tree's feature, class or output counts are inconsistent")


@lru_cache(maxsize=512)
def _param_names(cls: type) -> tuple[str, ...]:
    """scikit-learn's parameter names of an allowed estimator class (read from its ``__init__``'s
    signature: cached, as a forest has a thousand trees of one class)."""
    return tuple(cls._get_param_names())


def no_shadowing(cls: type, state: dict) -> None:
    """A state field may not shadow what the class defines (a method, a property, the class's
    ``_parameter_constraints``): ``model.predict`` must stay the class's ``predict``. Estimator
    parameters that a class also defines as defaults are fine; a ``Tree``'s fields are its own."""
    if f"{cls.__module__}:{cls.__qualname__}" == _TREE:
        return
    from sklearn.base import BaseEstimator

    params = set(_param_names(cls)) if issubclass(cls, BaseEstimator) else set()
    shadowed = [key for key in state if key not in params and hasattr(cls, key)]
    if shadowed:
        _fail(f"a stored {cls.__name__} would replace what its class defines: {shadowed[:3]}")


def before_state(name: str, args: list, state: dict) -> None:
    if name == _TREE:
        _check_tree_state(args, state)
    elif name == _BOOSTER:
        if "handle" in state or not isinstance(state.get("_handle"), str):
            _fail("a LightGBM Booster's state holds no model text")
        lightgbm_text.check_model_text(state["_handle"])
    if name.startswith("sklearn.") and "_sklearn_version" in state:
        import sklearn

        if state["_sklearn_version"] != sklearn.__version__:  # (__setstate__ would warn in the cell)
            _fail(f"stored by scikit-learn {str(state['_sklearn_version'])[:20]}, not {sklearn.__version__}")


def _check_tree_state(args: list, state: dict) -> None:
    from sklearn.tree._tree import NODE_DTYPE, TREE_LEAF

    n_features, n_classes, n_outputs = args
    if set(state) != {"max_depth", "node_count", "nodes", "values"}:
        _fail("a tree's state has other fields than its node arrays")
    nodes, values, count, depth = state["nodes"], state["values"], state["node_count"], state["max_depth"]
    if (type(nodes) is not np.ndarray or nodes.dtype != NODE_DTYPE or nodes.ndim != 1
            or not nodes.flags.c_contiguous or not _is_int(count) or not 1 <= count == len(nodes)):
        _fail("a tree's node array has the wrong type, layout or count")
    if (type(values) is not np.ndarray or values.dtype != np.float64 or not values.flags.c_contiguous
            or values.shape != (count, n_outputs, int(n_classes.max()))):
        _fail("a tree's value array does not match its nodes, outputs and classes")
    # (contiguous copies: comparisons on the 64-byte-strided fields cost several times more)
    left, right = np.array(nodes["left_child"]), np.array(nodes["right_child"])
    leaf = left == TREE_LEAF
    inner = np.flatnonzero(~leaf)
    if np.any((right != TREE_LEAF) & leaf) or np.any(nodes["missing_go_to_left"] > 1):
        _fail("a tree has a half leaf or an unknown missing-value direction")
    # children after their parent and every node but the root the child of exactly one node: a tree
    inner_left, inner_right = left[inner], right[inner]
    children = np.concatenate([inner_left, inner_right])
    if (np.any(inner_left <= inner) or np.any(inner_right <= inner) or np.any(children >= count)
            or len(children) != count - 1 or np.any(np.bincount(children, minlength=count)[1:] != 1)):
        _fail("a tree's child indices are out of range or not a tree")
    feature = np.array(nodes["feature"])[inner]
    if np.any(feature < 0) or np.any(feature >= n_features):
        _fail("a tree splits on a feature it does not have")
    level, frontier = 0, np.zeros(1, dtype=np.int64)
    while True:  # level by level from the root (each node is reached once: a tree)
        frontier = frontier[~leaf[frontier]]
        if not len(frontier):
            break
        frontier = np.concatenate([left[frontier], right[frontier]])
        level += 1
    if not _is_int(depth) or depth != level:  # decision_path sizes its output by it
        _fail("a tree's recorded depth is not its depth")


# -- after an object is built ----------------------------------------------------------------

def after_state(obj: Any) -> None:
    from sklearn.base import BaseEstimator

    if isinstance(obj, BaseEstimator):
        _check_estimator(obj)
    for cls in type(obj).__mro__:
        check = _CLASS_CHECKS.get(f"{cls.__module__}:{cls.__qualname__}")
        if check is not None:
            check(obj)


def _check_estimator(est: Any) -> None:
    """Hyperparameters by scikit-learn's own constraints; conventional fitted attributes by type and shape."""
    names = _param_names(type(est))
    missing = [n for n in names if n not in vars(est)]
    if missing:
        _fail(f"{type(est).__name__} lacks its parameters {missing[:3]}")
    constraints = getattr(type(est), "_parameter_constraints", None)
    if isinstance(constraints, dict) and constraints:
        for name in names:
            if name in constraints:
                _check_parameter(type(est), name, constraints[name], vars(est)[name])
    attrs = vars(est)
    n_features = attrs.get("n_features_in_")
    if n_features is not None and (not _is_int(n_features) or n_features < 0):
        _fail("n_features_in_ is not a count")
    names_in = attrs.get("feature_names_in_")
    if names_in is not None and (type(names_in) is not np.ndarray or names_in.ndim != 1
                                 or (n_features is not None and len(names_in) != n_features)
                                 or not all(type(x) is str for x in names_in)):
        _fail("feature_names_in_ does not name each input feature")
    if n_features is not None:
        for name in _PER_FEATURE:
            part = attrs.get(name)
            width = part.shape[-1] if type(part) is np.ndarray and part.ndim else \
                len(part) if name == "categories_" and isinstance(part, list) else None
            if width is not None and width != n_features:
                _fail(f"{type(est).__name__}.{name} covers {width} features, not {n_features}")
    classes = attrs.get("classes_")
    if type(classes) is np.ndarray and (classes.ndim != 1 or (_is_int(attrs.get("n_classes_"))
                                                             and len(classes) != attrs["n_classes_"])):
        _fail("classes_ is not one label per class")
    outputs = attrs.get("n_outputs_")
    if outputs is not None and (not _is_int(outputs) or outputs < 1):
        _fail("n_outputs_ is not a count")


_VALID_PARAMETERS: set[tuple] = set()  # (class, name, type, value) seen valid: a forest's trees share most


def _check_parameter(cls: type, name: str, constraint: Any, value: Any) -> None:
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    try:
        key: tuple | None = (cls, name, type(value), value)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _VALID_PARAMETERS:
        return
    try:
        validate_parameter_constraints({name: constraint}, {name: value}, caller_name=cls.__name__)
    except InvalidParameterError as exc:
        _fail(f"a stored hyperparameter is invalid: {str(exc)[:200]}")
    if key is not None:
        if len(_VALID_PARAMETERS) > 10_000:
            _VALID_PARAMETERS.clear()
        _VALID_PARAMETERS.add(key)


def _sub_estimators(est: Any) -> list:
    found = vars(est).get("estimators_")
    if type(found) is np.ndarray:
        return list(found.flat)
    return list(found) if isinstance(found, list) else []


def _check_decision_tree(est: Any) -> None:
    tree = vars(est).get("tree_")
    if tree is None:
        return
    from sklearn.tree._tree import Tree

    if type(tree) is not Tree or tree.n_features != est.n_features_in_ or tree.n_outputs != est.n_outputs_:
        _fail("a decision tree's tree_ does not match its features or outputs")
    if hasattr(est, "classes_") and not np.array_equal(np.atleast_1d(est.n_classes_), tree.n_classes):
        _fail("a decision tree's tree_ does not match its classes")


def _check_tree_ensemble(est: Any) -> None:
    """Each tree gets the features the ensemble hands it: all of them, or its own subset
    (bagging, isolation forest); native code reads a tree's features by index, unchecked."""
    subsets = vars(est).get("estimators_features_")
    trees = _sub_estimators(est)
    n_features = vars(est).get("n_features_in_")
    if subsets is not None and (len(subsets) != len(trees) or any(
            type(s) is not np.ndarray or s.dtype.kind != "i" or np.any(s < 0) or np.any(s >= n_features)
            for s in subsets)):
        _fail("an ensemble's feature subsets do not match its estimators or features")
    for i, tree in enumerate(trees):
        width = len(subsets[i]) if subsets is not None else n_features
        if hasattr(tree, "tree_") and getattr(tree, "n_features_in_", None) != width:
            _fail("an ensemble's tree does not take the ensemble's features")


def _check_gradient_boosting(est: Any) -> None:
    """``predict_stages`` (Cython) adds tree k of each stage into column k of a raw-prediction
    array as wide as the init estimator predicts; it reads the trees' nodes directly."""
    from sklearn.tree import DecisionTreeRegressor

    grid = vars(est).get("estimators_")
    if grid is None:
        return
    width = est.n_trees_per_iteration_
    if type(grid) is not np.ndarray or grid.ndim != 2 or grid.shape[1] != width or grid.shape[0] < 1:
        _fail("a gradient boosting model's stages are not a grid of its output width")
    if any(type(t) is not DecisionTreeRegressor or t.n_features_in_ != est.n_features_in_ or t.n_outputs_ != 1
           for t in grid.flat):
        _fail("a gradient boosting model's stage is not a single-output tree on its features")
    multiclass = hasattr(est, "classes_") and len(est.classes_) > 2
    loss = vars(est).get("_loss")
    if width != (len(est.classes_) if multiclass else 1) or bool(getattr(loss, "is_multiclass", False)) != multiclass:
        _fail("a gradient boosting model's output width is not its number of classes")
    init = vars(est).get("init_")
    if init != "zero" and hasattr(init, "classes_") != hasattr(est, "classes_"):
        _fail("a gradient boosting model's init estimator predicts another kind of output")
    if hasattr(init, "classes_") and len(init.classes_) != len(est.classes_):
        _fail("a gradient boosting model's init estimator predicts other classes")
    if hasattr(init, "n_outputs_") and not hasattr(init, "classes_") and init.n_outputs_ != 1:
        _fail("a gradient boosting model's init estimator predicts several outputs")


def _check_kmeans(est: Any) -> None:
    centers = vars(est).get("cluster_centers_")
    if centers is None:
        return
    if (type(centers) is not np.ndarray or centers.ndim != 2 or centers.shape[0] < 1
            or centers.dtype not in (np.float32, np.float64)):
        _fail("KMeans centers are not a float matrix")
    threads = vars(est).get("_n_threads")
    if threads is not None and (not _is_int(threads) or not 1 <= threads <= 4096):
        _fail("KMeans thread count out of range")


def _index_or_none(value: Any, bound: int) -> bool:
    return value is None or (_is_int(value) and 0 <= value < bound)


def _check_encoder(est: Any) -> None:
    """Categories sorted and unique as fit makes them (transform looks values up by binary
    search); OneHotEncoder's output columns derived from them by scikit-learn's own code (its
    sparse output's column indices come from these counts)."""
    from sklearn.utils._encode import _unique

    categories = vars(est).get("categories_")
    if categories is None:
        return
    if not isinstance(categories, list) or any(type(c) is not np.ndarray or c.ndim != 1 for c in categories):
        _fail("an encoder's categories are not one array per feature")
    for cats in categories:
        if not _same_items(_unique(cats), cats):
            _fail("an encoder's categories are not sorted and unique")
    if not hasattr(est, "_n_features_outs"):
        return
    infrequent = vars(est).get("_infrequent_indices") if vars(est).get("_infrequent_enabled") else None
    grouped = [len(c) for c in categories]
    for i, cats in enumerate(categories):
        rare = infrequent[i] if infrequent is not None else None
        if rare is not None:
            if type(rare) is not np.ndarray or rare.dtype.kind != "i" or np.any(rare < 0) or np.any(rare >= len(cats)):
                _fail("an encoder's infrequent categories are out of range")
            grouped[i] -= len(rare) - 1
        mapping = est._default_to_infrequent_mappings[i] if infrequent is not None else None
        if mapping is not None and (type(mapping) is not np.ndarray or len(mapping) > len(cats)
                                    or np.any(mapping < 0) or np.any(mapping >= grouped[i])):
            _fail("an encoder's infrequent mapping is out of range")
    for name, bounds in (("drop_idx_", [len(c) for c in categories]), ("_drop_idx_after_grouping", grouped)):
        drops = vars(est).get(name)
        if drops is not None and (len(drops) != len(categories)
                                  or not all(_index_or_none(d, b) for d, b in zip(drops, bounds))):
            _fail(f"an encoder's {name} is out of range")
    if list(est._n_features_outs) != list(est._compute_n_features_outs()):
        _fail("an encoder's output columns do not follow from its categories")


def _same_items(a: np.ndarray, b: np.ndarray) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a.tolist(), b.tolist()):
        if type(x) is not type(y):
            return False
        if x != y and not (isinstance(x, float) and math.isnan(x) and math.isnan(y)):
            return False
    return True


def _check_vocabulary(est: Any) -> None:
    """Column indices of the sparse output come straight from the vocabulary's values."""
    vocabulary = vars(est).get("vocabulary_")
    if vocabulary is None:
        return
    if not isinstance(vocabulary, dict) or any(type(k) is not str or not _is_int(v) for k, v in vocabulary.items()):
        _fail("a vectorizer's vocabulary is not terms to column numbers")
    if sorted(int(v) for v in vocabulary.values()) != list(range(len(vocabulary))):
        _fail("a vectorizer's vocabulary does not number its columns 0..n-1")
    tfidf = vars(est).get("_tfidf")
    idf = getattr(tfidf, "idf_", None) if tfidf is not None and "idf_" in vars(tfidf) else None
    if idf is not None and (type(idf) is not np.ndarray or idf.shape != (len(vocabulary),)):
        _fail("a tf-idf vectorizer's weights do not match its vocabulary")


def _check_lightgbm_model(est: Any) -> None:
    """The wrapper's feature and class counts are the Booster's (its own checks use them)."""
    booster = vars(est).get("_Booster")
    if booster is None:
        return
    features, per_iteration = booster.num_feature(), booster.num_model_per_iteration()
    if est._n_features != features or vars(est).get("_n_features_in", features) != features:
        _fail("a LightGBM model's feature count is not its Booster's")
    n_classes = vars(est).get("_n_classes")
    if n_classes is not None and n_classes > 0:
        if per_iteration != (1 if n_classes <= 2 else n_classes) or len(est._classes) != n_classes:
            _fail("a LightGBM classifier's classes are not its Booster's")
        if len(est._le.classes_) != n_classes:
            _fail("a LightGBM classifier's label encoder is not its classes")


def _check_booster(booster: Any) -> None:
    if vars(booster).get("_Booster__num_class", 1) != booster.num_model_per_iteration():
        _fail("a LightGBM Booster's class count is not its model's")


_LIBSVM_KERNELS = ("linear", "poly", "rbf", "sigmoid")  # (not "precomputed", never a callable)


def _check_libsvm(est: Any) -> None:
    """libsvm's predict rebuilds the model in C from these arrays and trusts their sizes: the support
    vectors (n_SV x features), the per-class counts (summing to n_SV for a classifier; two of them, both
    n_SV or 0, for a regressor or one-class model), the dual coefficients (classes - 1 x n_SV), one intercept (and
    probability pair, if any) per pair of classes; dense, C-ordered, of the dtypes it is compiled for."""
    state = vars(est)
    if "support_vectors_" not in state:
        return  # (not fitted)

    def array(name: str, dtype: Any, ndim: int) -> np.ndarray:
        value = state.get(name)
        if type(value) is not np.ndarray or value.dtype != dtype or value.ndim != ndim or not value.flags.c_contiguous:
            _fail(f"a libsvm model's {name} is not a C-ordered {ndim}-d {np.dtype(dtype).name} array")
        return value

    vectors = array("support_vectors_", np.float64, 2)
    support = array("support_", np.int32, 1)
    counts = array("_n_support", np.int32, 1)
    dual = array("_dual_coef_", np.float64, 2)
    intercept = array("_intercept_", np.float64, 1)
    n_sv, n_class = len(vectors), len(counts)
    pairs = n_class * (n_class - 1) // 2
    classifier = hasattr(est, "classes_")
    shape_fit = state.get("shape_fit_")
    if (state.get("_sparse") is not False or est.kernel not in _LIBSVM_KERNELS or len(support) != n_sv
            or vectors.shape[1] != state.get("n_features_in_") or n_class < 2 or np.any(counts < 0)
            or (classifier and (n_class != len(est.classes_) or int(counts.sum()) != n_sv))
            or (not classifier and counts.tolist() not in ([0, 0], [n_sv, n_sv])) or dual.shape != (n_class - 1, n_sv)
            or len(intercept) != pairs or type(shape_fit) is not tuple or len(shape_fit) != 2
            or any(not _is_int(n) for n in shape_fit) or np.any(support < 0) or np.any(support >= shape_fit[0])
            or not np.isfinite(float(state.get("_gamma", np.nan)))):
        _fail("a libsvm model's support vectors, counts, coefficients or intercepts do not fit together")
    for name in ("_probA", "_probB"):
        if len(array(name, np.float64, 1)) not in (0, pairs):
            _fail(f"a libsvm model's {name} is not one value per pair of classes")
    if classifier and len(array("class_weight_", np.float64, 1)) != n_class:
        _fail("a libsvm classifier's class weights are not one per class")


_CLASS_CHECKS: dict[str, Callable[[Any], None]] = {
    "sklearn.svm._base:BaseLibSVM": _check_libsvm,
    "sklearn.tree._classes:BaseDecisionTree": _check_decision_tree,
    "sklearn.ensemble._base:BaseEnsemble": _check_tree_ensemble,
    "sklearn.ensemble._gb:BaseGradientBoosting": _check_gradient_boosting,
    "sklearn.cluster._kmeans:_BaseKMeans": _check_kmeans,
    "sklearn.preprocessing._encoders:_BaseEncoder": _check_encoder,
    "sklearn.feature_extraction.text:CountVectorizer": _check_vocabulary,
    "lightgbm.sklearn:LGBMModel": _check_lightgbm_model,
    "lightgbm.basic:Booster": _check_booster,
}
