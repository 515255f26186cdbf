"""The Session of one kernel: tracer, Experiment Graph, store and writer, wired together.

It is the tracer's backend (lookups, loads, file digests, steps), collects a
cell's steps between IPython's ``pre_run_cell`` and ``post_run_cell`` events,
and hands the finished cell to the background writer. When the store fails
for an operational reason (unwritable, full, incompatible) the session stops
reusing, tells the user once, and the notebook goes on as without it.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..config import CollabReuse, parse_size, resolve_store_dir
from ..errors import CorruptArtifact, StoreError
from ..fingerprint import FileFingerprints
from ..graph import MATERIALIZED, ExperimentGraph, VertexUpdate, load_counters
from ..store import ArtifactStore, DiskcacheBlobs
from ..tracing.runtime import Tracer
from ..tracing.steps import COMPUTED, DEFERRED, NOT_REUSABLE, REUSED, WARM_STARTED, Candidate, Step
from . import handoff, materializer
from .foreground import CellLock
from .writer import BackgroundWriter

log = logging.getLogger("collab_reuse")
MAX_STEPS_PER_REPORT = 400
_RAN = (COMPUTED, NOT_REUSABLE, WARM_STARTED)  # statuses of steps whose operation ran (and was timed)
BATCH_BELOW_SECONDS = 0.1  # candidates quicker than this to recompute are offered to the store in one batch


@dataclass
class CellRun:
    cell_id: str | None
    execution_count: int | None
    started: float = field(default_factory=time.perf_counter)
    steps: list[Step] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    offered: dict[str, int] = field(default_factory=dict)  # candidate id -> its index in ``candidates``
    random_ops: list[str] = field(default_factory=list)
    quiet_ops: list[tuple[str, str, float]] = field(default_factory=list)
    forests: list[tuple[str, int, str]] = field(default_factory=list)


def _log_to(store_dir: Any) -> None:
    """Log to ``collab_reuse.log`` in the store, never to the cell's output (it must stay as in a plain run)."""
    log.propagate = False
    if any(getattr(h, "_collab_reuse", False) for h in log.handlers):
        return
    handler: logging.Handler
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(store_dir / "collab_reuse.log", delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    except OSError:
        handler = logging.NullHandler()
    handler._collab_reuse = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def _approximate_bytes(value: Any) -> int | None:
    """A cheap size estimate before encoding (None when there is none)."""
    try:
        if type(value) is tuple and len(value) == 2 and value[1] is None:
            value = value[0]  # a fitted estimator as the store holds it: (estimator, result)
        if hasattr(value, "memory_usage") and hasattr(value, "columns"):
            return int(value.memory_usage(index=True, deep=False).sum())
        if hasattr(value, "nbytes"):
            return int(value.nbytes)
        trees = [value] if hasattr(value, "tree_") else list(getattr(value, "estimators_", None) or [])
        if trees and all(hasattr(t, "tree_") for t in trees):
            # fitted decision trees: a 64-byte node record plus its value row per node
            return sum(t.tree_.node_count * 64 + t.tree_.value.nbytes for t in trees)
    except Exception:
        return None
    return None


def current_user() -> str:
    return os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def current_kernel_id() -> str:
    """The Jupyter kernel id, read from the connection file name; a random id outside Jupyter."""
    try:
        from ipykernel.connect import get_connection_file

        match = re.search(r"kernel-(.+)\.json$", get_connection_file())
        if match:
            return match.group(1)
    except Exception:
        pass
    return f"local-{uuid.uuid4()}"


class Session:
    """Everything collab_reuse holds for one kernel."""

    def __init__(self, config: CollabReuse, kernel_id: str | None = None, user: str | None = None):
        self.config = config
        self.kernel_id = kernel_id or current_kernel_id()
        self.user = user or current_user()
        self.store_dir = resolve_store_dir(config.store)
        self.tracer = Tracer(self)
        self.tracer.enabled = config.enabled
        self.tracer.deferral.enabled = config.defer
        self.cell: CellRun | None = None
        self.foreground = CellLock()  # held by cells; encoding waits for it and for an idle kernel
        self._pending_bytes = 0  # estimated size of the results waiting to be encoded
        self._max_pending = parse_size(config.max_pending)
        self._random_ops: set[str] = set()
        self._stored: set[str] = set()
        self._stored_seq = 0
        self._quiet: dict[str, tuple[str, float]] = {}
        self._quiet_seq = 0
        self._budget: int | None = None  # the store's budget in bytes, as of the running cell
        self._unrecorded_loads: dict[str, float] = {}  # load counters measured here, not in the store yet
        self._unrecorded_lock = threading.Lock()
        self.last_report: dict | None = None
        self.replays: Any = None  # a Jupyter kernel's cell replays (kernel/replay.py), set when installed
        self.hits = self.misses = 0
        self.saved_seconds = 0.0
        self.failure: str | None = None
        self._failure_told = False
        self.graph: ExperimentGraph | None = None
        self.store: ArtifactStore | None = None
        self.writer: BackgroundWriter | None = None
        try:
            _log_to(self.store_dir)
            self.graph = ExperimentGraph(self.store_dir, budget_bytes=parse_size(config.budget))
            if config.budget != CollabReuse.budget.default_value:
                self.graph.set_budget(parse_size(config.budget))
            self.store = ArtifactStore(DiskcacheBlobs(self.store_dir / "blobs"), trust_pickle=config.trust_pickle,
                                       user=self.user)
            self.files = FileFingerprints(self.graph.file_digest, self._remember_file)
            self.writer = BackgroundWriter(self._background_failed)
        except (StoreError, OSError) as exc:
            self._fail(f"can't use the store at {self.store_dir}: {exc}")

    # -- state -------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.failure is None and self.tracer.enabled

    def _fail(self, message: str) -> None:
        """Stop reusing for an operational reason; the user is told once."""
        if self.failure is None:
            self.failure = message
            log.warning("collab_reuse stops reusing: %s", message)
        self.tracer.enabled = False

    def _background_failed(self, exc: BaseException) -> None:
        if isinstance(exc, (StoreError, OSError)):
            self._fail(f"the store at {self.store_dir} can't be written ({exc}); cells run without reuse")

    def tell_failure_once(self) -> None:
        if self.failure and not self._failure_told:
            self._failure_told = True
            print(f"collab_reuse: {self.failure}", file=sys.stderr)

    def _remember_file(self, key: str, digest: str) -> None:
        if self.writer is not None and self.graph is not None:
            graph = self.graph
            self.writer.submit(lambda: graph.remember_file(key, digest))

    # -- the tracer's backend ----------------------------------------------------------------

    def lookup(self, artifact_id: str) -> Any:
        if self.graph is None or artifact_id not in self._stored:
            return None
        try:
            return self.graph.artifact(artifact_id)
        except Exception as exc:
            self._fail(f"the Experiment Graph can't be read: {exc}")
            return None

    def should_load(self, info: Any, pending_seconds: float = 0.0) -> bool:
        """Load when that beats computing: the operation itself plus producing its lazy inputs first."""
        if info.state != MATERIALIZED or not info.storable or self.graph is None:
            return False
        return self.load_cost(info) < info.compute_seconds + pending_seconds

    def load(self, artifact_id: str) -> tuple[Any, dict, int, float]:
        assert self.store is not None and self.graph is not None
        start = time.perf_counter()
        try:
            info = self.graph.artifact(artifact_id)  # (the value must have the kind the graph recorded)
            value, extra, nbytes = self.store.get(artifact_id, expect_kind=info.kind if info else None)
        except (CorruptArtifact, KeyError):
            graph, store = self.graph, self.store
            self.writer.submit(lambda: [store.blobs.delete(k) for k in graph.unmaterialize([artifact_id])])
            raise
        seconds = time.perf_counter() - start
        self._record_load(nbytes, seconds)
        return value, extra, nbytes, seconds

    def _record_load(self, nbytes: int, seconds: float) -> None:
        """The load counts for the next load decisions at once; the store learns it between cells."""
        counters, graph = load_counters(nbytes, seconds), self.graph
        self._count_unrecorded(counters, 1)

        def record() -> None:
            try:
                graph.record_load(nbytes, seconds)
            finally:
                self._count_unrecorded(counters, -1)

        self.writer.submit(record)

    def _count_unrecorded(self, counters: dict[str, float], sign: int) -> None:
        with self._unrecorded_lock:
            for name, amount in counters.items():
                self._unrecorded_loads[name] = self._unrecorded_loads.get(name, 0) + sign * amount

    def manifest(self, artifact_id: str) -> dict:
        assert self.store is not None
        return self.store.manifest(artifact_id)

    def loadable(self, info: Any) -> bool:
        return info.state == MATERIALIZED and bool(info.storable)

    def load_cost(self, info: Any) -> float:
        assert self.graph is not None
        with self._unrecorded_lock:
            unrecorded = dict(self._unrecorded_loads)
        return materializer.estimated_load_seconds(self.graph, info.size, info.load_seconds, unrecorded)

    def stored_forests(self, key: str) -> list[tuple[int, str]]:
        if self.graph is None:
            return []
        try:
            return self.graph.forests(key)
        except Exception as exc:
            self._fail(f"the Experiment Graph can't be read: {exc}")
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

    def is_random(self, op_id: str) -> bool:
        return op_id in self._random_ops

    def _refresh_from_graph(self) -> None:
        """What any kernel stored, which operations draw from the RNG or finish quietly, and the
        budget: read once per cell, not once per operation."""
        if self.graph is not None:
            try:
                self._random_ops |= self.graph.random_ops()
                stored, self._stored_seq = self.graph.stored_since(self._stored_seq)
                self._stored |= stored
                quiet, self._quiet_seq = self.graph.quiet_since(self._quiet_seq)
                self._quiet.update(quiet)
                self._budget = self.graph.budget()
            except Exception as exc:
                self._fail(f"the Experiment Graph can't be read: {exc}")

    def mark_random(self, op_id: str) -> None:
        self._random_ops.add(op_id)
        if self.cell is not None:
            self.cell.random_ops.append(op_id)

    def forget_stored(self) -> None:
        self._stored.clear()
        self._stored_seq = 0
        self._quiet.clear()
        self._quiet_seq = 0

    def file_digest(self, path: str) -> str:
        return self.files.digest(path)

    def replay_cell(self) -> None:
        if self.replays is not None:
            self.replays.replay()

    def replayed_result(self) -> Any:
        return self.replays.replayed_result() if self.replays is not None else None

    def add_step(self, step: Step, candidate: Candidate | None) -> None:
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

    def _may_pay_off(self, cand: Candidate) -> bool:
        """Offer only results whose compute time beats loading their (estimated) bytes."""
        saves = max(cand.seconds, cand.recreate_seconds)
        if saves < self.config.min_saving or self.graph is None:
            return False
        nbytes = _approximate_bytes(cand.value)
        if nbytes is None:
            return True
        cand.approx_bytes = nbytes  # estimated once: the pending-bytes account reuses it
        if self._budget is not None and nbytes > self._budget:
            return False  # it could never be kept: don't spend the time encoding it
        return materializer.estimated_load_seconds(self.graph, nbytes) < saves

    # -- cell lifecycle ----------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        self.foreground.cell_started()
        self.tell_failure_once()
        self._refresh_from_graph()
        self.cell = CellRun(getattr(info, "cell_id", None), None)

    def post_run_cell(self, result: Any) -> None:
        try:
            self._finish_cell(result)
        finally:
            self.foreground.cell_finished()

    def _finish_cell(self, result: Any) -> None:
        cell, self.cell = self.cell, None
        if cell is None:
            return
        cell.execution_count = getattr(result, "execution_count", None)
        report = self._report(cell)
        self.last_report = report
        if self.writer is None or self.graph is None or not cell.steps:
            return
        updates = self._updates(cell)
        # most expensive first: if the kernel exits before the writer is done, the best ones are kept
        candidates = sorted(cell.candidates, key=lambda c: -c.seconds)
        graph, store, user, config = self.graph, self.store, self.user, self.config
        random_ops, quiet_ops, forests = list(cell.random_ops), list(cell.quiet_ops), list(cell.forests)
        foreground, tracer = self.foreground, self.tracer
        self._pending_bytes += sum(c.approx_bytes for c in candidates)

        def record() -> None:
            seqs.append(graph.record_cell(updates, user, report, random_ops, quiet_ops=quiet_ops, forests=forests))

        def offer(batch: list[Candidate]) -> None:
            """Candidates written as soon as chosen: a kernel that exits early keeps what was done."""
            start = time.perf_counter()
            # back-to-back cells never wait for encoding, unless the results waiting hold too much memory
            grace = config.idle_seconds if self._pending_bytes <= self._max_pending else 0.0
            offers, refused = materializer.encode_offers(graph, store, batch, lambda: foreground.idle(grace),
                                                         tracer.unchanged)
            if refused:
                graph.record_cell([], user, None, (), refused)
            encoded = time.perf_counter()
            done = materializer.materialize(graph, store, offers, config.materializer, config.min_saving)
            log.info("offered %d (%s): encoded in %.3f s (waits for running cells), selected and wrote %d "
                     "(%d bytes) in %.3f s", len(batch), batch[0].id[:10] if len(batch) == 1 else "batch",
                     encoded - start, done["written"], done["bytes"], time.perf_counter() - encoded)
            if done["by_id"] and seqs[0] is not None:
                graph.add_bytes_written(seqs[0], done["by_id"])
            self._pending_bytes -= sum(c.approx_bytes for c in batch)

        seqs: list[int | None] = []
        self.writer.submit(record, priority=float("-inf"))  # before any offer: offers need the vertices
        # Expensive results one by one, most expensive of any cell first; cheap ones (small results kept
        # for their expensive lineage, quick operations) together, after them: one selection pass for all.
        # (Ranking the batch by its lineage instead starved expensive results in batch runs: a 31 s
        # correlation matrix was never written before the kernel exited.)
        cheap = [c for c in candidates if c.seconds < BATCH_BELOW_SECONDS]
        for candidate in candidates:
            if candidate.seconds >= BATCH_BELOW_SECONDS:
                self.writer.submit(lambda c=candidate: offer([c]), priority=-candidate.seconds)
        if cheap:
            self.writer.submit(lambda: offer(cheap), priority=-max(c.seconds for c in cheap))
        self.tell_failure_once()

    def _updates(self, cell: CellRun) -> list[VertexUpdate]:
        updates: dict[str, VertexUpdate] = {}
        produced_by: dict[str, Step] = {}
        quality: dict[str, float] = {}
        for step in cell.steps:
            if step.id is None:
                continue
            produced_by[step.id] = step
            if step.score is not None:
                quality.update(self._scored_models(step, produced_by))
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

    def _scored_models(self, metric: Step, produced_by: dict[str, Step]) -> dict[str, float]:
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

    def _report(self, cell: CellRun) -> dict:
        ops = [s for s in cell.steps if not s.mutation]
        totals = {"reused": sum(s.status == REUSED for s in ops), "computed": sum(s.status == COMPUTED for s in ops),
                  "deferred": sum(s.status == DEFERRED for s in ops),
                  "warm_started": sum(s.status == WARM_STARTED for s in ops),
                  "not_reusable": sum(s.status == NOT_REUSABLE for s in ops),
                  "seconds": time.perf_counter() - cell.started,
                  "saved_seconds": sum(s.saved_seconds for s in ops),
                  "bytes_read": sum(s.bytes_read for s in ops), "bytes_written": 0}
        self.hits += totals["reused"]
        self.misses += totals["computed"]
        self.saved_seconds += totals["saved_seconds"]
        steps = [s.to_json() for s in cell.steps[:MAX_STEPS_PER_REPORT]]
        return {"kernel_id": self.kernel_id, "user": self.user, "cell_id": cell.cell_id,
                "execution_count": cell.execution_count, "steps": steps, "totals": totals,
                "truncated": len(cell.steps) > MAX_STEPS_PER_REPORT}

    # -- shutdown ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for background writes (`%reuse status`, tests). Called from a cell, the cell lends the
        writer its lock meanwhile: encoding waits for running cells, and this one only waits."""
        if self.writer is None:
            return True
        with self.foreground.lent():
            return self.writer.wait_idle(timeout)

    def close_at_exit(self) -> None:
        """The kernel is exiting: a child process finishes the pending store writes (``handoff``)."""
        if self.writer is not None and self.config.exit_write_seconds > 0 and handoff.can_fork():
            self.foreground.hand_off()
            writer, self.writer = self.writer, None
            jobs = writer.hand_off(self.config.exit_flush_seconds)
            if jobs and writer.running:
                # its SQLite connections are open: a fork now would hand the child SQLite's inherited,
                # inconsistent lock state (writes could be lost), so the pending work is abandoned
                log.warning("collab_reuse abandoned %d pending store jobs at exit: a write was still running",
                            len(jobs))
            elif jobs:
                self._close_connections()  # the child opens its own; none may be inherited open
                pid = handoff.run_detached(jobs, self.store_dir, self.config.exit_write_seconds, self._after_fork)
                if pid is None:
                    log.warning("collab_reuse abandoned %d pending store jobs at exit", len(jobs))
                else:
                    log.info("process %d finishes %d pending store jobs of the exiting kernel", pid, len(jobs))
        self.close()

    def _after_fork(self) -> None:
        """In the handoff child: the cell lock of threads that no longer exist is replaced (store and
        graph connections, closed before the fork, reopen by themselves)."""
        self.foreground.after_fork()
        self.writer = None

    def _close_connections(self) -> None:
        if self.store is not None:
            self.store.blobs.close()
        if self.graph is not None:
            self.graph.close_all()

    def close(self) -> None:
        if self.writer is not None:
            if not self.writer.close(self.config.exit_flush_seconds):
                log.warning("collab_reuse abandoned pending store writes at exit (nothing half-written is visible)")
            self.writer = None
        self._close_connections()
