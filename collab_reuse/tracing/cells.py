"""Whole cells whose only effect is what they display: identified, judged, replayed.

An EDA cell spends its time drawing (seaborn's ``kdeplot`` of 300,000 rows takes 2 s, a
``barplot`` bootstraps for 4 s), and a figure is not a value the store can hold. But the cell's
*outputs* are: the PNGs the inline backend displayed, the text it printed. A cell may replay its
stored outputs instead of running when running it again could only produce the same outputs and
change nothing else:

* its code and everything it reads are identified (``cell_inputs``: names read before the cell
  binds them; ``environment``: matplotlib's settings, the inline backend's, library versions, the
  global random generators' states);
* its source shows no effect besides displaying (``cell_impurity``: no imports or definitions, no
  change to an object it did not make, no file, clock or network; plotting settings only through
  the calls ``settings`` records and a replay makes again), and
  while it ran the tracer saw none either (display-only library calls are allowed, see
  ``replays_faithfully``);
* what it left behind is plain: every name it bound holds a value the store can keep, no figure
  is left open.

The kernel glue (``kernel/replay.py``) records the outputs and replays them.
"""

from __future__ import annotations

import ast
import builtins
import symtable
import sys
from typing import Any, Callable, Iterable

from ..errors import Unreusable
from ..fingerprint.digest import Encoder
from ..fingerprint.functions import package_version
from . import settings, warning_registry

#: Libraries whose calls only draw (on figures the inline backend shows and closes).
DISPLAY_LIBRARIES = frozenset({"matplotlib", "seaborn", "mpl_toolkits"})
#: Their calls that change more than a figure: files, global style, the backend.
DISPLAY_UNSAFE = frozenset({
    "savefig", "imsave", "rc", "rcdefaults", "rc_file", "rc_file_defaults", "rc_context", "use", "switch_backend",
    "ion", "ioff", "interactive", "install_repl_displayhook", "set_theme", "set", "set_style", "set_context",
    "set_palette", "set_color_codes", "reset_defaults", "reset_orig", "register_cmap", "register", "xkcd",
    "pause", "connect", "disconnect", "print_figure", "save",
})
#: Names that only draw among the traced libraries' methods (pandas' ``plot``, ``hist``, ``boxplot``).
DISPLAY_METHOD_PREFIXES = ("plot", "hist", "boxplot", "show")

#: Calls whose effect no replay reproduces.
_EFFECT_CALLS = frozenset({"open", "exec", "eval", "input", "setattr", "delattr", "globals", "vars", "locals",
                           "__import__", "breakpoint", "exit", "quit", "compile", "get_ipython"})
_EFFECT_MODULES = frozenset({"os", "shutil", "subprocess", "sys", "pickle", "joblib", "json", "socket", "requests",
                             "urllib", "pathlib", "Path", "tempfile", "io", "IPython", "get_ipython", "time",
                             "datetime", "random", "uuid", "logging", "gc", "warnings", "threading", "multiprocessing"})
_WRITING_METHODS = frozenset({"savefig", "save", "savez", "savez_compressed", "savetxt", "tofile", "dump", "write",
                              "writelines", "to_csv", "to_parquet", "to_pickle", "to_excel", "to_feather", "to_hdf",
                              "to_sql", "to_json", "to_html", "to_latex", "to_markdown", "to_stata", "to_orc",
                              "to_xml", "to_clipboard", "imsave", "export"})
_MUTATING_METHODS = frozenset({"append", "extend", "insert", "remove", "clear", "update", "pop", "popitem",
                               "setdefault", "add", "discard", "sort", "reverse", "fill", "resize", "put",
                               "fit", "partial_fit", "fit_transform", "set_params", "__setitem__", "drop_duplicates",
                               "rename", "reset_index", "set_index", "dropna", "fillna", "replace", "sort_values"})
_HISTORY = frozenset({"_", "__", "___", "In", "Out", "_oh", "_ih", "_dh", "exit", "quit"})
#: Names a replay restores by their own rules (``warning_registry``), not as bound values.
_RESTORED_APART = frozenset({warning_registry.NAME})


def replays_faithfully(module: str, name: str) -> bool:
    """Is this library call's effect one a replayed cell reproduces: drawing on a figure (the figure is
    among the cell's outputs), changing the plotting settings (``settings``: a replay makes the same
    change), seeding numpy's global generator (a replay leaves it where the cell did), or none
    (scipy.stats' functions)?"""
    package = (module or "").split(".", 1)[0]
    if package in DISPLAY_LIBRARIES:
        return name not in DISPLAY_UNSAFE or settings.is_settings_call(module, name)
    if package == "numpy":
        return name == "seed"
    if (module or "").startswith("scipy.stats"):
        return True  # (statistics computed from the arguments; ``probplot(..., plot=plt)`` draws on the figure)
    return package == "pandas" and name.startswith(DISPLAY_METHOD_PREFIXES)


