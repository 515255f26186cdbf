"""LightGBM's model text, checked before LightGBM's C++ parser sees it.

A stored Booster is its model text (``model_to_string``), rebuilt by
``LGBM_BoosterLoadModelFromString``. That parser trusts its input: it jumps to each tree by the
header's ``tree_sizes`` without checking them against the text's end, reads a line up to the
next ``=`` whatever comes first, and a tree's child indices, split features and categorical
bounds are used at prediction without range checks (a child index out of range reads outside
the tree, a cycle never ends). Fed a hostile text, a kernel crashes or hangs. So the text is
accepted only in the exact shape LightGBM writes (every line, key and number pattern known, each
tree where ``tree_sizes`` says), and every index it holds is checked: children in range, each
node and leaf reached exactly once from the root with children after their parent (a tree, no
cycle), split features below ``max_feature_idx``, categorical thresholds inside
``cat_boundaries`` and those inside ``cat_threshold``, one tree per class per iteration and an
objective naming the same number of classes. Linear trees are refused (not validated here).
A tree of one leaf (no split met the constraints: few rows, a large ``min_child_weight``) is
written with an empty ``leaf_weight``; it holds no index, and LightGBM's parser reads nothing of it
past ``leaf_value``, so its per-leaf weight and count may be empty.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptArtifact

_INT = r"-?[0-9]+"
_FLOAT = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|inf|nan|-nan(?:\(ind\))?)"
_NAME = r"[^\s=]+"
_HEADER = {  # key -> the pattern of its value (None: a bare key, no "=")
    "tree": None, "average_output": None,
    "version": r"v[0-9]+", "num_class": _INT, "num_tree_per_iteration": _INT, "label_index": _INT,
    "max_feature_idx": _INT, "objective": r"[a-z_0-9]+(?: [a-z_0-9]+(?::[-+.0-9a-zA-Z_]+)?)*",
    "feature_names": rf"{_NAME}(?: {_NAME})*", "monotone_constraints": rf"{_INT}(?: {_INT})*",
    "feature_infos": r"\S+(?: \S+)*", "tree_sizes": r"[0-9]+(?: [0-9]+)*",
}
_REQUIRED = ("tree", "version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx",
             "feature_names", "feature_infos", "tree_sizes")
_OBJECTIVES = {"regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma", "tweedie",
               "binary", "multiclass", "multiclassova", "cross_entropy", "cross_entropy_lambda", "lambdarank",
               "rank_xendcg", "custom"}
_TREE_ARRAYS = {  # key -> (element pattern, count: "leaves" = num_leaves, "inner" = num_leaves - 1)
    "split_feature": (_INT, "inner"), "split_gain": (_FLOAT, "inner"), "threshold": (_FLOAT, "inner"),
    "decision_type": (_INT, "inner"), "left_child": (_INT, "inner"), "right_child": (_INT, "inner"),
    "leaf_value": (_FLOAT, "leaves"), "leaf_weight": (_FLOAT, "leaves"), "leaf_count": (_INT, "leaves"),
    "internal_value": (_FLOAT, "inner"), "internal_weight": (_FLOAT, "inner"), "internal_count": (_INT, "inner"),
}
_STUMP_MAY_OMIT = ("leaf_weight", "leaf_count")  # a one-leaf tree's optional per-leaf arrays, unread
_TREE_SCALARS = {"num_leaves": _INT, "num_cat": _INT, "is_linear": "0", "shrinkage": _FLOAT}
_TREE_MAX_LINES = 22  # LightGBM's tree reader stops after this many lines
_TAIL = re.compile(r"(?:end of trees|feature_importances:|[^\n=\[\]]+=[0-9]+|parameters:|\[[a-z_0-9]+: [^\n\]]*\]"
                   r"|end of parameters|parser:|end of parser|pandas_categorical:[^\n]*|)")


@dataclass(frozen=True)
class ModelShape:
    num_class: int
    num_features: int
    num_trees: int


def check_model_text(text: object) -> ModelShape:
    """The model's shape if ``text`` is a model text LightGBM wrote and every index in it is in
    range; ``CorruptArtifact`` otherwise."""
    if not isinstance(text, str) or not text.isascii() or "\r" in text or "\x00" in text:
        raise CorruptArtifact("LightGBM model text is not plain ASCII lines")
    if any(c < " " and c != "\n" for c in set(text)):
        raise CorruptArtifact("LightGBM model text holds control characters")
    first_tree = text.find("\nTree=")
    if first_tree < 0:
        raise CorruptArtifact("LightGBM model text has no trees")
    header = _header(text[:first_tree + 1])
    num_class, per_iteration = _positive(header, "num_class"), _positive(header, "num_tree_per_iteration")
    num_features = int(header["max_feature_idx"]) + 1
    if per_iteration != num_class or not 1 <= num_features <= 10_000_000:
        raise CorruptArtifact("LightGBM model header: trees per iteration, classes or features out of range")
    for key in ("feature_names", "feature_infos", "monotone_constraints"):
        if key in header and len(header[key].split(" ")) != num_features:
            raise CorruptArtifact(f"LightGBM model header: {key} does not name every feature")
    _check_objective(header.get("objective"), num_class)
    sizes = [int(s) for s in header["tree_sizes"].split(" ")]
    if len(sizes) % per_iteration:
        raise CorruptArtifact("LightGBM model: the trees are not whole iterations")
    at = first_tree + 1
    for number, size in enumerate(sizes):
        _check_tree(text[at:at + size], number, size, num_features)
        at += size
    if not text.startswith("end of trees\n", at):
        raise CorruptArtifact("LightGBM model: tree_sizes do not end where the trees do")
    tail = text[at:].split("\n")
    if any(not _TAIL.fullmatch(line) for line in tail):
        raise CorruptArtifact("LightGBM model: an unknown line after the trees")
    if any(line.startswith("[linear_tree: ") and line != "[linear_tree: 0]" for line in tail):
        raise CorruptArtifact("LightGBM model: linear trees are not loaded from a store")
    return ModelShape(num_class, num_features, len(sizes))


def _header(part: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in part.split("\n"):
        if not line:
            continue
        key, eq, value = line.partition("=")
        if key not in _HEADER or key in values or (_HEADER[key] is None) != (not eq):
            raise CorruptArtifact(f"LightGBM model header: unexpected line {line[:40]!r}")
        if eq and not re.fullmatch(_HEADER[key], value):  # type: ignore[arg-type]
            raise CorruptArtifact(f"LightGBM model header: malformed {key}")
        values[key] = value
    if any(key not in values for key in _REQUIRED) or part.split("\n", 1)[0] != "tree":
        raise CorruptArtifact("LightGBM model header: a required line is missing")
    return values


def _positive(header: dict[str, str], key: str) -> int:
    value = int(header[key])
    if not 1 <= value <= 100_000:
        raise CorruptArtifact(f"LightGBM model header: {key} out of range")
    return value


def _check_objective(objective: str | None, num_class: int) -> None:
    """The objective LightGBM rebuilds must be a known one with the header's number of classes
    (its output transform writes that many values per row)."""
    if objective is None:
        return
    name, *params = objective.split(" ")
    if name not in _OBJECTIVES:
        raise CorruptArtifact(f"LightGBM model: unknown objective {name[:20]!r}")
    classes = [p.split(":", 1)[1] for p in params if p.startswith("num_class:")]
    expected = num_class if name in ("multiclass", "multiclassova") else 1
    if classes != ([str(expected)] if name in ("multiclass", "multiclassova") else []) or num_class != expected:
        raise CorruptArtifact("LightGBM model: the objective's classes are not the model's")


def _check_tree(section: str, number: int, size: int, num_features: int) -> None:
    lines = section.split("\n")
    if len(section) != size or lines[0] != f"Tree={number}":
        raise CorruptArtifact(f"LightGBM model: tree {number} is not where tree_sizes put it")
    body = lines[1:]
    while body and body[-1] == "":
        body.pop()
    if not body or len(body) > _TREE_MAX_LINES or len(lines) - 1 - len(body) < 2:
        raise CorruptArtifact(f"LightGBM model: tree {number} has the wrong number of lines")
    fields: dict[str, str] = {}
    for line in body:
        key, eq, value = line.partition("=")
        if not eq or key in fields or key not in (*_TREE_ARRAYS, *_TREE_SCALARS, "cat_boundaries", "cat_threshold"):
            raise CorruptArtifact(f"LightGBM model: tree {number} has an unexpected line {line[:40]!r}")
        fields[key] = value
    for key, pattern in _TREE_SCALARS.items():
        if key not in fields or not re.fullmatch(pattern, fields[key]):
            raise CorruptArtifact(f"LightGBM model: tree {number} lacks a valid {key}")
    leaves, num_cat = int(fields["num_leaves"]), int(fields["num_cat"])
    if not 1 <= leaves <= 10_000_000 or num_cat < 0 or num_cat > leaves:
        raise CorruptArtifact(f"LightGBM model: tree {number} has {leaves} leaves and {num_cat} categorical splits")
    arrays = {key: _array(fields, key, pattern, leaves if count == "leaves" else leaves - 1, number)
              for key, (pattern, count) in _TREE_ARRAYS.items()}
    if leaves > 1:
        _check_structure(arrays, leaves, num_features, num_cat, fields, number)
    elif num_cat:
        raise CorruptArtifact(f"LightGBM model: tree {number} has categorical splits and no split")


def _array(fields: dict[str, str], key: str, pattern: str, count: int, number: int) -> list[str]:
    if key not in fields:
        if key in ("leaf_value", "left_child", "right_child", "split_feature", "threshold") and count:
            raise CorruptArtifact(f"LightGBM model: tree {number} lacks {key}")
        return []
    items = fields[key].split(" ") if fields[key] else []
    if not items and count == 1 and key in _STUMP_MAY_OMIT:
        return []  # (a one-leaf tree: LightGBM writes its leaf_weight empty; its parser reads no more than leaf_value)
    if len(items) != count or (items and not _list_of(pattern).fullmatch(fields[key])):
        raise CorruptArtifact(f"LightGBM model: tree {number}'s {key} is not {count} numbers")
    return items


@functools.lru_cache(maxsize=None)
def _list_of(pattern: str) -> re.Pattern:
    """Space-separated items of ``pattern`` (no item pattern matches a space): one match per line, not
    per number (a 2,000-tree model has 750,000 numbers; matched one by one, 60% of its store cost)."""
    return re.compile(f"(?:{pattern})(?: (?:{pattern}))*")


def _check_structure(arrays: dict[str, list[str]], leaves: int, num_features: int, num_cat: int,
                     fields: dict[str, str], number: int) -> None:
    inner = leaves - 1
    left = np.array(arrays["left_child"], dtype=np.int64)
    right = np.array(arrays["right_child"], dtype=np.int64)
    feature = np.array(arrays["split_feature"], dtype=np.int64)
    decision = np.array(arrays["decision_type"] or ["0"] * inner, dtype=np.int64)
    parents = np.arange(inner)
    children = np.concatenate([left, right])
    nodes, leaf_refs = children[children >= 0], ~children[children < 0]
    # children after their parent, each inner node but the root and each leaf reached exactly once
    if (np.any((left >= 0) & (left <= parents)) or np.any((right >= 0) & (right <= parents))
            or np.any(children < -leaves) or np.any(children >= inner)
            or not np.array_equal(np.sort(nodes), np.arange(1, inner))
            or not np.array_equal(np.sort(leaf_refs), np.arange(leaves))):
        raise CorruptArtifact(f"LightGBM model: tree {number}'s children are not a tree")
    if np.any(feature < 0) or np.any(feature >= num_features):
        raise CorruptArtifact(f"LightGBM model: tree {number} splits on a feature the model lacks")
    if np.any(decision < 0) or np.any(decision > 15) or np.any((decision >> 2) & 3 == 3):
        raise CorruptArtifact(f"LightGBM model: tree {number} has an unknown decision type")
    categorical = (decision & 1) == 1
    if not categorical.any() and not num_cat:
        return
    if "cat_boundaries" not in fields or "cat_threshold" not in fields:
        raise CorruptArtifact(f"LightGBM model: tree {number} has categorical splits without their bounds")
    bounds = np.array(_array(fields, "cat_boundaries", _INT, num_cat + 1, number), dtype=np.int64)
    words = _array(fields, "cat_threshold", _INT, int(bounds[-1]) if bounds[-1] >= 0 else -1, number)
    if bounds[0] != 0 or np.any(np.diff(bounds) < 0) or any(not 0 <= int(w) < 2**32 for w in words):
        raise CorruptArtifact(f"LightGBM model: tree {number}'s categorical bounds are out of order")
    thresholds = [arrays["threshold"][i] for i in np.flatnonzero(categorical)]
    if any(not re.fullmatch(r"[0-9]+", t) or int(t) >= num_cat for t in thresholds):
        raise CorruptArtifact(f"LightGBM model: tree {number} names a categorical split it lacks")
