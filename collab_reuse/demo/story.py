"""What the demo tells a newcomer after its table: which steps a run reused (and what each saved),
which it computed again after an edit (and why, where the cell report says), and where to look next.

Read from the Experiment Graph's cell reports of one kernel (``events``), the same reports the panel
shows, so the demo says nothing the product does not record.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..planner import why as reasons
from .runner import reuse_events

NEXT_STEPS = """Where to look next:
  * the Reuse panel in JupyterLab (right sidebar, the recycle icon): each cell's reused and
    recomputed steps, as they happen (`jupyter lab`, then `%load_ext collab_reuse` in a notebook);
  * `%reuse explain` after a cell: what it reused, computed, and why;
  * `%reuse status` and `collab-reuse stats --store DIR`: the store, its budget, the time saved;
  * `make bench`: the figures measured side by side (README, "Performance")."""


@dataclass
class StepSummary:
    """One operation label's steps in a run, added up."""

    op: str
    count: int = 0
    seconds: float = 0.0        # computing (status computed) or loading (reused)
    saved_seconds: float = 0.0  # what the reused ones would have taken to compute
    reasons: tuple[str, ...] = ()


def summarize(events: list[dict[str, Any]], status: str) -> list[StepSummary]:
    """Steps of ``status`` over a kernel's cell reports, by operation, the costliest first."""
    by_op: dict[str, StepSummary] = {}
    reasons: dict[str, dict[str, None]] = defaultdict(dict)
    for event in events:
        for step in event.get("steps", []):
            if step.get("status") != status or step.get("mutation"):
                continue
            summary = by_op.setdefault(step.get("op", "?"), StepSummary(step.get("op", "?")))
            summary.count += 1
            summary.seconds += float(step.get("seconds") or 0.0)
            summary.saved_seconds += float(step.get("saved_seconds") or 0.0)
            why = step_reason(step)
            if why:
                reasons[summary.op][why] = None
    for op, found in reasons.items():
        by_op[op].reasons = tuple(found)[:3]
    return sorted(by_op.values(), key=lambda s: -(s.saved_seconds if status == "reused" else s.seconds))


def step_reason(step: dict[str, Any]) -> str | None:
    """A step's reason as the report words it: its first ``why`` (the reasons a computed step ran,
    ``planner/why.py``) when there is one, else ``reason``."""
    why = step.get("why")
    if isinstance(why, list) and why and isinstance(why[0], dict):
        return reasons.text(why[0], why[0].get("cell"))
    if isinstance(why, dict) and why.get("text"):
        return str(why["text"])
    if isinstance(why, str) and why:
        return why
    reason = step.get("reason")
    return str(reason) if reason else None


def describe_run(title: str, store: Path, kernel_id: str, limit: int = 5) -> str:
    """A few lines: the most valuable reused steps and the costliest computed ones of one kernel."""
    try:
        events = reuse_events(store, kernel_id)
    except Exception as exc:  # said, not silent: the demo's table stands without this
        return f"{title}: the store's reports could not be read ({exc!r})"
    lines = [f"{title}:"]
    reused = summarize(events, "reused")
    computed = summarize(events, "computed")
    if reused:
        lines.append("  reused (loaded from the store instead of computed), the most valuable first:")
        lines += [f"    {s.op} x{s.count}: loaded in {s.seconds:.2f} s, saved {s.saved_seconds:.1f} s"
                  for s in reused[:limit]]
    if computed:
        lines.append("  computed, the costliest first:")
        for s in computed[:limit]:
            because = f" -- {'; '.join(s.reasons)}" if s.reasons else ""
            lines.append(f"    {s.op} x{s.count}: {s.seconds:.1f} s{because}")
    if not reused and not computed:
        lines.append("  no traced steps recorded")
    return "\n".join(lines)
