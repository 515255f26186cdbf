"""Identity of functions, lambdas and classes defined in a notebook.

A function is named by its compiled code (bytecode, constants, names: comments
and formatting don't matter), its defaults, its closure cells and every global
it reads, each resolved to an artifact id, a literal or, for other notebook
functions and classes, their own identity. A class is named by its name, its
bases and every member its body defines (methods by their identity as
functions), so an edited ``transform`` of a transformer class defined in the
notebook gives new ids to everything computed with it. Editing a function, a
class, or a global either reads, changes the identity of exactly what depends
on it.
"""

from __future__ import annotations

import builtins
import sys
import types
from typing import Any, Callable

from ..errors import Unreusable
from .digest import Encoder


def library_identity(obj: Any) -> str | None:
    """``module.qualname@version`` for functions/classes of installed packages; None otherwise."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not module or not qualname or module == "__main__" or module.startswith("__"):
        return None
    return f"{module}.{qualname}@{package_version(module)}"


def package_version(module: str) -> str:
    root = module.split(".", 1)[0]
    mod = sys.modules.get(root)
    return str(getattr(mod, "__version__", "")) if mod is not None else ""


#: The name rewritten cell code calls collab_reuse's hooks by (``tracing/rewrite.py``): read by every
#: rewritten function, never one of its inputs.
HOOK_NAME = "__cr__"


def is_notebook_function(fn: Any) -> bool:
    """Defined in a cell (``__main__``, IPython's cell files), not in an installed module."""
    return isinstance(fn, types.FunctionType) and (fn.__module__ == "__main__" or fn.__module__ is None)


def is_notebook_class(cls: Any) -> bool:
    """A class whose body ran in a cell: its behaviour is notebook code, not a library's."""
    return isinstance(cls, type) and cls.__module__ == "__main__"


#: Members every class body gets that say nothing about behaviour (docstrings, bookkeeping).
_CLASS_BOOKKEEPING = frozenset({"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__",
                                "__firstlineno__", "__static_attributes__",
                                "__slotnames__"})  # (copyreg's cache, set when an instance is first pickled)


def class_identity(cls: type, resolve: Callable[[Any], str], _active: set[int] | None = None) -> str:
    """Digest of a notebook class: its name, its bases (library bases by name and version, notebook
    bases by their identity) and every member its body defines."""
    active = _active if _active is not None else set()
    if id(cls) in active:  # a method naming its own class (``super(C, self)``, ``C.attr``)
        return f"recursive-class:{cls.__qualname__}"
    active.add(id(cls))
    try:
        enc = Encoder(lambda v: _resolve_member(v, resolve, active))
        enc.raw(b"class", cls.__qualname__.encode())
        for base in cls.__bases__:
            enc.raw(b"base", (class_identity(base, resolve, active) if is_notebook_class(base)
                              else f"{base.__module__}.{base.__qualname__}@{package_version(base.__module__)}"
                              ).encode())
        for name, member in sorted(vars(cls).items()):
            if name in _CLASS_BOOKKEEPING:
                continue
            enc.raw(b"member", name.encode())
            for part in class_member_functions(member) or (member,):
                enc.add(part)
        return enc.hexdigest()
    finally:
        active.discard(id(cls))


def _type_only(value: Any) -> str:
    return f"global:{type(value).__module__}.{type(value).__qualname__}"


def class_code_digest(cls: type) -> str:
    """A notebook class by its code alone: its name, bases and members, the notebook functions and
    classes they name, with every other global a placeholder. What a stored instance of the class is
    checked against when it is read back (its artifact's id, with the globals' values, is checked
    before that)."""
    return class_identity(cls, _type_only)


def function_code_digest(fn: types.FunctionType) -> str:
    """A notebook function by its code alone (``class_code_digest``'s counterpart): what a stored
    reference to it (a ``FunctionTransformer``'s ``func``) is checked against when it is read back."""
    return function_identity(fn, _type_only)


def class_member_functions(member: Any) -> tuple[Any, ...]:
    """The functions behind a class member (a method, a static or class method, a property's accessors);
    empty for a plain attribute."""
    if isinstance(member, (staticmethod, classmethod)):
        return (member.__func__,)
    if isinstance(member, property):
        return tuple(f for f in (member.fget, member.fset, member.fdel) if f is not None)
    if isinstance(member, types.FunctionType):
        return (member,)
    return ()


def function_identity(fn: types.FunctionType, resolve: Callable[[Any], str], _active: set[int] | None = None) -> str:
    """Digest of a notebook function's code, defaults, closure and the globals it reads."""
    active = _active if _active is not None else set()
    if id(fn) in active:  # recursion: the name is enough, the body is being hashed already
        return f"recursive:{fn.__qualname__}"
    active.add(id(fn))
    try:
        enc = Encoder(lambda v: _resolve_member(v, resolve, active))
        enc.raw(b"fn", fn.__qualname__.encode())
        _add_code(enc, fn.__code__)
        enc.add(fn.__defaults__ or ())
        enc.add(dict(fn.__kwdefaults__ or {}))
        for cell in fn.__closure__ or ():
            try:
                enc.add(cell.cell_contents)
            except ValueError:  # an empty cell: a name assigned later in the enclosing scope
                enc.raw(b"empty", b"")
        for name in sorted(global_names(fn.__code__) - {HOOK_NAME}):
            if name in fn.__globals__:
                enc.raw(b"g", name.encode())
                enc.add(fn.__globals__[name])
            elif not hasattr(builtins, name):
                enc.raw(b"missing", name.encode())
        return enc.hexdigest()
    finally:
        active.discard(id(fn))


def _resolve_member(value: Any, resolve: Callable[[Any], str], active: set[int]) -> str:
    if isinstance(value, types.FunctionType) and is_notebook_function(value):
        return function_identity(value, resolve, active)
    if is_notebook_class(value):
        return class_identity(value, resolve, active)
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}@{package_version(value.__name__)}"
    return resolve(value)


def _add_code(enc: Encoder, code: types.CodeType) -> None:
    enc.raw(b"co", code.co_code)
    enc.add((code.co_argcount, code.co_kwonlyargcount, code.co_flags, code.co_names, code.co_varnames, code.co_freevars))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _add_code(enc, const)
        else:
            enc.add(const)


def global_names(code: types.CodeType) -> set[str]:
    """Every name the code (nested functions and comprehensions included) may read as a global."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def ensure_plain_function(fn: Any) -> types.FunctionType:
    if not isinstance(fn, types.FunctionType):
        raise Unreusable(f"{type(fn).__name__} is not a plain function")
    return fn
