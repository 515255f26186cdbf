"""Deferred evaluation: bind lazies instead of loading or computing, produce them when needed.

An operation is deferred when producing it later gives exactly what
producing it now would:

* its result is stored (it is loaded when needed), or the Experiment Graph
  saw this very operation (same id: same inputs, parameters, library version)
  finish quietly before (no output, no warnings, no randomness), so running it
  later cannot print, warn or fail differently;
* every input is frozen: a lazy, an immutable value, or a pandas object under
  Copy-on-Write (a shallow copy isolates it from later in-place changes);
* it changes nothing in place (except a deferred ``frame[key] = value``,
  which gives the lazy a new node);
* the result is a pandas frame, series or groupby, a tuple of them (``align``),
  or a NumPy array (stored only: what is computed from a lazy array runs at once).

An operation whose inputs are all at hand runs at once when that is cheaper:
a stored one that computes faster than it loads, a known one that takes less
than a millisecond (freezing its inputs would cost more than running it),
unless it is a groupby, which only a lazy can stand in for as an input.

A notebook function's call is deferred only when its result is stored, and is
then loaded when needed, never run later: it reads globals, which may have
changed by then. Should loading fail, it runs after all, but only if its code
and the globals it reads are still what they were at the call.

Whatever a stored deferred operation printed is replayed where it was called.
Producing (``Deferral.force``) plans the whole pending region at once with the
exact planner (``planner.reuse.plan``): load what is cheaper to load, compute
the rest, each shared ancestor once.
"""

from __future__ import annotations

import logging
import sys
import types
import weakref
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CorruptArtifact
from ..fingerprint.digest import digest_parts
from ..planner.reuse import PlanVertex, plan
from . import randomness
from .capture import Capture, replay
from .lazy import Lazy, Pending
from .registry import pandas_has_cow, snapshot
from .steps import DEFERRED, Step

if TYPE_CHECKING:
    from .calls import Operation
    from .runtime import Tracer

log = logging.getLogger("collab_reuse")
_EAGER_SECONDS = 0.001                # a known-quiet operation this cheap, inputs at hand, runs at once
_NO_COMPUTE = 1e12                    # a vertex with no way to compute it (planner costs must be finite)
_FROZEN_SCALARS = (type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis))
_MAX_ITEMS = 8                        # a tuple result with more items is not deferred
_NODE_TYPES = {"frame": ("pandas", "DataFrame"), "series": ("pandas", "Series"), "ndarray": ("numpy", "ndarray")}


def type_name(value: Any) -> str | None:
    """The value's class as ``module:qualname`` when deferring a result of that class is supported;
    for a tuple of such values (``align``, ``train_test_split``), their names in parentheses."""
    t = type(value)
    if t is tuple and 0 < len(value) <= _MAX_ITEMS:
        names = [type_name(v) if type(v) is not tuple else None for v in value]
        return None if None in names else "(" + ",".join(names) + ")"  # type: ignore[arg-type]
    module = t.__module__
    if module == "numpy" and t.__name__ == "ndarray":
        return "numpy:ndarray"
    in_pandas = module == "pandas" or module.startswith("pandas.")  # pandas 3 says "pandas" for its frames
    if in_pandas and (t.__name__ in ("DataFrame", "Series") or "GroupBy" in t.__name__):
        return f"{module}:{t.__qualname__}"
    return None


def shape_from_name(name: str) -> type | list[type] | None:
    """The class a ``type_name`` names (a list of classes for a tuple), if imported (never imports)."""
    if name.startswith("(") and name.endswith(")"):
        items = [type_from_name(n) for n in name[1:-1].split(",")]
        return items if None not in items else None  # type: ignore[return-value]
    return type_from_name(name)


def type_from_name(name: str) -> type | None:
    """The class a ``module:qualname`` names, if its module is already imported (never imports)."""
    module, _, qualname = name.partition(":")
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


class _NodeRef:
    """An input that is a pending node: replaced by the node's value when the operation runs."""

    __slots__ = ("node",)

    def __init__(self, node: Pending):
        self.node = node


