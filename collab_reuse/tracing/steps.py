"""Plain records the tracer produces: one ``Step`` per traced operation, and the
``ComputedValue``s worth offering to the store. The session turns them
into Experiment Graph updates, cell reports and store writes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

REUSED, COMPUTED, WARM_STARTED, NOT_REUSABLE = "reused", "computed", "warm_started", "not_reusable"
DEFERRED = "deferred"  # bound to a lazy: loaded or computed only if something uses it


@dataclass(slots=True)
class Step:
    id: str | None
    op: str
    status: str
    kind: str = "other"
    reason: str | None = None
    seconds: float = 0.0
    saved_seconds: float = 0.0
    bytes_read: int = 0
    bytes_written: int = 0
    inputs: list[str] = field(default_factory=list)
    mutation: bool = False
    score: float | None = None     # the value of a model-quality metric (roc_auc_score, score, ...)
    call: dict | None = None       # a bounded summary of the call (``summary``): what a later run compares

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class ComputedValue:
    """A computed value that may be worth storing: held until the cell ends."""

    id: str
    value: Any
    kind: str
    seconds: float
    extra: dict
    live: tuple = ()               # (object, id) pairs: the value is stale once an object's id changed
    recreate_seconds: float = 0.0  # its own time plus its unstored ancestors': what storing it saves
    approx_bytes: int = 0          # the session's size estimate before encoding (0: none)
    confidential: bool = False     # computed after reading a file the team can't read (kernel/backend.py)


class Backend(Protocol):
    """What the tracer needs from the session (the Experiment Graph and the store)."""

    def lookup(self, artifact_id: str) -> Any: ...

    def should_load(self, info: Any, pending_seconds: float = 0.0) -> bool: ...

    def load(self, artifact_id: str) -> tuple[Any, dict, int, float]: ...

    min_saving: float  # seconds below which a result is not worth offering to the store

    def is_random(self, op_id: str) -> bool: ...

    def random_parts(self, op_id: str) -> str:
        """Which global generators the operation was seen drawing from ("np", "py", "np+py"; "": none)."""
        ...

    def reports_more_steps(self) -> bool:
        """Would a step added now be in the running cell's report? (Else its call summary, which only
        the report's steps keep, is not worth making.)"""
        ...

    def file_digest(self, path: str) -> str: ...

    def add_step(self, step: Step, candidate: ComputedValue | None) -> None: ...

    def mark_random(self, op_id: str, parts: str = "np") -> None: ...

    def quiet_op(self, op_id: str) -> tuple[str, float] | None: ...

    def mark_quiet(self, op_id: str, type_name: str, seconds: float) -> None: ...

    def manifest(self, artifact_id: str) -> dict: ...

    def load_cost(self, info: Any) -> float: ...

    def loadable(self, info: Any) -> bool: ...

    def stored_forests(self, key: str) -> list[tuple[int, str]]: ...

    def remember_forest(self, key: str, n_estimators: int, artifact_id: str) -> None: ...

    def lease(self, artifact_id: str, operands: tuple | None = None) -> bool:
        """Take the lease to compute a result; False while another kernel computes it."""

    def stored_meanwhile(self, artifact_id: str, operands: tuple | None = None) -> bool:
        """Did another kernel store this result since the running cell began?"""

    def wait_for_lease(self, artifact_id: str, label: str) -> None:
        """Wait (bounded) for the kernel computing this result, then notice what it stored."""

    def offered(self, artifact_id: str) -> bool:
        """Is this result among the running cell's offers to the store (its lease held till stored)?"""

    def release_leases(self, artifact_ids: Any) -> None: ...

    def pin(self, artifact_id: str) -> None:
        """A stored result this kernel holds deferred, to load when used: not to be cleaned up meanwhile."""
