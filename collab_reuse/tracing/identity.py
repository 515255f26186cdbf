"""Naming what an operation reads: the identity half of the tracer.

Every parameter of a traced operation gets an id before anything runs: a live object by the lineage
id the registry remembers for it, a lazy by its node's id, a frame or array nobody traced by its
content, a library callable by its name and version, notebook code by its code
(``fingerprint/functions.py``, and only when it has no effect a reuse would skip, since a library
runs it untraced), a library object that isn't data (a LightGBM callback) by its state. What can't
be named raises ``Unreusable`` and the operation runs plainly. ``operation_id`` combines the
operation's own identity with its parameters' ids and the content of files it reads.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any, Callable

from ..errors import Impure, Unreusable
from ..fingerprint.digest import Encoder, digest_parts
from ..fingerprint.functions import class_identity, function_identity, is_notebook_class, is_notebook_function, \
    package_version
from ..fingerprint.values import content_digest, estimator_digest, is_estimator
from . import effects, purity, randomness, specs
from .lazy import Lazy
from .registry import Registry


class Identity:
    """The ids of one kernel's values: ``resolve`` for a parameter, ``operation_id`` for an operation."""

    def __init__(self, registry: Registry, file_digest: Callable[[str], str]):
        self.registry = registry
        self._file_digest = file_digest
        self._traced_types: dict[type, bool] = {Lazy: True}
        self._identifying: set[int] = set()  # objects whose state is being digested (cycles end there)

    def is_traced_type(self, t: type) -> bool:
        """Values of the data libraries the tracer follows (and lazies standing in for them)."""
        found = self._traced_types.get(t)
        if found is None:
            found = specs.package_of(t.__module__) in specs.TRACED_PACKAGES
            self._traced_types[t] = found
        return found

    def resolve(self, value: Any, inputs: list[str] | None = None) -> str:
        """An id for a non-literal parameter: its lineage id, its content, or its definition. Lineage ids
        (and content digests of data) it read are appended to ``inputs``."""
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
            return self.callable_identity(value)
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
        constant = library_constant(value)
        if constant is not None:
            return constant
        if self.is_traced_type(type(value)):
            if not _has_content_digest(value):
                return self._object_identity(value, inputs)  # (a LightGBM callback, a Dataset)
            digest = content_digest(value, resolve=lambda v: self.resolve(v, inputs))
            if self.registry.set(value, digest) and inputs is not None:
                inputs.append(digest)
            return digest
        raise Unreusable(f"can't identify a {type(value).__module__}.{type(value).__qualname__}")

    def callable_identity(self, value: Any, drawing: bool = False) -> str:
        """Library callables by name and version; notebook functions and classes by their code, when
        nothing they run has an effect a reuse would skip (a library calls them untraced). ``drawing``:
        their plotting calls are no such effect (``purity.reachable_impurity``)."""
        if isinstance(value, types.MethodType) and is_notebook_function(value.__func__):
            _require_pure(value.__func__, drawing)
            return digest_parts("method", function_identity(value.__func__, self.resolve), value.__self__,
                                resolve=self.resolve)
        if is_notebook_function(value) or is_notebook_class(value):
            _require_pure(value, drawing)
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

    def _notebook_object_identity(self, value: Any, inputs: list[str] | None) -> str:
        """An instance of a class defined in the notebook (a transformer, a callback): its class's code
        and its state. Computed at every use, never remembered: its methods run untraced when a cell
        calls them, so a change they make is not seen."""
        _require_pure(type(value))
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

    def operation_id(self, label: str, module: str, receiver: Any, args: tuple, kwargs: dict,
                     inputs: list[str], files: dict[str, str] | None = None) -> str:
        """The id of an operation's result: its identity (label and library version), its receiver's
        and parameters' ids, the content of the files among them (path -> digest into ``files``)."""
        enc = Encoder(lambda v: self.resolve(v, inputs))
        enc.add(f"{label}@{package_version(module)}")
        if receiver is not None:
            enc.add(receiver)
        enc.add(args)
        enc.add(dict(sorted(kwargs.items())))
        for path in _file_arguments(args, kwargs):
            digest = self._file_digest(path)
            enc.raw(b"file", digest.encode())
            if files is not None:
                files[path] = digest
        return enc.hexdigest()

    def function_call_id(self, func: types.FunctionType, args: tuple, kwargs: dict,
                         inputs: list[str]) -> tuple[str, str]:
        """(the function's code identity, the id of a notebook function's call): its code (with the
        globals it reads) and its arguments' ids. Raises when an argument can't be named."""
        code = function_identity(func, self.resolve)
        return code, digest_parts("call", code, args, dict(sorted(kwargs.items())),
                                  resolve=lambda v: self.resolve(v, inputs))

    def mutation_id(self, label: str, old_id: str, params: tuple, inputs: list[str]) -> str | None:
        """The id of an object's state after an in-place change (eager and deferred changes alike);
        None when a parameter can't be named."""
        try:
            return digest_parts("mutation", label, old_id, params, resolve=lambda v: self.resolve(v, inputs))
        except Exception:
            return None


def _require_pure(value: Any, drawing: bool = False) -> None:
    why = purity.reachable_impurity(value, drawing)
    if why is not None:
        raise Impure(f"it runs notebook code with an effect a reuse would skip: {why}")


def _has_content_digest(value: Any) -> bool:
    """Frames, arrays and estimators are named by content; other library objects by their state."""
    return specs.package_of(type(value).__module__) in ("pandas", "numpy") or is_estimator(value)


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


def require_local_source(args: tuple, kwargs: dict) -> None:
    """A reader's source must be a local file (its content is then part of the id): a URL or a buffer
    can't be named."""
    path = args[0] if args else next((kwargs[k] for k in specs.SOURCE_PATH_KEYWORDS if k in kwargs), None)
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str) and not os.path.isfile(path):
        raise Unreusable("reads from something that is not a local file")


def library_constant(value: Any) -> str | None:
    """An id for a library's own module-level object that no call changes (``fit=norm``: scipy's
    distribution objects, whose methods compute from their arguments; their sampling draws from
    numpy's global generator, which is followed as for any call): its name and the package version."""
    scipy_stats = sys.modules.get("scipy.stats")
    if scipy_stats is None or not isinstance(value, (scipy_stats.rv_continuous, scipy_stats.rv_discrete)):
        return None
    name = getattr(value, "name", None)
    if not isinstance(name, str) or getattr(scipy_stats, name, None) is not value:
        return None  # (a distribution made in the notebook, with its own parameters)
    return f"constant:scipy.stats.{name}@{package_version('scipy')}"
