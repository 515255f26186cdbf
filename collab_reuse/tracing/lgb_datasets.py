"""A reused LightGBM training call leaves the Datasets it was given as the plain call would: binned.

``lgb.train`` and ``lgb.cv`` bin ("construct") the Datasets they are given the first time, and log
it; a later training call on the same Dataset logs other lines (there is nothing left to bin). A
reused call doesn't run, so its Datasets would stay unbinned: the next training call would then bin
them and print what the plain run printed earlier, or be taken for the earlier call and replay its
output (seen in koehrsen_model_tuning: a cross-validation in a notebook function after one in a
cell). So whether each Dataset given is binned is part of a training call's identity
(``state``), and after a reuse the Datasets it was given unbinned are binned by the same function,
run for one round with its output, warnings and callbacks left out (``construct_as_plain``): the
same LightGBM code, so the same bins and parameters as in the plain run.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import sys
import warnings
from typing import Any, Callable

log = logging.getLogger("collab_reuse")

FUNCTIONS = frozenset({"train", "cv"})


def applies(module: str | None, name: str) -> bool:
    """Is this LightGBM's functional training API (its scikit-learn API bins Datasets of its own)?"""
    return (module or "").split(".", 1)[0] == "lightgbm" and name in FUNCTIONS


def _datasets(args: tuple, kwargs: dict) -> list[Any]:
    dataset = getattr(sys.modules.get("lightgbm.basic"), "Dataset", None)
    if dataset is None:
        return []
    found = []
    for value in (*args, *kwargs.values()):
        for item in (value if isinstance(value, (list, tuple)) else (value,)):
            if isinstance(item, dataset) and not any(item is f for f in found):
                found.append(item)
    return found


def state(args: tuple, kwargs: dict) -> list[bool] | None:
    """Whether each Dataset given is binned, in order; None when none is given."""
    found = _datasets(args, kwargs)
    return [getattr(d, "_handle", None) is not None for d in found] if found else None


def construct_as_plain(func: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """Bin the Datasets given that aren't, as ``func`` (``lgb.train``/``lgb.cv``) itself does: one
    round, no callbacks, nothing shown. Best effort: a failure leaves them unbinned (as before)."""
    if all(state(args, kwargs) or [True]):
        return
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
        bound.arguments["num_boost_round"] = 1
        bound.arguments["callbacks"] = None
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            func(*bound.args, **bound.kwargs)
    except Exception:
        log.debug("the Datasets of a reused %s were not binned", getattr(func, "__name__", "call"), exc_info=True)
