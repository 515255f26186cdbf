"""Names a replayed cell bound to its figures, rebuilt by running the cell again when something reads them.

``f, ax = plt.subplots(figsize=(12, 9))`` begins most EDA cells. After the cell, ``f`` and ``ax`` hold
a figure the inline backend has shown and closed: no store can keep it, and few notebooks ever read
it again. So a replay shows the stored outputs at once and binds such names to a stand-in
(:class:`FigureToRebuild`); the first time anything reads one (a later cell whose code names it,
or any attribute of the stand-in itself), the cell's code runs again, silently, from the inputs it
had, under the plotting settings it started with, and the stand-ins are replaced by the real objects
(figures closed, as the inline backend leaves them; the random generator and the settings put back).

The inputs are kept as they were at the replay: frames and series by a copy-on-write copy (free
under pandas 3), small arrays and containers by a deep copy, modules, functions and immutable values
as they are. A cell whose inputs can't be kept that way (a large array without copy-on-write) is not
replayed with stand-ins: it runs.
"""

from __future__ import annotations

import ast
import copy
import logging
import sys
import types
import weakref
from typing import Any, Callable

import numpy as np

from ..tracing import cells, randomness, settings
from ..tracing.lazy import Lazy, unwrap
from ..tracing.runtime import NAMESPACE_MAGICS
from ..tracing.storing import shallow_bytes

log = logging.getLogger("collab_reuse")

#: Containers and arrays up to this many bytes are deep-copied to keep them as the cell saw them.
MAX_COPIED_BYTES = 16 << 20
_FIGURE_PACKAGES = ("matplotlib", "seaborn", "mpl_toolkits")
_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, range, slice, type, types.ModuleType,
              types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def is_figure_value(value: Any, depth: int = 0) -> bool:
    """A figure, axes, artist or plot grid, or a list/tuple/object array holding some (and otherwise
    plain scalars or arrays): what ``plt.subplots()``, ``sns.boxplot()`` or ``sns.pairplot()`` return."""
    if depth > 3:
        return False
    if type(value).__module__.split(".", 1)[0] in _FIGURE_PACKAGES:
        return True
    if type(value) in (list, tuple) or (type(value) is np.ndarray and value.dtype == object):
        items = list(value.flat) if type(value) is np.ndarray else list(value)
        figures = [is_figure_value(v, depth + 1) for v in items]
        return any(figures) and all(f or _plain_scalar_or_array(v) for f, v in zip(figures, items))
    return False


def _plain_scalar_or_array(value: Any) -> bool:
    return isinstance(value, (type(None), bool, int, float, str)) or \
        (type(value) is np.ndarray and value.dtype != object)


def kept_inputs(namespace: dict, names: list[str], resolve: Callable[[Any], str] | None = None) -> dict | None:
    """The cell's inputs as they are now, protected from later in-place changes; None if one can't be.
    A deferred value (not computed yet) is kept with its id (``resolve``), checked when it is used."""
    kept = {}
    for name in names:
        if name not in namespace:
            continue
        value = namespace[name]
        if type(value) is Lazy and resolve is not None:
            try:
                kept[name] = _Deferred(value, resolve)
            except Exception:  # (its id can't be read: it can't be checked later either)
                return None
            continue
        value = _kept(value)
        if value is _CANT:
            log.debug("figure names not kept for rebuilding: %s can't be kept as it is", name)
            return None
        kept[name] = value
    return kept


_CANT = object()


class _Deferred:
    """A deferred input and its id when kept: computed when the cell runs again, from the same lineage.
    If its value was changed in place meanwhile (its id differs), the rebuild can only use it as it
    is now, and says so in the log."""

    def __init__(self, lazy: Lazy, resolve: Callable[[Any], str]):
        self.lazy, self.resolve, self.id = lazy, resolve, resolve(lazy)

    def value(self, name: str) -> Any:
        try:
            same = self.resolve(self.lazy) == self.id
        except Exception:
            same = False
        if not same:
            log.warning("%s changed since the replayed cell used it: its figures are rebuilt from it as it is now",
                        name)
        return unwrap(self.lazy)


def _kept(value: Any) -> Any:
    if isinstance(value, _IMMUTABLE) or isinstance(value, FigureToRebuild):
        return value
    module = type(value).__module__.split(".", 1)[0]
    if module == "pandas" and type(value).__name__ in ("DataFrame", "Series"):
        if _copy_on_write():
            return value.copy(deep=False)  # (copy-on-write: a later change of the original never shows here)
        return value.copy() if (shallow_bytes(value) or 0) <= MAX_COPIED_BYTES else _CANT
    if type(value) is np.ndarray:
        return value.copy() if value.dtype != object and value.nbytes <= MAX_COPIED_BYTES else _CANT
    if type(value) in (list, tuple, dict, set, frozenset):
        try:
            return copy.deepcopy(value) if sys.getsizeof(value) * 8 <= MAX_COPIED_BYTES else _CANT
        except Exception:
            return _CANT
    if _library_singleton(value):  # (``scipy.stats.norm``: a library's own object, not the notebook's)
        return value
    return _CANT


