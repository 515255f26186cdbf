"""A stored fitted estimator, adopted into the user's own estimator objects.

A reused ``fit`` can't hand back the stored object: the user holds the estimator it was called on,
and often the estimators inside it (``scaler = StandardScaler(); pipe = Pipeline([("s", scaler),
...])``). So the stored fitted state is copied into the live receiver, and the receiver keeps its
own parameter values (the user's objects, as scikit-learn's convention that ``fit`` never changes a
parameter says). Meta-estimators differ in what ``fit`` does to the estimators they are given:
``Pipeline`` and ``FeatureUnion`` fit them in place (the user's ``scaler`` is fitted afterwards),
while searches, ensembles and ``ColumnTransformer`` fit clones and leave them untouched. Which it
was is observed when the fit computes (``Nested``: the nested estimators' own state before and
after) and stored with the result, so a reuse fits in place exactly the ones a plain run would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fingerprint.values import is_estimator
from ..store.state import NEVER_SHARED


def _state(obj: Any) -> tuple:
    """An estimator's own attributes, by value for scalars and by identity otherwise: fitting sets
    new attributes or rebinds old ones, which this sees."""
    out = []
    for key, value in vars(obj).items():
        if isinstance(value, (type(None), bool, int, str)):
            out.append((key, value))
        elif isinstance(value, float):
            out.append((key, value.hex()))
        else:
            out.append((key, id(value)))
    return tuple(out)


def nested_estimators(estimator: Any) -> dict[str, Any]:
    """The estimators among ``get_params(deep=True)``, by parameter path (``"scale"``,
    ``"union__pca"``)."""
    try:
        params = estimator.get_params(deep=True)
    except Exception:
        return {}
    return {key: value for key, value in params.items() if is_estimator(value) and value is not estimator}


class Nested:
    """The nested estimators of a receiver about to be fitted, and their state before."""

    __slots__ = ("_before",)

    def __init__(self, receiver: Any) -> None:
        self._before = [(key, obj, _state(obj)) for key, obj in nested_estimators(receiver).items()]

    def fitted_in_place(self) -> dict[str, Any]:
        """Path -> object of the nested estimators the fit changed (``Pipeline``'s steps)."""
        return {key: obj for key, obj, before in self._before if _state(obj) != before}


def adoptable(receiver: Any, fitted: Any, in_place: list[str]) -> bool:
    """Does the stored fitted estimator match the live one, nested estimators included?"""
    if type(fitted) is not type(receiver):
        return False
    live, stored = nested_estimators(receiver), nested_estimators(fitted)
    return all(key in live and key in stored and type(live[key]) is type(stored[key]) for key in in_place)


def adopt(receiver: Any, fitted: Any, in_place: list[str]) -> None:
    """Give the live ``receiver`` the stored ``fitted`` state, and the nested estimators a plain
    fit would have fitted in place theirs; every object keeps its own parameter values."""
    live, stored = nested_estimators(receiver), nested_estimators(fitted)
    pairs = [(receiver, fitted)] + [(live[key], stored[key]) for key in in_place]
    params = [(obj, obj.get_params(deep=False)) for obj, _ in pairs]  # all read before any changes
    twins: dict[int, Any] = {}
    for (_, source), (_, own) in zip(pairs, params):
        for name, value in own.items():
            _pair_up(vars(source).get(name), value, twins, set(), 0)
    relinked: dict[int, Any] = {}
    for (obj, source), (_, own) in zip(pairs, params):
        state = {key: value if key in own else _relink(value, twins, relinked, 0) for key, value in vars(source).items()}
        state.update(own)
        vars(obj).clear()
        vars(obj).update(state)


# -- what the fitted state shares with the parameters ----------------------------------------------
#
# A fit keeps some of its parameters' parts in what it learns: ColumnTransformer's ``_columns`` and
# ``transformers_`` are the very column lists of ``transformers``, and every ``feature_names_in_`` holds
# the column-name strings those lists hold. The stored state shares them with the stored parameters; the
# live estimator keeps its own parameters, so each such part of the stored state is swapped for the live
# parameters' part in the same place. Without that, pickle (``joblib.dump``) writes the parts twice where
# the plain run's file refers back to them.


def _pair_up(stored: Any, live: Any, twins: dict[int, Any], seen: set[int], depth: int) -> None:
    """Map each part of a stored parameter value to the live value's part in the same place."""
    if (type(stored) is not type(live) or type(stored) in NEVER_SHARED or stored is live or depth > 30
            or id(stored) in seen):
        return
    seen.add(id(stored))
    twins.setdefault(id(stored), live)
    if type(stored) in (list, tuple) and len(stored) == len(live):
        for a, b in zip(stored, live):
            _pair_up(a, b, twins, seen, depth + 1)
    elif type(stored) is dict and len(stored) == len(live):
        for (ka, va), (kb, vb) in zip(stored.items(), live.items()):
            _pair_up(ka, kb, twins, seen, depth + 1)
            _pair_up(va, vb, twins, seen, depth + 1)
    elif is_estimator(stored):
        try:
            own = live.get_params(deep=False)
        except Exception:
            return
        for name, value in own.items():
            _pair_up(vars(stored).get(name), value, twins, seen, depth + 1)


def _relink(value: Any, twins: dict[int, Any], done: dict[int, Any], depth: int) -> Any:
    """``value`` (a part of the stored state, the store's own objects) with every part that is a stored
    parameter's part replaced by the live parameter's: lists, dicts, object arrays and estimators are
    changed in place, tuples rebuilt."""
    if type(value) in NEVER_SHARED or depth > 30:
        return value
    if id(value) in twins:
        return twins[id(value)]
    if id(value) in done:
        return done[id(value)]
    done[id(value)] = value
    t = type(value)
    if t is list:
        value[:] = [_relink(x, twins, done, depth + 1) for x in value]
    elif t is tuple:
        items = tuple(_relink(x, twins, done, depth + 1) for x in value)
        if any(a is not b for a, b in zip(items, value)):
            done[id(value)] = items
            return items
    elif t is dict:
        pairs = [(_relink(k, twins, done, depth + 1), _relink(v, twins, done, depth + 1)) for k, v in value.items()]
        value.clear()
        value.update(pairs)
    elif t is np.ndarray and value.dtype.hasobject:
        for position, item in enumerate(list(value.flat)):
            value.flat[position] = _relink(item, twins, done, depth + 1)
    elif is_estimator(value) or type(value).__module__.startswith("sklearn."):
        for key, item in list(vars(value).items()) if hasattr(value, "__dict__") else ():
            vars(value)[key] = _relink(item, twins, done, depth + 1)
    return value
