"""The Session of one kernel: tracer, Experiment Graph, store and writer, wired together.

It is the tracer's backend (lookups, loads, file digests, steps), collects a
cell's steps between IPython's ``pre_run_cell`` and ``post_run_cell`` events,
and hands the finished cell to the background writer (as ``jobs``).

Store faults. When the store fails for an operational reason (deleted,
replaced, read-only, full, locked, damaged, incompatible: any ``StoreError``
but a damaged artifact, any ``OSError`` or SQLite error of the store) the
session stops: no more tracing or reuse, the writer's waiting jobs are dropped
(their memory freed), values still deferred are produced, and the user gets
the one warning (``WARNING``) on the stderr of one cell, once per kernel: the
cell that loaded the extension if the store can't be opened (at its end, or at
the start of the first cell when the extension is loaded at kernel start),
else the cell during which the fault was found (at its end), or, when the
background writer found it between cells, the next cell (at its start).
Everything else runs as without collab_reuse. A damaged artifact or a malformed
graph row is not a store fault: that one result is recomputed, silently.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sqlite3
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
from ..graph.storedir import StoreDir, open_store_dir
from .. import team as teams
from ..store import ArtifactStore, open_artifacts
from ..tracing.runtime import Tracer
from ..report import CellReport, Totals
from ..tracing.steps import COMPUTED, DEFERRED, NOT_REUSABLE, REUSED, WARM_STARTED, ComputedValue, Step
from . import explaining, handoff, jobs, store_writes, storelog
from .foreground import CellLock
from .writer import BackgroundWriter

log = logging.getLogger("collab_reuse")
MAX_STEPS_PER_REPORT = 400
_RAN = (COMPUTED, NOT_REUSABLE, WARM_STARTED)  # statuses of steps whose operation ran (and was timed)
BATCH_BELOW_SECONDS = 0.1  # candidates quicker than this to recompute are offered to the store in one batch
WARNING = "collab_reuse stopped reusing: {reason}. Cells run as without collab_reuse."
FOREGROUND_WAIT = 2.0  # seconds a cell's lookups wait for a store locked by another process
EXIT_ENCODE_SECONDS = 1.0  # at exit, the kernel encodes pending results itself for at most this long
STORE_FAULTS = (StoreError, OSError, sqlite3.Error)


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


def _why(exc: BaseException) -> str:
    """A store fault in a few words: "No space left on device", "database is locked", ..."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    return str(exc) or type(exc).__name__


