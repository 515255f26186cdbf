"""The notebook's ``__warningregistry__``: part of what a replayed cell reads and changes.

Every cell runs in the same globals, so Python's "show once per location" rule for warnings keys on
(text, category, line number) across all cells: seaborn's ``distplot`` warning shown by a cell at
its line 2 is not shown again by a later cell calling ``distplot`` at its own line 2. Whether a cell
prints a warning therefore depends on the registry (it is part of the cell's identity), and a cell
that printed one leaves an entry that later cells depend on (a replay adds it again).

Python also clears a module's registry at its next warning when the warning filters changed since
the registry was written (its ``version``), and in a kernel they change all the time (pandas and
matplotlib use ``catch_warnings``): what counts is the *effective* registry, its entries while its
version is current, nothing otherwise. The identity uses the effective registry before the cell; a
replay leaves the effective registry the cell left. The current version is read by a probe that
only an ``ignore`` filter lets through silently; without one, cells meeting a registry aren't replayed.
"""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any

NAME = "__warningregistry__"
_PROBE = ("collab_reuse probe", DeprecationWarning, "collab_reuse.probe", 0)


def entries(namespace: dict) -> frozenset[tuple[str, str, int]] | None:
    """The registry's effective "already shown" entries as (text, category, line), or None when they
    can't be known (an entry that can't be named, or the filters' version can't be read)."""
    registry = namespace.get(NAME)
    if registry is None:
        return frozenset()
    if type(registry) is not dict:
        return None
    if len(registry) <= 1:  # (only a version, or nothing: no entries whatever the version)
        return frozenset()
    version = filters_version()
    if version is None:
        return None
    if registry.get("version") != version:
        return frozenset()  # (cleared at the next warning)
    out = set()
    for key, shown in registry.items():
        if key == "version":
            continue
        if not (type(key) is tuple and len(key) == 3 and type(key[0]) is str and isinstance(key[1], type)
                and issubclass(key[1], Warning) and type(key[2]) is int and shown is True):
            return None
        out.add((key[0], f"{key[1].__module__}:{key[1].__qualname__}", key[2]))
    return frozenset(out)


def left_by_cell(before: frozenset | None, after: frozenset | None) -> list[list] | str | None:
    """The effective entries the cell left, as plain data (None: it changed nothing); why it can't be
    replayed otherwise."""
    if before is None or after is None:
        return "the warning registry's entries can't be known"
    if before == after:
        return None
    return [list(entry) for entry in sorted(after)]


def leave(namespace: dict, recorded: list[list] | None) -> None:
    """Make the effective registry what the replayed cell left."""
    if recorded is None:
        return
    registry = namespace.setdefault(NAME, {})
    registry.clear()
    registry["version"] = filters_version()
    for text, category, line in recorded:
        registry[(text, _category(category), line)] = True


def can_leave(recorded: list | None) -> bool:
    """Can :func:`leave` restore these entries here (the categories exist, the version can be read)?"""
    if recorded is None:
        return True
    try:
        return type(recorded) is list and all(type(e) is list and len(e) == 3 and type(e[0]) is str
                                              and _category(e[1]) is not None and type(e[2]) is int
                                              for e in recorded) and filters_version() is not None
    except (TypeError, ValueError):
        return False


def _category(name: Any) -> type | None:
    """A warning class by ``module:qualname`` among modules already imported (never an import)."""
    if type(name) is not str or name.count(":") != 1:
        raise ValueError("not a warning category name")
    module, qualname = name.split(":")
    found = getattr(sys.modules.get(module), qualname, None) if qualname.isidentifier() else None
    if not (isinstance(found, type) and issubclass(found, Warning)):
        raise ValueError(f"{name[:80]} is not a warning category here")
    return found


def filters_version() -> int | None:
    """The warning filters' current version, as Python writes it into a registry; None when reading it
    could show or raise a warning (no ``ignore`` filter catches the probe)."""
    text, category, module, line = _PROBE
    if _action(text, category, module, line) != "ignore":
        return None
    probe: dict = {}
    warnings.warn_explicit(text, category, module, line, module=module, registry=probe)
    return probe.get("version")


def _action(text: str, category: type, module: str, line: int) -> str:
    for action, message, cat, mod, ln in warnings.filters:
        if ((message is None or message.match(text)) and issubclass(category, cat)
                and (mod is None or (mod.match(module) if isinstance(mod, re.Pattern) else mod == module))
                and (ln == 0 or line == ln)):
            return action
    return warnings.defaultaction
