"""Reuse planning and materialization: pure functions over plain data.

``materialize`` chooses what the store keeps under a byte budget; ``reuse``
chooses, for the work a cell needs, what to load and what to compute.
Neither imports networkx, pandas or IPython at import time.
"""

from .materialize import (
    Candidate,
    model_potential,
    recreation_costs,
    select,
    select_heuristic,
    select_storage_aware,
    stored_bytes,
)
from .reuse import Plan, PlanVertex, plan, plan_is_valid, plan_linear, plan_mincut

__all__ = [
    "Candidate",
    "Plan",
    "PlanVertex",
    "model_potential",
    "plan",
    "plan_is_valid",
    "plan_linear",
    "plan_mincut",
    "recreation_costs",
    "select",
    "select_heuristic",
    "select_storage_aware",
    "stored_bytes",
]
