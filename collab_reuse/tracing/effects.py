"""What a traced call changes besides its result and its receiver, and replaying it on reuse.

A library call may fill a container it was given (LightGBM's ``record_evaluation(results)``
fills the user's ``results`` dict during ``fit``) or change an object it was given (a callback
instance that keeps a history, an early-stopping callback that disables itself). Those are effects
of the call: a reuse that only loads the result would leave them undone, and the notebook would
print ``{}`` where a plain run prints the scores.

Before a call computes, the mutable objects reachable from its arguments (dicts, lists, sets,
objects with a ``__dict__``; never data values, which the registry follows) are watched: their
shallow state is recorded. After it, those whose state changed are its effects. An effect whose
new state is plain data (scalars, strings, arrays, and containers of them, all new) is stored with
the result and written back into the same object, reached by the same path from the arguments,
when the result is reused; any other effect makes the call unreusable (it runs at every use).

Library objects whose state a call changes only for its own use (an early-stopping callback's best
scores, reset at the start of every training; a LightGBM ``Dataset`` constructed on first use) are
described in ``specs.CALL_SCRATCH``: those attributes are neither watched nor part of identity.
"""

from __future__ import annotations

import copy
import types
from typing import Any

from ..fingerprint.values import is_estimator
from . import specs

MAX_WATCHED = 200   # objects reachable from one call's arguments; beyond this the call is unreusable
MAX_DEPTH = 4
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_JSON_KEYS = (str, int, bool, type(None))

Path = tuple  # ("arg", i) | ("kw", name), then ("item", i) | ("key", k) | ("attr", name) steps


class Unwatchable(Exception):
    """Too much reachable from a call's arguments to watch it: it is not reused."""


def _is_data(value: Any) -> bool:
    """Values the registry follows by lineage (frames, arrays, estimators, lazies)."""
    module = type(value).__module__.split(".", 1)[0]
    return module in ("pandas", "numpy") or type(value).__name__ == "Lazy" or is_estimator(value)


def _opaque(value: Any) -> bool:
    return isinstance(value, (_SCALARS, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                              types.MethodType, type, range, slice)) or _is_data(value)


def scratch_attributes(value: Any) -> frozenset[str] | None:
    """Attributes of a library object that calls change for their own use (``specs.CALL_SCRATCH``);
    None when the class isn't listed; ``specs.ALL`` when the whole object is scratch."""
    cls = type(value)
    return specs.CALL_SCRATCH.get(f"{cls.__module__}.{cls.__qualname__}")


def public_state(value: Any) -> dict[str, Any]:
    """An object's attributes, less those calls change for their own use (what identifies it)."""
    state = vars(value)
    scratch = scratch_attributes(value)
    if not scratch:
        return state
    if scratch is specs.ALL:
        return {}
    return {k: v for k, v in state.items() if k not in scratch}


class Watch:
    """The mutable objects reachable from a call's arguments and their state before the call."""

    __slots__ = ("_watched", "_seen")

    def __init__(self, args: tuple, kwargs: dict) -> None:
        self._watched: list[tuple[Path, Any, Any]] = []   # (path, object, shallow state before)
        self._seen: set[int] = set()                      # ids of every object reachable before the call
        for i, value in enumerate(args):
            self._walk(value, (("arg", i),), 0)
        for key, value in kwargs.items():
            self._walk(value, (("kw", key),), 0)

    def __bool__(self) -> bool:
        return bool(self._watched)

    def _walk(self, value: Any, path: Path, depth: int) -> None:
        if _opaque(value) or id(value) in self._seen:
            return
        self._seen.add(id(value))
        if depth > MAX_DEPTH or len(self._watched) >= MAX_WATCHED:
            raise Unwatchable("too many objects reachable from its arguments to follow what it changes")
        t = type(value)
        if isinstance(value, tuple):
            for i, item in enumerate(value):
                self._walk(item, path + (("item", i),), depth + 1)
            return
        if isinstance(value, (list, dict, set, frozenset)):
            if t is not frozenset:
                self._watched.append((path, value, _shallow(value)))
            if isinstance(value, list):
                for i, item in enumerate(value):
                    self._walk(item, path + (("item", i),), depth + 1)
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(key, _JSON_KEYS):
                        self._walk(item, path + (("key", key),), depth + 1)
            return
        if not hasattr(value, "__dict__"):
            return  # (objects without one: C types, slots; what they hold is out of reach)
        effect = specs.EFFECTFUL_OBJECTS.get(f"{t.__module__}.{t.__qualname__}")
        if effect is not None:
            raise Unwatchable(f"it is given a {t.__qualname__}, which {effect}")
        scratch = scratch_attributes(value)
        if scratch is specs.ALL:
            return
        self._watched.append((path, value, _shallow(public_state(value))))
        for key, item in public_state(value).items():
            self._walk(item, path + (("attr", key),), depth + 1)

    def changed(self) -> list[tuple[Path, Any]]:
        """(path, object) of every watched object whose state differs from before the call."""
        out = []
        for path, obj, before in self._watched:
            now = _shallow(public_state(obj) if _is_object(obj) else obj)
            if now != before:
                out.append((path, obj))
        return out

    def after_states(self, changed: list[tuple[Path, Any]]) -> list[Any] | str:
        """The new state of each changed object as plain data to store (copied: later changes by the
        notebook must not reach what is stored), or why one can't be replayed. A container's whole
        content (its order shows when it is printed); an object's changed attributes only
        (``{"set": {...}, "del": [...]}``: attributes it kept may hold anything)."""
        before = {id(obj): state for _, obj, state in self._watched}
        states = []
        for path, obj in changed:
            if _is_object(obj):
                old = dict(before[id(obj)][2])
                now = public_state(obj)
                state: Any = {"set": {k: v for k, v in now.items() if old.get(_fingerprint(k)) != _fingerprint(v)},
                              "del": [k for k in (_unfingerprint(f) for f in old) if k not in now]}
            else:
                state = obj
            if isinstance(obj, (set, frozenset)) or not self._plain(state, 0, top=True):
                return f"it changes {describe(path)} in a way that can't be replayed"
            states.append(copy.deepcopy(state))
        return states

    def _plain(self, value: Any, depth: int, top: bool = False) -> bool:
        """Plain data made by the call (or unchanged scalars): what a reuse can rebuild faithfully."""
        if depth > 20:
            return False
        if isinstance(value, _SCALARS):
            return True
        if not top and id(value) in self._seen:
            return False  # an object that existed before the call: a copy would break its identity
        t = type(value)
        if t.__module__.split(".", 1)[0] == "numpy" and not hasattr(value, "__dict__"):
            return t.__name__ != "ndarray" or not value.dtype.hasobject
        if t in (list, tuple):
            return all(self._plain(v, depth + 1) for v in value)
        if isinstance(value, dict) and t.__module__ in ("builtins", "collections"):
            return all(isinstance(k, _SCALARS) and self._plain(v, depth + 1) for k, v in value.items())
        return False


