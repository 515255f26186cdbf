"""Plain twins of notebook functions: what pandas calls once per row or per group.

A function defined in the notebook is rewritten with tracing hooks, so that its body is traced when a
cell calls it. When pandas calls it instead (``s.apply(title)``, ``df.agg({'a': lambda x: ...})``),
every hook is quiet (``Tracer._quiet``: inside a traced operation callbacks run plainly), yet each
still costs a call, per row: an ``apply`` took 2-3x its plain time. A function nothing it reaches
changes anything outside it (``purity.reachable_impurity``, the rule that lets the operation be
reused at all) is handed to pandas as a twin compiled from the same source without the hooks: the
same lines and names, globals, defaults and closure, so it computes and raises as the rewritten one
would. Anything that doesn't match exactly keeps the rewritten function.
"""

from __future__ import annotations

import __future__
import ast
import inspect
import linecache
import types
import weakref
from typing import Any

from ..fingerprint.functions import is_notebook_function
from . import purity, specs

__all__ = ["plain_callbacks", "plain_twin"]

_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag

#: rewritten code object -> its plain twin (None: none could be made)
_plain_code: "weakref.WeakKeyDictionary[types.CodeType, types.CodeType | None]" = weakref.WeakKeyDictionary()

#: pandas objects that keep the functions given to them (to call them when shown)
_KEEPERS = frozenset({"Styler"})


def plain_callbacks(module: str, receiver: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The arguments of a pandas operation about to run, with each pure notebook function among them
    (also as a value of a list, tuple or dict argument: ``agg({'a': f})``) replaced by its twin.
    Only pandas' functions and the methods of its objects, which call a function they are given and
    don't keep it; a Styler keeps it (as an estimator would), and the object the notebook holds must
    be the one it passed."""
    if specs.package_of(module) != "pandas" or type(receiver).__name__ in _KEEPERS:  # ("pandas.core.series" in 2.2)
        return args, kwargs
    new_args = tuple(_twinned(a, 0) for a in args)
    new_kwargs = {k: _twinned(v, 0) for k, v in kwargs.items()}
    return new_args, new_kwargs


def _twinned(value: Any, depth: int) -> Any:
    t = type(value)
    if t is types.FunctionType:
        return plain_twin(value)
    if depth == 0 and (t is list or t is tuple):
        return t(_twinned(v, 1) for v in value) if any(type(v) is types.FunctionType for v in value) else value
    if depth == 0 and t is dict:
        if not any(type(v) is types.FunctionType for v in value.values()):
            return value
        return {k: _twinned(v, 1) for k, v in value.items()}
    return value


def plain_twin(func: types.FunctionType) -> types.FunctionType:
    """``func`` without its hooks when it is a pure notebook function whose twin can be made, else ``func``."""
    if not is_notebook_function(func) or purity.reachable_impurity(func) is not None:
        return func
    code = func.__code__
    try:
        plain = _plain_code[code]
    except KeyError:
        plain = _plain_code[code] = _compile_twin(code)
    if plain is None:
        return func
    twin = types.FunctionType(plain, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    twin.__kwdefaults__ = func.__kwdefaults__
    twin.__qualname__, twin.__doc__, twin.__module__ = func.__qualname__, func.__doc__, func.__module__
    twin.__annotations__ = func.__annotations__
    twin.__dict__.update(func.__dict__)
    return twin


def _compile_twin(code: types.CodeType) -> types.CodeType | None:
    """The code object compiled from the cell's own source at ``code``'s place, if it is the same
    function (same name, line, arguments, local and free variables)."""
    source = "".join(linecache.getlines(code.co_filename))
    if not source:
        return None
    try:
        tree = ast.parse(source, code.co_filename)
        module = compile(tree, code.co_filename, "exec", flags=(code.co_flags & _FUTURE_FLAGS)
                         | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    namesakes = [c for c in _walk(module) if (c.co_qualname, c.co_firstlineno) == (code.co_qualname, code.co_firstlineno)]
    if len(namesakes) > 1:  # (two lambdas on one line: told apart by where their bodies start)
        namesakes = [c for c in namesakes if _body_start(c) == _body_start(code)]
    if len(namesakes) != 1 or not _same_function(code, namesakes[0]):
        return None
    return namesakes[0]


def _walk(code: types.CodeType):
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield const
            yield from _walk(const)


def _body_start(code: types.CodeType) -> tuple | None:
    """The first (line, column) any instruction of the body comes from (the hooks the rewrite puts
    around an expression stand at the expression's place)."""
    positions = list(code.co_positions())
    starts = [(line, col) for line, _, col, _ in (p for p in positions if p != positions[0])
              if line is not None and col is not None]  # (the entry's and the implicit return's place: the def's)
    return min(starts) if starts else None


def _same_function(rewritten: types.CodeType, plain: types.CodeType) -> bool:
    nargs = rewritten.co_argcount + rewritten.co_kwonlyargcount + bool(rewritten.co_flags & inspect.CO_VARARGS) \
        + bool(rewritten.co_flags & inspect.CO_VARKEYWORDS)
    return (rewritten.co_argcount, rewritten.co_posonlyargcount, rewritten.co_kwonlyargcount,
            rewritten.co_varnames[:nargs], rewritten.co_freevars, rewritten.co_cellvars,
            rewritten.co_flags & ~_FUTURE_FLAGS) == \
        (plain.co_argcount, plain.co_posonlyargcount, plain.co_kwonlyargcount, plain.co_varnames[:nargs],
         plain.co_freevars, plain.co_cellvars, plain.co_flags & ~_FUTURE_FLAGS)