def current_user() -> str:
    """The kernel's user: its process's account (``team.hub_user``), never a variable the user sets."""
    return teams.hub_user()


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
        self._pending_bytes = 0  # estimated size of the results held for the store (offered, not yet encoded)
        self._pending_lock = threading.Lock()
        self._max_pending = parse_size(config.max_pending)
        self._cells = itertools.count(1)
        self._random_ops: set[str] = set()
        self._stored: set[str] = set()
        self._stored_seq = 0
        self._quiet: dict[str, tuple[str, float]] = {}
        self._quiet_seq = 0
        self._budget: int | None = None  # the store's budget in bytes, as of the running cell
        self._unrecorded_loads: dict[str, float] = {}  # load counters measured here, not in the store yet
        self._unrecorded_lock = threading.Lock()
        self.last_report: dict | None = None
        self._plan: tuple[str, dict] | None = None  # (code, estimate) of the last %%reuse plan
        self.replays: Any = None  # a Jupyter kernel's cell replays (kernel/replay.py), set when installed
        self.hits = self.misses = 0
        self.saved_seconds = 0.0
        self.failure: str | None = None
        self._failure_told = False
        self._produced_after_failure = False
        self.graph: ExperimentGraph | None = None
        self.store: ArtifactStore | None = None
        self.store_handle: StoreDir | None = None
        self.target: jobs.Target | None = None
        self.writer: BackgroundWriter | None = None
        self.files = FileFingerprints(self._stored_file_digest, self._remember_file)
        storelog.log_to(self.store_dir)  # (never makes the directory)
        self.team: teams.Team | None = None
        self.admin = False  # may this user change the store's settings (budget, clear, materializer)?
        try:
            if self.store_dir.is_dir() and not os.access(self.store_dir, os.R_OK | os.W_OK | os.X_OK):
                raise StoreError(f"{self.user} may not use the store at {self.store_dir} (its owner and group decide "
                                 "who may)")
            self.store_handle = open_store_dir(self.store_dir)
            self.team, self.admin = teams.team_of(self.store_dir), teams.is_admin(self.store_dir)
            if self.team is not None:
                self._share_team_files()
            budget = self._store_wide_settings(config)
            self.graph = ExperimentGraph(self.store_dir, budget_bytes=budget,
                                         busy_seconds=FOREGROUND_WAIT)  # (this thread runs the cells)
            if self.admin and config.budget != CollabReuse.budget.default_value:
                self.graph.set_budget(budget)
            self.store = open_artifacts(self.store_dir, trust_pickle=config.trust_pickle, user=self.user)
            self.target = jobs.Target(self.graph, self.store, self.store_handle)
            self.writer = BackgroundWriter(self._background_failed, run=self._run_job)
            self.writer.submit(jobs.Job(jobs.Upkeep(budget)), priority=float("-inf"))
        except STORE_FAULTS as exc:
            self._fail(self._describe(exc, "as it was opened"))

    def _store_wide_settings(self, config: CollabReuse) -> int:
        """The budget a new store starts with; a non-admin's configured budget and materializer are
        not applied (they would change the store for everyone): the defaults are, and the log says so."""
        if self.admin:
            return parse_size(config.budget)
        for name in ("budget", "materializer"):
            if getattr(config, name) != getattr(CollabReuse, name).default_value:
                log.info("CollabReuse.%s=%r not applied: only the store's admins change its settings (%s is not one)",
                         name, getattr(config, name), self.user)
        config.materializer = CollabReuse.materializer.default_value
        return parse_size(CollabReuse.budget.default_value)

    def _share_team_files(self) -> None:
        """A team store's shared files and directories get the team's modes before SQLite or logging
        makes them with the umask's; one the team can't write (left by another member's older kernel)
        is a store fault, and is not opened: SQLite would make its ``-wal`` unusable for the others."""
        graph = self.store_dir / "graph.sqlite"
        writers = self.store_dir / handoff.WRITERS_DIR
        slots = writers / handoff.SLOTS_DIR
        problems = teams.share(self.team, dirs=[writers, slots],
                               files=[graph, self.store_dir / storelog.LOG_NAME,
                                      *(slots / str(n) for n in range(self.config.exit_writers))],
                               fix_only=[graph.with_name(graph.name + suffix) for suffix in ("-wal", "-shm")])
        if problems:
            raise StoreError(f"the team store at {self.store_dir} has files its team can't write "
                             f"({'; '.join(problems)})")

    # -- state -------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.failure is None and self.tracer.enabled

    @property
    def held_bytes(self) -> int:
        """Estimated bytes of results held for the store (offered, not yet encoded)."""
        return self._pending_bytes

    def _fail(self, reason: str) -> None:
        """Stop reusing for an operational reason (any thread); the user is told once, in a cell."""
        if self.failure is None:
            self.failure = reason
            log.warning("collab_reuse stops reusing: %s", reason)
        self.tracer.enabled = False
        self.foreground.drop_waiting_work()
        if self.writer is not None:
            dropped = self.writer.discard()  # results that will never be stored: their memory goes
            for job in dropped:
                job.finished()
            if dropped:
                log.info("dropped %d store jobs waiting", len(dropped))

    def store_fault(self, exc: BaseException, doing: str) -> bool:
        """Fail the session if ``exc`` is a store fault (a damaged artifact is not one); whether it was."""
        if isinstance(exc, STORE_FAULTS) and not isinstance(exc, CorruptArtifact):
            self._fail(self._describe(exc, doing))
            return True
        return False

    def _describe(self, exc: BaseException, doing: str) -> str:
        if isinstance(exc, StoreError):
            return str(exc)  # (says which store)
        return f"the store at {self.store_dir} failed {doing}: {_why(exc)}"

    def _background_failed(self, exc: BaseException) -> None:
        self.store_fault(exc, "while storing results")

    def check_store(self) -> None:
        """Is the store directory still the one opened (not deleted, not replaced)? A stat per cell."""
        if self.failure is None and self.store_handle is not None:
            try:
                self.store_handle.check()
            except StoreError as exc:
                self._fail(str(exc))

    def tell_failure_once(self) -> None:
        if self.failure and not self._failure_told:
            self._failure_told = True
            print(WARNING.format(reason=self.failure), file=sys.stderr)

    def _produce_after_failure(self) -> None:
        """Plain cells must see values, not lazies: produce every one left (each falls back to
        computing when the store can't serve it)."""
        if self.failure and not self._produced_after_failure:
            self._produced_after_failure = True
            try:
                self.tracer.deferral.force_all()
            except Exception:
                log.warning("producing deferred values after the store failed raised", exc_info=True)

    def _run_job(self, job: jobs.Job) -> None:
        """In the writer thread: prepare (encoding waits for an idle kernel), then apply."""
        try:
            if self.failure is None and self.target is not None:
                writes = job.prepare(self.graph, self._no_cell_runs)
                if self.failure is None:
                    self.target.apply(writes)
        finally:
            job.finished()

    def _no_cell_runs(self) -> Any:
        """Encoding waits until no cell has run for ``idle_seconds``, or not at all while the results
        held exceed ``max_pending``."""
        grace = self.config.idle_seconds if self._pending_bytes <= self._max_pending else 0.0
        return self.foreground.idle(grace)

    def _hold_pending(self, nbytes: int) -> None:
        with self._pending_lock:
            self._pending_bytes = max(self._pending_bytes + nbytes, 0)

    def _submit(self, job: jobs.Job, priority: float = 0.0) -> None:
        if self.writer is not None and self.failure is None:
            self.writer.submit(job, priority)

    def _remember_file(self, key: str, digest: str) -> None:
        self._submit(jobs.Job(jobs.RememberFile(key, digest)))

    def _stored_file_digest(self, key: str) -> str | None:
        if self.graph is None or self.failure is not None:
            return None
        try:
            return self.graph.file_digest(key)
        except Exception as exc:
            self.store_fault(exc, "reading a file's digest")
            return None

    # -- the tracer's backend ----------------------------------------------------------------

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

    def is_random(self, op_id: str) -> bool:
        return op_id in self._random_ops

    def _refresh_from_graph(self) -> None:
        """What any kernel stored, which operations draw from the RNG or finish quietly, and the
        budget: read once per cell, not once per operation."""
        if self.graph is not None and self.failure is None:
            try:
                self._random_ops |= self.graph.random_ops()
                stored, self._stored_seq = self.graph.stored_since(self._stored_seq)
                self._stored |= stored
                quiet, self._quiet_seq = self.graph.quiet_since(self._quiet_seq)
                self._quiet.update(quiet)
                self._budget = self.graph.budget()
            except Exception as exc:
                self.store_fault(exc, "reading the Experiment Graph") or log.warning("refresh failed", exc_info=True)

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

    # -- cell lifecycle ----------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        self.foreground.cell_started()
        self.check_store()
        self.tell_failure_once()
        self._produce_after_failure()
        self._refresh_from_graph()
        self.cell = CellRun(getattr(info, "cell_id", None), None)
        if self._plan is not None and self._plan[0] == getattr(info, "raw_cell", None):
            self.cell.plan, self._plan = self._plan[1], None

    def planned(self, code: str, steps: list[dict], totals: dict) -> None:
        """A %%reuse plan estimate: the next cell running this very code reports it beside what happened."""
        self._plan = (code.strip("\n"), {**totals, "steps": steps})

    def post_run_cell(self, result: Any) -> None:
        try:
            self.check_store()
            self._finish_cell(result)
            self.tell_failure_once()
            self._produce_after_failure()
        finally:
            self.foreground.cell_finished()

    def _finish_cell(self, result: Any) -> None:
        cell, self.cell = self.cell, None
        if cell is None:
            return
        cell.execution_count = getattr(result, "execution_count", None)
        report = self._report(cell)
        self.last_report = report
        if self.failure is not None:
            self._hold_pending(-sum(c.approx_bytes for c in cell.candidates))
            return
        if self.writer is None or self.graph is None or not cell.steps:
            return
        number = next(self._cells)
        self._submit(jobs.Job(jobs.RecordCell(number, self._updates(cell), self.user, report, list(cell.random_ops),
                                              list(cell.quiet_ops), list(cell.forests), self._place_runs(cell),
                                              self.config.min_saving)),
                     priority=float("-inf"))  # before any offer: offers need the vertices
        # most expensive first: if the kernel exits before the writer is done, the best ones are kept
        candidates = sorted(cell.candidates, key=lambda c: -c.seconds)
        # Expensive results one by one, most expensive of any cell first; cheap ones (small results kept
        # for their expensive lineage, quick operations) together, after them: one selection pass for all.
        # (Ranking the batch by its lineage instead starved expensive results in batch runs: a 31 s
        # correlation matrix was never written before the kernel exited.)
        cheap = [c for c in candidates if c.seconds < BATCH_BELOW_SECONDS]
        for candidate in candidates:
            if candidate.seconds >= BATCH_BELOW_SECONDS:
                self._submit(self._encoding(number, [candidate]), priority=-candidate.seconds)
        if cheap:
            self._submit(self._encoding(number, cheap), priority=-max(c.seconds for c in cheap))

    def _encoding(self, cell: int, candidates: list[ComputedValue]) -> jobs.EncodeOffers:
        """The job that encodes ``candidates`` (written as soon as chosen: a kernel that exits early keeps
        what was done)."""
        assert self.store is not None and self.target is not None
        seqs, config = self.target.seqs, self.config
        held = sum(c.approx_bytes for c in candidates)
        return jobs.EncodeOffers(cell, lambda: seqs.get(cell), candidates, self.user, self.store,
                                 self.tracer.unchanged, lambda: config.materializer, config.min_saving,
                                 finished=lambda: self._hold_pending(-held))

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

    def _place_runs(self, cell: CellRun) -> list[list]:
        """[report step index, place, call summary] of the reported steps that have an id: what the next
        run at the same place compares with (``explaining``)."""
        cell_key = cell.cell_id or f"#{cell.execution_count}"
        seen: dict[str, int] = {}
        runs = []
        for index, step in enumerate(cell.steps[:MAX_STEPS_PER_REPORT]):
            if step.id is None or step.status == DEFERRED:
                continue
            occurrence = seen[step.op] = seen.get(step.op, -1) + 1
            summary = dict(step.call) if step.call is not None else {"partial": True}
            summary["inputs"] = list(step.inputs)
            runs.append([index, explaining.place_key(self.user, cell_key, step.op, occurrence), summary])
        return runs

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
        totals = Totals.of(cell.steps, time.perf_counter() - cell.started)
        self.hits += totals.reused
        self.misses += totals.computed
        self.saved_seconds += totals.saved_seconds
        return CellReport(self.kernel_id, self.user, cell.cell_id, cell.execution_count,
                          cell.steps[:MAX_STEPS_PER_REPORT], totals,
                          truncated=len(cell.steps) > MAX_STEPS_PER_REPORT, plan=cell.plan).to_json()

    # -- shutdown ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for background writes (`%reuse status`, tests). Called from a cell, the cell lends the
        writer its lock meanwhile: encoding waits for running cells, and this one only waits."""
        if self.writer is None:
            return True
        with self.foreground.lent():
            return self.writer.wait_idle(timeout)

    def close_at_exit(self) -> None:
        """The kernel is exiting: what the writer has not done is written after it is gone (``handoff``):
        encoded here for at most ``EXIT_ENCODE_SECONDS`` (within ``exit_flush_seconds``), the rest by a
        short-lived child, and written by a fresh process."""
        config = self.config
        if self.writer is None or self.failure is not None or config.exit_write_seconds <= 0 \
                or not handoff.can_fork():
            self.close()
            return
        started = time.monotonic()
        self.foreground.hand_off()
        writer, self.writer = self.writer, None
        # a running job gets this long to end (and one waiting for an idle kernel the moment it takes to stop)
        pending = writer.hand_off(max(config.exit_flush_seconds, 0.2))
        self.check_store()
        if pending and self.failure is None and self.store_handle is not None:
            budget = min(max(config.exit_flush_seconds - (time.monotonic() - started), 0.0), EXIT_ENCODE_SECONDS)
            handle = self.store_handle
            settings = {"trust_pickle": config.trust_pickle, "user": self.user, "device": handle.device,
                        "inode": handle.inode, "token": handle.token}
            try:
                what = handoff.hand_over(pending, self.store_dir, writers=config.exit_writers,
                                         time_limit=config.exit_write_seconds, budget=budget, graph=self.graph,
                                         close_connections=self._close_connections, after_fork=self._after_fork,
                                         settings=settings)
                log.info("at exit: %s", what)
            except BaseException:  # (the exit writer died early: a broken pipe; or Jupyter's interrupt)
                log.warning("handing the pending store writes over failed; they are not stored", exc_info=True)
        elif pending:
            log.warning("abandoned %d pending store jobs at exit: %s", len(pending), self.failure)
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
