"""How each artifact of a kernel came to be: what recreating it costs, and the ids live objects carry.

An operation names its result (and what it changed: its receiver, the items of a tuple it returned,
the estimators a pipeline fitted in place, the objects a callback filled) by ids derived from its
own, so a reuse that reproduces the same objects gives them the same names and every later step keeps
its id. ``seconds`` adds up an artifact's own compute time and its ancestors' (each once): what
storing it would save.
"""

from __future__ import annotations

from typing import Any

from ..fingerprint.digest import digest_parts
from .registry import Registry

_SCALARS = (int, float, str, bool, bytes, type(None))


class Lineage:
    """The lineage bookkeeping of one kernel's tracer."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._seconds: dict[str, float] = {}

    def note(self, op_id: str, seconds: float, inputs: list[str]) -> float:
        """Seconds to recreate the artifact from scratch (its own and its ancestors' compute times)."""
        total = seconds + sum(self._seconds.get(i, 0.0) for i in dict.fromkeys(inputs))
        self._seconds[op_id] = total
        return total

    def derived(self, derived: str, op_id: str) -> str:
        """The id of something an operation changed or returned besides its result (its receiver,
        the items of its tuple), recreated by recreating the operation: same lineage."""
        self._seconds[derived] = self._seconds.get(op_id, 0.0)
        return derived

    def name_result(self, value: Any, op_id: str, made_since: int | None = None) -> None:
        """Name a result by the operation's id. An object that existed before the operation
        (``pipe.named_steps["lr"]`` returns the user's ``lr``) keeps its name: the operation didn't
        change it, and renaming it would make what is stored of it look changed. ``made_since``: a
        notebook call's clock at its start; what its body made since then is named by the call."""
        def new(item: Any) -> bool:
            return self.registry.get(item) is None or (made_since is not None and
                                                       not self.registry.existed_before(item, made_since))

        if isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                if not isinstance(item, _SCALARS) and new(item):
                    self.registry.set(item, self.derived(digest_parts(op_id, "item", i), op_id))
            return
        if not isinstance(value, (int, float, str, bool, bytes)) and new(value):
            self.registry.set(value, op_id)

    def name_changed(self, obj: Any, op_id: str, result: Any, nested_followed: bool = False) -> None:
        """``obj`` was changed in place by the operation ``op_id`` that returned ``result``;
        ``nested_followed``: the estimators nested in it that changed are named apart."""
        self.registry.mutated(obj, op_id if obj is result else self.derived(digest_parts(op_id, "self"), op_id),
                              nested_followed)

    def name_fitted_in_place(self, op_id: str, in_place: dict[str, Any]) -> None:
        """Estimators a meta-estimator's fit fitted in place (a pipeline's steps) get ids derived from
        the fit's (the same after a reuse adopts the stored state into them)."""
        for key, obj in in_place.items():
            self.registry.mutated(obj, self.derived(digest_parts(op_id, "nested", key), op_id))

    def name_effects(self, op_id: str, changed: list[Any]) -> None:
        """Objects a call changed besides its result and receiver get ids derived from the call's (the
        same after a reuse replays the change)."""
        for i, obj in enumerate(changed):
            if self.registry.get(obj) is not None:
                self.registry.mutated(obj, self.derived(digest_parts(op_id, "effect", i), op_id))
