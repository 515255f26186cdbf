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

import contextlib
from typing import Any, Iterator

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


class ForestWarmStart:
    """The acceleration (``accelerations.py``): a forest fit grows the largest stored smaller forest of
    the same key instead of training from nothing."""

    def __init__(self, tracer: Any):
        self.tracer = tracer

    def applies(self, call: Any) -> bool:
        return call.op_id is not None and call.reason is None and eligible(call.op.name, call.receiver)

    @contextlib.contextmanager
    def around(self, call: Any) -> Iterator[None]:
        receiver, backend = call.receiver, self.tracer.backend
        try:
            forest_key = key(receiver, call.args, call.kwargs, self.tracer.identity.resolve)
        except Exception:  # (a parameter that can't be named: a cold fit, as written)
            yield
            return
        stored = self._stored_forest(forest_key, receiver.n_estimators)
        params = None
        if stored is not None:
            params = grow_from(receiver, stored[0])
            call.warm_from = f"grown from a stored forest of {stored[1]} trees (identical to a cold fit)"
        try:
            yield
        finally:
            if params is not None:
                finish(receiver, params)
        backend.remember_forest(forest_key, receiver.n_estimators, call.op_id)

    def _stored_forest(self, forest_key: str, n_estimators: int) -> tuple[Any, int] | None:
        """(fitted forest, its tree count): the largest stored forest under the key smaller than asked."""
        backend, producer = self.tracer.backend, self.tracer.producer
        for n, artifact_id in sorted(backend.stored_forests(forest_key), reverse=True):
            if n >= n_estimators:
                continue
            info = backend.lookup(artifact_id)
            if info is None or not backend.loadable(info):
                continue
            loaded = producer.load("a stored forest (warm start)", artifact_id, info)
            if loaded is None or "effects" in loaded.extra:
                continue  # (a fit that changed objects it was given: only a reuse of that very call replays it)
            forest = loaded.value[0] if loaded.extra.get("fitted_self") else loaded.value
            if len(getattr(forest, "estimators_", ())) == n:
                return forest, n
        return None