class Deferral:
    """The tracer's lazies: creating them, and producing them when something needs their value."""

    def __init__(self, tracer: "Tracer"):
        self.tracer = tracer
        self.enabled = True
        self.unforced = _LazySet()
        self.namespace: dict | None = None      # the user's namespace: produced lazies are replaced there
        self._cow: bool | None = None
        # Unstored operations whose lazy was computed in this cell: deferring them again would only add
        # the copies of their inputs (a fold loop's ``train_df[feats].iloc[idx]``, every fold).
        self.computed_ops: set[str] = set()

    def new_cell(self) -> None:
        """A cell starts: an operation computed in the last one may be skipped in this one."""
        self.computed_ops.clear()

    # -- creating lazies ------------------------------------------------------------------------

    def cow(self) -> bool:
        if self._cow is None:
            self._cow = pandas_has_cow()
        return self._cow

    def capture(self, value: Any, parents: list, depth: int = 0) -> Any:
        """A frozen copy of an operation's input for running it later; raises ``_NotFrozen``."""
        t = type(value)
        if t is Lazy:
            node = value._cr_node
            if node.done:
                return self.capture(node.value, parents, depth)
            if node.type.__module__ == "numpy":
                raise _NotFrozen  # arrays have no copy-on-write: their dependents run eagerly
            parents.append(node)
            return _NodeRef(node)
        if t in _FROZEN_SCALARS or isinstance(value, (types.BuiltinFunctionType, type)):
            return value
        if depth < 3 and t in (tuple, list):
            return t(self.capture(v, parents, depth + 1) for v in value)
        if depth < 3 and t is dict:
            return {k: self.capture(v, parents, depth + 1) for k, v in value.items()}
        if t is slice:
            return slice(*(self.capture(v, parents, depth + 1) for v in (value.start, value.stop, value.step)))
        module = t.__module__
        if module.startswith("pandas"):
            if t.__name__ in ("DataFrame", "Series") and self.cow():
                return value.copy(deep=False)
            if "Index" in t.__name__ or "Dtype" in t.__name__ or t.__name__ in ("Timestamp", "Timedelta"):
                return value  # immutable
            raise _NotFrozen
        if module == "numpy" and t.__name__ != "ndarray" and not hasattr(value, "__setitem__"):
            return value  # numpy scalars and dtypes
        raise _NotFrozen

    def recipe(self, op: "Operation", args: tuple, kwargs: dict,
               unchanged: Callable[[], bool] | None = None) -> tuple[Callable[[], Any], tuple] | None:
        """How to run the operation later with its inputs as they are now; None if they may change.
        ``unchanged``: whether running it later still gives what running it now would."""
        parents: list[Pending] = []
        try:
            receiver = self.capture(op.receiver, parents) if op.receiver is not None else None
            frozen_args = self.capture(args, parents)
            frozen_kwargs = self.capture(kwargs, parents)
        except _NotFrozen:
            return None
        func, name = op.func, op.attr

        def run() -> Any:
            if unchanged is not None and not unchanged():
                raise RuntimeError(f"collab_reuse could not load the stored result of {op.label}, and the code "
                                   "or globals it reads changed since it was called: re-run the cell that "
                                   "called it")
            call = func if receiver is None else getattr(_produced(receiver), name)
            return call(*_produced(frozen_args), **_produced(frozen_kwargs))

        return run, tuple(dict.fromkeys(parents))

    def new_lazy(self, node: Pending) -> Lazy:
        lazy = Lazy(self.tracer, node)
        object.__setattr__(lazy, "_cr_born", self.tracer.registry.tick())
        self.unforced.add(lazy)
        return lazy

    def defer(self, op: "Operation", op_id: str, args: tuple, kwargs: dict, frame: Any,
              inputs: list[str], unchanged: Callable[[], bool] | None = None) -> Any:
        """A lazy (or a tuple of lazies) for the operation's result, or None to run it now.

        ``unchanged`` (a notebook call): the result is deferred only if stored, loaded when needed,
        and run later only if loading fails and ``unchanged()`` still holds."""
        tracer = self.tracer
        backend = tracer.backend
        info = backend.lookup(op_id)
        stored = info is not None and backend.loadable(info)
        known = backend.quiet_op(op_id) if unchanged is None else None
        if not stored and known is None:
            return None
        load_cost = backend.load_cost(info) if stored else None
        at_hand = not _unproduced((op.receiver, args, kwargs))
        if stored and at_hand and info.compute_seconds <= load_cost:
            stored = False  # its inputs are at hand and computing it beats loading it: the store can't help
        if not stored and (known is None or (at_hand and known[1] < _EAGER_SECONDS and "GroupBy" not in known[0])):
            return None  # cheap with its inputs at hand: running it now costs less than freezing them
            # (not a groupby: a groupby can't be frozen, so what is computed from it couldn't be deferred)
        if not stored and op_id in self.computed_ops:
            return None  # its last lazy in this cell was needed after all: freezing its inputs gains nothing
        recipe = self.recipe(op, args, kwargs, unchanged)  # (copies its frames: after the cheap refusals)
        if recipe is None:
            return None
        result: Any
        if stored:
            try:
                manifest = backend.manifest(op_id)
            except (CorruptArtifact, KeyError, OSError):
                return None
            shape = _lazy_shape(manifest.get("value", {}))
            extra = manifest.get("extra", {})
            if shape is None or (unchanged is not None and "rng_after" in extra) or "effects" in extra:
                return None  # (a notebook call that drew random numbers could not run later alike; what a
                # call changed among its arguments is written back when it is loaded, at the call)
            node = Pending(op_id, tuple if isinstance(shape, list) else shape, op.label, compute=recipe[0],
                           parents=recipe[1], compute_seconds=info.compute_seconds)
            backend.pin(op_id)  # (it will be loaded when used: gc leaves it)
            node.load_cost = load_cost
            node.load_only = unchanged is not None
            if "rng_after" in extra:
                randomness.restore(extra["rng_after"])
            replay(extra.get("log", []), frame)
        else:
            shape = shape_from_name(known[0])
            if shape is None or any(t.__module__ == "numpy" for t in (shape if isinstance(shape, list) else [shape])):
                return None  # arrays: only stored ones are deferred (their dependents can't be)
            node = Pending(op_id, tuple if isinstance(shape, list) else shape, op.label, compute=recipe[0],
                           parents=recipe[1], compute_seconds=known[1])
        if isinstance(shape, list):
            result = tuple(self.new_lazy(Pending(_item_id(op_id, i), t, f"{op.label}[{i}]", parent=node, index=i))
                           for i, t in enumerate(shape))
        else:
            result = self.new_lazy(node)
        tracer.lineage.note(op_id, node.compute_seconds, inputs)
        node.inputs = list(inputs)
        backend.add_step(Step(op_id, op.label, DEFERRED, _kind(node.type), inputs=inputs,
                              reason="not needed yet: produced when something uses it"), None)
        return result

    def defer_setitem(self, target: Lazy, key: Any, value: Any, new_id: str, label: str) -> bool:
        """``frame[key] = value`` on a lazy frame, deferred: the lazy gets a node for its new state."""
        old = target._cr_node
        if old.type.__module__ != "pandas" or old.type.__name__ not in ("DataFrame", "Series") or not self.cow():
            return False
        known = self.tracer.backend.quiet_op(new_id)
        if known is None:
            return False
        parents: list[Pending] = [old]
        try:
            frozen_key, frozen_value = self.capture(key, parents), self.capture(value, parents)
        except _NotFrozen:
            return False

        def run() -> Any:
            out = old.snapshot.copy(deep=False)
            out[_produced(frozen_key)] = _produced(frozen_value)
            return out

        node = Pending(new_id, old.type, label, compute=run, parents=tuple(dict.fromkeys(parents)),
                       compute_seconds=known[1])
        node.inputs = [p.id for p in node.compute[1]]  # type: ignore[index]
        object.__setattr__(target, "_cr_node", node)
        return True

    # -- producing ------------------------------------------------------------------------------

    def force(self, lazies: list[Lazy]) -> None:
        """Produce the values of ``lazies``, planning their whole pending region at once."""
        needed = [lz._cr_node for lz in lazies if not lz._cr_node.done]
        if needed:
            chosen, _cost = self._plan(needed)
            for node in needed:
                self._produce(node, chosen)
        produced_now = {id(node) for node in needed}
        for lz in lazies:
            self.unforced.discard(lz)
            node = lz._cr_node
            # (a value produced before is not registered again: the registry has followed it since, and
            # an in-place change gave it a new id that the node's old one must not replace)
            if id(node) in produced_now and not isinstance(node.value, tuple):
                self.tracer.registry.set(node.value, node.id, born=lz._cr_born)
            self._settle(lz)

    def served(self, values: tuple, seconds: float) -> None:
        """A stored result derived from the unproduced lazies among ``values`` was loaded in ``seconds``."""
        for lz in _unproduced(values):
            lz._cr_node.served_seconds += seconds

    def produce_overserved(self, values: tuple) -> None:
        """Produce each unproduced lazy among ``values`` whose derived results have cost more to load
        than producing it once would (a loop reading one stored result after another of it: from then
        on they are computed from its value). Like renting skis until buying would have been cheaper:
        never more than twice the cost of the best choice made knowing the loop's length."""
        due = [lz for lz in _unproduced(values) if lz._cr_node.served_seconds > 0
               and lz._cr_node.served_seconds >= self._plan([lz._cr_node])[1]]
        if due:
            self.force(due)

    def cost_to_produce(self, values: tuple) -> float:
        """Seconds the cheapest plan needs to produce the unproduced lazies among ``values``."""
        needed = [lz._cr_node for lz in _unproduced(values)]
        return self._plan(needed)[1] if needed else 0.0

    def _plan(self, needed: list[Pending]) -> tuple[set[int], float]:
        """The ids (``id(node)``) of the pending nodes the cheapest plan loads, and the plan's cost."""
        vertices: dict[str, PlanVertex] = {}
        nodes: dict[str, Pending] = {}
        stack = list(needed)
        while stack:
            node = stack.pop()
            key = str(id(node))
            if key in vertices:
                continue
            nodes[key] = node
            if node.parent is not None:  # an item: free once its tuple is there
                parents: tuple = (node.parent,)
                compute_cost, load_cost = 0.0, None
            else:
                computable = node.compute is not None and not node.load_only
                parents = node.compute[1] if computable else ()  # type: ignore[index]
                compute_cost = node.compute_seconds if computable else _NO_COMPUTE
                load_cost = node.load_cost
            vertices[key] = PlanVertex(key, compute_cost, load_cost, in_memory=node.done,
                                       parents=tuple(str(id(p)) for p in parents if not p.done))
            stack.extend(p for p in parents if not p.done)
        chosen = plan(vertices, [str(id(n)) for n in needed])
        return {id(nodes[k]) for k in chosen.load}, chosen.cost

    def _produce(self, node: Pending, loads: set[int]) -> None:
        if node.done:
            return
        if node.parent is not None:
            self._produce(node.parent, loads)
            self._finish(node, node.parent.value[node.index])
            return
        if id(node) in loads or node.compute is None:
            value = self._load(node)
            if value is not _FAILED:
                self._finish(node, value)
                return
        for parent in node.compute[1]:  # type: ignore[index]
            self._produce(parent, loads)
        self._finish(node, self._compute(node))

    def _load(self, node: Pending) -> Any:
        producer = self.tracer.producer
        loaded = producer.load(node.label, node.id)
        if loaded is None:
            return _FAILED
        producer.reused(node.id, node.label, _kind(node.type), loaded.seconds, node.compute_seconds, loaded.nbytes,
                        node.inputs)
        for parent in node.compute[1] if node.compute else ():  # type: ignore[index]
            if not parent.done:
                parent.served_seconds += loaded.seconds
        return loaded.value

    def _compute(self, node: Pending) -> Any:
        producer = self.tracer.producer
        run = node.compute[0]  # type: ignore[index]
        with Capture(tee=False):  # what it prints was replayed (or is known empty)
            value, seconds = producer.run(run)
        producer.computed(node.id, node.label, _kind(node.type), seconds, node.inputs)
        self.computed_ops.add(node.id)
        return value

    def _finish(self, node: Pending, value: Any) -> None:
        node.value, node.done = value, True
        if node.readers:  # what pending children read, isolated from in-place changes (a child made
            node.snapshot = snapshot(value)  # after it was produced copies the value: see ``capture``)
        if not isinstance(value, tuple):
            self.tracer.registry.set(value, node.id)

    def _settle(self, lazy: Lazy) -> None:
        """Put the value in place of the lazy in the user's namespace (later uses see the value itself)."""
        ns = self.namespace
        if ns is None:
            return
        value = lazy._cr_node.value
        for name, held in list(ns.items()):
            if held is lazy:
                ns[name] = value

    def force_all(self) -> None:
        """Produce every lazy still unproduced (the extension is switched off or unloaded)."""
        pending = list(self.unforced)
        if pending:
            self.force(pending)

    def produce_args(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Arguments with every lazy (also inside lists, tuples, dicts) replaced by its value."""
        found: list[Lazy] = []
        _collect(args, found, 0)
        _collect(kwargs, found, 0)
        if not found:
            return args, kwargs
        self.force(found)
        return _replace(args, 0), _replace(kwargs, 0)


class _LazySet:
    """Unproduced lazies, weakly held by identity (a WeakSet would hash them, i.e. their values)."""

    def __init__(self) -> None:
        self.by_id: dict[int, weakref.ref] = {}  # (its truth is what the hooks ask, per call: a plain dict's)
        self._on_collected = self._forget  # one callback for every entry, not a closure each

    def add(self, lazy: Lazy) -> None:
        key = id(lazy)
        self.by_id[key] = weakref.KeyedRef(lazy, self._on_collected, key)

    def _forget(self, ref: weakref.KeyedRef) -> None:
        if self.by_id.get(ref.key) is ref:  # (not a newer lazy that got the collected one's id)
            self.by_id.pop(ref.key, None)  # (the collector's thread: another may have removed it)

    def discard(self, lazy: Lazy) -> None:
        self.by_id.pop(id(lazy), None)

    def __bool__(self) -> bool:
        return bool(self.by_id)

    def __iter__(self) -> Any:
        return iter([lz for lz in (r() for r in list(self.by_id.values())) if lz is not None])


class _NotFrozen(Exception):
    pass


class _Failed:
    pass


_FAILED = _Failed()


def _produced(value: Any) -> Any:
    t = type(value)
    if t is _NodeRef:
        return value.node.snapshot
    if t in (tuple, list):
        return t(_produced(v) for v in value)
    if t is dict:
        return {k: _produced(v) for k, v in value.items()}
    if t is slice:
        return slice(_produced(value.start), _produced(value.stop), _produced(value.step))
    return value


def _unproduced(values: tuple) -> list[Lazy]:
    """The lazies among ``values`` (also inside lists, tuples, dicts) not produced yet."""
    found: list[Lazy] = []
    _collect(values, found, 0)
    return [lz for lz in found if not lz._cr_node.done]


def _collect(value: Any, found: list, depth: int) -> None:
    t = type(value)
    if t is Lazy:
        found.append(value)
    elif depth < 3 and (t is tuple or t is list):
        for v in value:
            _collect(v, found, depth + 1)
    elif depth < 3 and t is dict:
        for v in value.values():
            _collect(v, found, depth + 1)


def _replace(value: Any, depth: int) -> Any:
    t = type(value)
    if t is Lazy:
        return value._cr_node.value
    if depth < 3 and (t is tuple or t is list):
        if not any(type(v) in (Lazy, tuple, list, dict) for v in value):
            return value
        return t(_replace(v, depth + 1) for v in value)
    if depth < 3 and t is dict:
        return {k: _replace(v, depth + 1) for k, v in value.items()}
    return value


def _item_id(op_id: str, index: int) -> str:
    return digest_parts(op_id, "item", index)


def _lazy_shape(node: dict) -> Any:
    """The class of a stored value (or a list of classes for a tuple of them) if it may be deferred."""
    t = node.get("t")
    if t in _NODE_TYPES:
        module, name = _NODE_TYPES[t]
        mod = sys.modules.get(module)
        return getattr(mod, name, None) if mod is not None else None
    if t == "tuple" and node.get("items"):
        items = [_lazy_shape(item) for item in node["items"]]
        if all(isinstance(i, type) for i in items):
            return items
    return None


def _kind(t: type) -> str:
    return {"DataFrame": "dataframe", "Series": "series", "ndarray": "array"}.get(t.__name__, "other")
