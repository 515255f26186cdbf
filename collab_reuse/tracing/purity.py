"""May a call of a notebook function be replaced by its stored result?

Only when the call has no effect besides its return value (and printed output,
which is replayed). This module is the static half, read off the function's
source: no ``global``/``nonlocal``, no writes into parameters it never rebinds
or into globals, no mutating methods on them, no calls that write files, show
things or run code. The tracer adds the dynamic half while the call runs: an
in-place change of any data value that existed before the call, a call into a
library it doesn't know, a file write or a display makes the call impure.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
import weakref
from functools import lru_cache
from typing import Any

from ..fingerprint.functions import class_member_functions, global_names, is_notebook_class, \
    is_notebook_function

#: Names whose call has effects the tracer can't replay.
_EFFECT_CALLS = frozenset({"open", "display", "exec", "eval", "input", "setattr", "delattr", "globals", "vars",
                           "locals", "__import__", "breakpoint", "exit", "quit", "compile"})
#: Modules whose functions act on the outside world.
_EFFECT_MODULES = frozenset({"os", "shutil", "subprocess", "sys", "pickle", "joblib", "json", "plt", "sns",
                             "logging", "socket", "requests", "urllib", "pathlib", "Path", "tempfile", "io",
                             "IPython", "get_ipython", "time", "datetime", "uuid", "secrets"})
#: The plotting modules, as notebooks name them.
_DRAWING_MODULES = frozenset({"plt", "sns"})
#: ``random``'s functions draw from a generator whose state is an input of the call (``randomness``),
#: except its OS-entropy generator, which no state names.
_ENTROPY_CALLS = frozenset({"SystemRandom"})
#: Methods that change the container they are called on.
_MUTATING_METHODS = frozenset({"append", "extend", "insert", "remove", "clear", "update", "pop", "popitem",
                               "setdefault", "add", "discard", "sort", "reverse", "fill", "resize", "put",
                               "fit", "partial_fit", "fit_transform", "set_params", "write", "writelines"})


@lru_cache(maxsize=1024)
def _verdict(code: types.CodeType, source: str, method: bool = False, modules: frozenset = frozenset(),
             drawing: bool = False) -> str | None:
    """``modules``: global names bound to modules (``np.sort(x)`` is numpy's function, not a method
    that sorts ``np``). ``drawing``: calls of the plotting modules are allowed (see ``reachable_impurity``)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return "its source can't be read"
    fn = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.Lambda, ast.AsyncFunctionDef))),
              None)
    if fn is None or isinstance(fn, ast.AsyncFunctionDef):
        return "it is not a plain function"
    positional = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]
    params = {*positional, *(a.arg for a in fn.args.kwonlyargs)}
    params |= {a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None}
    assigned = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    external = (params - assigned) | _loaded_globals(fn, params | assigned)
    if method and positional:
        # a method may change its own instance (``fit`` sets fitted attributes): the instance is the
        # receiver or an argument of the traced call, whose changes are followed there
        external.discard(positional[0])
    for node in ast.walk(fn):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return "it declares global or nonlocal names"
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await)):
            return "it is a generator"
        for target in _mutation_targets(node):
            base = _base_name(target)
            if base is None or base in external:
                return f"it changes {base or 'an outside object'} in place"
        if isinstance(node, ast.Call):
            reason = _call_effect(node, external - modules, drawing)
            if reason:
                return reason
    return None


def _loaded_globals(fn: ast.AST, local: set[str]) -> set[str]:
    return {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - local


def _mutation_targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.With)):
        targets = [node.target] if isinstance(node, (ast.For, ast.AsyncFor)) else \
            [i.optional_vars for i in node.items if i.optional_vars is not None]
    else:
        return []
    out = []
    for target in targets:
        out.extend(t for t in ast.walk(target) if isinstance(t, (ast.Subscript, ast.Attribute)))
    return out