#: seaborn's plots that bootstrap their error bars with ``np.random.default_rng(seed)``: unless given a
#: seed (or error bars that aren't bootstrapped), every run draws fresh entropy and differs.
_BOOTSTRAPPING = frozenset({"barplot", "pointplot", "lineplot", "regplot", "lmplot"})
_BOOTSTRAPPING_KINDS = {"catplot": ("bar", "point"), "relplot": ("line",), "jointplot": ("reg",), "pairplot": ("reg",)}
_UNBOOTSTRAPPED_ERRORBARS = ("sd", "se", "pi")


def draws_fresh_entropy(module: str, name: str, kwargs: dict) -> bool:
    """Does this plotting call draw unseeded random numbers (a bootstrap)? Its figure differs at every
    run, so a cell making it is never replayed."""
    if (module or "").split(".", 1)[0] != "seaborn" or kwargs.get("seed") is not None:
        return False
    if name in _BOOTSTRAPPING_KINDS:
        return kwargs.get("kind") in _BOOTSTRAPPING_KINDS[name]
    if name not in _BOOTSTRAPPING:
        return False
    if "ci" in kwargs and kwargs["ci"] is None:
        return False
    errorbar = kwargs.get("errorbar", ("ci", 95))
    method = errorbar[0] if isinstance(errorbar, tuple) and errorbar else errorbar
    return not (errorbar is None or callable(errorbar) or method in _UNBOOTSTRAPPED_ERRORBARS)


def is_history_name(name: str) -> bool:
    """IPython's own names (``_``, ``_i3``, ``Out``...): bound by every cell, not by its code."""
    return name in _HISTORY or name in _RESTORED_APART or (name.startswith("_i") and name[2:].isdigit()) or \
        (name.startswith("_") and name[1:].isdigit()) or name in ("_i", "_ii", "_iii")


def leading_imports(tree: ast.Module) -> int:
    """How many of the cell's first statements are imports (``*`` imports excepted). A replay runs them
    and replays the rest, so a plot cell that starts by importing what it plots with may be replayed."""
    count = 0
    for stmt in tree.body:
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)) or any(a.name == "*" for a in stmt.names):
            break
        count += 1
    return count


