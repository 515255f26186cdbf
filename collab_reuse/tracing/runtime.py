"""The tracer: what the rewritten cell calls (as the builtin ``__cr__``).

For every data operation it computes a lineage id before anything runs (the
operation's library identity, its parameters, its inputs' ids, the content of
files it reads, the global RNG state when the operation is known to draw from
it), asks the backend whether a stored result is cheaper to load than to
recompute, and either loads it (replaying printed output and warnings, and
leaving the RNG where the computation would have) or computes it. Anything
it can't identify runs plainly. Internal failures never reach the user's
cell: the operation runs plainly and the reason is recorded.

Frames of this module carry ``__tracebackhide__`` so that IPython's
tracebacks show the user's code and the library's, as in a plain run.
"""

from __future__ import annotations

import contextlib
import logging
import operator
import os
import sys
import time
import types
import weakref
from typing import Any, Callable

from ..errors import CorruptArtifact, Impure, Unreusable
from ..fingerprint.digest import Encoder, digest_parts
from ..fingerprint.functions import class_identity, function_identity, is_notebook_class, is_notebook_function, \
    package_version
from ..fingerprint.values import content_digest, estimator_digest, is_estimator
from ..store.formats import kind_of
from . import binned, cells, effects, fitted, purity, randomness, specs, warmstart
from .capture import Capture, replay
from .deferral import Deferral, type_name
from .lazy import Lazy, unwrap
from .registry import Registry, snapshot
from .steps import COMPUTED, DEFERRED, NOT_REUSABLE, REUSED, WARM_STARTED, Backend, Candidate, Step

log = logging.getLogger("collab_reuse")

BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add, "Sub": operator.sub, "Mult": operator.mul, "Div": operator.truediv,
    "FloorDiv": operator.floordiv, "Mod": operator.mod, "Pow": operator.pow, "MatMult": operator.matmul,
    "BitAnd": operator.and_, "BitOr": operator.or_, "BitXor": operator.xor, "LShift": operator.lshift,
    "RShift": operator.rshift,
    "Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le, "Gt": operator.gt,
    "GtE": operator.ge,
}
INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.iadd, "Sub": operator.isub, "Mult": operator.imul, "Div": operator.itruediv,
    "FloorDiv": operator.ifloordiv, "Mod": operator.imod, "Pow": operator.ipow, "MatMult": operator.imatmul,
    "BitAnd": operator.iand, "BitOr": operator.ior, "BitXor": operator.ixor, "LShift": operator.ilshift,
    "RShift": operator.irshift,
}
UNARY: dict[str, Callable[[Any], Any]] = {"USub": operator.neg, "UAdd": operator.pos, "Invert": operator.invert}
_INDEXERS = frozenset({"loc", "iloc", "at", "iat"})
_PLAIN_CALL, _TRACED_CALL, _UNKNOWN_CALL = 0, 1, 2
_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins", "__main__"}
_SEES_CLASS_ONLY = (isinstance, issubclass, callable)
_NAMESPACE_MAGICS = frozenset({"who", "whos", "who_ls", "pinfo", "pinfo2", "psearch", "pdef", "pdoc", "store",
                               "debug", "pdb", "xdel", "reset_selective", "save", "pickleshare"})
# stdlib modules whose functions read their caller's frame: a wrapper in between would change what they see
_READS_CALLER = frozenset({"warnings", "_warnings", "inspect", "sys", "logging", "traceback", "pdb", "bdb"})
_SMALL_BYTES = 1 << 18        # results this small are worth storing when their lineage was expensive
_COSTLY_LINEAGE = 0.05        # seconds
BINNED_LABEL = "lightgbm.Dataset (binned training matrix)"
BINNED_VALIDATION_LABEL = "lightgbm.Dataset (binned validation matrix)"


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
        return self.tracer._run_call(self, args, kwargs, sys._getframe(1))


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
        module, name = _module_of(func), getattr(func, "__name__", "")
        draws = cells.replays_faithfully(module, name)
        tracer.impure("it calls into a library collab_reuse doesn't know", replayable=draws)
        if draws and cells.draws_fresh_entropy(module, name, kwargs):
            tracer.impure(f"it calls {name}, which draws unseeded random numbers (its bootstrap)")
        frame = sys._getframe(1)
        args, kwargs = tracer.deferral.produce_args(args, kwargs)
        try:
            with Capture(tee=False, frame=frame):
                return self.func(*args, **kwargs)
        finally:
            for value in () if draws else (*args, *kwargs.values()):  # (plotting reads its data only)
                if tracer.registry.get(value) is not None:
                    tracer.registry.mutated(value, None)


class NotebookCall(_Wrapped):
    """A call of a function defined in the notebook whose source allows reusing the whole call."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        return self.tracer._run_function(self.func, args, kwargs, sys._getframe(1))


class Forcing(_Wrapped):
    """A plain call while lazies exist: lazies among its arguments are produced first."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True
        if self.func is len and len(args) == 1 and not kwargs and type(args[0]) is Lazy \
                and not args[0]._cr_node.done:
            op = Operation(self.tracer, len, "builtins", "len", "len", None)
            return self.tracer._run_call(op, args, {}, sys._getframe(1))
        if getattr(self.func, "__name__", None) in ("run_line_magic", "run_cell_magic") and args \
                and args[0] in _NAMESPACE_MAGICS:
            self.tracer.deferral.force_all()  # %whos, %pinfo...: they show the namespace's types
        args, kwargs = self.tracer.deferral.produce_args(args, kwargs)
        return self.func(*args, **kwargs)


class _CallFrame:
    """A notebook function call (or a cell that may be replayed) in progress: what existed before it,
    and why it is impure if it is. ``displays``: drawing on figures is not an effect here (a cell's
    displayed outputs are what it replays)."""

    __slots__ = ("clock", "impure", "displays")

    def __init__(self, clock: int, displays: bool = False):
        self.clock, self.impure, self.displays = clock, None, displays


