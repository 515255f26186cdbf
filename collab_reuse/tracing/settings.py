"""Plotting settings a cell changes, kept as plain data so that a replay leaves them as the cell did.

``sns.set()`` at the top of an EDA cell is everyday code. It changes matplotlib's ``rcParams`` and,
through ``set_color_codes``, what the one-letter colours ``"b"``, ``"g"``... mean; nothing else.
Both are process-wide state that the figures of every later cell depend on, so a cell that changes
them was never replayed. Yet the change is fully known: the settings before the cell are part of the
cell's identity (``cells.environment``), and the cell's code, run again from them, would make the
same change. Recording the difference and applying it on replay is therefore exact, provided the
values come back from the store equal (checked when recorded: a value that does not round-trip
makes the cell unreplayable).
"""

from __future__ import annotations

import enum
import sys
from typing import Any

#: Library functions whose only effect is on rcParams and the colour codes (seaborn's theme
#: functions; matplotlib's ``rc``/``rcdefaults``). ``style.use`` is left out: its name is also
#: ``matplotlib.use``, which switches the backend.
SETTINGS_CALLS = frozenset({"set", "set_theme", "set_style", "set_context", "set_palette", "set_color_codes",
                            "reset_defaults", "reset_orig", "rc", "rcdefaults"})
_SETTINGS_MODULES = ("seaborn", "matplotlib")
COLOR_CODES = "bgrmyck"


def is_settings_call(module: str, name: str) -> bool:
    """Is this library call one whose only effect a replay restores through :func:`apply`?"""
    return name in SETTINGS_CALLS and (module or "").split(".", 1)[0] in _SETTINGS_MODULES


def is_settings_object(obj: Any) -> bool:
    """matplotlib's ``rcParams`` (``plt.rcParams[key] = value`` changes it in place)."""
    return type(obj).__name__ == "RcParams" and type(obj).__module__.split(".", 1)[0] == "matplotlib"


def snapshot() -> dict[str, Any] | None:
    """The settings now (None while matplotlib isn't imported): rcParams without the backend, and
    the colour codes."""
    mpl = sys.modules.get("matplotlib")
    if mpl is None:
        return None
    rc = {k: v for k, v in dict.items(mpl.rcParams) if k != "backend"}
    codes = mpl.colors.colorConverter.colors
    return {"rc": rc, "codes": {c: codes.get(c) for c in COLOR_CODES}}


def changes(before: dict | None, after: dict | None) -> dict | str | None:
    """What the cell changed, encoded as plain data (None: nothing; a string: why it can't be kept)."""
    if after is None:
        return None
    if before is None:  # (matplotlib imported by the cell: its import is an effect of its own)
        return "it imports matplotlib"
    rc = {}
    for key, value in after["rc"].items():
        if key not in before["rc"] or before["rc"][key] != value or type(before["rc"][key]) is not type(value):
            encoded = _encode(value)
            if encoded is None or not _restores(key, encoded, value):
                return f"it sets {key} to a value a replay can't restore"
            rc[key] = encoded
    if set(before["rc"]) - set(after["rc"]):
        return "it removes a setting"
    codes = {c: list(v) for c, v in after["codes"].items() if v != before["codes"].get(c) and isinstance(v, tuple)}
    if any(v != before["codes"].get(c) and not isinstance(v, tuple) for c, v in after["codes"].items()):
        return "it sets a colour code to a value a replay can't restore"
    return {"rc": rc, "codes": codes} if rc or codes else None


def can_apply(recorded: Any) -> bool:
    """Is a stored record (bytes anyone with access to the store may have written) one :func:`apply`
    can make without error or effect beyond the settings: rcParams keys that exist (never the
    backend) with values their validators accept, colour codes as RGB triples?"""
    if recorded is None:
        return True
    import matplotlib as mpl

    try:
        rc, codes = recorded["rc"], recorded["codes"]
        if type(rc) is not dict or type(codes) is not dict or set(recorded) != {"rc", "codes"}:
            return False
        for key, value in rc.items():
            if key == "backend" or key not in mpl.rcParams.validate:
                return False
            mpl.rcParams.validate[key](_decode(value))
        return all(code in COLOR_CODES and type(rgb) is list and len(rgb) == 3
                   and all(type(c) in (int, float) and 0 <= c <= 1 for c in rgb) for code, rgb in codes.items())
    except Exception:  # (a malformed record: a missing field, a value a validator refuses)
        return False


def apply(recorded: dict | None) -> None:
    """Make the recorded changes (a replay, from the same settings the cell started from)."""
    if not recorded:
        return
    import matplotlib as mpl

    mpl.rcParams.update({key: _decode(value) for key, value in recorded.get("rc", {}).items()})
    for code, rgb in recorded.get("codes", {}).items():
        mpl.colors.colorConverter.colors[code] = tuple(rgb)


def restore(state: dict | None) -> None:
    """Put the settings back to a :func:`snapshot` (values as they were: no validation needed)."""
    if state is None:
        return
    import matplotlib as mpl

    changed = {k: v for k, v in state["rc"].items() if dict.get(mpl.rcParams, k, _MISSING) is not v}
    dict.update(mpl.rcParams, changed)
    for code, rgb in state["codes"].items():
        if rgb is not None and mpl.colors.colorConverter.colors.get(code) != rgb:
            mpl.colors.colorConverter.colors[code] = rgb


_MISSING = object()


def _restores(key: str, encoded: Any, value: Any) -> bool:
    """Does setting ``key`` to the decoded value (as :func:`apply` does: rcParams validates it) give
    back the value the cell left?"""
    import matplotlib as mpl

    try:
        restored = mpl.rcParams.validate[key](_decode(encoded))
    except Exception:
        return False
    return type(restored) is type(value) and restored == value


def _encode(value: Any) -> Any:
    """rcParams' values as the store keeps them: an enum (``CapStyle``) as its text, a cycler as its
    keys' value lists. None: can't."""
    if isinstance(value, enum.Enum):
        return _encode(value.value)
    if type(value) in (type(None), bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        items = [_encode(v) for v in value]
        if any(i is None and v is not None for i, v in zip(items, value)):
            return None
        return {"__tuple__": items} if type(value) is tuple else items
    if type(value).__name__ == "Cycler" and type(value).__module__.split(".", 1)[0] == "cycler":
        by_key = {k: _encode(list(v)) for k, v in value.by_key().items()}
        return None if any(v is None for v in by_key.values()) else {"__cycler__": by_key}
    return None


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if isinstance(value, dict) and "__cycler__" in value:
        from cycler import cycler

        return cycler(**{k: _decode(v) for k, v in value["__cycler__"].items()})
    return value
