"""Warm starting: a forest fit that grows a stored, smaller forest instead of training from nothing.

Only where the result is provably what a cold fit gives. scikit-learn's random
forests and extra-trees with an integer ``random_state`` draw every tree's seed
from that state in order, and a warm-started fit first skips the draws of the
trees it already has ("the random state we would have got if we hadn't used a
warm_start", ``sklearn.ensemble._forest.BaseForest.fit``), so growing a stored
forest of N trees to M > N trees gives the same M trees as fitting M from
scratch. Same estimator class, library version, training data and every other
hyperparameter are required (they are in the key); the user's estimator keeps
its own hyperparameters, only the learned trees are copied in.
"""

from __future__ import annotations

from typing import Any

from ..fingerprint.digest import digest_parts
from ..fingerprint.functions import package_version

GROWABLE = frozenset({"RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                      "ExtraTreesRegressor"})
# parameters that don't change the trees a forest's first N trees are (n_estimators is what grows)
_NOT_IN_KEY = frozenset({"n_estimators", "warm_start", "n_jobs", "verbose"})


def eligible(name: str, receiver: Any) -> bool:
    """A ``fit`` of a growable forest whose trees a warm start reproduces exactly."""
    t = type(receiver)
    if name != "fit" or t.__name__ not in GROWABLE or not t.__module__.startswith("sklearn.ensemble"):
        return False
    try:
        params = receiver.get_params(deep=False)
    except Exception:
        return False
    return type(params.get("random_state")) is int and params.get("warm_start") is False \
        and type(params.get("n_estimators")) is int


def key(receiver: Any, args: tuple, kwargs: dict, resolve: Any) -> str:
    """What a stored forest must share with this fit to be grown into its result."""
    t = type(receiver)
    params = {k: v for k, v in sorted(receiver.get_params(deep=False).items()) if k not in _NOT_IN_KEY}
    return digest_parts("warm-start", f"{t.__module__}.{t.__qualname__}@{package_version(t.__module__)}",
                        params, args, dict(sorted(kwargs.items())), resolve=resolve)


def grow_from(receiver: Any, stored: Any) -> dict:
    """Copy the stored forest's learned state into ``receiver`` (its hyperparameters kept) and set it to
    add trees; returns the receiver's own parameters, to restore with ``finish`` after the fit."""
    params = receiver.get_params(deep=False)
    receiver.__dict__.update({k: v for k, v in stored.__dict__.items() if k.endswith("_") or k.startswith("_")})
    receiver.set_params(**params)
    receiver.warm_start = True
    return params


def finish(receiver: Any, params: dict) -> None:
    receiver.warm_start = params["warm_start"]
