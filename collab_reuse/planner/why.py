"""Why a step was computed: what differs from the nearest form the Experiment Graph has seen.

A step's *near form* is the last run of the same operation at the same place (the same user's
cell, the same label, the same occurrence in the cell), kept as a bounded summary of the call
(``tracing/summary.py``: scalar parameters as short reprs, the digests of the files it read, the
source of notebook functions, its input ids). ``diff`` compares two summaries and names what
differs, in the order a user acts on it: a parameter, a data file, a notebook function's code, an
input step (followed to the first changed ancestor by the caller), the random state. ``same_id``
explains a step whose very operation was seen before and still computed (never stored, evicted,
cheaper to compute). Each reason is a plain dict (``kind``, ``detail``, ``old``, ``new``, and for an
input its producer's ``op``, ``cell`` and ``root``): the cell report carries them to the panel.

Pure functions over plain data: no graph, no tracer.
"""

from __future__ import annotations

import difflib
import os
from typing import Any, Callable

PARAMETER, INPUT, FILE, CODE, RANDOM, OTHER = "parameter", "input", "file", "code", "random", "other"
FIRST, NOT_STORED, EVICTED, UNSTORABLE, TOO_CHEAP, CHEAPER, REFUSED = \
    "first", "not_stored", "evicted", "unstorable", "too_cheap", "cheaper_to_compute", "refused"
CHANGES = (PARAMETER, INPUT, FILE, CODE, RANDOM, OTHER)  # a near form differs (else: the same one, not served)
MAX_CHANGED_LINES = 3     # lines of a function's diff shown each way
MAX_REASONS = 6           # reasons kept per step (the rest: "and N more")


def reason(kind: str, detail: str, old: Any = None, new: Any = None, **more: Any) -> dict:
    return {"kind": kind, "detail": detail, "old": old, "new": new, **more}


def diff(old: dict, new: dict) -> list[dict]:
    """What differs between two summaries of the same operation at the same place (their ids differ).
    Input changes carry the changed input's id (``id``), for the caller to name and follow."""
    found: list[dict] = []
    if old.get("partial") or new.get("partial"):  # a run known by its inputs only (a deferred one)
        old, new = {"inputs": old.get("inputs")}, {"inputs": new.get("inputs")}
    old_params, new_params = old.get("params") or {}, new.get("params") or {}
    for name in list(new_params) + [n for n in old_params if n not in new_params]:
        before, after = old_params.get(name), new_params.get(name)
        if before != after:
            found.append(reason(PARAMETER, name, before, after))
    old_files, new_files = old.get("files") or {}, new.get("files") or {}
    for path, (digest, mtime) in new_files.items():
        if path in old_files and old_files[path][0] != digest:
            found.append(reason(FILE, path, old_files[path][0], digest, changed=mtime))
    old_code, new_code = old.get("code") or {}, new.get("code") or {}
    for name, source in new_code.items():
        if name in old_code and old_code[name] != source:
            removed, added = changed_lines(old_code[name], source)
            found.append(reason(CODE, name, removed, added))
    old_inputs = set(old.get("inputs") or ())
    for input_id in dict.fromkeys(new.get("inputs") or ()):
        if input_id not in old_inputs:
            found.append(reason(INPUT, "an input changed", id=input_id))
    if not found and old.get("rng") != new.get("rng"):
        found.append(reason(RANDOM, "the global random generator's state differs"))
    if not found:
        found.append(reason(OTHER, "something not summarized differs (a parameter that is not a plain value, "
                                   "or a run recorded by its inputs only)"))
    if len(found) > MAX_REASONS:
        found = found[:MAX_REASONS] + [reason(OTHER, f"and {len(found) - MAX_REASONS} more differences")]
    return found


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """The lines a function's edit removed and added (at most ``MAX_CHANGED_LINES`` each)."""
    removed, added = [], []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        if line.startswith("-"):
            removed.append(line[1:].strip())
        elif line.startswith("+"):
            added.append(line[1:].strip())
    return removed[:MAX_CHANGED_LINES], added[:MAX_CHANGED_LINES]


def same_id(state: int, storable: bool, note: str | None, compute_seconds: float, size: int,
            evicted: float | None, min_saving: float, budget: int | None) -> dict:
    """Why an operation seen before (the same id) computed again: only what the graph recorded."""
    if state == 2:
        return reason(CHEAPER, "stored, but loading it was estimated slower than computing it")
    if not storable:
        return reason(UNSTORABLE, f"never stored: {note or 'its value could not be encoded'}")
    if evicted is not None:
        return reason(EVICTED, "was stored, then evicted to keep the store within its budget", changed=evicted)
    if compute_seconds < min_saving:
        return reason(TOO_CHEAP, f"never stored: too cheap to be worth it ({compute_seconds * 1000:.1f} ms, "
                                 f"below min_saving {min_saving * 1000:.0f} ms)")
    if budget is not None and size > budget:
        return reason(NOT_STORED, "never stored: larger than the store's budget")
    return reason(NOT_STORED, "seen before but not stored (not chosen under the budget, or not written yet)")


