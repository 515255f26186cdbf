"""Notebook calls and replayable cells in progress: what they did besides computing their result.

A call of a notebook function may be reused whole only if it had no effect a reuse would skip; a cell
may replay its displayed outputs only if drawing was its only effect. While either runs it is a
``Scope``: the tracer reports every effect it sees (an unknown library called, an object that existed
before changed in place, a file written) to every scope in progress, and each remembers the first
reason it is impure.
"""

from __future__ import annotations

from typing import Any

from . import settings
from .lazy import Lazy
from .registry import Registry


class Scope:
    """One notebook call (or replayable cell) in progress. ``clock``: the registry's clock at its
    start (what existed before it); ``displays``: drawing is not an effect here (a cell's figures are
    what it replays)."""

    __slots__ = ("clock", "impure", "displays")

    def __init__(self, clock: int, displays: bool = False):
        self.clock, self.impure, self.displays = clock, None, displays


class Scopes:
    """The scopes in progress, outermost first."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._open: list[Scope] = []

    def __bool__(self) -> bool:
        return bool(self._open)

    def enter_call(self) -> Scope:
        scope = Scope(self.registry.clock)
        self._open.append(scope)
        return scope

    def enter_cell(self) -> Scope:
        """A cell that may be replayed: the outermost scope."""
        scope = Scope(self.registry.clock, displays=True)
        self._open.insert(0, scope)
        return scope

    def leave(self, scope: Scope) -> str | None:
        """The scope ended: why it was impure (None: it wasn't)."""
        if scope in self._open:
            self._open.remove(scope)
        return scope.impure

    def impure(self, why: str, replayable: bool = False) -> None:
        """Every scope in progress had an effect besides its result. ``replayable``: the effect is one a
        replayed cell reproduces (drawing on a figure)."""
        for scope in self._open:
            if scope.impure is None and not (replayable and scope.displays):
                scope.impure = why

    def changed_in_place(self, obj: Any) -> None:
        """``obj`` is being changed in place: an effect of every scope it existed before."""
        for scope in self._open:
            if scope.impure is not None or (scope.displays and settings.is_settings_object(obj)):
                continue  # (a cell's replay makes the same settings change: ``settings``)
            if type(obj) is Lazy:
                if obj._cr_born <= scope.clock:
                    scope.impure = f"it changes a {obj._cr_node.type.__name__} it was given in place"
            elif self.registry.existed_before(obj, scope.clock):
                scope.impure = f"it changes a {type(obj).__name__} it was given in place"