def rerunnable_definitions(tree: ast.Module) -> list[ast.FunctionDef]:
    """The cell's top-level function definitions a replay can simply run again: undecorated, and the only
    binding of their name in the cell. Running one makes the same function (its code is the cell's, at
    the same lines), so a plot cell that defines a helper it draws with may be replayed."""
    stored: set[str] = set()
    named: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                stored.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            named.append(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            named.extend(_definitely_bound(node))
    return [stmt for stmt in tree.body if isinstance(stmt, ast.FunctionDef) and not stmt.decorator_list
            and named.count(stmt.name) == 1 and stmt.name not in stored]


def replay_judged(tree: ast.Module, imports: int, definitions: list[ast.stmt]) -> ast.Module:
    """What is judged of a cell for replay: its statements after its leading imports, with the bodies of
    the definitions a replay runs again in place of them (what they do when called is judged too)."""
    body: list[ast.stmt] = []
    for stmt in tree.body[imports:]:
        body.extend(stmt.body if any(stmt is d for d in definitions) else [stmt])  # type: ignore[attr-defined]
    return ast.Module(body=body, type_ignores=[])


def only_called(tree: ast.Module) -> set[str]:
    """Names the cell only calls (``plot_importances(fi)``), never reads otherwise (never passes them to
    a library, which would call them untraced): a notebook function called so runs traced, each of its
    effects judged as it happens."""
    loads = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    called = {n.id for n in loads if id(n) in calls}
    return {name for name in called if all(id(n) in calls for n in loads if n.id == name)}


def cell_impurity(tree: ast.Module) -> str | None:
    """Why the cell's source may have an effect besides displaying; None if none is seen."""
    found: list[set[str]] = []

    def inputs() -> set[str]:  # (read only when a change in place is seen: most cells never need them)
        if not found:
            found.append(set(cell_inputs(tree)))
        return found[0]

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return "it imports modules"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return "it defines functions or classes"
        if isinstance(node, (ast.Global, ast.Nonlocal, ast.Delete)):
            return "it declares or deletes names"
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return "it is asynchronous"
        for target in _targets(node):
            if _sets_rc_param(target):
                continue
            for sub in ast.walk(target):
                if isinstance(sub, (ast.Subscript, ast.Attribute)):
                    base = _base(sub)
                    if base is None or base in inputs():
                        return f"it changes {base or 'an object'} in place"
        if isinstance(node, ast.Call):
            why = _call_effect(node, inputs)
            if why:
                return why
    return None


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
        return [node.target]
    if isinstance(node, ast.With):
        return [i.optional_vars for i in node.items if i.optional_vars is not None]
    if isinstance(node, ast.NamedExpr):
        return [node.target]
    return []


def _sets_rc_param(target: ast.expr) -> bool:
    """``rcParams[key] = ...`` (through any module): a settings change a replay makes again."""
    if not isinstance(target, ast.Subscript):
        return False
    holder = target.value
    return (isinstance(holder, ast.Name) and holder.id == "rcParams") or \
        (isinstance(holder, ast.Attribute) and holder.attr == "rcParams")


def _base(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _call_effect(node: ast.Call, inputs: Callable[[], set[str]]) -> str | None:
    func = node.func
    if any(k.arg == "file" for k in node.keywords):
        return "it writes to a file"
    if isinstance(func, ast.Name) and func.id in _EFFECT_CALLS:
        return f"it calls {func.id}()"
    if not isinstance(func, ast.Attribute):
        return None
    base = _base(func.value)
    if base in _EFFECT_MODULES:
        return f"it calls {base}.{func.attr}()"
    plotting = base in ("plt", "sns", "mpl", "matplotlib", "seaborn")
    if plotting and func.attr in settings.SETTINGS_CALLS:
        return None  # (the settings it changes are recorded and made again by a replay)
    if func.attr in _WRITING_METHODS or func.attr in DISPLAY_UNSAFE and plotting:
        return f"it calls {func.attr}(), which writes or changes settings"
    if (func.attr in _MUTATING_METHODS or any(k.arg == "inplace" for k in node.keywords)) and base in inputs():
        return f"it calls {base}.{func.attr}(), which may change {base}"
    return None


def cell_inputs(tree: ast.Module, source: str | None = None) -> list[str]:
    """Names the cell reads before it binds them itself (in order of first read): its inputs."""
    globals_read = global_references(source if source is not None else ast.unparse(tree))
    bound: set[str] = set()
    out: list[str] = []
    for stmt in tree.body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in globals_read \
                    and node.id not in bound and node.id not in out:
                out.append(node.id)
        bound |= _definitely_bound(stmt)
    return out


def global_references(source: str) -> set[str]:
    """Every name the code reads as a global, from any scope (comprehension variables excluded)."""
    names: set[str] = set()

    def visit(table: symtable.SymbolTable, top: bool) -> None:
        for sym in table.get_symbols():
            if sym.is_referenced() and (top or sym.is_global()):
                names.add(sym.get_name())
        for child in table.get_children():
            visit(child, False)

    visit(symtable.symtable(source, "<cell>", "exec"), True)
    return names


def _definitely_bound(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds whenever it completes."""
    targets: list[ast.expr] = []
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".", 1)[0] for alias in stmt.names if alias.name != "*"}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        targets = [stmt.target]
    out = set()
    for target in targets:
        if isinstance(target, ast.Name):
            out.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            out |= {e.id for e in target.elts if isinstance(e, ast.Name)}
    return out


def environment(encoder: Encoder) -> None:
    """What a figure depends on besides the cell's inputs: matplotlib's and the inline backend's
    settings and the plotting libraries' versions. (A cell seen drawing from numpy's global random
    generator is named by its state too, as operations are: ``kernel/replay.py``.)"""
    for name in ("matplotlib", "seaborn", "pandas", "numpy"):
        encoder.raw(b"version", f"{name}@{package_version(name)}".encode())
    mpl = sys.modules.get("matplotlib")
    if mpl is None:
        return
    # read as set, never resolved: resolving imports the backend, which a replayed cell's figures
    # would otherwise have done, so a later cell would be named differently in a re-run
    backend = dict.__getitem__(mpl.rcParams, "backend")
    backend = backend if isinstance(backend, str) else "(automatic)"
    encoder.raw(b"backend", backend.encode())
    encoder.raw(b"rc", repr(sorted((k, repr(v)) for k, v in mpl.rcParams.items() if k != "backend")).encode())
    codes = mpl.colors.colorConverter.colors
    encoder.raw(b"color codes", repr([codes.get(c) for c in settings.COLOR_CODES]).encode())
    if "inline" in backend:
        from matplotlib_inline.backend_inline import InlineBackend

        config = InlineBackend.instance()
        encoder.raw(b"inline", repr((sorted(config.figure_formats), sorted(config.print_figure_kwargs.items()),
                                     config.close_figures)).encode())


def cell_identity(tree: ast.Module, namespace: dict, resolve: Callable[[Any], str],
                  inputs: Iterable[str]) -> str:
    """The cell's code (comments and layout don't matter), every input by its id, its environment.
    Raises ``Unreusable`` when an input can't be identified."""
    enc = Encoder(resolve)
    enc.raw(b"cell", ast.dump(tree, annotate_fields=False, include_attributes=False).encode())
    for name in inputs:
        enc.raw(b"name", name.encode())
        if name in namespace:
            enc.add(namespace[name])
        elif not hasattr(builtins, name):
            enc.raw(b"missing", b"")
    environment(enc)
    shown = warning_registry.entries(namespace)  # (a warning shown before by any cell is not shown again)
    if shown is None:
        raise Unreusable("the notebook's warning registry holds entries that can't be named")
    if shown:
        enc.raw(b"warnings shown", repr(sorted(shown)).encode())
    return enc.hexdigest()


def open_figures() -> list[int]:
    """Numbers of pyplot's open figures (none if pyplot was never imported)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    return list(pyplot.get_fignums()) if pyplot is not None else []
