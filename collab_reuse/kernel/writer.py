"""Off the critical path: record a finished cell in the Experiment Graph and
materialize what is worth keeping, in a background thread.

A kernel that exits hands the jobs not yet done to a child process
(``handoff``), or, where it can't, waits for them up to a deadline and then
abandons them safely: every artifact is written blobs-first, manifest-last, and
marked materialized only after that, so abandoned work leaves nothing
half-visible.

Once the store has failed, the session ``discard``s the jobs waiting: they hold
results that will never be stored, and memory must not grow with them.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .priority import lower_this_thread

log = logging.getLogger("collab_reuse")

Job = Callable[[], Any]
_NOTHING = object()  # a queue item that runs nothing


class HandedOff(BaseException):
    """Raised inside a job to stop it: the job runs again, from its start, in the handoff child.
    (Not an Exception: code that turns a failed encoding into "not storable" must not catch it.)"""


class Dropped(BaseException):
    """Raised inside a job to stop it for good: the store failed, its work will never be stored."""


@dataclass(order=True)
class _Item:
    priority: float
    order: int
    job: Any = field(compare=False)


def _call(job: Job) -> None:
    job()


class BackgroundWriter:
    """A single worker thread running jobs, lowest priority number first (then in submission order).

    A job is whatever ``run`` takes (by default, a callable it calls)."""

    def __init__(self, on_error: Callable[[BaseException], None], run: Callable[[Any], None] = _call):
        self._queue: queue.PriorityQueue[_Item] = queue.PriorityQueue()
        self._order = itertools.count()
        self._on_error = on_error
        self._run_job = run
        self._idle = threading.Event()
        self._idle.set()
        # held while a job is queued and while the writer asks whether any is: without it, a job submitted
        # between the writer's "queue empty?" and its "idle" was left queued with idle set (a flush returned
        # before it ran)
        self._idle_lock = threading.Lock()
        self._stopping = False
        self._discarding = False
        self._not_done: list[_Item] = []
        self._thread = threading.Thread(target=self._run, name="collab_reuse-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Any, priority: float = 0.0) -> None:
        if self._discarding:
            return
        with self._idle_lock:
            self._idle.clear()
            self._queue.put(_Item(priority, next(self._order), job))

    def discard(self) -> list[Any]:
        """Drop every job waiting, and those submitted from now on; returns the jobs dropped."""
        self._discarding = True
        dropped = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item.job is not _NOTHING and item.job is not None:
                dropped.append(item.job)
        self._queue.put(_Item(float("inf"), next(self._order), _NOTHING))  # marks idle once the running job ends
        return dropped

    def _run(self) -> None:
        lower_this_thread()  # (the notebook's next cell comes first)
        while True:
            item = self._queue.get()
            if self._stopping or item.job is None:
                self._not_done.append(item)
                return
            try:
                if item.job is not _NOTHING:
                    self._run_job(item.job)
            except HandedOff:
                self._not_done.append(item)
                return
            except Dropped:
                pass
            except BaseException as exc:  # reported once by the session, never raised into a cell
                try:
                    log.warning("collab_reuse background work failed: %s: %s", type(exc).__name__, exc)
                    self._on_error(exc)
                except BaseException:  # (the thread must outlive any failure of its own reporting)
                    pass
            finally:
                # (the done job lets go of what it held now, not when the next job arrives: this frame kept
                # the last job's results, whole frames, alive for as long as the kernel stayed idle)
                item = None
                with self._idle_lock:
                    if self._queue.empty():
                        self._idle.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def waiting(self) -> int:
        """Jobs queued, not started."""
        return sum(1 for item in list(self._queue.queue) if item.job is not _NOTHING)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has run; False on timeout."""
        return self._idle.wait(timeout)

    def hand_off(self, timeout: float) -> list[Job]:
        """Stop the writer and return the jobs not done, in the order they would have run.

        A running job gets ``timeout`` seconds to finish or stop (``HandedOff``); ``running`` then
        tells whether it is still running."""
        self._stopping = True
        self._queue.put(_Item(float("-inf"), next(self._order), None))  # wakes a writer waiting for work
        self._thread.join(timeout)
        items = list(self._not_done)
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return [item.job for item in sorted(items) if item.job is not None and item.job is not _NOTHING]

    def close(self, timeout: float) -> bool:
        """Finish pending jobs within ``timeout`` seconds, then stop; False if work was abandoned."""
        deadline = time.monotonic() + timeout
        done = self.wait_idle(timeout)
        self._queue.put(_Item(float("-inf"), next(self._order), None))
        self._thread.join(max(deadline - time.monotonic(), 0.1))
        return done
