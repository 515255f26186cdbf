"""The tracer: what the rewritten cell calls (as the builtin ``__cr__``).

This module is the hook surface: ``wrap``, ``method``, ``getitem``, ``binop``, ``setitem`` and the
rest turn the cell's data work into ``Operation`` calls and its in-place changes into new ids.
What a call becomes is ``execution``'s job (defer, load or compute, and report), what it is named
``identity``'s, how its value came to be ``lineage``'s, what notebook calls and replayable cells in
progress may not do ``scopes``'. Plain code runs as written: callables that aren't data work come
back unchanged, so they run in the user's frame.

Frames of this module carry ``__tracebackhide__`` so that IPython's tracebacks show the user's code
and the library's, as in a plain run.
"""

from __future__ import annotations

import builtins
import logging
import operator
import sys
import types
from typing import Any

from ..fingerprint.functions import is_notebook_function
from ..store.formats import kind_of
from . import accelerations, cells, purity, specs, storing, summary
from .calls import PLAIN, UNKNOWN, Operation, classify, module_of
from .capture import Capture
from .deferral import Deferral, type_name
from .execution import Execution
from .identity import Identity
from .lazy import Lazy, unwrap
from .lineage import Lineage
from .plain_hook import BINOPS, INPLACE, UNARY, plain_hook
from .producer import Producer
from .registry import Registry
from .scopes import Scope, Scopes
from .steps import COMPUTED, DEFERRED, Backend, ComputedValue, Step

log = logging.getLogger("collab_reuse")

_INDEXERS = frozenset({"loc", "iloc", "at", "iat"})
#: plain Python values: their methods, items and operators are never data work (a loop over a list of
#: 100,000 strings calls a hook or three per item; this spares them the classifying)
_PLAIN_VALUES = frozenset({str, int, float, bool, complex, bytes, bytearray, list, tuple, dict, set, frozenset,
                           range, type(None)})
_IMMUTABLE_VALUES = frozenset({str, int, float, bool, complex, bytes, tuple, frozenset, range, type(None)})
_SEES_CLASS_ONLY = (isinstance, issubclass, callable)
NAMESPACE_MAGICS = frozenset({"who", "whos", "who_ls", "pinfo", "pinfo2", "psearch", "pdef", "pdoc", "store",
                               "debug", "pdb", "xdel", "reset_selective", "save", "pickleshare"})
# stdlib modules whose functions read their caller's frame: a wrapper in between would change what they see
_READS_CALLER = frozenset({"warnings", "_warnings", "inspect", "sys", "logging", "traceback", "pdb", "bdb"})
_scalar_types: dict[type, bool] = {}  # type -> whether it is a numpy or pandas scalar (``_operand_is_a_value``)


def _operand_is_a_value(t: type) -> bool:
    """A plain value, or a scalar of numpy or pandas (``np.float64``, a dtype, a ``Timestamp``): an
    operator on such values is never data work (``df[c].dtype == 'object'`` over 300 columns was 300
    traced operations). They can't change in place, and an id digests them by content as it does
    literals, so no lineage is lost; a lazy is never one."""
    if t in _PLAIN_VALUES:
        return True
    found = _scalar_types.get(t)
    if found is None:
        found = _is_library_scalar(t)
        _scalar_types[t] = found
    return found


def _is_library_scalar(t: type) -> bool:
    module = getattr(t, "__module__", None)
    module = specs.package_of(module) if isinstance(module, str) else ""
    if module == "numpy":
        import numpy as np

        return issubclass(t, (np.generic, np.dtype))
    if module == "pandas":
        import pandas as pd
        from pandas.api.extensions import ExtensionDtype

        return issubclass(t, (ExtensionDtype, pd.Timestamp, pd.Timedelta, pd.Period, pd.Interval))
    return False


class _Wrapped:
    """A callable handed back by ``Tracer.wrap`` in place of the user's."""

    __slots__ = ("tracer", "func")

    def __init__(self, tracer: "Tracer", func: Any):
        self.tracer, self.func = tracer, func


