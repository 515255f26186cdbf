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

from ..fingerprint.values import is_estimator


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
    for (obj, source), (_, own) in zip(pairs, params):
        state = dict(vars(source))
        state.update(own)
        vars(obj).clear()
        vars(obj).update(state)
