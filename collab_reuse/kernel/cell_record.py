"""What one executed cell leaves behind: the record of its run (``CellRun``, filled by the session while
the cell runs) turned, when it ends, into the Experiment Graph's vertex updates, the places the next run
compares with (``explaining``) and the cell report (``collab_reuse/report.py``).

Pure functions of the record: no store, no graph, no kernel (the session submits what they return to the
writer as one ``jobs.RecordCell``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..graph import VertexUpdate
from ..planner import why
from ..report import CellReport, Totals
from ..tracing.steps import COMPUTED, DEFERRED, NOT_REUSABLE, REUSED, WARM_STARTED, ComputedValue, Step
from .explaining import place_key

MAX_STEPS_PER_REPORT = 400
NOTABLE_SECONDS = 0.001  # a computed step this quick is the first a long cell's report leaves out
_RAN = (COMPUTED, NOT_REUSABLE, WARM_STARTED)  # statuses of steps whose operation ran (and was timed)


@dataclass
class CellRun:
    cell_id: str | None
    execution_count: int | None
    started: float = field(default_factory=time.perf_counter)
    steps: list[Step] = field(default_factory=list)
    candidates: list[ComputedValue] = field(default_factory=list)
    offered: dict[str, int] = field(default_factory=dict)  # candidate id -> its index in ``candidates``
    random_ops: list[str] = field(default_factory=list)
    quiet_ops: list[tuple[str, str, float]] = field(default_factory=list)
    forests: list[tuple[str, int, str]] = field(default_factory=list)
    plan: dict | None = None  # the %%reuse plan estimate of this very code, if one was made
    # writer -> [loads, seconds saved]: what loading others' (and one's own) artifacts saved (``attribution``)
    reuse: dict[str, list] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # artifact id -> why its stored result was refused
    leased: set[str] = field(default_factory=set)  # results whose leases the cell took (``kernel/leases.py``)

    def loaded(self, writer: str) -> None:
        """A stored artifact of ``writer``'s was loaded."""
        self.reuse.setdefault(writer, [0, 0.0])[0] += 1

    def saved(self, writer: str, seconds: float) -> None:
        """A reused step, whose value was ``writer``'s, saved ``seconds``."""
        self.reuse.setdefault(writer, [0, 0.0])[1] += seconds


def report(cell: CellRun, kernel_id: str, user: str) -> dict:
    """The cell report (JSON), its totals measured now (the cell's wall time ends here)."""
    totals = Totals.of(cell.steps, time.perf_counter() - cell.started)
    out = CellReport(kernel_id, user, cell.cell_id, cell.execution_count,
                     [cell.steps[i] for i in reported(cell.steps)],
                     totals, truncated=len(cell.steps) > MAX_STEPS_PER_REPORT, plan=cell.plan).to_json()
    if cell.refused:  # (a computed step whose stored result failed a check: that is why it ran)
        for step in out["steps"]:
            if step["id"] in cell.refused and step["status"] != REUSED:
                step["why"] = [why.reason(why.REFUSED, f"its stored result was refused: {cell.refused[step['id']]}")]
    return out


def reported(steps: list[Step]) -> list[int]:
    """The positions of the steps a cell's report keeps, in the cell's order: all of them up to
    ``MAX_STEPS_PER_REPORT``; past it, the steps that matter first (those not simply computed -- reused,
    deferred, not reusable, warm-started -- and those that ran for ``NOTABLE_SECONDS`` or more, the
    longest first when even they are too many), then the earliest of the rest. (A ``main()`` cell of
    900 steps kept its first 400 once: column lookups and dtypes, none of its model fits.)"""
    if len(steps) <= MAX_STEPS_PER_REPORT:
        return list(range(len(steps)))
    notable = [i for i, step in enumerate(steps) if step.status != COMPUTED or step.seconds >= NOTABLE_SECONDS]
    if len(notable) >= MAX_STEPS_PER_REPORT:
        notable.sort(key=lambda i: -steps[i].seconds)  # (stable: equal times keep the cell's order)
        return sorted(notable[:MAX_STEPS_PER_REPORT])
    chosen = set(notable)
    rest = [i for i in range(len(steps)) if i not in chosen][:MAX_STEPS_PER_REPORT - len(notable)]
    return sorted(chosen.union(rest))


def reuse(cell: CellRun) -> list[tuple[str, int, float]]:
    """(writer, loads, seconds saved) of the cell: the Experiment Graph's ``reuse`` rows it adds to."""
    return [(writer, int(loads), float(saved)) for writer, (loads, saved) in sorted(cell.reuse.items())]


def vertex_updates(cell: CellRun) -> list[VertexUpdate]:
    """One update per operation id the cell met: its compute time summed over its runs, whether it was
    computed or reused, and the quality a metric computed on its predictions gives a model."""
    updates: dict[str, VertexUpdate] = {}
    produced_by: dict[str, Step] = {}
    quality: dict[str, float] = {}
    for step in cell.steps:
        if step.id is None:
            continue
        produced_by[step.id] = step
        if step.score is not None:
            quality.update(scored_models(step, produced_by))
        prev = updates.get(step.id)
        if prev is None:
            updates[step.id] = VertexUpdate(step.id, step.op, step.kind, list(step.inputs), step.seconds,
                                            computed=step.status in _RAN,
                                            reused=step.status == REUSED,
                                            load_seconds=step.seconds if step.status == REUSED else None)
        else:
            prev.seconds += step.seconds if step.status in _RAN else 0.0
    for model_id, score in quality.items():
        if model_id in updates:
            updates[model_id].quality = score
    return list(updates.values())


def place_runs(cell: CellRun, user: str, shareable: Callable[[str], bool] | None = None) -> list[list]:
    """[report step index, place, call summary] of the reported steps that have an id: what the next
    run at the same place compares with (``explaining``). ``shareable``: in a team store, whether the
    team may read a file; the column names of one it may not are left out (they are the file's content,
    and places are rows of the shared graph)."""
    cell_key = cell.cell_id or f"#{cell.execution_count}"
    occurrences: dict[int, int] = {}  # (counted over every step of the cell: a place does not move when the
    seen: dict[str, int] = {}         # report of a long cell leaves other steps out)
    for position, step in enumerate(cell.steps):
        if step.id is not None and step.status != DEFERRED:
            occurrences[position] = seen[step.op] = seen.get(step.op, -1) + 1
    runs = []
    for index, position in enumerate(reported(cell.steps)):
        step = cell.steps[position]
        if position not in occurrences:
            continue
        occurrence = occurrences[position]
        summary = dict(step.call) if step.call is not None else {"partial": True}
        if shareable is not None and isinstance(summary.get("columns"), dict):
            summary["columns"] = {p: c for p, c in summary["columns"].items() if shareable(p)}
        summary["inputs"] = list(step.inputs)
        runs.append([index, place_key(user, cell_key, step.op, occurrence), summary])
    return runs


def scored_models(metric: Step, produced_by: dict[str, Step]) -> dict[str, float]:
    """A metric computed on a model's predictions tells that model's quality (the paper's potential)."""
    score = metric.score
    models = {}
    for input_id in metric.inputs:
        pred = produced_by.get(input_id)
        if pred is None:
            continue
        for model_id in pred.inputs:
            src = produced_by.get(model_id)
            if src is not None and src.kind == "model" and score is not None:
                models[model_id] = score
    return models