def follow(item: dict, producer: tuple[str, Any, list[dict] | None] | None) -> dict:
    """An input change, named by its producer ``(op, cell, the producer's reasons)``: the first
    changed ancestor becomes its ``root`` (a producer explained by an input carries its root on)."""
    item = {k: v for k, v in item.items() if k != "id"}
    if producer is None:
        item["detail"] = "an input changed (its producer is not known here)"
        return item
    op, cell, reasons = producer
    item.update(op=op, cell=cell, detail=f"input {op} changed")
    first = (reasons or [None])[0]
    if first is None:
        return item
    if first["kind"] == INPUT:
        item["root"] = first.get("root")
    elif first["kind"] != FIRST:
        item["root"] = {**first, "op": op, "cell": cell}
    return item


def root_of(reasons: list[dict] | None) -> dict | None:
    """The change that started it: an input's root, else the step's first own reason."""
    if not reasons:
        return None
    first = reasons[0]
    return first.get("root") if first["kind"] == INPUT else first


def visible(reasons: list[dict] | None, readable: Callable[[str], bool] = lambda p: os.access(p, os.R_OK)
            ) -> list[dict] | None:
    """The reasons as a reader may see them: a file's path only if that reader can read the file."""
    if not reasons:
        return reasons
    out = []
    for item in reasons:
        if not isinstance(item, dict):
            continue
        item = dict(item)
        if item.get("kind") == FILE and not readable(str(item.get("detail"))):
            item["detail"] = "a data file"
        if isinstance(item.get("root"), dict):
            item["root"] = visible([item["root"]], readable)[0]  # type: ignore[index]
        out.append(item)
    return out


def text(item: dict, cell: Any = None) -> str:
    """One reason in words: "`learning_rate` 0.05 → 0.08", "input read_csv changed (cell 3: ...)"."""
    kind, detail = item.get("kind"), item.get("detail")
    where = f" in cell {cell}" if cell is not None else ""
    if kind == PARAMETER:
        old, new = item.get("old"), item.get("new")
        name = f"argument {int(detail[1:]) + 1}" if str(detail)[1:].isdigit() and str(detail)[0] == "#" \
            else f"`{detail}`"
        if old is None:
            return f"{name} set to {new}{where}"
        if new is None:
            return f"{name} ({old}) removed{where}"
        return f"{name} changed {old} → {new}{where}"
    if kind == FILE:
        name = "a data file" if detail == "a data file" else f"data file {detail}"
        return f"{name} changed (digest {str(item.get('old'))[:8]} → {str(item.get('new'))[:8]}){where}"
    if kind == CODE:
        lines = "; ".join([f"-{x}" for x in item.get("old") or []] + [f"+{x}" for x in item.get("new") or []])
        return f"notebook function {detail} changed{where}" + (f" ({lines})" if lines else "")
    if kind == INPUT:
        at = f" (cell {item['cell']})" if item.get("cell") is not None else ""
        root = item.get("root")
        because = f", because {text(root, root.get('cell'))}" if isinstance(root, dict) else ""
        return f"{detail}{at}{because}"
    return f"{detail}{where}"


def cell_root(steps: list[dict]) -> dict | None:
    """The cell's reason: the root of its first explained recomputation (the report's ``why``)."""
    roots = [(step, root_of(step.get("why"))) for step in steps
             if not step.get("mutation") and step.get("status") in ("computed", "warm_started")]
    for changes in (True, False):  # a change first; else why what was seen before wasn't served
        for step, root in roots:
            if isinstance(root, dict) and root.get("kind") != FIRST and (root.get("kind") in CHANGES) == changes:
                return {**root, "step": step.get("op")}
    return None


def summary_line(root: dict | None, readable: Callable[[str], bool] | None = None) -> str | None:
    """"recomputed because `learning_rate` changed 0.05 → 0.08 in cell 9" (as the reader may see it)."""
    if not isinstance(root, dict):
        return None
    shown = visible([root], readable) if readable is not None else visible([root])
    if not shown:
        return None
    if root.get("kind") in CHANGES:
        return f"recomputed because {text(shown[0], root.get('cell'))}"
    return f"recomputed: {root.get('step')}: {text(shown[0])}"
