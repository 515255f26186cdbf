"""Library accelerations: what the tracer does for particular libraries besides loading or computing.

Registered here, one class each, as library semantics are registered in ``specs.py``. Each sees a
traced call about to compute (``applies``) and wraps its computation (``around``: a context
manager, which may set ``call.warm_from`` to say what it did):

* ``binned.BinnedMatrices``: a LightGBM training loads the stored binned form of each matrix it
  would bin (a retrained model with another learning rate skips binning; the model is the same);
* ``warmstart.ForestWarmStart``: a random forest or extra-trees fit grows a stored smaller forest
  of the same key (the trees are those of a cold fit).
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from .binned import BinnedMatrices
from .warmstart import ForestWarmStart


class Acceleration(Protocol):
    def applies(self, call: Any) -> bool: ...

    def around(self, call: Any) -> contextlib.AbstractContextManager: ...


REGISTERED: tuple[type, ...] = (BinnedMatrices, ForestWarmStart)


_NONE = contextlib.nullcontext()


def around(accelerations: list[Acceleration], call: Any) -> contextlib.AbstractContextManager:
    """The accelerations that apply to ``call``, entered in order (exit them with the stack). Most
    calls have none: then a shared no-op context, not a new ExitStack per traced call."""
    applying = [a for a in accelerations if a.applies(call)]
    if not applying:
        return _NONE
    stack = contextlib.ExitStack()
    try:
        for acceleration in applying:
            stack.enter_context(acceleration.around(call))
    except BaseException:
        stack.close()
        raise
    return stack
