"""XGBoost models as their JSON model text, checked before XGBoost's native code reads any of it.

An XGBoost ``Booster`` pickles as XGBoost's own binary serialization, which its C++ code trusts:
child indices, feature indices and output groups are used as array offsets when predicting. The
store keeps the model as ``save_raw("json")`` instead (XGBoost's documented portable format, which
``load_model`` reads back to an identical model) and reads it back only after this module has
checked, in Python, every number native code will use as an offset: each tree's children, parents
and split features against its node and feature counts, every node reached once from the root,
the trees' output groups and the iteration index. Categorical splits and vector leaves are refused
(their extra arrays are not checked here), as is any booster but ``gbtree``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import CorruptArtifact

_NO_PARENT = 2147483647  # XGBoost's "no node" for the root's parent
_NODE_ARRAYS = ("left_children", "right_children", "parents", "split_indices", "split_conditions", "default_left",
                "split_type", "base_weights", "loss_changes", "sum_hessian")


def _fail(why: str) -> None:
    raise CorruptArtifact(f"stored XGBoost model rejected: {why}")


def _count(text: Any, what: str, low: int = 0) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        _fail(f"{what} is not a count")
    if value < low or value > 1 << 31:
        _fail(f"{what} is out of range")
    return value


def check_model_json(data: bytes) -> None:
    """Raise ``CorruptArtifact`` unless ``data`` is a gbtree model whose offsets are all in range."""
    try:
        model = json.loads(data)
        learner = model["learner"]
        params = learner["learner_model_param"]
        booster = learner["gradient_booster"]
    except (ValueError, TypeError, KeyError):
        _fail("not an XGBoost model document")
    if not isinstance(booster, dict) or booster.get("name") != "gbtree":
        _fail("only gbtree boosters are read")
    n_features = _count(params.get("num_feature"), "the feature count")
    groups = max(_count(params.get("num_class"), "the class count"), _count(params.get("num_target"), "the target count"),
                 1)
    for key in ("feature_names", "feature_types"):
        names = learner.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or len(names) not in (0, n_features):
            _fail(f"its {key} do not match its feature count")
    gbtree = booster.get("model")
    if not isinstance(gbtree, dict) or not isinstance(gbtree.get("trees"), list):
        _fail("it has no tree list")
    trees = gbtree["trees"]
    if _count(gbtree.get("gbtree_model_param", {}).get("num_trees"), "the tree count") != len(trees):
        _fail("its tree count is not the number of its trees")
    tree_info = gbtree.get("tree_info")
    if not isinstance(tree_info, list) or len(tree_info) != len(trees) or \
            not all(type(g) is int and 0 <= g < groups for g in tree_info):
        _fail("its trees' output groups are out of range")
    indptr = gbtree.get("iteration_indptr")
    if not isinstance(indptr, list) or not indptr or indptr[0] != 0 or indptr[-1] != len(trees) or \
            not all(type(i) is int for i in indptr) or any(b < a for a, b in zip(indptr, indptr[1:])):
        _fail("its iteration index does not cover its trees")
    cats = gbtree.get("cats")
    if cats not in (None, {}) and not (isinstance(cats, dict) and all(not v for v in cats.values())):
        _fail("it has categorical features")
    for number, tree in enumerate(trees):
        _check_tree(tree, number, n_features)


def _check_tree(tree: Any, number: int, n_features: int) -> None:
    if not isinstance(tree, dict) or tree.get("id") != number:
        _fail(f"tree {number} is not numbered in order")
    param = tree.get("tree_param", {})
    n = _count(param.get("num_nodes"), "a tree's node count", low=1)
    if _count(param.get("size_leaf_vector", "1"), "a leaf size") > 1 or _count(param.get("num_deleted", "0"),
                                                                                 "deleted nodes") != 0:
        _fail(f"tree {number} has vector leaves or deleted nodes")
    if _count(param.get("num_feature"), "a tree's feature count") != n_features:
        _fail(f"tree {number}'s feature count is not the model's")
    arrays = {}
    for key in _NODE_ARRAYS:
        values = tree.get(key)
        if not isinstance(values, list) or len(values) != n:
            _fail(f"tree {number}'s {key} do not match its node count")
        arrays[key] = values
    if any(tree.get(key) for key in ("categories", "categories_nodes", "categories_segments", "categories_sizes")):
        _fail(f"tree {number} has categorical splits")
    try:
        left, right = np.asarray(arrays["left_children"], np.int64), np.asarray(arrays["right_children"], np.int64)
        parents, features = np.asarray(arrays["parents"], np.int64), np.asarray(arrays["split_indices"], np.int64)
        split_type = np.asarray(arrays["split_type"], np.int64)
        np.asarray(arrays["split_conditions"], np.float64), np.asarray(arrays["base_weights"], np.float64)
    except (TypeError, ValueError, OverflowError):
        _fail(f"tree {number} has non-numeric node arrays")
    leaf = left == -1
    if np.any(leaf != (right == -1)) or np.any(split_type != 0):
        _fail(f"tree {number} has a node with one child or a categorical split")
    inner = ~leaf
    if np.any((left[inner] < 1) | (left[inner] >= n) | (right[inner] < 1) | (right[inner] >= n)):
        _fail(f"tree {number} has a child index out of range")
    if np.any((features[inner] < 0) | (features[inner] >= max(n_features, 1))):
        _fail(f"tree {number} splits on a feature out of range")
    if parents[0] != _NO_PARENT:
        _fail(f"tree {number}'s root has a parent")
    children = np.concatenate([left[inner], right[inner]])
    if len(children) != n - 1 or len(np.unique(children)) != n - 1 or np.any(children == 0):
        _fail(f"tree {number} is not a tree (a node reached twice, or not at all)")
    owners = np.concatenate([np.flatnonzero(inner), np.flatnonzero(inner)])
    if np.any(parents[children] != owners):
        _fail(f"tree {number}'s parents do not match its children")


#: its training configuration (``save_config``): a few hundred parameters as text, in at most this many bytes
_CONFIG_BYTES = 1 << 16
_CONFIG_DEPTH = 8


def check_config_json(data: bytes) -> None:
    """Raise ``CorruptArtifact`` unless ``data`` is a configuration as ``Booster.save_config`` writes it for
    the CPU: objects of objects (lists of them where XGBoost keeps a sequence: updaters, metrics) whose
    values are short texts or flags, and its version numbers. XGBoost parses each value by its parameter's type and refuses bad ones."""
    if len(data) > _CONFIG_BYTES:
        _fail("its configuration is too large")
    try:
        config = json.loads(data)
    except ValueError:
        _fail("its configuration is not JSON")
    if not isinstance(config, dict) or not isinstance(config.get("learner"), dict):
        _fail("its configuration is not a learner's")
    _check_config_node(config, 0)
    device = config["learner"].get("generic_param", {}).get("device", "cpu")
    if device != "cpu":
        _fail(f"its configuration names the device {str(device)[:20]!r}, not the CPU")


def _check_config_node(node: Any, depth: int) -> None:
    if depth > _CONFIG_DEPTH:
        _fail("its configuration is nested too deeply")
    if isinstance(node, dict):
        for key, value in node.items():
            if len(key) > 64:
                _fail("its configuration has an overlong name")
            _check_config_node(value, depth + 1)
    elif isinstance(node, list):
        if len(node) > 64 or not (all(isinstance(v, dict) for v in node) or all(type(v) is int for v in node)):
            _fail("its configuration lists something other than settings or a version")
        for value in node:
            _check_config_node(value, depth + 1)
    elif not (isinstance(node, str) and len(node) <= 256) and type(node) not in (bool, int):
        _fail("its configuration holds a value that is not a short text, a flag or a number")