def _unfingerprint(fingerprint: tuple) -> Any:
    """The attribute name back from its fingerprint (attribute names are strings)."""
    return fingerprint[1]


def _is_object(value: Any) -> bool:
    return not isinstance(value, (list, dict, set, frozenset, tuple))


def _fingerprint(value: Any) -> Any:
    """A value's own state for change detection: scalars by value, everything else by identity."""
    t = type(value)
    if t is float:
        return ("f", value.hex())
    if isinstance(value, _SCALARS):
        return (t.__name__, value)
    if t is tuple:
        return ("t", tuple(_fingerprint(v) for v in value))
    return ("id", id(value))


def _shallow(container: Any) -> Any:
    if isinstance(container, dict):
        return ("d", type(container).__name__, tuple((_fingerprint(k), _fingerprint(v)) for k, v in container.items()))
    if isinstance(container, list):
        return ("l", tuple(_fingerprint(v) for v in container))
    return ("s", frozenset(_fingerprint(v) for v in container))


def describe(path: Path) -> str:
    """A path as the user would write it: ``callbacks[0].eval_result``."""
    text = ""
    for kind, key in path:
        if kind == "arg":
            text += f"argument {key + 1}"
        elif kind == "kw":
            text += key
        elif kind == "attr":
            text += f".{key}"
        else:
            text += f"[{key!r}]"
    return text


def follow(path: Any, args: tuple, kwargs: dict) -> Any:
    """The object at ``path`` (stored as lists) among the arguments; LookupError if it isn't there."""
    path = tuple(map(tuple, path))
    (kind, key), rest = path[0], path[1:]
    obj = args[key] if kind == "arg" else kwargs[key]
    for kind, key in rest:
        if kind == "attr":
            obj = vars(obj)[key]
        else:
            obj = obj[key]
    return obj


def replayable(paths: list, states: list, args: tuple, kwargs: dict) -> bool:
    """Can every stored effect be written back into these arguments?"""
    try:
        targets = [follow(p, args, kwargs) for p in paths]
    except (LookupError, TypeError, AttributeError):
        return False
    return len(states) == len(targets) and all(_assignable(t, s) for t, s in zip(targets, states))


def _assignable(target: Any, state: Any) -> bool:
    if isinstance(target, list):
        return isinstance(state, list)
    if isinstance(target, dict):
        return isinstance(state, dict)
    return (isinstance(state, dict) and state.keys() == {"set", "del"} and hasattr(target, "__dict__")
            and not isinstance(target, (tuple, set, frozenset)))


def replay(paths: list, states: list, args: tuple, kwargs: dict) -> None:
    """Write each stored state into the live object at its path, in place (the notebook's names
    and any other references to that object see the change, as after a plain run)."""
    for path, state in zip(paths, states):
        target = follow(path, args, kwargs)
        state = copy.deepcopy(state)  # (the loaded value may be loaded again by a later reuse)
        if isinstance(target, list):
            target[:] = state
        elif isinstance(target, dict):
            target.clear()
            target.update(state)
        else:
            for name in state["del"]:
                vars(target).pop(name, None)
            vars(target).update(state["set"])
