"""The Session of one kernel: tracer, Experiment Graph, store and writer, wired together.

It opens the store (``opening.py``), is the tracer's backend (``backend.py``: lookups, loads, file
digests, steps), collects a cell's steps between IPython's ``pre_run_cell`` and ``post_run_cell``
events, hands the finished cell to the background writer (``cell_record.py`` turns it into the
graph's updates and the cell report; ``jobs`` carry them), and hands what is pending over at exit
(``handoff.py``).

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
from typing import Any

from ..config import CollabReuse, parse_size, resolve_store_dir
from ..errors import CorruptArtifact, StoreError
from ..fingerprint import FileFingerprints
from ..fingerprint.files import stat_key_path
from ..graph import ExperimentGraph
from ..graph.storedir import StoreDir
from .. import team as teams
from ..store import ArtifactStore
from ..tracing.runtime import Tracer
from ..tracing.steps import ComputedValue
from . import cell_record, handoff, jobs, opening, own_reads, storelog
from .cell_record import CellRun
from .foreground import CellLock
from .backend import TracerBackend
from .leases import Leases
from .writer import BackgroundWriter

log = logging.getLogger("collab_reuse")
NOTEBOOK_ENV = "JPY_SESSION_NAME"  # the notebook's path, as the Jupyter server gives it to the kernel it starts
BATCH_BELOW_SECONDS = 0.1  # candidates quicker than this to recompute are offered to the store in one batch
WARNING = "collab_reuse stopped reusing: {reason}. Cells run as without collab_reuse."
EXIT_ENCODE_SECONDS = 1.0  # at exit, the kernel encodes pending results itself for at most this long
STORE_FAULTS = (StoreError, OSError, sqlite3.Error)


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


class Session(TracerBackend):
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
        self._random_mark: tuple[int, str] | None = None  # the newest random_ops row read (graph.random_ops_since)
        self._stored: set[str] = set()
        self._skipped: set[str] = set()  # other members' artifacts that failed to load (``_unusable``)
        self._stored_seq = 0
        self._quiet: dict[str, tuple[str, float]] = {}
        self._quiet_seq = 0
        self._budget: int | None = None  # the store's budget in bytes, as of the running cell
        self._graph_version: Any = None  # the graph's version at the last refresh (``graph.version``)
        self._unrecorded_loads: dict[str, float] = {}  # load counters measured here, not in the store yet
        self._unrecorded_lock = threading.Lock()
        self._authors: dict[str, str] = {}  # artifact id -> whose artifact its last load was (``attribution``)
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
        self.confidential = False  # has it read what the team can't (``become_confidential``)?
        self.leases: Leases | None = None  # single flight with the store's other kernels
        self._alone, self._alone_checked = True, 0.0  # no other kernel on the store, as of when (``lease``)
        self.admin = False  # may this user change the store's settings (budget, clear, materializer)?
        try:
            opened = opening.open_store(config, self.store_dir, self.user)
        except STORE_FAULTS as exc:
            self._fail(self._describe(exc, "as it was opened"))
        else:
            self.store_handle, self.team, self.admin = opened.handle, opened.team, opened.admin
            self.graph, self.store, self.target = opened.graph, opened.store, opened.target
            self.leases = opened.leases
            self.writer = BackgroundWriter(self._background_failed, run=self._run_job)
            self.writer.submit(jobs.Job(jobs.Upkeep(opened.budget)), priority=float("-inf"))
            if self.team is not None:
                own_reads.watch(self._notebook_read)

    def _notebook_read(self, path: str) -> None:
        """A file the notebook's own code opened (``own_reads``): one the team can't read makes this
        kernel's results its user's alone, as a traced reader's would."""
        if self.team is None or self.confidential:
            own_reads.unwatch(self._notebook_read)
            return
        real = os.path.realpath(path)
        if real.startswith(os.path.realpath(self.store_dir) + os.sep):
            return  # (the store's own files: what the team shares, or this user's own namespaces)
        if not teams.readable_by_team(real, self.team):
            self.become_confidential(f"the notebook opened {path}, which the team can't read")
            own_reads.unwatch(self._notebook_read)

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
        own_reads.unwatch(self._notebook_read)
        if self.failure is None:
            self.failure = reason
            log.warning("collab_reuse stops reusing: %s", reason)
        self.tracer.enabled = False
        self.foreground.drop_waiting_work()
        if self.leases is not None:
            self.leases.release_all()
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
        """Encoding waits until no cell has run for ``idle_seconds``; only until the running cell ends
        while the results held exceed ``max_pending``, or another kernel waits for one of them."""
        def grace() -> float:
            urgent = self._pending_bytes > self._max_pending or (self.leases is not None and self.leases.awaited())
            return 0.0 if urgent else self.config.idle_seconds

        return self.foreground.idle(grace)

    def _hold_pending(self, nbytes: int) -> None:
        with self._pending_lock:
            self._pending_bytes = max(self._pending_bytes + nbytes, 0)

    def _submit(self, job: jobs.Job, priority: float = 0.0) -> None:
        if self.writer is not None and self.failure is None:
            self.writer.submit(job, priority)

    def _shareable(self) -> Any:
        """In a team store, whether the team may read a file (else None: one user's store)."""
        team = self.team
        return None if team is None else (lambda path: teams.readable_by_team(path, team))

    def _remember_file(self, key: str, digest: str) -> None:
        if self.team is not None and not teams.readable_by_team(stat_key_path(key), self.team):
            return  # the team's graph doesn't name files the team can't read
        self._submit(jobs.Job(jobs.RememberFile(key, digest)))

    def _stored_file_digest(self, key: str) -> str | None:
        if self.graph is None or self.failure is not None:
            return None
        try:
            return self.graph.file_digest(key)
        except Exception as exc:
            self.store_fault(exc, "reading a file's digest")
            return None

    # -- cell lifecycle ----------------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        self.foreground.cell_started()
        self.check_store()
        self.tell_failure_once()
        self._produce_after_failure()
        self._refresh_from_graph()
        self.cell = CellRun(getattr(info, "cell_id", None), None)
        self.tracer.deferral.new_cell()
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
        storing = self.failure is None and self.writer is not None and self.graph is not None and cell.steps
        # the cell's leases of results it doesn't offer (earlier cells' offers keep theirs until stored)
        self.release_leases(cell.leased - (set(cell.offered) if storing else set()))
        cell.execution_count = getattr(result, "execution_count", None)
        report = self._report(cell)
        self.last_report = report
        if self.failure is not None:
            self._hold_pending(-sum(c.approx_bytes for c in cell.candidates))
            return
        if self.writer is None or self.graph is None or not cell.steps:
            return
        number = next(self._cells)
        self._submit(jobs.Job(jobs.RecordCell(number, cell_record.vertex_updates(cell), self.user, report,
                                              list(cell.random_ops), list(cell.quiet_ops), list(cell.forests),
                                              cell_record.place_runs(cell, self.user, self._shareable()),
                                              self.config.min_saving, cell_record.reuse(cell),
                                              os.environ.get(NOTEBOOK_ENV) or None)),
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

        def finished() -> None:
            self._hold_pending(-held)
            self.release_leases(c.id for c in candidates)

        return jobs.EncodeOffers(cell, lambda: seqs.get(cell), candidates, self.user, self.store,
                                 self.tracer.unchanged, lambda: config.materializer, config.min_saving,
                                 finished=finished)

    def _report(self, cell: CellRun) -> dict:
        report = cell_record.report(cell, self.kernel_id, self.user)
        totals = report["totals"]
        self.hits += totals["reused"]
        self.misses += totals["computed"]
        self.saved_seconds += totals["saved_seconds"]
        return report

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
        own_reads.unwatch(self._notebook_read)
        if self.leases is not None:
            self.leases.release_all()  # (other kernels wait for nothing this one will still write)
        if self.writer is not None:
            if not self.writer.close(self.config.exit_flush_seconds):
                log.warning("collab_reuse abandoned pending store writes at exit (nothing half-written is visible)")
            self.writer = None
        self._close_connections()
