"""What the tracer knows of a callable, and of one call of it on its way to a value.

``classify`` sorts a callable: data work of a traced library (an ``Operation``), plain code that runs
as written (builtins, the standard library, notebook code), or an unknown library's (run plainly,
with what it may change forgotten). A ``Call`` is one traced call in progress: its operation,
arguments and frame, its id once known (or why it has none), what it changes in place, the random
generator's state before it, and what the store should know of how it was produced.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..fingerprint.functions import is_notebook_function
from . import specs

if TYPE_CHECKING:
    from .runtime import Tracer

PLAIN, TRACED, UNKNOWN = 0, 1, 2
_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins", "__main__"}


class Operation:
    """A traced callable, bound to the tracer until called (what ``wrap`` returns)."""

    __slots__ = ("tracer", "func", "module", "name", "label", "receiver", "attr")

    def __init__(self, tracer: "Tracer", func: Any, module: str, name: str, label: str, receiver: Any,
                 attr: str | None = None):
        self.tracer, self.func, self.module, self.name, self.label, self.receiver = \
            tracer, func, module, name, label, receiver
        # the attribute the method is looked up by on its receiver: ``name`` is the function's own name,
        # which differs for aliases (pandas binds ``DataFrame.hist = hist_frame``, ``agg = aggregate``)
        self.attr = attr or name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return self.tracer.run_call(self, args, kwargs, sys._getframe(1))


@dataclass
class Call:
    """One traced call on its way to a value (loaded or computed)."""

    op: Operation
    args: tuple
    kwargs: dict
    frame: Any
    inputs: list[str] = field(default_factory=list)   # lineage ids of what it reads
    op_id: str | None = None                          # None: it can't be named (``reason`` says why)
    reason: str | None = None
    mutated: list[Any] = field(default_factory=list)  # objects it changes in place (a fit's receiver)
    rng_before: tuple = ()                            # the global random generators before it
    reseeds: Any = None                               # what it reseeded while it ran (``randomness.Reseeds``)
    salted: bool = False                              # ``op_id`` already names the random state it starts from
    binned: list[bool] | None = None                  # LightGBM training: whether each Dataset given is binned
    warm_from: str | None = None                      # how an acceleration started it, for the report
    made_since: int | None = None                     # a notebook call's registry clock at its start
    summary: dict | None = None                       # what a later run compares (``summary``)

    @property
    def receiver(self) -> Any:
        return self.op.receiver


def classify(func: Any) -> tuple[int, str, str, str, Any]:
    """(kind, module, name, label, receiver) of a callable about to be called."""
    t = type(func)
    receiver = getattr(func, "__self__", None)
    if isinstance(receiver, types.ModuleType):
        receiver = None
    if t is types.FunctionType:
        if is_notebook_function(func):
            return PLAIN, "", "", "", None
        module, name = func.__module__ or "", func.__name__
        owner = ""
    elif isinstance(func, type):
        module, name, owner = func.__module__, func.__name__, ""
    elif receiver is not None:
        name = getattr(func, "__name__", "")
        if isinstance(receiver, type):  # a classmethod such as DataFrame.from_dict
            module, owner = receiver.__module__, receiver.__qualname__
            receiver = None
        else:
            module, owner = type(receiver).__module__, type(receiver).__qualname__
    else:
        module = getattr(func, "__module__", None) or t.__module__
        name, owner = getattr(func, "__name__", t.__name__), ""
    package = specs.package_of(module)
    if package in specs.TRACED_PACKAGES:
        label = f"{owner}.{name}" if owner else f"{package}.{name}"
        return TRACED, module, name, label, receiver
    if package in _STDLIB or package in specs.FRAME_READING_PACKAGES:
        return PLAIN, "", "", "", None
    if receiver is not None and is_notebook_function(getattr(func, "__func__", None)):
        return PLAIN, "", "", "", None
    return UNKNOWN, module, name, "", None


def module_of(func: Any) -> str:
    """The module a callable comes from (a bound method's: its receiver's class's)."""
    receiver = getattr(func, "__self__", None)
    if receiver is not None and not isinstance(receiver, types.ModuleType):
        return type(receiver).__module__ if not isinstance(receiver, type) else receiver.__module__
    return getattr(func, "__module__", None) or type(func).__module__


def mutated_objects(op: Operation, args: tuple, kwargs: dict) -> list[Any]:
    """What the call changes in place, by the library's semantics (``specs``)."""
    out = []
    if op.receiver is not None and specs.mutated_receiver(op.name, kwargs):
        out.append(op.receiver)
    if args and specs.mutated_first_arg(op.module, op.name):
        out.append(args[0])
    if "out" in kwargs and kwargs["out"] is not None:
        out.extend(kwargs["out"] if isinstance(kwargs["out"], tuple) else (kwargs["out"],))
    return out
