"""The tracer's backend (``tracing/steps.Backend``) over a session's Experiment Graph and store: lookups,
loads and their costs, what is stored, random and quiet, forests to grow, and the steps and results of
the running cell. A store fault met here stops the session (``store_fault``); the tracer then computes.

A part of ``Session`` (its base class), apart because it is one job: it reads the session's
``graph``, ``store``, ``failure``, ``cell``, ``config``, ``files``, ``replays`` and its caches, and calls
its ``store_fault``, ``_submit`` and ``_hold_pending``.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import CorruptArtifact
from ..graph import MATERIALIZED, load_counters
from ..tracing.steps import ComputedValue, Step
from ..tracing.storing import shallow_bytes
from . import jobs, store_writes
from .cell_record import MAX_STEPS_PER_REPORT

log = logging.getLogger("collab_reuse")


_PY = ":py"


def _approximate_bytes(value: Any) -> int | None:
    """A cheap size estimate before encoding (None when there is none)."""
    try:
        if type(value) is tuple and len(value) == 2 and value[1] is None:
            value = value[0]  # a fitted estimator as the store holds it: (estimator, result)
        nbytes = shallow_bytes(value)
        if nbytes is not None:
            return nbytes
        trees = [value] if hasattr(value, "tree_") else list(getattr(value, "estimators_", None) or [])
        if trees and all(hasattr(t, "tree_") for t in trees):
            # fitted decision trees: a 64-byte node record plus its value row per node
            return sum(t.tree_.node_count * 64 + t.tree_.value.nbytes for t in trees)
    except Exception:
        return None
    return None


class TracerBackend:
    """What the tracer asks the session (see the module docstring)."""

    def lookup(self, artifact_id: str) -> Any:
        if self.graph is None or self.failure is not None or artifact_id not in self._stored:
            return None
        try:
            return self.graph.artifact(artifact_id)  # (a malformed row reads as None)
        except Exception as exc:
            self.store_fault(exc, "reading the Experiment Graph") or log.warning("lookup failed", exc_info=True)
            return None

    def should_load(self, info: Any, pending_seconds: float = 0.0) -> bool:
        """Load when that beats computing: the operation itself plus producing its lazy inputs first."""
        if info.state != MATERIALIZED or not info.storable or self.graph is None:
            return False
        return self.load_cost(info) < info.compute_seconds + pending_seconds

    def load(self, artifact_id: str) -> tuple[Any, dict, int, float]:
        """The stored value; raises (the caller computes instead): KeyError or CorruptArtifact for a
        missing or damaged artifact (forgotten by the store), anything else after a store fault."""
        if self.store is None or self.failure is not None:
            raise KeyError(artifact_id)
        start = time.perf_counter()
        try:
            info = self.graph.artifact(artifact_id)  # (the value must have the kind the graph recorded)
            value, extra, nbytes = self.store.get(artifact_id, expect_kind=info.kind if info else None)
        except (CorruptArtifact, KeyError):
            self._submit(jobs.Job(jobs.Forget([artifact_id])))
            raise
        except Exception as exc:
            self.store_fault(exc, "reading an artifact")
            raise
        seconds = time.perf_counter() - start
        self._record_load(nbytes, seconds)
        return value, extra, nbytes, seconds

    def _record_load(self, nbytes: int, seconds: float) -> None:
        """The load counts for the next load decisions at once; the store learns it between cells."""
        counters = load_counters(nbytes, seconds)
        self._count_unrecorded(counters, 1)
        self._submit(jobs.Job(jobs.RecordLoad(nbytes, seconds), finished=lambda: self._count_unrecorded(counters, -1)))

    def _count_unrecorded(self, counters: dict[str, float], sign: int) -> None:
        with self._unrecorded_lock:
            for name, amount in counters.items():
                self._unrecorded_loads[name] = self._unrecorded_loads.get(name, 0) + sign * amount

    def manifest(self, artifact_id: str) -> dict:
        """A stored artifact's manifest; KeyError when it can't be read (after a store fault too)."""
        if self.store is None or self.failure is not None:
            raise KeyError(artifact_id)
        try:
            return self.store.manifest(artifact_id)
        except (CorruptArtifact, KeyError):
            raise
        except Exception as exc:
            self.store_fault(exc, "reading an artifact")
            raise KeyError(artifact_id) from None

    def loadable(self, info: Any) -> bool:
        return info.state == MATERIALIZED and bool(info.storable)

    def load_cost(self, info: Any) -> float:
        """Estimated seconds to load; infinite when the store can't say (nothing is then loaded)."""
        if self.graph is None or self.failure is not None:
            return float("inf")
        with self._unrecorded_lock:
            unrecorded = dict(self._unrecorded_loads)
        try:
            return store_writes.estimated_load_seconds(self.graph, info.size, info.load_seconds, unrecorded)
        except Exception as exc:
            self.store_fault(exc, "reading the Experiment Graph") or log.warning("load cost failed", exc_info=True)
            return float("inf")

    def stored_forests(self, key: str) -> list[tuple[int, str]]:
        if self.graph is None or self.failure is not None:
            return []
        try:
            return self.graph.forests(key)
        except Exception as exc:
            self.store_fault(exc, "reading the Experiment Graph") or log.warning("forests failed", exc_info=True)
            return []

    def remember_forest(self, key: str, n_estimators: int, artifact_id: str) -> None:
        if self.cell is not None:
            self.cell.forests.append((key, n_estimators, artifact_id))

    def quiet_op(self, op_id: str) -> tuple[str, float] | None:
        return self._quiet.get(op_id)

    def mark_quiet(self, op_id: str, type_name: str, seconds: float) -> None:
        if op_id not in self._quiet:
            self._quiet[op_id] = (type_name, seconds)
            if self.cell is not None:
                self.cell.quiet_ops.append((op_id, type_name, seconds))

    @property
    def min_saving(self) -> float:
        return self.config.min_saving

    def reports_more_steps(self) -> bool:
        return self.cell is not None and len(self.cell.steps) < MAX_STEPS_PER_REPORT

    def is_random(self, op_id: str) -> bool:
        return op_id in self._random_ops or op_id + _PY in self._random_ops

    def random_parts(self, op_id: str) -> str:
        # (the graph's rows: the id for numpy's generator, as ever; the id + ":py" for Python's)
        return "+".join(name for name, key in (("np", op_id), ("py", op_id + _PY)) if key in self._random_ops)

    def _refresh_from_graph(self) -> None:
        """What any kernel stored, which operations draw from the RNG or finish quietly, and the
        budget: read once per cell, not once per operation."""
        if self.graph is not None and self.failure is None:
            try:
                random_ops, self._random_mark = self.graph.random_ops_since(self._random_mark)
                self._random_ops |= random_ops
                stored, self._stored_seq = self.graph.stored_since(self._stored_seq)
                self._stored |= stored
                quiet, self._quiet_seq = self.graph.quiet_since(self._quiet_seq)
                self._quiet.update(quiet)
                self._budget = self.graph.budget()
            except Exception as exc:
                self.store_fault(exc, "reading the Experiment Graph") or log.warning("refresh failed", exc_info=True)

    def mark_random(self, op_id: str, parts: str = "np") -> None:
        for key in (op_id if name == "np" else op_id + _PY for name in parts.split("+")):
            self._random_ops.add(key)
            if self.cell is not None:
                self.cell.random_ops.append(key)

    def forget_stored(self) -> None:
        self._stored.clear()
        self._stored_seq = 0
        self._quiet.clear()
        self._quiet_seq = 0

    def file_digest(self, path: str) -> str:
        return self.files.digest(path)  # (a store that can't answer: the file is hashed)

    def replay_cell(self) -> None:
        if self.replays is not None:
            self.replays.replay()

    def replayed_result(self) -> Any:
        return self.replays.replayed_result() if self.replays is not None else None

    def add_step(self, step: Step, candidate: ComputedValue | None) -> None:
        if self.cell is None:  # an operation outside a cell (e.g. from a comm handler): nothing to report
            return
        self.cell.steps.append(step)
        if candidate is None:
            return
        at = self.cell.offered.get(candidate.id)
        if at is not None:  # a loop computed the same result again: offer the latest object, once
            candidate.approx_bytes = self.cell.candidates[at].approx_bytes
            self.cell.candidates[at] = candidate
        elif self._may_pay_off(candidate):
            self.cell.offered[candidate.id] = len(self.cell.candidates)
            self.cell.candidates.append(candidate)
            self._hold_pending(candidate.approx_bytes)

    def _may_pay_off(self, cand: ComputedValue) -> bool:
        """Offer only results whose compute time beats loading their (estimated) bytes."""
        saves = max(cand.seconds, cand.recreate_seconds)
        if saves < self.config.min_saving or self.graph is None or self.failure is not None:
            return False
        nbytes = _approximate_bytes(cand.value)
        if nbytes is None:
            return True
        cand.approx_bytes = nbytes  # estimated once: the pending-bytes account reuses it
        if self._budget is not None and nbytes > self._budget:
            return False  # it could never be kept: don't spend the time encoding it
        if self._pending_bytes + nbytes > 2 * self._max_pending:
            # the results held for the store would exceed their bound: this one is not kept for it
            log.info("%s not offered to the store: results held for it exceed twice max_pending", cand.id[:10])
            return False
        try:
            return store_writes.estimated_load_seconds(self.graph, nbytes) < saves
        except Exception as exc:
            self.store_fault(exc, "reading the Experiment Graph")
            return False