class Untraced(_Wrapped):
    """A call into an unknown library: runs plainly, then forgets tracked arguments it may have changed."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        tracer = self.tracer
        func = self.func
        module, name = module_of(func), getattr(func, "__name__", "")
        draws = cells.replays_faithfully(module, name)
        reads = draws or specs.reads_only(module, name)  # (plotting reads its data only; so do serializers)
        tracer.scopes.impure("it calls into a library collab_reuse doesn't know", replayable=draws)
        if draws and cells.draws_fresh_entropy(module, name, kwargs):
            tracer.scopes.impure(f"it calls {name}, which draws unseeded random numbers (its bootstrap)")
        frame = sys._getframe(1)
        args, kwargs = tracer.deferral.produce_args(args, kwargs)
        try:
            with Capture(tee=False, frame=frame):
                return self.func(*args, **kwargs)
        finally:
            for value in () if reads else (*args, *kwargs.values()):
                if tracer.registry.get(value) is not None:
                    tracer.registry.mutated(value, None)


class NotebookCall(_Wrapped):
    """A call of a function defined in the notebook whose source allows reusing the whole call."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return self.tracer.execution.run_function(self.func, args, kwargs, sys._getframe(1))


class Forcing(_Wrapped):
    """A plain call while lazies exist: lazies among its arguments are produced first."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if self.func is len and len(args) == 1 and not kwargs and type(args[0]) is Lazy \
                and not args[0]._cr_node.done:
            op = Operation(self.tracer, len, "builtins", "len", "len", None)
            return self.tracer.run_call(op, args, {}, sys._getframe(1))
        if getattr(self.func, "__name__", None) in ("run_line_magic", "run_cell_magic") and args \
                and args[0] in NAMESPACE_MAGICS:
            self.tracer.deferral.force_all()  # %whos, %pinfo...: they show the namespace's types
        args, kwargs = self.tracer.deferral.produce_args(args, kwargs)
        return self.func(*args, **kwargs)


class Tracer:
    """The hooks of the rewritten code, for one kernel."""

    slice = slice

    def __reduce__(self) -> tuple:  # (a worker process given a notebook function gets the plain hooks)
        return plain_hook, ()

    def __init__(self, backend: Backend):
        self.backend = backend
        self.registry = Registry()
        self.enabled = True
        self.identity = Identity(self.registry, backend.file_digest)
        self.lineage = Lineage(self.registry)
        self.producer = Producer(backend)
        self.scopes = Scopes(self.registry)
        self.deferral = Deferral(self)
        self._unforced = self.deferral.unforced.by_id  # (any lazies not produced yet: asked per call)
        self.execution = Execution(self)
        self.accelerations = [acceleration(self) for acceleration in accelerations.REGISTERED]

    @property
    def _quiet(self) -> bool:
        """Nothing is traced now: switched off, or inside a traced operation (its callbacks run plainly)."""
        return self.producer.running or not self.enabled

    def run_call(self, op: Operation, args: tuple, kwargs: dict, frame: Any) -> Any:
        __tracebackhide__ = True
        return self.execution.run_call(op, args, kwargs, frame)

    # -- calls ----------------------------------------------------------------------------------

    def wrap(self, func: Any) -> Any:
        """The callable to call in place of ``func``: itself, unless it is data work."""
        if self._quiet:
            return func
        if type(func) is types.BuiltinFunctionType and not self._unforced and \
                (func.__self__ is builtins or type(func.__self__) in _PLAIN_VALUES):
            return func  # (``len``, ``'a,b'.split``: what ``classify`` says of them, without asking it)
        try:
            kind, module, name, label, receiver = classify(func)
        except Exception:  # an exotic callable: calling it as written is always right
            return func
        if kind == PLAIN:
            if type(func) is types.FunctionType and is_notebook_function(func):
                why = purity.static_impurity(func)
                if why is None:
                    return NotebookCall(self, func)
                # its body runs traced, but what it changes outside may not be seen; if all it does besides
                # is draw (each plotting call judged as it runs), a cell that only displays may replay it
                self.scopes.impure(f"it calls {func.__qualname__}, which {why.removeprefix('it ')}",
                                   replayable=purity.static_impurity(func, drawing=True) is None)
            if self.deferral.unforced and not any(func is f for f in _SEES_CLASS_ONLY) \
                    and getattr(func, "__module__", None) not in _READS_CALLER:
                return Forcing(self, func)
            return func
        if kind == UNKNOWN:
            return Untraced(self, func)
        return Operation(self, func, module, name, label, receiver)

    def method(self, obj: Any, name: str) -> Any:
        """``obj.name`` about to be called: a lazy receiver stays lazy if the method is traced."""
        if type(obj) in _PLAIN_VALUES and not self._unforced:
            return getattr(obj, name)  # (what ``wrap`` gives for a plain value's method)
        if type(obj) is Lazy:
            node = obj._cr_node
            if node.done:
                obj = node.value
            elif not self._quiet:
                attr = getattr(node.type, name, None)
                if isinstance(attr, (types.FunctionType, types.MethodDescriptorType, types.WrapperDescriptorType)):
                    real_name = getattr(attr, "__name__", name)  # aliases (agg = aggregate) as a bound method names them
                    return Operation(self, None, node.type.__module__, real_name,
                                     f"{node.type.__qualname__}.{real_name}", obj, attr=name)
                obj = unwrap(obj)
        return self.wrap(getattr(obj, name))

    def chained_method(self, obj: Any, name: str) -> Any:
        """``obj.name`` about to change ``obj`` in place, where ``obj`` was computed in the expression
        (``df['a'].fillna(0, inplace=True)``): the plain bound method, so that pandas counts the
        receiver's references as in a plain run (and warns of a chained assignment where it would).
        What the call changes is not followed: ``obj`` is forgotten (without Copy-on-Write, every
        frame it may be a view of too), and a notebook call making it is not reused."""
        if type(obj) is Lazy:
            obj = obj._cr_value()
        if not self._quiet:
            self.scopes.impure(f"it calls {name} in place on an object it computes")
            if self.registry.get(obj) is not None or self.identity.is_traced_type(type(obj)):
                self.registry.mutated(obj, None)
        return getattr(obj, name)

    # -- reads ----------------------------------------------------------------------------------

    def attr(self, obj: Any, name: str) -> Any:
        """A data attribute (``shape``, ``columns``...) of a traced value: an operation of its own, so a
        lazy frame's shape can come from the store without producing the frame."""
        __tracebackhide__ = True
        if self._quiet or not self.identity.is_traced_type(type(obj)):
            return getattr(obj, name)
        if type(obj) is Lazy and obj._cr_node.done:
            obj = obj._cr_node.value
        module = obj.__class__.__module__
        if specs.package_of(module) != "pandas":
            return getattr(obj, name)
        op = Operation(self, getattr, module, name, f"{obj.__class__.__qualname__}.{name}", None)
        return self.run_call(op, (obj, name), {}, sys._getframe(1))

    def shown(self, value: Any) -> Any:
        """The value of a top-level expression (what IPython displays): never a lazy."""
        if type(value) is Lazy:
            return value._cr_value()
        if type(value) is tuple and any(type(v) is Lazy for v in value):
            return tuple(unwrap(v) for v in value)
        return value

    def index(self, obj: Any, indexer: str, key: Any) -> Any:
        """``obj.loc[key]`` (and ``iloc``, ``at``, ``iat``) without producing a lazy ``obj`` first."""
        __tracebackhide__ = True
        if type(obj) is Lazy and not obj._cr_node.done and not self._quiet:
            op = Operation(self, _index, obj._cr_node.type.__module__, "__getitem__",
                           f"{obj._cr_node.type.__name__}.{indexer}[]", None)
            return self.run_call(op, (obj, indexer, key), {}, sys._getframe(1))
        return self.getitem(getattr(unwrap(obj), indexer), key)

    def getitem(self, obj: Any, key: Any) -> Any:
        __tracebackhide__ = True
        if type(obj) in _PLAIN_VALUES:
            return obj[key]
        if self._quiet:
            return unwrap(obj)[key]
        if type(obj) is Lazy and obj._cr_node.done:
            obj = obj._cr_node.value
        target, label = obj, "__getitem__"
        if type(obj).__name__.endswith("Indexer") and getattr(obj, "name", None) in _INDEXERS:
            target, label = obj.obj, obj.name
        if not self.identity.is_traced_type(type(target)):
            return obj[key]
        cls = target.__class__
        func = operator.getitem if target is obj else _index
        op = Operation(self, func, cls.__module__, "__getitem__", f"{cls.__name__}.{label}[]", None)
        return self.run_call(op, (target, key) if target is obj else (target, label, key), {}, sys._getframe(1))

    def binop(self, name: str, left: Any, right: Any) -> Any:
        __tracebackhide__ = True
        func = BINOPS[name]
        if (_operand_is_a_value(type(left)) and _operand_is_a_value(type(right))) or self._quiet \
                or not (self.identity.is_traced_type(type(left)) or self.identity.is_traced_type(type(right))):
            return func(left, right)
        op = Operation(self, func, "numpy", name, f"op.{name}", None)
        return self.run_call(op, (left, right), {}, sys._getframe(1))

    compare = binop

    def unary(self, name: str, operand: Any) -> Any:
        __tracebackhide__ = True
        func = UNARY[name]
        if _operand_is_a_value(type(operand)) or self._quiet or not self.identity.is_traced_type(type(operand)):
            return func(operand)
        op = Operation(self, func, "numpy", name, f"op.{name}", None)
        return self.run_call(op, (operand,), {}, sys._getframe(1))

    # -- in-place changes -----------------------------------------------------------------------

    def inplace(self, name: str, target: Any, value: Any) -> Any:
        __tracebackhide__ = True
        if type(target) in _IMMUTABLE_VALUES:  # (``total += x``: a new value, nothing changed in place)
            return INPLACE[name](target, value if type(value) is not Lazy else unwrap(value))
        target = self.produced_target(target)
        result = INPLACE[name](target, unwrap(value))
        if result is target:
            self._mutated(target, f"__i{name.lower()}__", (value,))
        return result

    def setitem(self, value: Any, obj: Any, key: Any) -> None:
        __tracebackhide__ = True
        if type(obj) is Lazy:
            if self._defer_setitem(value, obj, key):
                return
            obj = self.produced_target(obj)
        (value, key), _ = self.deferral.produce_args((value, key), {})
        target, label = obj, "__setitem__"
        if type(obj).__name__.endswith("Indexer") and getattr(obj, "name", None) in _INDEXERS:
            target, label = obj.obj, f"{obj.name}.__setitem__"
        if self._quiet or self.registry.get(target) is None:
            obj[key] = value
            self._mutated(target, label, (key, value))
            return
        capture = Capture(tee=False, frame=sys._getframe(1))  # a change seen finishing without warnings
        with capture:                                           # may be deferred next time
            obj[key] = value
        self._mutated(target, label, (key, value), quiet=not capture.log)

    def setitem_aug(self, name: str, obj: Any, key: Any, value: Any) -> None:
        __tracebackhide__ = True
        current = self.getitem(obj, key)
        self.setitem(INPLACE[name](current, value), obj, key)

    def setattr(self, value: Any, obj: Any, attr: str) -> None:
        __tracebackhide__ = True
        obj = self.produced_target(obj)
        setattr(obj, attr, value)
        self._mutated(obj, f"__setattr__.{attr}", (value,))

    def setattr_aug(self, name: str, obj: Any, attr: str, value: Any) -> None:
        __tracebackhide__ = True
        self.setattr(INPLACE[name](getattr(obj, attr), value), obj, attr)

    def delitem(self, obj: Any, key: Any) -> None:
        __tracebackhide__ = True
        obj = self.produced_target(obj)
        del obj[key]
        self._mutated(obj, "__delitem__", (key,))

    def delattr(self, obj: Any, attr: str) -> None:
        __tracebackhide__ = True
        obj = self.produced_target(obj)
        delattr(obj, attr)
        self._mutated(obj, f"__delattr__.{attr}", ())

    def touched(self, *objs: Any) -> None:
        for obj in objs:
            obj = self.produced_target(obj)
            self.scopes.changed_in_place(obj)
            self.registry.mutated(obj, None)

    def touched_unknown(self) -> None:
        self.scopes.impure("it changes an object in a way collab_reuse can't follow")
        self.registry.forget_all()

    def produced_target(self, obj: Any) -> Any:
        """A lazy about to be changed in place: its value, judged as the lazy it was (when it was born)."""
        if type(obj) is not Lazy:
            return obj
        self.scopes.changed_in_place(obj)
        return obj._cr_value()

    def _defer_setitem(self, value: Any, obj: Lazy, key: Any) -> bool:
        """``lazy[key] = value`` as a new node of the lazy, when the same change was seen finishing quietly."""
        node = obj._cr_node
        if node.done or self._quiet or not self.deferral.enabled:
            return False
        self.scopes.changed_in_place(obj)
        inputs: list[str] = [node.id]
        new_id = self.identity.mutation_id("__setitem__", node.id, (key, value), inputs)
        if new_id is None:
            return False
        label = f"{node.type.__name__}.__setitem__"
        if not self.deferral.defer_setitem(obj, key, value, new_id, label):
            return False
        self.lineage.note(new_id, 0.0, inputs)
        self.backend.add_step(Step(new_id, label, DEFERRED, kind_of(None), inputs=inputs, mutation=True,
                                   reason="not needed yet: produced when something uses it"), None)
        return True

    def _mutated(self, target: Any, label: str, params: tuple, quiet: bool = False) -> None:
        """An in-place change traced code made: the object gets the id of its new state."""
        self.scopes.changed_in_place(target)
        old = self.registry.get(target)
        if old is None:
            if self.identity.is_traced_type(type(target)):
                self.registry.mutated(target, None)  # views/aliases of it are stale too
            return
        if self.producer.running:
            self.registry.mutated(target, None)
            return
        inputs: list[str] = [old]
        new_id = self.identity.mutation_id(label, old, params, inputs)
        self.registry.mutated(target, new_id)
        if new_id is not None:
            self.lineage.note(new_id, 0.0, inputs)
            self.backend.add_step(Step(new_id, f"{type(target).__name__}.{label}", COMPUTED, kind_of(target),
                                       inputs=inputs, mutation=True, call={"params": summary.params(None, params, {})}),
                                  None)
            name = type_name(target) if quiet and label == "__setitem__" else None
            if name is not None:
                self.backend.mark_quiet(new_id, name, 0.0)

    # -- cells that may be replayed (kernel/replay.py) ------------------------------------------

    def begin_cell(self) -> Scope:
        """A cell that may be replayed starts: its effects are judged as a notebook call's are."""
        return self.scopes.enter_cell()

    def end_cell(self, scope: Scope) -> str | None:
        """The cell ended: why it had an effect besides displaying (None: it had none)."""
        return self.scopes.leave(scope)

    def replay_cell(self) -> None:
        """What a replayed cell runs instead of its code."""
        self.backend.replay_cell()

    def record_cell(self) -> None:
        """What a cell that may be replayed runs after its leading imports: its recording starts."""
        self.backend.record_cell()

    def replayed_result(self) -> Any:
        return self.backend.replayed_result()

    # -- the store's questions ------------------------------------------------------------------

    def unchanged(self, candidate: ComputedValue) -> bool:
        """Do the candidate's live objects still hold the ids they had when it was made?"""
        return storing.unchanged(candidate, self.registry)


def _index(target: Any, indexer: str, key: Any) -> Any:
    """``target.loc[key]`` as a function of the frame (what a deferred ``.loc[]`` runs)."""
    return getattr(target, indexer)[key]
