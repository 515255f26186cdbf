"""Deferred values: what a traced name holds until something needs the value.

When a re-run reaches an operation whose result is stored (or that is known
from earlier runs to be quiet and deterministic), the tracer binds the name to
a ``Lazy`` instead of loading or computing. Traced operations take lazies as
inputs without producing them (their ids are known), so a chain that ends in a
stored artifact never touches the large tables at its start. Any other use
produces the value first (``Tracer.force``, which plans the whole pending DAG
at once): attribute access, printing, iteration, operators outside traced
code, calls into untraced code. ``isinstance`` sees the value's class without
producing it.

Each ``Lazy`` points at a ``Pending`` node: the artifact id, the class of the
value, and the ways to produce it (load, compute from its inputs). Deferred
in-place changes (``train['x'] = ...`` on a lazy frame) give the same ``Lazy``
object a new node, so aliases see the change, as they would in a plain run.
"""

from __future__ import annotations

import copy
import operator
from typing import Any, Callable

__all__ = ["Lazy", "Pending", "unwrap"]


class Pending:
    """One artifact not produced yet (a vertex of the pending DAG)."""

    __slots__ = ("id", "type", "label", "load_cost", "compute", "parent", "index", "value", "done", "snapshot",
                 "compute_seconds", "inputs", "load_only", "served_seconds", "readers")

    def __init__(self, artifact_id: str, value_type: type, label: str, *, load_cost: float | None = None,
                 compute: Callable[[], Any] | None = None, parents: tuple = (), parent: "Pending | None" = None,
                 index: int | None = None, compute_seconds: float = 0.0):
        self.id, self.type, self.label = artifact_id, value_type, label
        self.load_cost = load_cost       # seconds to load it from the store; None when not stored
        self.compute = (compute, parents) if compute is not None else None
        self.parent, self.index = parent, index   # an item of a stored tuple/list
        self.value: Any = None
        self.done = False
        self.snapshot: Any = None        # what pending children read (isolated from in-place changes)
        self.readers = 0                 # pending nodes computed from it (none: no snapshot is taken)
        for reader_of in parents:
            reader_of.readers += 1
        self.compute_seconds = compute_seconds
        self.inputs: list[str] = []      # input artifact ids (for the steps reported when it is produced)
        self.load_only = False           # computed only if loading fails (a notebook call: see Deferral.defer)
        self.served_seconds = 0.0        # spent loading stored results derived from it instead of producing it


class Lazy:
    """Stands in for a value until it is needed; behaves as the value once produced."""

    __slots__ = ("_cr_node", "_cr_tracer", "_cr_born", "__weakref__")

    def __init__(self, tracer: Any, node: Pending):
        object.__setattr__(self, "_cr_tracer", tracer)
        object.__setattr__(self, "_cr_node", node)

    def _cr_value(self) -> Any:
        node = self._cr_node
        if not node.done:
            self._cr_tracer.deferral.force([self])
        return node.value

    @property  # isinstance() and type checks see the value's class without producing it
    def __class__(self) -> type:  # type: ignore[override]
        return self._cr_node.type

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_cr_"):
            raise AttributeError(name)
        return getattr(self._cr_value(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cr_value(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._cr_value(), name)

    def __format__(self, spec: str) -> str:
        return format(self._cr_value(), spec)

    def __contains__(self, item: Any) -> bool:
        return item in self._cr_value()

    def __getitem__(self, key: Any) -> Any:
        return self._cr_value()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._cr_value()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._cr_value()[key]

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        return self._cr_value().__array__(*args, **kwargs)

    def __reduce_ex__(self, protocol: int) -> Any:
        return self._cr_value().__reduce_ex__(protocol)

    def __deepcopy__(self, memo: dict) -> Any:
        return copy.deepcopy(self._cr_value(), memo)

    def __enter__(self) -> Any:
        return self._cr_value().__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._cr_value().__exit__(*exc)

    def __round__(self, *args: Any) -> Any:
        return round(self._cr_value(), *args)


def _forward_unary(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A special method that produces the value and applies ``op`` to it."""
    return lambda self: op(self._cr_value())


def _copy(value: Any) -> Any:
    return copy.copy(value)


for _name, _unary in [("repr", repr), ("str", str), ("bool", bool), ("len", len), ("iter", iter),
                      ("reversed", reversed), ("hash", hash), ("dir", dir), ("copy", _copy),
                      ("sizeof", lambda value: value.__sizeof__()), ("index", operator.index), ("int", int),
                      ("float", float), ("complex", complex), ("abs", abs), ("neg", operator.neg),
                      ("pos", operator.pos), ("invert", operator.invert)]:
    setattr(Lazy, f"__{_name}__", _forward_unary(_unary))


def _forward(op: Callable[[Any, Any], Any], reflected: bool = False) -> Callable[[Any, Any], Any]:
    if reflected:
        return lambda self, other: op(unwrap(other), self._cr_value())
    return lambda self, other: op(self._cr_value(), unwrap(other))


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
                   ("pow", operator.pow), ("matmul", operator.matmul), ("and", operator.and_),
                   ("or", operator.or_), ("xor", operator.xor), ("lshift", operator.lshift),
                   ("rshift", operator.rshift), ("divmod", divmod)]:
    setattr(Lazy, f"__{_name}__", _forward(_op))
    setattr(Lazy, f"__r{_name}__", _forward(_op, reflected=True))
for _name, _op in [("eq", operator.eq), ("ne", operator.ne), ("lt", operator.lt), ("le", operator.le),
                   ("gt", operator.gt), ("ge", operator.ge)]:
    setattr(Lazy, f"__{_name}__", _forward(_op))
for _name, _op in [("iadd", operator.iadd), ("isub", operator.isub), ("imul", operator.imul),
                   ("itruediv", operator.itruediv)]:
    setattr(Lazy, f"__{_name}__", _forward(_op))


def unwrap(value: Any) -> Any:
    """The value a lazy stands for (producing it); anything else as it is."""
    if type(value) is Lazy:
        return value._cr_value()
    return value
