"""A bounded summary of one traced call, kept so that a later run can say what changed.

Only what explains a change and is small: each parameter's short repr when it is a plain value
(numbers, strings, small lists of them), otherwise just its type (never data values); the digests
(and modification times) of the files it read; the source of notebook functions it runs (bounded);
its input ids; the random state's digest when its id depends on it. A reason to recompute is
then a difference between two summaries (``planner/why.py``). Built on the hot path of every
traced call, so it does no digesting of its own: it is a few reprs.
"""

from __future__ import annotations

import inspect
import os
import types
import weakref
from pathlib import Path
from typing import Any

from .lazy import Lazy

MAX_REPR = 60        # characters of a parameter's repr
MAX_PARAMS = 24      # parameters summarized per call
MAX_SOURCE = 4000    # characters of a notebook function's source
_PLAIN = (bool, int, float, complex, str, type(None))
#: callable -> its positional parameters' names. Weak: the cache must keep nothing of the notebook's alive
#: (it once held bound methods, and with them their frames and models, for the kernel's life).
_names: "weakref.WeakKeyDictionary[Any, tuple[str, ...] | None]" = weakref.WeakKeyDictionary()
#: the same, of what holds no value of the notebook's but can't be weakly referenced: C-level definitions
#: (``np.log``, ``np.ndarray.sum``), and C methods bound to an instance (``arr.sum``) by (type, name)
_definition_names: dict[Any, tuple[str, ...] | None] = {}
_C_DEFINITIONS = (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType,
                  types.ClassMethodDescriptorType, types.MethodWrapperType)
_MAX_CACHED = 4096


def short(value: Any) -> str:
    """A parameter as the summary keeps it: its repr if a small plain value, else its type."""
    if isinstance(value, _PLAIN) or _plain_container(value):
        text = repr(value)
        return text if len(text) <= MAX_REPR else text[:MAX_REPR - 1] + "…"
    if isinstance(value, type):
        return f"<class {value.__qualname__}>"
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        return f"<function {getattr(value, '__qualname__', '?')}>"
    if type(value) is Lazy:  # a deferred value is summarized as what it stands for, as when it was computed
        return f"<{getattr(value._cr_node.type, '__name__', '?')}>"
    return f"<{type(value).__name__}>"


def _plain_container(value: Any, depth: int = 0) -> bool:
    if type(value) in (list, tuple, set, frozenset) and len(value) <= 16 and depth < 2:
        return all(isinstance(v, _PLAIN) or _plain_container(v, depth + 1) for v in value)
    if type(value) is dict and len(value) <= 16 and depth < 2:
        return all(isinstance(k, _PLAIN) and (isinstance(v, _PLAIN) or _plain_container(v, depth + 1))
                   for k, v in value.items())
    return False


def positional_names(func: Any) -> tuple[str, ...] | None:
    """The names of a callable's positional parameters (None when its signature can't be read).

    Cached under what holds no data: a bound method under its function (its receiver may be a whole
    frame or model), a C method bound to an instance under the instance's type and the method's name,
    a C-level definition (a builtin, a method descriptor, a ufunc) as itself, anything else weakly; a
    callable that is neither is not cached."""
    if isinstance(func, types.MethodType):
        names = positional_names(func.__func__)
        return names[1:] if names else names
    key, cache = _cache_key(func)
    try:
        return cache[key]
    except KeyError:
        pass
    except TypeError:  # unhashable, or not weakly referenceable
        return _signature_names(func)
    names = _signature_names(func)
    if len(cache) < _MAX_CACHED:
        cache[key] = names
    return names


def _cache_key(func: Any) -> tuple[Any, Any]:
    """(key, cache) under which a callable's names are kept (see ``positional_names``)."""
    if isinstance(func, _C_DEFINITIONS) or type(func).__name__ == "ufunc":
        receiver = getattr(func, "__self__", None)
        if receiver is not None and not isinstance(receiver, (types.ModuleType, type)):
            return (type(receiver), func.__name__), _definition_names
        return func, _definition_names
    return func, _names


def _signature_names(func: Any) -> tuple[str, ...] | None:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return None
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def params(func: Any, args: tuple, kwargs: dict) -> dict[str, str]:
    """Each parameter by name (positional ones by their parameter's name when known, else ``#i``)."""
    names = positional_names(func) if args and func is not None else None
    if names and names[0] == "self":  # a method looked up on the class (a lazy receiver's)
        names = names[1:]
    out: dict[str, str] = {}
    for i, value in enumerate(args[:MAX_PARAMS]):
        out[names[i] if names and i < len(names) else f"#{i}"] = short(value)
    for name, value in list(kwargs.items())[:MAX_PARAMS - len(out)]:
        out[str(name)] = short(value)
    return out


def files(digests: dict[str, str]) -> dict[str, list]:
    """path -> [digest, modification time] of the files a call read."""
    out: dict[str, list] = {}
    for path, digest in digests.items():
        try:
            mtime: float | None = os.stat(path).st_mtime
        except OSError:
            mtime = None
        out[path] = [digest, mtime]
    return out


MAX_COLUMNS = 200     # column names kept of a file's header
_HEADER_BYTES = 65536


def columns(path: str) -> list[str] | None:
    """A data file's column names where that is cheap to know: a CSV/TSV's first line, a Parquet file's
    schema (its footer); None for a file of another kind or one that can't be read. (In a team store,
    the session drops those of a file the team can't read: ``cell_record.place_runs``.)"""
    try:
        real = Path(os.path.realpath(path))
        name = real.name.lower()
        if name.endswith((".csv", ".tsv", ".txt")):
            with open(real, "rb") as f:
                line = f.readline(_HEADER_BYTES).decode("utf-8", "replace").rstrip("\r\n")
            sep = "\t" if name.endswith(".tsv") or ("\t" in line and "," not in line) else ","
            names = [c.strip().strip('"').strip("'") for c in line.split(sep)]
        elif name.endswith(".parquet"):
            import pyarrow.parquet as pq
            names = list(pq.read_schema(real).names)
        else:
            return None
    except Exception:  # (an explanation is never worth failing a read for)
        return None
    return [n[:MAX_REPR] for n in names[:MAX_COLUMNS]]


def source(func: Any) -> str | None:
    """A notebook function's source, bounded (None when it can't be read)."""
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        return None
    return text[:MAX_SOURCE]


def summary(func: Any, args: tuple, kwargs: dict, file_digests: dict[str, str] | None = None,
            code: dict[str, str] | None = None) -> dict:
    out: dict[str, Any] = {"params": params(func, args, kwargs)}
    if file_digests:
        out["files"] = files(file_digests)
        header = {path: names for path in file_digests if (names := columns(path)) is not None}
        if header:
            out["columns"] = header
    if code:
        out["code"] = code
    return out