def _base_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _call_effect(node: ast.Call, external: set[str], drawing: bool = False) -> str | None:
    func = node.func
    if isinstance(func, ast.Name) and func.id in _EFFECT_CALLS:
        return f"it calls {func.id}()"
    if isinstance(func, ast.Attribute):
        base = _base_name(func.value)
        if drawing and base in _DRAWING_MODULES:
            return None
        if base in _EFFECT_MODULES or (base == "random" and func.attr in _ENTROPY_CALLS):
            return f"it calls {base}.{func.attr}()"
        if func.attr in _MUTATING_METHODS and base in external:
            return f"it calls {base}.{func.attr}(), which changes an outside object"
        if any(k.arg == "inplace" for k in node.keywords) and base in external:
            return f"it changes {base} in place"
    return None


_verdicts: "weakref.WeakKeyDictionary[types.CodeType, dict[tuple, str | None]]" = weakref.WeakKeyDictionary()


def static_impurity(fn: types.FunctionType, method: bool = False, drawing: bool = False) -> str | None:
    """Why calls of ``fn`` can't be reused as a whole (None: nothing seen that forbids it).
    ``method``: ``fn`` is a method, which may change its own instance. Judged once per code object
    (reading the source is the slow part)."""
    modules = frozenset(name for name in global_names(fn.__code__)
                        if isinstance(fn.__globals__.get(name), types.ModuleType))
    known = _verdicts.setdefault(fn.__code__, {})
    key = (method, modules, drawing)
    if key not in known:
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            known[key] = "its source is not available"
        else:
            known[key] = _verdict(fn.__code__, source, method, modules, drawing)
    return known[key]


def reachable_impurity(value: Any, drawing: bool = False) -> str | None:
    """Why running ``value`` (a notebook function or class) from inside a library call may have an
    effect that a reuse would skip: the first impure function among it, the methods of a class, and
    the notebook functions and classes they read as globals or closures. None: none seen.

    A library runs such code untraced (a callback, a ``FunctionTransformer``'s function, a
    transformer class's ``transform``), so only this static judgement stands between a reuse and a
    skipped effect; a reused call replays printed output, nothing else.

    ``drawing``: for a function a replayable cell calls itself (``kernel/replay.py``), whose body then
    runs traced, each library call judged as it runs: its own calls of ``plt`` and ``sns`` draw what the
    cell's replay shows again (a ``savefig`` or ``style.use`` among them keeps the cell running). Not for
    the functions it reaches, which a library may call untraced, nor for classes."""
    return _reachable(value, set(), drawing)


def _reachable(value: Any, seen: set[int], drawing: bool = False) -> str | None:
    if id(value) in seen:
        return None
    seen.add(id(value))
    if is_notebook_class(value):
        for base in value.__bases__:
            reason = _reachable(base, seen)
            if reason:
                return reason
        for name, member in vars(value).items():
            for fn in class_member_functions(member):
                is_method = isinstance(member, (types.FunctionType, property))
                reason = _function_impurity(fn, is_method, seen)
                if reason:
                    return f"{value.__qualname__}.{name}: {reason}"
        return None
    if is_notebook_function(value):
        reason = _function_impurity(value, False, seen, drawing)
        return f"{value.__qualname__} {reason}" if reason else None
    return None


def _function_impurity(fn: types.FunctionType, method: bool, seen: set[int], drawing: bool = False) -> str | None:
    reason = static_impurity(fn, method, drawing)
    if reason:
        return reason
    referenced = [fn.__globals__.get(name) for name in global_names(fn.__code__)]
    for cell in fn.__closure__ or ():
        try:
            referenced.append(cell.cell_contents)
        except ValueError:
            pass
    for other in referenced:
        if is_notebook_function(other) or is_notebook_class(other):
            reason = _reachable(other, seen)  # (a library may call it untraced: no drawing let through)
            if reason:
                return f"calls {reason}"
    return None
