"""Each computed step's reasons, from the Experiment Graph: what differs from its near form.

Runs with the cell's record (``jobs.RecordCell``, in the writer thread or the exit writer), never
in the cell: it reads the last run at each place of the cell and, for an input that changed, the
run that produced it, then compares (``planner/why.py``) and puts the reasons into the report's
steps (``why``) and the cell's root reason (the report's ``why``, its one line). The new runs are returned to be
written in the same transaction as the cell's vertices.
"""

from __future__ import annotations

from typing import Any

from ..graph import ExperimentGraph, PlaceRun
from ..graph.journal import PLACE_SEP
from ..planner import why

RAN = ("computed", "warm_started")


def place_key(user: str, cell_key: str, label: str, occurrence: int) -> str:
    """Where an operation ran: the user's cell (its notebook cell id, else its execution count), its
    label, and which occurrence of that label in the cell it was."""
    return PLACE_SEP.join((user, cell_key, label, str(occurrence)))


def explain_cell(graph: ExperimentGraph, user: str, report: dict, runs: list[list], min_saving: float
                 ) -> list[PlaceRun]:
    """Fill ``why`` into the report's computed steps; the runs to remember. ``runs``: [step index,
    place key, call summary] of the steps that have an id."""
    steps, cell = report["steps"], report.get("execution_count")
    previous = graph.place_runs([key for _, key, _ in runs])
    produced: dict[str, tuple[str, Any, list[dict] | None]] = {}  # this cell's steps by id
    budget = graph.budget()
    remembered = []
    for index, key, summary in runs:
        step = steps[index]
        reasons = None
        if step.get("status") in RAN:
            # (a reason the kernel saw itself comes first: its stored result refused on load)
            reasons = step.get("why") or _reasons(graph, user, step, summary, previous.get(key), produced,
                                                  min_saving, budget, cell)
            step["why"] = reasons
        produced[step["id"]] = (step["op"], cell, reasons)
        before = previous.get(key)
        if summary.get("partial") and before is not None and before.op_id == step["id"] \
                and not before.summary.get("partial"):
            # the same operation again, known by its inputs only (reused through a deferred value): what
            # it was called with is what the run before recorded, which the next run compares with
            summary = {**before.summary, "inputs": summary.get("inputs")}
        remembered.append(PlaceRun(key, step["id"], step["op"], cell, summary, reasons))
    root = why.cell_root(steps)
    if root is not None:
        report["why"] = root
    return remembered


def _reasons(graph: ExperimentGraph, user: str, step: dict, summary: dict, before: PlaceRun | None,
             produced: dict[str, tuple[str, Any, list[dict] | None]], min_saving: float, budget: int | None,
             cell: Any) -> list[dict]:
    seen = graph.history(step["id"])
    if seen is not None:  # this very operation ran before: why its result wasn't served
        info, note, evicted = seen
        return [why.same_id(info.state, info.storable, note, info.compute_seconds, info.size, evicted,
                            min_saving, budget, graph.decision(step["id"]), info.load_seconds)]
    if before is None or before.op_id == step["id"]:
        return [why.reason(why.FIRST, "first run of this operation here")]
    reasons = why.diff(before.summary, summary)
    changed = [r["id"] for r in reasons if r["kind"] == why.INPUT and r["id"] not in produced]
    earlier = graph.runs_of(changed, user) if changed else {}
    out = []
    for item in reasons:
        if item["kind"] == why.INPUT:
            run = earlier.get(item["id"])
            out.append(why.follow(item, produced.get(item["id"]) or (run and (run.op, run.cell, run.why))))
        else:
            out.append({**item, "cell": cell})
    return out
