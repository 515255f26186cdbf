"""The tracer's backend (``tracing/steps.Backend``) over a session's Experiment Graph and store: lookups,
loads and their costs, what is stored, random and quiet, forests to grow, and the steps and results of
the running cell. A store fault met here stops the session (``store_fault``); the tracer then computes.

A part of ``Session`` (its base class), apart because it is one job: it reads the session's
``graph``, ``store``, ``failure``, ``cell``, ``config``, ``files``, ``replays``, ``user`` and its caches,
and calls its ``store_fault``, ``_submit`` and ``_hold_pending``.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Callable

from ..errors import CorruptArtifact
from ..graph import MATERIALIZED, load_counters
from ..tracing.steps import REUSED, ComputedValue, Step
from ..tracing.storing import shallow_bytes
from .. import team as teams
from . import handoff, jobs, store_writes
from .cell_record import MAX_STEPS_PER_REPORT

log = logging.getLogger("collab_reuse")


_PY = ":py"
ALONE_RECHECK_SECONDS = 0.5  # how often a kernel alone on its store looks again for others (``lease``)
LARGE_INPUT_BYTES = 1 << 20  # an operation on this much data takes a lease even when its kernel is alone
_AUTHORS_KEPT = 10_000  # loads whose writer is remembered for their step


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
        if self.graph is None or self.failure is not None or artifact_id not in self._stored \
                or artifact_id in self._skipped:
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
            got = self.store.fetch(artifact_id, expect_kind=info.kind if info else None)
            if self.team is not None and not self.confidential and self.store.confidential(artifact_id):
                self.become_confidential("it loaded a result derived from a file the team can't read")
        except (CorruptArtifact, KeyError) as exc:
            if isinstance(exc, CorruptArtifact) and self.cell is not None:
                self.cell.refused[artifact_id] = str(exc)[:300]
            self._unusable(artifact_id)
            raise
        except Exception as exc:
            self.store_fault(exc, "reading an artifact")
            raise
        seconds = time.perf_counter() - start
        self._record_load(got.nbytes, seconds)
        self._loaded_from(artifact_id, got.author)
        return got.value, got.extra, got.nbytes, seconds

    def _loaded_from(self, artifact_id: str, author: str | None) -> None:
        """A load of ``author``'s artifact: counted for the running cell, remembered for the step that
        reports its reuse (``add_step``). ``author`` is the namespace owner as the OS says; None (a store
        of one user) means this user."""
        writer = author or self.user
        if len(self._authors) >= _AUTHORS_KEPT:
            self._authors.clear()  # (a step follows its load at once: only the latest few are needed)
        self._authors[artifact_id] = writer
        if self.cell is not None:
            self.cell.loaded(writer)

    def _unusable(self, artifact_id: str) -> None:
        """A stored artifact that could not be loaded: forgotten by the store when it is this user's
        (or the store is one user's); another member's is only skipped for the rest of this session
        (their namespace may be mid-write, or theirs to repair: a reader must not unmaterialize a
        teammate's work), and another's confidential one is not lost at all."""
        if self.team is not None and not self._own_row(artifact_id):
            if not self.graph.confidential_to_another(artifact_id, os.geteuid()):
                self._skipped.add(artifact_id)
            return
        self._submit(jobs.Job(jobs.Forget([artifact_id])))

    def _own_row(self, artifact_id: str) -> bool:
        try:
            self.store.blobs.get_row(self.store.manifest_key(artifact_id))
            return True
        except Exception:  # (absent, or a row that fails its checks: not ours to judge either way)
            return False

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

    def notice_stored(self) -> None:
        """What any kernel stored since this one last looked."""
        if self.graph is not None and self.failure is None:
            try:
                stored, self._stored_seq = self.graph.stored_since(self._stored_seq, os.geteuid())
                self._stored |= stored
            except Exception as exc:
                self.store_fault(exc, "reading the Experiment Graph") or log.warning("refresh failed", exc_info=True)

    def _refresh_from_graph(self) -> None:
        """What any kernel stored, which operations draw from the RNG or finish quietly, and the
        budget: read once per cell, not once per operation, and not at all while the graph is as it
        was at the last refresh (cells run back to back: four queries, 0.4 ms a cell, for nothing)."""
        if self.graph is None or self.failure is not None:
            return
        try:
            version = self.graph.version()
        except Exception as exc:
            self.store_fault(exc, "reading the Experiment Graph") or log.warning("refresh failed", exc_info=True)
            return
        if version == self._graph_version:
            return
        self.notice_stored()
        if self.graph is not None and self.failure is None:
            try:
                random_ops, self._random_mark = self.graph.random_ops_since(self._random_mark)
                self._random_ops |= random_ops
                quiet, self._quiet_seq = self.graph.quiet_since(self._quiet_seq)
                self._quiet.update(quiet)
                self._budget = self.graph.budget()
                self._graph_version = version
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
        self._graph_version = None  # (read everything again at the next refresh)

    def file_digest(self, path: str) -> str:
        digest = self.files.digest(path)  # (a store that can't answer: the file is hashed)
        if self.team is not None and not self.confidential and not teams.readable_by_team(path, self.team):
            self.become_confidential(f"it read {path}, which the team can't read")
        return digest

    # -- single flight (kernel/leases.py) ------------------------------------------------------

    def lease(self, artifact_id: str, operands: tuple | None = None) -> bool:
        """May this kernel compute this result now: True when it took the lease (or single flight is
        off), False when another kernel holds it (computing it now). A kernel alone on the store
        (looked at every ``ALONE_RECHECK_SECONDS``) takes leases only for operations on large inputs
        (``operands``: (receiver, args, kwargs) or (args, kwargs)): a kernel that starts meanwhile
        finds those (a lease costs microseconds: worth it where the operation takes longer)."""
        if self.leases is None or self.failure is not None:
            return True
        now = time.monotonic()
        if now >= self._alone_checked:
            self._alone = not self.leases.others_alive()
            self._alone_checked = now + ALONE_RECHECK_SECONDS
        if self._alone and not (operands is None or self.large_inputs(operands)):
            return True
        try:
            taken = self.leases.take(artifact_id)
            if taken and self.cell is not None:
                self.cell.leased.add(artifact_id)
            return taken
        except OSError:
            log.warning("single flight with other kernels is off", exc_info=True)
            self.leases.release_all()
            return True

    def wait_for_lease(self, artifact_id: str, label: str) -> None:
        """Wait while another kernel computes this result: until it let go (the result stored, or not
        offered), at most ``single_flight_seconds``, or twice its measured time plus 5 s once that is
        known; at once when it was measured too cheap to store, or can't be stored. Then what any
        kernel stored since is looked up again."""
        assert self.leases is not None
        limit, checked = self.config.single_flight_seconds, -1.0

        def wait_limit(waited: float) -> float | None:
            nonlocal limit, checked
            if waited - checked >= 1.0:  # (the holder's cell report brings its measured time)
                checked = waited
                info = self.graph.artifact(artifact_id) if self.graph is not None else None
                if info is not None and info.compute_seconds > 0:
                    limit = self._wait_limit(info)
            return limit

        def give_up(waited: float) -> bool:
            bound = wait_limit(waited)
            return bound is None or waited >= bound

        start = time.perf_counter()
        try:
            taken = self.leases.wait(artifact_id, wait_limit)
            if taken and self.cell is not None:
                self.cell.leased.add(artifact_id)
            self.notice_stored()
            if taken and artifact_id not in self._stored:
                taken = self._wait_for_exit_writers(artifact_id, lambda: give_up(time.perf_counter() - start))
        except Exception:  # (the graph failed meanwhile: store_fault saw it, or it is logged)
            log.warning("waiting for another kernel's %s failed", label, exc_info=True)
            taken = False
        log.info("%s: waited %.2f s for another kernel computing it (%s)", label, time.perf_counter() - start,
                 "it let go" if taken else "not worth waiting for: it won't be stored" if limit is None
                 else "gave up")

    def _wait_for_exit_writers(self, artifact_id: str, give_up: Callable[[], bool]) -> bool:
        """The kernel that held the lease exited before its result was stored: while exited kernels'
        writers still write to the store (``handoff``), the result may be among their writes. Whether
        it came (or no writer is left) before ``give_up``."""
        while handoff.pending_writers(self.store_dir):
            if give_up():
                return False
            time.sleep(0.25)
            self.notice_stored()
            if artifact_id in self._stored:
                return True
        self.notice_stored()
        return True

    def stored_meanwhile(self, artifact_id: str, operands: tuple | None = None) -> bool:
        """Did another kernel store this result since the running cell began (looked at only for an
        operation on large inputs while other kernels are on the store: one query of the graph)?"""
        if self._alone or self.graph is None or (operands is not None and not self.large_inputs(operands)):
            return False
        self.notice_stored()
        if artifact_id in self._stored:
            return True
        # computed by a kernel that exited since, whose writer may be storing it now
        info = self.graph.artifact(artifact_id)
        limit = self._wait_limit(info) if info is not None and info.compute_seconds > 0 else None
        if limit is None:
            return False
        start = time.perf_counter()
        return self._wait_for_exit_writers(artifact_id, lambda: time.perf_counter() - start >= limit) \
            and artifact_id in self._stored

    def _wait_limit(self, info: Any) -> float | None:
        """How long to wait for another kernel's measured result: twice its time plus 5 s, at most
        ``single_flight_seconds``; None when it won't be stored (unstorable, or too cheap to keep)."""
        if not info.storable or info.compute_seconds < self.config.min_saving:
            return None
        return min(self.config.single_flight_seconds, 2 * info.compute_seconds + 5)

    @staticmethod
    def large_inputs(operands: tuple) -> bool:
        """Does an operation on these operands ((receiver, args, kwargs) or (args, kwargs)) work on
        enough data to take a lease although its kernel is alone? A deferred value counts (producing
        it is work). By shape, 8 bytes a cell (asking pandas for its bytes costs more than the lease)."""
        *receiver, args, kwargs = operands
        for value in (*receiver, *args, *kwargs.values()):
            if type(value).__name__ == "Lazy":
                return True
            shape = getattr(value, "shape", None)
            if type(shape) is tuple and shape:
                cells = 1
                for n in shape:
                    cells *= n if type(n) is int else 1
                if cells * 8 >= LARGE_INPUT_BYTES:
                    return True
        return False

    def offered(self, artifact_id: str) -> bool:
        """Is this result among the running cell's offers to the store?"""
        return self.cell is not None and artifact_id in self.cell.offered

    def release_leases(self, artifact_ids: Any) -> None:
        if self.leases is not None:
            for artifact_id in artifact_ids:
                self.leases.release(artifact_id)

    def pin(self, artifact_id: str) -> None:
        """``collab-reuse gc`` won't remove a stored result this kernel holds deferred (``Leases.pin``)."""
        if self.leases is not None:
            try:
                self.leases.pin(artifact_id)
            except OSError:
                log.info("a deferred result could not be pinned against gc", exc_info=True)

    def become_confidential(self, why: str) -> None:
        """From now on, what this kernel stores goes to its user's confidential namespace: it may derive
        from data the rest of the team can't read (until the kernel restarts)."""
        self.confidential = True
        log.info("this kernel's results are stored for its user only from now on: %s", why)

    def replay_cell(self) -> None:
        if self.replays is not None:
            self.replays.replay()

    def record_cell(self) -> None:
        if self.replays is not None:
            self.replays.record()

    def replayed_result(self) -> Any:
        return self.replays.replayed_result() if self.replays is not None else None

    def add_step(self, step: Step, candidate: ComputedValue | None) -> None:
        if self.cell is None:  # an operation outside a cell (e.g. from a comm handler): nothing to report
            return
        self.cell.steps.append(step)
        if step.status == REUSED and step.saved_seconds > 0 and not step.mutation:
            self.cell.saved(self._authors.get(step.id or "", self.user), step.saved_seconds)
        if candidate is None:
            return
        candidate.confidential = self.confidential
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
