"""Which computed results are offered to the store, and as what.

A result is offered when computing it took longer than the backend's ``min_saving``, or when it is
tiny but condenses a large input of costly lineage (a frame's ``shape``, a ``head()``: a re-run shows
it without producing its ancestors). Live objects are held, not copied: the store encodes them only
between cells and only if their id is still the one they got here (else they changed). A fitted
estimator is offered as itself and what its ``fit`` returned; intermediate objects (groupbys,
iterators, LightGBM Datasets) never.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..fingerprint.digest import digest_parts
from ..store.formats import kind_of
from .capture import Capture
from .registry import Registry, snapshot
from .steps import ComputedValue

SMALL_BYTES = 1 << 18        # results this small are worth storing when their lineage was expensive
COSTLY_LINEAGE = 0.05        # seconds
FRAGMENTED_BLOCKS = 16       # a held small frame with more blocks than this is consolidated (``held_copy``)
_HANDLES = ("NpzFile", "ExcelFile", "Styler", "Dataset", "DMatrix", "QuantileDMatrix", "Pool")


def worth_storing(seconds: float, min_saving: float, lineage: float, result: Any, inputs: tuple) -> bool:
    """Does storing the result pay: it took long, or it is tiny but recomputing it means producing the
    large thing it came from (``inputs``: its receiver, arguments and keyword values)?"""
    if seconds >= min_saving:
        return True
    return lineage >= COSTLY_LINEAGE and is_small(result) and condenses(inputs)


def candidate(op_id: str, result: Any, mutated: list[Any], seconds: float, extra: dict, capture: Capture,
              registry: Registry) -> ComputedValue | None:
    """What to offer the store for a computed result (None: nothing worth holding)."""
    if not capture.replayable:
        return None
    if mutated:
        receiver = mutated[0]
        if kind_of(receiver) != "model":
            return None
        extra = {**extra, "fitted_self": True, "result_is_self": result is receiver}
        receiver_id = op_id if result is receiver else digest_parts(op_id, "self")
        value = (receiver, None if result is receiver else snapshot(result))
        return ComputedValue(op_id, value, "model", seconds, extra, live=((receiver, receiver_id),))
    if result is None or is_lazy_or_handle(result):
        return None
    items = enumerate(result) if isinstance(result, (tuple, list)) else ((None, result),)
    live = tuple((item, registry.get(item)) for _, item in items if registry.get(item) is not None)
    # weakly: a strong reference would raise pandas' reference counts and hide chained assignments
    live = tuple((weak_or_self(obj), expected) for obj, expected in live)
    return ComputedValue(op_id, held_copy(result), kind_of(result), seconds, extra, live=live)


def held_copy(value: Any) -> Any:
    """What a candidate holds until it is stored: its :func:`snapshot`; but a small frame built column
    by column (one block per column) is held as a consolidated copy. Each block is several objects
    that every full garbage collection walks, and results wait for an idle kernel: a notebook whose
    one cell slices a 340-column frame per fold and calls ``gc.collect()`` between folds spent 17% more
    in the collector than its plain run. The copy is of at most ``SMALL_BYTES``."""
    try:
        fragmented = type(value).__name__ == "DataFrame" and len(value._mgr.blocks) > FRAGMENTED_BLOCKS
    except Exception:  # (a pandas whose internals differ)
        fragmented = False
    if fragmented and is_small(value):
        return value.copy(deep=True)
    return snapshot(value)


def unchanged(candidate: ComputedValue, registry: Registry) -> bool:
    """Do the candidate's live objects still hold the ids they had when it was made?"""
    for ref, expected in candidate.live:
        obj = ref() if isinstance(ref, weakref.ref) else ref
        if obj is not None and registry.get(obj) != expected:
            return False  # (a collected object can't have changed since: its snapshot is the value)
    return True


def weak_or_self(obj: Any) -> Any:
    """A weak reference to ``obj`` where it allows one (a candidate's ``live`` objects), else ``obj``."""
    try:
        return weakref.ref(obj)
    except TypeError:
        return obj


def condenses(inputs: tuple) -> bool:
    """Some input is large (a tiny result of small inputs is as cheap to redo from them as to load)."""
    for value in inputs:
        try:
            nbytes = value.size * 8 if type(value).__name__ == "DataFrame" else getattr(value, "nbytes", 0)
            if int(nbytes) > SMALL_BYTES:
                return True
        except Exception:
            continue
    return False


def is_small(value: Any) -> bool:
    """Cheap to store whatever it cost: scalars, short texts and tuples, small frames and arrays."""
    t = type(value)
    if t in (int, float, bool, complex) or (t.__module__ == "numpy" and not hasattr(value, "__len__")):
        return True
    if t is str:
        return len(value) < 10_000
    if t is tuple:
        return len(value) <= 64 and all(type(v) in (int, float, bool, str, type(None)) for v in value)
    if t.__module__.split(".", 1)[0] in ("pandas", "numpy"):
        nbytes = shallow_bytes(value)
        return nbytes is not None and nbytes <= SMALL_BYTES
    return False


def shallow_bytes(value: Any) -> int | None:
    """The bytes of a pandas or NumPy value's own buffers (object items counted as pointers, as
    ``memory_usage(deep=False)`` counts them); None when it has none. A frame's blocks are summed
    directly: ``DataFrame.memory_usage`` builds a Series per column (10 ms for 800 columns), and this
    runs for every traced result."""
    try:
        if type(value).__name__ == "DataFrame" and hasattr(value, "_mgr"):
            try:
                return sum(int(block.values.nbytes) for block in value._mgr.blocks) + int(value.index.memory_usage())
            except Exception:  # (a pandas whose internals differ: the public, slower way)
                return int(value.memory_usage(index=True, deep=False).sum())
        if type(value).__name__ == "Series" and hasattr(value, "memory_usage"):
            return int(value.memory_usage(index=True, deep=False))
        if hasattr(value, "memory_usage"):  # an Index's takes no ``index``
            return int(value.memory_usage(deep=False))
        if hasattr(value, "nbytes"):
            return int(value.nbytes)
    except Exception:
        return None
    return None


def is_lazy_or_handle(value: Any) -> bool:
    """Groupby objects, iterators, file handles, training datasets: intermediates not worth storing."""
    name = type(value).__name__
    return "GroupBy" in name or "Resampler" in name or "Rolling" in name or hasattr(value, "__next__") or \
        name in _HANDLES
