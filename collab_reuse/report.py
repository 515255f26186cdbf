"""The cell report: the record each executed cell leaves in the Experiment Graph's ``events``, read by
the panel (through the server extension), ``%reuse explain`` and ``collab-reuse stats``.

One typed definition here; the panel's TypeScript mirror is ``labextension/src/protocol.ts``
(``IStep``, ``ITotals``, ``ICellReport``), and ``tests/unit/test_protocol.py`` checks that the two name
the same fields with the same types. Stored as JSON (``to_json``); the graph adds ``seq`` and ``time``,
the server ``why_text`` (the root reason in words, for what the reader may see).

A step's ``call`` summary stays out of the report (the graph keeps it by place, ``kernel/explaining.py``);
``why`` (the reasons a computed step ran, ``planner/why.py``) and the report's ``why`` (the cell's root
reason) are filled in when the cell is recorded, after it ran.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .tracing.steps import COMPUTED, DEFERRED, NOT_REUSABLE, REUSED, WARM_STARTED, Step


@dataclass(slots=True)
class Totals:
    """A cell's steps counted by status (in-place updates not counted), and what they cost and saved."""

    reused: int = 0
    computed: int = 0
    deferred: int = 0
    warm_started: int = 0
    not_reusable: int = 0
    seconds: float = 0.0           # the cell's wall time
    saved_seconds: float = 0.0     # compute time the reused steps did not spend
    bytes_read: int = 0
    bytes_written: int = 0

    @classmethod
    def of(cls, steps: list[Step], seconds: float) -> "Totals":
        ops = [s for s in steps if not s.mutation]
        count = {status: sum(s.status == status for s in ops)
                 for status in (REUSED, COMPUTED, DEFERRED, WARM_STARTED, NOT_REUSABLE)}
        return cls(**count, seconds=seconds, saved_seconds=sum(s.saved_seconds for s in ops),
                   bytes_read=sum(s.bytes_read for s in ops))

    @classmethod
    def normalized(cls, raw: dict) -> "Totals":
        """From a stored report's totals, whatever an older or partial report left out."""
        out = cls()
        for f in fields(cls):
            kind = float if f.type == "float" else int
            try:
                setattr(out, f.name, kind(raw.get(f.name) or 0))
            except (TypeError, ValueError):
                pass
        return out


@dataclass(slots=True)
class CellReport:
    kernel_id: str
    user: str
    cell_id: str | None
    execution_count: int | None
    steps: list[Step] = field(default_factory=list)
    totals: Totals = field(default_factory=Totals)
    truncated: bool = False        # the cell had more steps than a report keeps
    plan: dict | None = None       # the ``%%reuse plan`` estimate of this very code, if one was made
    why: dict | None = None        # the cell's root reason (filled when recorded)

    def to_json(self) -> dict:
        return {"kernel_id": self.kernel_id, "user": self.user, "cell_id": self.cell_id,
                "execution_count": self.execution_count, "steps": [step_json(s) for s in self.steps],
                "totals": asdict(self.totals), "truncated": self.truncated, "plan": self.plan, "why": self.why}


#: a reported step: the Step's fields but its call summary, and the reasons it ran (filled when recorded)
STEP_NOT_REPORTED = frozenset({"call"})
STEP_ADDED: dict[str, str] = {"why": "list[dict] | None"}


_STEP_REPORTED = tuple(f.name for f in fields(Step) if f.name not in STEP_NOT_REPORTED)


def step_json(step: Step) -> dict:
    """(Field by field: ``asdict`` would deep-copy the call summary only to drop it; 400 steps a cell.)"""
    out = {name: getattr(step, name) for name in _STEP_REPORTED}
    out["inputs"] = list(step.inputs)
    out.update(dict.fromkeys(STEP_ADDED))
    return out