class Tracer:
    """The hooks of the rewritten code, for one kernel."""

    slice = slice

    def __init__(self, backend: Backend):
        self.backend = backend
        self.registry = Registry()
        self.enabled = True
        self._depth = 0                      # >0 while a traced operation runs (its callbacks run plainly)
        self._kind_cache: dict[Any, tuple[int, str, str]] = {}
        self._traced_types: dict[type, bool] = {}
        self._calls: list[_CallFrame] = []   # notebook function calls being computed, innermost last
        self._impure: set[str] = set()        # call ids seen to have effects: they run as written
        self._traced_types[Lazy] = True
        self.deferral = Deferral(self)
        self._lineage: dict[str, float] = {}  # seconds to recreate each artifact of this kernel from scratch
        self._identifying: set[int] = set()   # objects whose state is being digested (cycles end there)
        self._binned_keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # LightGBM Dataset -> key

    # -- classification -----------------------------------------------------------------------

    def _is_traced_type(self, t: type) -> bool:
        found = self._traced_types.get(t)
        if found is None:
            found = specs.package_of(t.__module__) in specs.TRACED_PACKAGES
            self._traced_types[t] = found
        return found

    def wrap(self, func: Any) -> Any:
        """The callable to call in place of ``func``: itself, unless it is data work."""
        if self._depth or not self.enabled:
            return func
        try:
            kind, module, name, label, receiver = self._classify(func)
        except Exception:  # an exotic callable: calling it as written is always right
            return func
        if kind == _PLAIN_CALL:
            if type(func) is types.FunctionType and is_notebook_function(func):
                why = purity.static_impurity(func)
                if why is None:
                    return NotebookCall(self, func)
                if self._calls:  # its body runs traced, but what it changes outside may not be seen
                    self.impure(f"it calls {func.__qualname__}, which {why.removeprefix('it ')}")
            if self.deferral.unforced and not any(func is f for f in _SEES_CLASS_ONLY) \
                    and getattr(func, "__module__", None) not in _READS_CALLER:
                return Forcing(self, func)
            return func
        if kind == _UNKNOWN_CALL:
            return Untraced(self, func)
        return Operation(self, func, module, name, label, receiver)

    def method(self, obj: Any, name: str) -> Any:
        """``obj.name`` about to be called: a lazy receiver stays lazy if the method is traced."""
        if type(obj) is Lazy:
            node = obj._cr_node
            if node.done:
                obj = node.value
            elif not self._depth and self.enabled:
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
        if self.enabled and not self._depth:
            self.impure(f"it calls {name} in place on an object it computes")
            if self.registry.get(obj) is not None or self._is_traced_type(type(obj)):
                self.registry.mutated(obj, None)
        return getattr(obj, name)

    def attr(self, obj: Any, name: str) -> Any:
        """A data attribute (``shape``, ``columns``...) of a traced value: an operation of its own, so a
        lazy frame's shape can come from the store without producing the frame."""
        __tracebackhide__ = True
        if self._depth or not self.enabled or not self._is_traced_type(type(obj)):
            return getattr(obj, name)
        if type(obj) is Lazy and obj._cr_node.done:
            obj = obj._cr_node.value
        module = obj.__class__.__module__
        if specs.package_of(module) != "pandas":
            return getattr(obj, name)
        op = Operation(self, getattr, module, name, f"{obj.__class__.__qualname__}.{name}", None)
        return self._run_call(op, (obj, name), {}, sys._getframe(1))

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
        if type(obj) is Lazy and not obj._cr_node.done and not self._depth and self.enabled:
            op = Operation(self, _index, obj._cr_node.type.__module__, "__getitem__",
                           f"{obj._cr_node.type.__name__}.{indexer}[]", None)
            return self._run_call(op, (obj, indexer, key), {}, sys._getframe(1))
        return self.getitem(getattr(unwrap(obj), indexer), key)

    def _classify(self, func: Any) -> tuple[int, str, str, str, Any]:
        t = type(func)
        receiver = getattr(func, "__self__", None)
        if isinstance(receiver, types.ModuleType):
            receiver = None
        if t is types.FunctionType:
            if is_notebook_function(func):
                return _PLAIN_CALL, "", "", "", None
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
            return _TRACED_CALL, module, name, label, receiver
        if package in _STDLIB or package in specs.FRAME_READING_PACKAGES:
            return _PLAIN_CALL, "", "", "", None
        if receiver is not None and is_notebook_function(getattr(func, "__func__", None)):
            return _PLAIN_CALL, "", "", "", None
        return _UNKNOWN_CALL, module, name, "", None

    # -- identity -----------------------------------------------------------------------------

    def resolve(self, value: Any, inputs: list[str] | None = None) -> str:
        """An id for a non-literal parameter: its lineage id, its content, or its definition."""
        if type(value) is Lazy:
            node = value._cr_node
            if not node.done:
                if inputs is not None:
                    inputs.append(node.id)
                return node.id
            value = node.value
        found = self.registry.get(value)
        if found is not None:
            if inputs is not None:
                inputs.append(found)
            return found
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
            return self._callable_identity(value)
        if isinstance(value, types.ModuleType):
            return f"module:{value.__name__}@{package_version(value.__name__)}"
        if isinstance(value, os.PathLike):
            return "path:" + os.fspath(value)
        if randomness.is_global_generator(value):
            return "numpy-global-rng"  # its state enters the id once the operation is seen to draw from it
        if randomness.is_generator(value):
            raise Unreusable("draws from a random generator object")
        if is_notebook_class(type(value)):
            return self._notebook_object_identity(value, inputs)
        if self._is_traced_type(type(value)):
            if not _has_content_digest(value):
                return self._object_identity(value, inputs)  # (a LightGBM callback, a Dataset)
            digest = content_digest(value, resolve=lambda v: self.resolve(v, inputs))
            if self.registry.set(value, digest) and inputs is not None:
                inputs.append(digest)
            return digest
        raise Unreusable(f"can't identify a {type(value).__module__}.{type(value).__qualname__}")

    def _callable_identity(self, value: Any) -> str:
        """Library callables by name and version; notebook functions and classes by their code, when
        nothing they run has an effect a reuse would skip (a library calls them untraced)."""
        if isinstance(value, types.MethodType) and is_notebook_function(value.__func__):
            self._require_pure(value.__func__)
            return digest_parts("method", function_identity(value.__func__, self.resolve), value.__self__,
                                resolve=self.resolve)
        if is_notebook_function(value) or is_notebook_class(value):
            self._require_pure(value)
            if isinstance(value, type):
                return class_identity(value, self.resolve)
            return function_identity(value, self.resolve)
        module = getattr(value, "__module__", None) or ""
        qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", "")
        if module == "__main__":
            raise Unreusable(f"{qualname} is defined in the notebook and can't be identified")
        receiver = getattr(value, "__self__", None)
        if receiver is not None and not isinstance(receiver, (types.ModuleType, type)):
            return digest_parts("bound", module, qualname, receiver, resolve=self.resolve)
        return f"callable:{module}.{qualname}@{package_version(module)}"

    def _require_pure(self, value: Any) -> None:
        why = purity.reachable_impurity(value)
        if why is not None:
            raise Impure(f"it runs notebook code with an effect a reuse would skip: {why}")

    def _notebook_object_identity(self, value: Any, inputs: list[str] | None) -> str:
        """An instance of a class defined in the notebook (a transformer, a callback): its class's code
        and its state. Computed at every use, never remembered: its methods run untraced when a cell
        calls them, so a change they make is not seen."""
        self._require_pure(type(value))
        if is_estimator(value):
            return estimator_digest(value, lambda v: self.resolve(v, inputs))
        return self._object_identity(value, inputs)

    def _object_identity(self, value: Any, inputs: list[str] | None) -> str:
        """An object that isn't data (a LightGBM callback, a notebook class's instance): its class and
        its state, less what calls change for their own use (``specs.CALL_SCRATCH``)."""
        if id(value) in self._identifying:  # its state refers back to it (a callback's bound methods)
            raise Unreusable(f"a {type(value).__qualname__} refers to itself")
        try:
            state = effects.public_state(value)
        except TypeError:
            raise Unreusable(f"can't identify a {type(value).__qualname__} (it has no __dict__)") from None
        self._identifying.add(id(value))
        try:
            return digest_parts("object", type(value), state, resolve=lambda v: self.resolve(v, inputs))
        finally:
            self._identifying.discard(id(value))

    def _op_id(self, label: str, module: str, receiver: Any, args: tuple, kwargs: dict,
               inputs: list[str]) -> str:
        enc = Encoder(lambda v: self.resolve(v, inputs))
        enc.add(f"{label}@{package_version(module)}")
        if receiver is not None:
            enc.add(receiver)
        enc.add(args)
        enc.add(dict(sorted(kwargs.items())))
        for path in _file_arguments(args, kwargs):
            enc.raw(b"file", self.backend.file_digest(path).encode())
        return enc.hexdigest()

    # -- the hooks ----------------------------------------------------------------------------

    def getitem(self, obj: Any, key: Any) -> Any:
        __tracebackhide__ = True
        if self._depth or not self.enabled:
            return unwrap(obj)[key]
        if type(obj) is Lazy and obj._cr_node.done:
            obj = obj._cr_node.value
        target, label = obj, "__getitem__"
        if type(obj).__name__.endswith("Indexer") and getattr(obj, "name", None) in _INDEXERS:
            target, label = obj.obj, obj.name
        if not self._is_traced_type(type(target)):
            return obj[key]
        cls = target.__class__
        func = operator.getitem if target is obj else _index
        op = Operation(self, func, cls.__module__, "__getitem__", f"{cls.__name__}.{label}[]", None)
        return self._run_call(op, (target, key) if target is obj else (target, label, key), {}, sys._getframe(1))

    def binop(self, name: str, left: Any, right: Any) -> Any:
        __tracebackhide__ = True
        func = BINOPS[name]
        if self._depth or not self.enabled or not (self._is_traced_type(type(left)) or
                                                    self._is_traced_type(type(right))):
            return func(left, right)
        op = Operation(self, func, "numpy", name, f"op.{name}", None)
        return self._run_call(op, (left, right), {}, sys._getframe(1))

    compare = binop

    def unary(self, name: str, operand: Any) -> Any:
        __tracebackhide__ = True
        func = UNARY[name]
        if self._depth or not self.enabled or not self._is_traced_type(type(operand)):
            return func(operand)
        op = Operation(self, func, "numpy", name, f"op.{name}", None)
        return self._run_call(op, (operand,), {}, sys._getframe(1))

    def inplace(self, name: str, target: Any, value: Any) -> Any:
        __tracebackhide__ = True
        target = self._produced_target(target)
        result = INPLACE[name](target, unwrap(value))
        if result is target:
            self._mutated(target, f"__i{name.lower()}__", (value,))
        return result

    def setitem(self, value: Any, obj: Any, key: Any) -> None:
        __tracebackhide__ = True
        if type(obj) is Lazy:
            if self._defer_setitem(value, obj, key):
                return
            obj = self._produced_target(obj)
        (value, key), _ = self.deferral.produce_args((value, key), {})
        target, label = obj, "__setitem__"
        if type(obj).__name__.endswith("Indexer") and getattr(obj, "name", None) in _INDEXERS:
            target, label = obj.obj, f"{obj.name}.__setitem__"
        if self._depth or not self.enabled or self.registry.get(target) is None:
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
        obj = self._produced_target(obj)
        setattr(obj, attr, value)
        self._mutated(obj, f"__setattr__.{attr}", (value,))

    def setattr_aug(self, name: str, obj: Any, attr: str, value: Any) -> None:
        __tracebackhide__ = True
        self.setattr(INPLACE[name](getattr(obj, attr), value), obj, attr)

    def delitem(self, obj: Any, key: Any) -> None:
        __tracebackhide__ = True
        obj = self._produced_target(obj)
        del obj[key]
        self._mutated(obj, "__delitem__", (key,))

    def delattr(self, obj: Any, attr: str) -> None:
        __tracebackhide__ = True
        obj = self._produced_target(obj)
        delattr(obj, attr)
        self._mutated(obj, f"__delattr__.{attr}", ())

    def touched(self, *objs: Any) -> None:
        for obj in objs:
            obj = self._produced_target(obj)
            self._check_outside_change(obj)
            self.registry.mutated(obj, None)

    def touched_unknown(self) -> None:
        self.impure("it changes an object in a way collab_reuse can't follow")
        self.registry.forget_all()

    def impure(self, why: str, replayable: bool = False) -> None:
        """Every notebook call in progress has an effect besides its result: none may be reused.
        ``replayable``: the effect is one a replayed cell reproduces (drawing on a figure)."""
        for call in self._calls:
            if call.impure is None and not (replayable and call.displays):
                call.impure = why

    def begin_cell(self) -> _CallFrame:
        """A cell that may be replayed starts: its effects are judged as a notebook call's are."""
        frame = _CallFrame(self.registry.clock, displays=True)
        self._calls.insert(0, frame)
        return frame

    def end_cell(self, frame: _CallFrame) -> str | None:
        """The cell ended: why it had an effect besides displaying (None: it had none)."""
        if frame in self._calls:
            self._calls.remove(frame)
        return frame.impure

    def replay_cell(self) -> None:
        """What a replayed cell runs instead of its code (``kernel/replay.py``)."""
        self.backend.replay_cell()

    def replayed_result(self) -> Any:
        return self.backend.replayed_result()

    def _produced_target(self, obj: Any) -> Any:
        """A lazy about to be changed in place: its value, judged as the lazy it was (when it was born)."""
        if type(obj) is not Lazy:
            return obj
        if self._calls:
            self._check_outside_change(obj)
        return obj._cr_value()

    def _defer_setitem(self, value: Any, obj: Lazy, key: Any) -> bool:
        """``lazy[key] = value`` as a new node of the lazy, when the same change was seen finishing quietly."""
        node = obj._cr_node
        if node.done or self._depth or not self.enabled or not self.deferral.enabled:
            return False
        if self._calls:
            self._check_outside_change(obj)
        inputs: list[str] = [node.id]
        new_id = self._mutation_id("__setitem__", node.id, (key, value), inputs)
        if new_id is None:
            return False
        label = f"{node.type.__name__}.__setitem__"
        if not self.deferral.defer_setitem(obj, key, value, new_id, label):
            return False
        self._note_lineage(new_id, 0.0, inputs)
        self.backend.add_step(Step(new_id, label, DEFERRED, kind_of(None), inputs=inputs, mutation=True,
                                   reason="not needed yet: produced when something uses it"), None)
        return True

    def _check_outside_change(self, obj: Any) -> None:
        """An in-place change inside a notebook call of something the call didn't create is an effect."""
        for call in self._calls:
            if type(obj) is Lazy:
                if call.impure is None and obj._cr_born <= call.clock:
                    call.impure = f"it changes a {obj._cr_node.type.__name__} it was given in place"
            elif call.impure is None and self.registry.existed_before(obj, call.clock):
                call.impure = f"it changes a {type(obj).__name__} it was given in place"

    def _mutation_id(self, label: str, old_id: str, params: tuple, inputs: list[str]) -> str | None:
        """The id of an object's state after an in-place change (eager and deferred changes alike)."""
        try:
            return digest_parts("mutation", label, old_id, params, resolve=lambda v: self.resolve(v, inputs))
        except Exception:
            return None

    def _mutated(self, target: Any, label: str, params: tuple, quiet: bool = False) -> None:
        """An in-place change traced code made: the object gets the id of its new state."""
        if self._calls:
            self._check_outside_change(target)
        old = self.registry.get(target)
        if old is None:
            if self._is_traced_type(type(target)):
                self.registry.mutated(target, None)  # views/aliases of it are stale too
            return
        if self._depth:
            self.registry.mutated(target, None)
            return
        inputs: list[str] = [old]
        new_id = self._mutation_id(label, old, params, inputs)
        self.registry.mutated(target, new_id)
        if new_id is not None:
            self._note_lineage(new_id, 0.0, inputs)
            self.backend.add_step(Step(new_id, f"{type(target).__name__}.{label}", COMPUTED, kind_of(target),
                                       inputs=inputs, mutation=True), None)
            name = type_name(target) if quiet and label == "__setitem__" else None
            if name is not None:
                self.backend.mark_quiet(new_id, name, 0.0)

    # -- running one operation ----------------------------------------------------------------

    def _run_call(self, op: Operation, args: tuple, kwargs: dict, frame: Any) -> Any:
        __tracebackhide__ = True
        receiver, name = op.receiver, op.name
        if type(receiver) is Lazy and specs.mutated_receiver(name, kwargs):
            receiver = op.receiver = self._produced_target(receiver)  # an in-place method: runs on the value
            op.func = getattr(receiver, op.attr)
        if specs.is_effect(name, args, kwargs) or name in specs.NONDETERMINISTIC_NAMES:
            return self._run_plain(op, args, kwargs, frame, forget_result=name in
                                   specs.NONDETERMINISTIC_NAMES)
        if specs.draws_on(args, kwargs):  # (scipy.stats.probplot(x, plot=plt): its drawing is an effect)
            return self._run_plain(op, args, kwargs, frame, forget_result=False, draws=True)
        if self.deferral.unforced:
            self.deferral.produce_overserved((receiver, args, kwargs))
            if type(receiver) is Lazy and receiver._cr_node.done:
                receiver = op.receiver = receiver._cr_node.value
                op.func = getattr(receiver, op.attr)
        mutated = self._mutated_objects(op, args, kwargs)
        inputs: list[str] = []
        reason = None
        try:
            op_id = self._op_id(op.label, op.module, receiver, args, kwargs, inputs)
            if specs.is_source(name):
                _require_local_source(args, kwargs)
        except Unreusable as exc:
            op_id, reason = None, str(exc)
            if isinstance(exc, Impure):
                self.impure(reason)
        except Exception as exc:  # identity must never break the cell
            op_id, reason = None, f"identity failed: {type(exc).__name__}: {exc}"
            log.debug("identity of %s failed", op.label, exc_info=True)
        rng_before = randomness.snapshot()
        if op_id is not None and self.backend.is_random(op_id):
            op_id = digest_parts(op_id, "rng", randomness.digest(rng_before))
        if op_id is not None:
            reason = self._reuse_blocker(op, mutated)
            if reason is None:
                if not mutated and self.deferral.enabled and not self.backend.is_random(op_id):
                    lazy = self.deferral.defer(op, op_id, args, kwargs, frame, inputs)
                    if lazy is not None:
                        self._note_lineage(op_id, self.deferral.last_seconds, inputs)
                        return lazy
                loaded = self._try_load(op, op_id, receiver, frame, inputs, (receiver, args, kwargs), args, kwargs)
                if loaded is not _MISS:
                    return loaded
                if warmstart.eligible(name, receiver):
                    return self._fit_warm_or_cold(op, args, kwargs, frame, op_id, inputs, mutated, rng_before)
        return self._compute(op, args, kwargs, frame, op_id, inputs, mutated, rng_before, reason)

    def _fit_warm_or_cold(self, op: Operation, args: tuple, kwargs: dict, frame: Any, op_id: str,
                          inputs: list[str], mutated: list[Any], rng_before: tuple) -> Any:
        """A forest fit: grown from the largest stored smaller forest of the same key if there is one."""
        __tracebackhide__ = True
        receiver = op.receiver
        try:
            key = warmstart.key(receiver, args, kwargs, self.resolve)
        except Exception:
            return self._compute(op, args, kwargs, frame, op_id, inputs, mutated, rng_before, None)
        stored = self._stored_forest(key, receiver.n_estimators)
        params = None
        if stored is not None:
            params = warmstart.grow_from(receiver, stored[0])
        try:
            result = self._compute(op, args, kwargs, frame, op_id, inputs, mutated, rng_before, None,
                                   warm_from=None if stored is None else
                                   f"grown from a stored forest of {stored[1]} trees (identical to a cold fit)")
        finally:
            if params is not None:
                warmstart.finish(receiver, params)
        self.backend.remember_forest(key, receiver.n_estimators, op_id)
        return result

    def _stored_forest(self, key: str, n_estimators: int) -> tuple[Any, int] | None:
        """(fitted forest, its tree count): the largest stored forest under ``key`` smaller than asked."""
        for n, artifact_id in sorted(self.backend.stored_forests(key), reverse=True):
            if n >= n_estimators:
                continue
            info = self.backend.lookup(artifact_id)
            if info is None or not self.backend.loadable(info):
                continue
            try:
                value, extra, _nbytes, _seconds = self.backend.load(artifact_id)
            except Exception:
                log.info("stored forest %s unusable for a warm start", artifact_id[:12], exc_info=True)
                continue
            if "effects" in extra:
                continue  # (its fit changed objects it was given: only a reuse of that very call replays it)
            forest = value[0] if extra.get("fitted_self") else value
            if len(getattr(forest, "estimators_", ())) == n:
                return forest, n
        return None

    def _run_function(self, func: Any, args: tuple, kwargs: dict, frame: Any) -> Any:
        """A notebook function call as one operation: reused whole when a pure call with the same
        identity (its code, the globals it reads, its arguments) was stored; else run as written,
        its body traced, and judged pure or not by what it did."""
        __tracebackhide__ = True
        if not any(self._is_traced_type(type(v)) for v in (*args, *kwargs.values())):
            return func(*args, **kwargs)  # no data value in: not data work (and recursion stays cheap)
        op = Operation(self, func, "__main__", func.__name__, f"{func.__qualname__}()", None)
        inputs: list[str] = []
        try:
            identity = function_identity(func, self.resolve)
            op_id = digest_parts("call", identity, args, dict(sorted(kwargs.items())),
                                 resolve=lambda v: self.resolve(v, inputs))
        except Exception:  # arguments we can't identify: the call runs as written, its body still traced
            op_id = None
        if op_id is None or op_id in self._impure:
            return func(*args, **kwargs)
        rng_before = randomness.snapshot()
        if self.backend.is_random(op_id):
            op_id = digest_parts(op_id, "rng", randomness.digest(rng_before))
        elif self.deferral.enabled:
            lazy = self.deferral.defer(op, op_id, args, kwargs, frame, inputs,
                                       unchanged=lambda: function_identity(func, self.resolve) == identity)
            if lazy is not None:
                self._note_lineage(op_id, self.deferral.last_seconds, inputs)
                return lazy
        loaded = self._try_load(op, op_id, None, frame, inputs, (args, kwargs), args, kwargs)
        if loaded is not _MISS:
            return loaded
        call = _CallFrame(self.registry.clock)
        self._calls.append(call)
        capture = Capture(tee=True, warnings=False)  # warnings are in the captured text already
        start = time.perf_counter()
        try:
            with capture:
                result = func(*args, **kwargs)
                # a lazy it returns is produced: the call's result is known by the call's id (as when it
                # is loaded), not by the lazy's, nor by an id its value got from a change inside the call
                (result,), _ = self.deferral.produce_args((result,), {})
        finally:
            self._calls.remove(call)
        seconds = time.perf_counter() - start
        if call.impure is not None:
            self._impure.add(op_id)
            self.backend.add_step(Step(None, op.label, NOT_REUSABLE, kind_of(result), reason=call.impure,
                                       seconds=seconds, inputs=inputs), None)
            return result
        try:
            self._after_compute(op, args, kwargs, result, seconds, op_id, inputs, [], rng_before, None, capture,
                                made_since=call.clock)
        except Exception:
            log.warning("recording %s failed", op.label, exc_info=True)
        return result

    def _mutated_objects(self, op: Operation, args: tuple, kwargs: dict) -> list[Any]:
        out = []
        if op.receiver is not None and specs.mutated_receiver(op.name, kwargs):
            out.append(op.receiver)
        if args and specs.mutated_first_arg(op.module, op.name):
            out.append(args[0])
        if "out" in kwargs and kwargs["out"] is not None:
            out.extend(kwargs["out"] if isinstance(kwargs["out"], tuple) else (kwargs["out"],))
        return out

    def _reuse_blocker(self, op: Operation, mutated: list[Any]) -> str | None:
        """Why this operation must compute even if its result is stored; None if it may be reused."""
        if not mutated:
            return None
        if len(mutated) == 1 and mutated[0] is op.receiver and kind_of(op.receiver) == "model":
            if _holds_generators(op.receiver):
                return "draws from a random generator object it holds, in place"
            return None
        return "changes its input in place"

    def _try_load(self, op: Operation, op_id: str, receiver: Any, frame: Any, inputs: list[str],
                  operands: tuple = (), args: tuple = (), kwargs: dict | None = None) -> Any:
        """Load the stored result if that beats computing it, counting what computing would first
        have to produce (lazy ``operands``), and replay what the call changed among ``args``."""
        __tracebackhide__ = True
        fetched = self._fetch(op.label, op_id, operands)
        if fetched is _MISS:
            return _MISS
        info, value, extra, nbytes, seconds = fetched
        kwargs = kwargs or {}
        paths, states = extra.get("effects"), []
        if paths is not None:
            value, states = value
            if not effects.replayable(paths, states, args, kwargs):
                log.info("stored result of %s not used: what it changed can't be written back here", op.label)
                return _MISS
        in_place = extra.get("nested_fitted", [])
        if extra.get("fitted_self"):
            stored_model, value = value
            if not fitted.adoptable(receiver, stored_model, in_place):
                return _MISS
        if paths is not None:
            effects.replay(paths, states, args, kwargs)
            self._mark_effects(op_id, [effects.follow(path, args, kwargs) for path in paths])
            self.impure(f"it calls {op.label}, which changes {effects.describe(tuple(map(tuple, paths[0])))}")
        if extra.get("fitted_self"):
            nested_live = fitted.nested_estimators(receiver)
            fitted.adopt(receiver, stored_model, in_place)
            if extra.get("result_is_self"):
                value = receiver
        self._note_lineage(op_id, info.compute_seconds, inputs)
        if extra.get("fitted_self"):
            self._mark_mutated(receiver, op_id, value, nested_followed=True)
            self._mark_fitted_in_place(op_id, {key: nested_live[key] for key in in_place})
        if value is not receiver:
            self._register_result(value, op_id)
        if "rng_after" in extra:
            randomness.restore(extra["rng_after"])
        replay(extra.get("log", []), frame)
        saved = max(info.compute_seconds - seconds, 0.0)
        self.backend.add_step(Step(op_id, op.label, REUSED, kind_of(value if value is not None else receiver),
                                   seconds=seconds, saved_seconds=saved, bytes_read=nbytes, inputs=inputs), None)
        return value

    def _fetch(self, label: str, op_id: str, operands: tuple = ()) -> Any:
        """(info, value, extra, bytes read, seconds) of the stored result if loading it beats computing
        it, counting what computing would first have to produce (lazy ``operands``); else ``_MISS``."""
        try:
            info = self.backend.lookup(op_id)
            if info is None:
                return _MISS
            pending = self.deferral.cost_to_produce(operands) if self.deferral.unforced else 0.0
            if not self.backend.should_load(info, pending):
                return _MISS
            value, extra, nbytes, seconds = self.backend.load(op_id)
            if pending:
                self.deferral.served(operands, seconds)
        except (CorruptArtifact, KeyError) as exc:
            log.info("stored result of %s unusable, recomputing: %s", label, exc)
            return _MISS
        except Exception as exc:
            log.warning("loading %s failed, recomputing", label, exc_info=True)
            del exc
            return _MISS
        return info, value, extra, nbytes, seconds

    def _bin_lightgbm_matrix(self, dataset: Any, mat: Any, params_str: str, reference: Any) -> None:
        """A matrix LightGBM is about to bin (``binned``): the stored binned form of the same matrix under
        the same dataset parameters (and, for a validation matrix, the same training matrix) is
        loaded instead; else it is binned as written and the binned form offered to the store."""
        __tracebackhide__ = True
        inputs: list[str] = []
        label = BINNED_LABEL if reference is None else BINNED_VALIDATION_LABEL
        try:
            against = () if reference is None else (self._binned_keys[reference],)
            key = digest_parts("lightgbm-binned", package_version("lightgbm"), binned.key_parameters(params_str),
                               mat.dtype.str, mat.shape, bool(mat.flags.f_contiguous), self.resolve(mat, inputs),
                               *against)
        except Exception:  # (also a reference Dataset this tracer did not bin)
            log.debug("binned LightGBM matrix not identified", exc_info=True)
            binned.bin_matrix(dataset, mat, params_str, reference)
            return
        fetched = self._fetch(label, key)
        if fetched is not _MISS:
            info, value, _extra, nbytes, seconds = fetched
            start = time.perf_counter()
            try:
                loaded = binned.load_binned(dataset, value, params_str, reference)
            except Exception:
                log.warning("loading LightGBM's binned matrix failed, binning it", exc_info=True)
                loaded = False
            if loaded:
                seconds += time.perf_counter() - start
                self._binned_keys[dataset] = key
                self._note_lineage(key, info.compute_seconds, inputs)
                self.backend.add_step(Step(key, label, REUSED, "other", seconds=seconds, inputs=inputs,
                                           saved_seconds=max(info.compute_seconds - seconds, 0.0),
                                           bytes_read=nbytes), None)
                return
        start = time.perf_counter()
        binned.bin_matrix(dataset, mat, params_str, reference)
        seconds = time.perf_counter() - start
        self._binned_keys[dataset] = key
        lineage = self._note_lineage(key, seconds, inputs)
        candidate = None
        if seconds >= self.backend.min_saving:
            try:
                candidate = Candidate(key, binned.binary_of(dataset, params_str), "other", seconds, {"log": []},
                                      recreate_seconds=lineage)
            except Exception:
                log.warning("keeping LightGBM's binned matrix failed", exc_info=True)
        self.backend.add_step(Step(key, label, COMPUTED, "other", seconds=seconds, inputs=inputs), candidate)

    def _compute(self, op: Operation, args: tuple, kwargs: dict, frame: Any, op_id: str | None,
                 inputs: list[str], mutated: list[Any], rng_before: tuple, reason: str | None,
                 warm_from: str | None = None) -> Any:
        __tracebackhide__ = True
        func, args, kwargs = self._produced_call(op, args, kwargs)
        watch = nested = None
        if op_id is not None:
            try:
                watch = effects.Watch(args, kwargs)
            except effects.Unwatchable as exc:
                op_id, reason = None, str(exc)
            if mutated and kind_of(mutated[0]) == "model":
                nested = fitted.Nested(mutated[0])
        capture = Capture(tee=True, frame=frame)
        binning = binned.handling(self._bin_lightgbm_matrix) \
            if binned.is_training_call(op.module, op.name) and binned.install() else contextlib.nullcontext()
        self._depth += 1
        start = time.perf_counter()
        try:
            with capture, binning:
                result = func(*args, **kwargs)
        except BaseException:
            self._depth -= 1
            for obj in mutated:
                self.registry.mutated(obj, None)
            raise
        seconds = time.perf_counter() - start
        self._depth -= 1
        try:
            self._after_compute(op, args, kwargs, result, seconds, op_id, inputs, mutated, rng_before, reason,
                                capture, warm_from, watch, nested)
        except Exception:  # bookkeeping must never fail the user's cell
            log.warning("recording %s failed", op.label, exc_info=True)
            for obj in mutated:
                self.registry.mutated(obj, None)
        return result

    def _after_compute(self, op: Operation, args: tuple, kwargs: dict, result: Any, seconds: float,
                       op_id: str | None, inputs: list[str], mutated: list[Any], rng_before: tuple,
                       reason: str | None, capture: Capture, warm_from: str | None = None,
                       watch: effects.Watch | None = None, nested: fitted.Nested | None = None,
                       made_since: int | None = None) -> None:
        if self._calls:
            for obj in mutated:
                self._check_outside_change(obj)
        extra: dict[str, Any] = {"log": capture.log}
        changed = watch.changed() if watch else []
        effect_states: list | str = watch.after_states(changed) if changed else []
        if changed:
            self.impure(f"it calls {op.label}, which changes {effects.describe(changed[0][0])}")
            if isinstance(effect_states, str):  # an effect no reuse could replay: nothing keyed by this id
                op_id, reason = None, effect_states
        worth_storing = reason is None and seconds >= self.backend.min_saving
        rng_after = randomness.snapshot()
        random_op = None
        if op_id is not None and randomness.changed(rng_before, rng_after):
            if not self.backend.is_random(op_id):
                random_op = op_id
                op_id = digest_parts(op_id, "rng", randomness.digest(rng_before))
            extra["rng_after"] = randomness.full_state_json()
        if op_id is None:
            for obj in mutated:
                self.registry.mutated(obj, None)
            if result is not None:
                self.registry.forget(result)
            self.backend.add_step(Step(None, op.label, NOT_REUSABLE, kind_of(result), reason=reason,
                                       seconds=seconds), None)
            return
        lineage = self._note_lineage(op_id, seconds, inputs)
        for obj in mutated:
            self._mark_mutated(obj, op_id, result, nested_followed=nested is not None and obj is mutated[0])
        in_place = nested.fitted_in_place() if nested is not None else {}
        self._mark_fitted_in_place(op_id, in_place)
        if result is not None and not any(result is m for m in mutated):
            self._register_result(result, op_id, made_since)
        self._mark_effects(op_id, [obj for _, obj in changed])
        if reason is None and not worth_storing and lineage >= _COSTLY_LINEAGE and _is_small(result) \
                and _condenses(op.receiver, args, kwargs):
            worth_storing = True  # tiny, but recomputing it means producing the large thing it came from
        candidate = self._candidate(op, op_id, result, mutated, seconds, extra, capture) if worth_storing else None
        if candidate is not None:
            candidate.recreate_seconds = lineage
            if in_place:  # (stale once one of them changes before it is stored)
                candidate.extra = {**candidate.extra, "nested_fitted": sorted(in_place)}
                candidate.live += tuple((obj, self.registry.get(obj)) for obj in in_place.values())
            if changed:  # the result and the new state of what the call changed, replayed together
                candidate.value = (candidate.value, effect_states)
                candidate.extra = {**candidate.extra, "effects": [[list(step) for step in path] for path, _ in changed]}
        if reason is None and not mutated and not changed and random_op is None and "rng_after" not in extra \
                and not capture.log and op.module != "__main__":
            name = type_name(result)
            if name is not None:
                self.backend.mark_quiet(op_id, name, seconds)
        status = NOT_REUSABLE if reason is not None else WARM_STARTED if warm_from else COMPUTED
        step = Step(op_id, op.label, status,
                    kind_of(result if result is not None else (mutated[0] if mutated else None)),
                    reason=reason or warm_from or capture.unstorable, seconds=seconds, inputs=inputs)
        if op.name in specs.METRIC_NAMES and isinstance(result, float):
            step.score = float(result)
        self.backend.add_step(step, candidate)
        if random_op is not None:
            self.backend.mark_random(random_op)

    def _candidate(self, op: Operation, op_id: str, result: Any, mutated: list[Any], seconds: float,
                   extra: dict, capture: Capture) -> Candidate | None:
        """What to offer the store. Live objects are held, not copied: the store encodes them only
        between cells and only if their id is still the one they got here (else they changed)."""
        if not capture.replayable:
            return None
        if mutated:
            receiver = mutated[0]
            if kind_of(receiver) != "model":
                return None
            extra = {**extra, "fitted_self": True, "result_is_self": result is receiver}
            receiver_id = op_id if result is receiver else digest_parts(op_id, "self")
            value = (receiver, None if result is receiver else snapshot(result))
            return Candidate(op_id, value, "model", seconds, extra, live=((receiver, receiver_id),))
        if result is None or _is_lazy_or_handle(result):
            return None
        items = enumerate(result) if isinstance(result, (tuple, list)) else ((None, result),)
        live = tuple((item, self.registry.get(item)) for _, item in items if self.registry.get(item) is not None)
        # weakly: a strong reference would raise pandas' reference counts and hide chained assignments
        live = tuple((_weak(obj), expected) for obj, expected in live)
        return Candidate(op_id, snapshot(result), kind_of(result), seconds, extra, live=live)

    def _mark_fitted_in_place(self, op_id: str, in_place: dict[str, Any]) -> None:
        """Estimators a meta-estimator's fit fitted in place (a pipeline's steps) get ids derived from
        the fit's (the same after a reuse adopts the stored state into them)."""
        for key, obj in in_place.items():
            self.registry.mutated(obj, self._derived_id(digest_parts(op_id, "nested", key), op_id))

    def _mark_effects(self, op_id: str, changed: list[Any]) -> None:
        """Objects a call changed besides its result and receiver get ids derived from the call's (the
        same after a reuse replays the change)."""
        for i, obj in enumerate(changed):
            if self.registry.get(obj) is not None:
                self.registry.mutated(obj, self._derived_id(digest_parts(op_id, "effect", i), op_id))

    def unchanged(self, candidate: Candidate) -> bool:
        """Do the candidate's live objects still hold the ids they had when it was made?"""
        for ref, expected in candidate.live:
            obj = ref() if isinstance(ref, weakref.ref) else ref
            if obj is not None and self.registry.get(obj) != expected:
                return False  # (a collected object can't have changed since: its snapshot is the value)
        return True

    def _note_lineage(self, op_id: str, seconds: float, inputs: list[str]) -> float:
        """Seconds to recreate the artifact from scratch (its own and its ancestors' compute times)."""
        lineage = seconds + sum(self._lineage.get(i, 0.0) for i in dict.fromkeys(inputs))
        self._lineage[op_id] = lineage
        return lineage

    def _derived_id(self, derived: str, op_id: str) -> str:
        """The id of something an operation changed or returned besides its result (its receiver,
        the items of its tuple), recreated by recreating the operation: same lineage."""
        self._lineage[derived] = self._lineage.get(op_id, 0.0)
        return derived

    def _mark_mutated(self, obj: Any, op_id: str, result: Any, nested_followed: bool = False) -> None:
        """``obj`` was changed in place by the operation ``op_id`` that returned ``result``;
        ``nested_followed``: the estimators nested in it that changed are marked apart."""
        self.registry.mutated(obj, op_id if obj is result else self._derived_id(digest_parts(op_id, "self"), op_id),
                              nested_followed)

    def _register_result(self, value: Any, op_id: str, made_since: int | None = None) -> None:
        """Name a result by the operation's id. An object that existed before the operation
        (``pipe.named_steps["lr"]`` returns the user's ``lr``) keeps its name: the operation didn't
        change it, and renaming it would make what is stored of it look changed. ``made_since``: a
        notebook call's clock at its start; what its body made since then is named by the call."""
        def new(item: Any) -> bool:
            return self.registry.get(item) is None or (made_since is not None and
                                                       not self.registry.existed_before(item, made_since))

        if isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                if not isinstance(item, (int, float, str, bool, bytes, type(None))) and new(item):
                    self.registry.set(item, self._derived_id(digest_parts(op_id, "item", i), op_id))
            return
        if not isinstance(value, (int, float, str, bool, bytes)) and new(value):
            self.registry.set(value, op_id)

    def _run_plain(self, op: Operation, args: tuple, kwargs: dict, frame: Any, forget_result: bool,
                   draws: bool = False) -> Any:
        __tracebackhide__ = True
        self.impure(f"it calls {op.label}, which writes, shows or differs at every call",
                    replayable=draws or cells.replays_faithfully(op.module, op.name))
        func, args, kwargs = self._produced_call(op, args, kwargs)
        with Capture(tee=False, frame=frame):
            result = func(*args, **kwargs)
        if forget_result and result is not None:
            self.registry.forget(result)
        return result

    def _produced_call(self, op: Operation, args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
        """The callable and arguments to run now: lazies among them (and a lazy receiver) produced."""
        if op.func is None:  # a method of a lazy receiver
            self.deferral.force([op.receiver])
            func = getattr(op.receiver._cr_node.value, op.attr)
        else:
            func = op.func
        if self.deferral.unforced or any(type(a) is Lazy for a in args):
            args, kwargs = self.deferral.produce_args(args, kwargs)
        return func, args, kwargs


class _Miss:
    pass


_MISS = _Miss()


def _weak(obj: Any) -> Any:
    try:
        return weakref.ref(obj)
    except TypeError:
        return obj


def _module_of(func: Any) -> str:
    """The module a callable comes from (a bound method's: its receiver's class's)."""
    receiver = getattr(func, "__self__", None)
    if receiver is not None and not isinstance(receiver, types.ModuleType):
        return type(receiver).__module__ if not isinstance(receiver, type) else receiver.__module__
    return getattr(func, "__module__", None) or type(func).__module__


def _has_content_digest(value: Any) -> bool:
    """Frames, arrays and estimators are named by content; other library objects by their state."""
    return specs.package_of(type(value).__module__) in ("pandas", "numpy") or is_estimator(value)


def _condenses(receiver: Any, args: tuple, kwargs: dict) -> bool:
    """Some input is large (a tiny result of small inputs is as cheap to redo from them as to load)."""
    for value in (receiver, *args, *kwargs.values()):
        try:
            nbytes = value.size * 8 if type(value).__name__ == "DataFrame" else getattr(value, "nbytes", 0)
            if int(nbytes) > _SMALL_BYTES:
                return True
        except Exception:
            continue
    return False


def _is_small(value: Any) -> bool:
    """Cheap to store whatever it cost: scalars, short texts and tuples, small frames and arrays."""
    t = type(value)
    if t in (int, float, bool, complex) or (t.__module__ == "numpy" and not hasattr(value, "__len__")):
        return True
    if t is str:
        return len(value) < 10_000
    if t is tuple:
        return len(value) <= 64 and all(type(v) in (int, float, bool, str, type(None)) for v in value)
    if t.__module__.split(".", 1)[0] in ("pandas", "numpy"):
        try:
            if not hasattr(value, "memory_usage"):
                nbytes = value.nbytes
            elif t.__name__ in ("DataFrame", "Series"):
                nbytes = value.memory_usage(index=True)
            else:  # an Index's takes no ``index``
                nbytes = value.memory_usage()
            nbytes = nbytes.sum() if hasattr(nbytes, "sum") else nbytes  # a frame's is per column
        except Exception:
            return False
        return int(nbytes) <= _SMALL_BYTES
    return False


def _index(target: Any, indexer: str, key: Any) -> Any:
    """``target.loc[key]`` as a function of the frame (what a deferred ``.loc[]`` runs)."""
    return getattr(target, indexer)[key]


def _is_lazy_or_handle(value: Any) -> bool:
    """Groupby objects, iterators, file handles: intermediate objects not worth storing."""
    name = type(value).__name__
    return "GroupBy" in name or "Resampler" in name or "Rolling" in name or hasattr(value, "__next__") or \
        name in ("NpzFile", "ExcelFile", "Styler", "Dataset", "DMatrix", "QuantileDMatrix", "Pool")


def _holds_generators(est: Any) -> bool:
    """A ``random_state`` that is a generator object, here or in a nested estimator: a fit advances it
    in place, and a reuse could not."""
    try:
        params = est.get_params(deep=True)
    except Exception:
        return True
    return any(randomness.is_generator(v) for v in params.values())


def _file_arguments(args: tuple, kwargs: dict) -> list[str]:
    """Strings and paths among the parameters that name existing files: their content is an input."""
    found = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str) and 0 < len(value) < 4096 and ("." in value or os.sep in value):
            try:
                if os.path.isfile(value):
                    found.append(value)
            except (OSError, ValueError):
                pass
    return found


def _require_local_source(args: tuple, kwargs: dict) -> None:
    path = args[0] if args else next((kwargs[k] for k in specs.SOURCE_PATH_KEYWORDS if k in kwargs), None)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str) and not os.path.isfile(path):
        raise Unreusable("reads from something that is not a local file")
