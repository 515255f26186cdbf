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
FIRST, NOT_STORED, EVICTED, UNSTORABLE, TOO_CHEAP, CHEAPER, REFUSED, TOO_LARGE, OVER_QUOTA = \
    "first", "not_stored", "evicted", "unstorable", "too_cheap", "cheaper_to_compute", "refused", "too_large", \
    "over_quota"
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
    old_columns, new_columns = old.get("columns") or {}, new.get("columns") or {}
    for path, entry in new_files.items():
        digest, mtime = (list(entry) + [None, None])[:2]
        if path in old_files and old_files[path][0] != digest:
            item = reason(FILE, path, old_files[path][0], digest, changed=mtime)
            before, after = old_columns.get(path), new_columns.get(path)
            if isinstance(before, list) and isinstance(after, list):  # (known only where cheap: a header)
                item["columns"] = {"added": [c for c in after if c not in before],
                                   "removed": [c for c in before if c not in after]}
            found.append(item)
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
            evicted: float | None, min_saving: float, budget: int | None, decision: dict | None = None,
            load_seconds: float | None = None) -> dict:
    """Why an operation seen before (the same id) computed again: only what the graph recorded.
    ``decision``: what the materializer decided about it last (``ExperimentGraph.decision``: the budget,
    the writer's quota, what it kept, what this artifact would have saved per reuse)."""
    decision = decision if isinstance(decision, dict) else {}
    if state == 2:
        return reason(CHEAPER, "stored, but loading it was estimated slower than computing it")
    if not storable:
        return reason(UNSTORABLE, f"never stored: {note or 'its value could not be encoded'}")
    saving = _saving(decision, compute_seconds, load_seconds)
    if evicted is not None:
        return reason(EVICTED, f"was stored, then evicted {_when(evicted)} {_decided(decision)}{saving}",
                      changed=evicted, decision=decision or None)
    if compute_seconds < min_saving:
        return reason(TOO_CHEAP, f"never stored: too cheap to be worth it ({compute_seconds * 1000:.1f} ms, "
                                 f"below min_saving {min_saving * 1000:.0f} ms)")
    if decision.get("outcome") == "not_worth_loading":
        return reason(TOO_CHEAP, f"never stored: too cheap to be worth it (loading it, {_size(decision.get('size'))}, "
                                 f"would save {_seconds(decision.get('saving'))} of its {compute_seconds:.2f} s, "
                                 f"below min_saving {_seconds(decision.get('min_saving'))})", decision=decision)
    if budget is not None and size > budget:
        return reason(TOO_LARGE, f"never stored: too large ({_size(size)}, the store's budget is {_size(budget)})")
    if decision.get("outcome") == "quota":
        return reason(OVER_QUOTA, f"never stored: over {_whose(decision)} quota {_decided(decision)}{saving}",
                      decision=decision)
    if decision.get("outcome") in ("budget", "too_large"):
        return reason(NOT_STORED, f"never stored: not chosen {_decided(decision)}{saving}", decision=decision)
    return reason(NOT_STORED, "seen before but not stored (not chosen under the budget, or not written yet)")


def _size(n: Any) -> str:
    from ..config import format_size
    return format_size(n) if isinstance(n, (int, float)) else "?"


def _seconds(value: Any) -> str:
    return f"{value:.3f} s" if isinstance(value, (int, float)) else "?"


def _when(seconds: float) -> str:
    import time
    try:
        return "on " + time.strftime("%Y-%m-%d %H:%M", time.localtime(float(seconds)))
    except (TypeError, ValueError, OverflowError, OSError):
        return "at an unknown time"


def _whose(decision: dict) -> str:
    writer = decision.get("writer")
    return f"{writer}'s" if isinstance(writer, str) and writer else "its writer's"


def _decided(decision: dict) -> str:
    """Which budget decision: "to keep the store within its budget (…)", in words."""
    if not decision:
        return "to keep the store within its budget"
    kept = f"{decision.get('kept')} artifacts ({_size(decision.get('kept_bytes'))}) saving more per byte"
    if decision.get("outcome") == "quota":
        return (f"by the {decision.get('algorithm', '?')} selection: {_whose(decision)} artifacts kept "
                f"{_size(decision.get('writer_bytes'))} of a {_size(decision.get('quota'))} quota, this one "
                f"{_size(decision.get('size'))} more (budget {_size(decision.get('budget'))}, {kept} kept)")
    if decision.get("outcome") == "too_large":
        return (f"by the {decision.get('algorithm', '?')} selection: {_size(decision.get('size'))}, larger than "
                f"the budget of {_size(decision.get('budget'))}")
    return (f"by the {decision.get('algorithm', '?')} selection under the budget of {_size(decision.get('budget'))}: "
            f"{kept} were kept instead")


def _saving(decision: dict, compute_seconds: float, load_seconds: float | None) -> str:
    """"; reusing it would have saved 4.1 s (compute 4.3 s, load 0.2 s)"."""
    saved = decision.get("saving")
    if not isinstance(saved, (int, float)):
        if load_seconds is None or not isinstance(compute_seconds, (int, float)):
            return ""
        saved = compute_seconds - load_seconds
    load = decision.get("load_seconds", load_seconds)
    loading = f", load {load:.2f} s" if isinstance(load, (int, float)) else ""
    return f"; reusing it would have saved {saved:.2f} s (compute {compute_seconds:.2f} s{loading})"


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
            item.pop("columns", None)  # (what a file holds: only for a reader who may read it)
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
        changed = f", modified {_when(item['changed'])}" if isinstance(item.get("changed"), (int, float)) else ""
        columns = item.get("columns")
        differ = ""
        if isinstance(columns, dict):
            parts = [f"{label} {', '.join(map(str, (columns.get(key) or [])[:6]))}"
                     for key, label in (("added", "columns added:"), ("removed", "columns removed:"))
                     if columns.get(key)]
            differ = "; " + "; ".join(parts) if parts else "; same columns"
        return (f"{name} changed (digest {str(item.get('old'))[:8]} → {str(item.get('new'))[:8]}{changed}{differ})"
                f"{where}")
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