def _library_singleton(value: Any) -> bool:
    """An object a library defines at module level (``scipy.stats.norm``, seaborn's palettes)."""
    module_name = type(value).__module__
    if module_name.split(".", 1)[0] in ("__main__", "builtins") or module_name.split(".", 1)[0] in _FIGURE_PACKAGES:
        return False
    module = sys.modules.get(module_name)
    return module is not None and any(v is value for v in vars(module).values())


def _copy_on_write() -> bool:
    import pandas as pd

    return int(pd.__version__.split(".", 1)[0]) >= 3 or bool(pd.options.mode.copy_on_write)


class CellToRebuild:
    """One replayed cell's code, the inputs it had and the settings it started with."""

    def __init__(self, tree: ast.Module, inputs: dict, names: list[str], settings_before: dict | None,
                 rng: dict, namespace: dict):
        self.code = compile(tree, "<collab_reuse: a replayed cell, run again for its figures>", "exec")
        self.inputs, self.names, self.settings_before = inputs, names, settings_before
        self.rng = rng
        self.namespace = namespace  # the user's, where the stand-ins are replaced
        self.rebuilt: dict | None = None

    def stand_ins(self) -> dict[str, "FigureToRebuild"]:
        _not_rebuilt.add(self)
        return {name: FigureToRebuild(self, name) for name in self.names}

    def rebuild(self) -> dict:
        """Run the cell again, silently; the objects its figure names hold. Once."""
        if self.rebuilt is not None:
            return self.rebuilt
        from IPython import get_ipython

        shell = get_ipython()
        mpl_settings, rng = settings.snapshot(), randomness.full_state_json()
        figures_before = set(cells.open_figures())
        hook = (lambda msg: None)  # drops every display message the run would send
        display_pub = getattr(shell, "display_pub", None)
        streams = sys.stdout, sys.stderr
        namespace = {"__builtins__": __builtins__,
                     **{k: v.value(k) if isinstance(v, _Deferred) else v for k, v in self.inputs.items()}}
        try:
            settings.restore(self.settings_before)
            randomness.restore(self.rng)
            if display_pub is not None and hasattr(display_pub, "register_hook"):
                display_pub.register_hook(hook)
            sys.stdout = sys.stderr = _Discard()
            exec(self.code, namespace)
        finally:
            sys.stdout, sys.stderr = streams
            if display_pub is not None and hasattr(display_pub, "unregister_hook"):
                try:
                    display_pub.unregister_hook(hook)
                except ValueError:
                    pass
            _close_new_figures(figures_before)
            settings.restore(mpl_settings)
            randomness.restore(rng)
        self.rebuilt = {name: namespace[name] for name in self.names if name in namespace}
        _not_rebuilt.discard(self)
        for name, value in self.rebuilt.items():
            if isinstance(self.namespace.get(name), FigureToRebuild) and self.namespace[name]._cell is self:
                self.namespace[name] = value
        log.info("ran a replayed cell again for its figure names %s", ", ".join(self.names))
        return self.rebuilt


_not_rebuilt: "weakref.WeakSet[CellToRebuild]" = weakref.WeakSet()  # whose stand-ins were handed out


def _close_new_figures(before: set) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        for number in set(pyplot.get_fignums()) - before:
            pyplot.close(number)


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class FigureToRebuild:
    """Stands in for a figure name of a replayed cell until it is read (see the module's docstring)."""

    __slots__ = ("_cell", "_name")

    def __init__(self, cell: CellToRebuild, name: str):
        self._cell, self._name = cell, name

    def _real(self) -> Any:
        return self._cell.rebuild()[self._name]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real(), attr)

    def __repr__(self) -> str:
        return repr(self._real())

    def __str__(self) -> str:
        return str(self._real())

    def __iter__(self) -> Any:
        return iter(self._real())

    def __len__(self) -> int:
        return len(self._real())

    def __getitem__(self, key: Any) -> Any:
        return self._real()[key]

    def __bool__(self) -> bool:
        return bool(self._real())


def rebuild_read_names(tree: ast.Module, namespace: dict) -> None:
    """Before a cell runs: rebuild the stand-ins its code reads (so it gets the real objects), or all of
    them when it looks at the namespace itself (``%whos``, ``dir()``: they would show the stand-ins)."""
    if not _not_rebuilt:
        return  # (the usual case: no stand-in waits; reading the cell's names took 5 ms for a 360-line cell)
    try:
        read = cells.global_references(ast.unparse(tree))
    except (SyntaxError, ValueError):
        return
    if _reads_the_namespace(tree):
        read = set(namespace)
    for name in read:
        value = namespace.get(name)
        if isinstance(value, FigureToRebuild):
            value._cell.rebuild()


_NAMESPACE_READERS = frozenset({"dir", "globals", "locals", "vars"})


def _reads_the_namespace(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in _NAMESPACE_READERS:
            return True
        if isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic") and node.args \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value in NAMESPACE_MAGICS:
            return True
    return False
