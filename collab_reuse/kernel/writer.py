"""Off the critical path: record a finished cell in the Experiment Graph and
materialize what is worth keeping, in a background thread.

A kernel that exits waits for pending work up to a deadline and then abandons
it safely: every artifact is written blobs-first, manifest-last, and marked
materialized only after that, so abandoned work leaves nothing half-visible.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable

log = logging.getLogger("collab_reuse")

Job = Callable[[], Any]


class BackgroundWriter:
    """A single worker thread running jobs, lowest priority number first (then in submission order)."""

    def __init__(self, on_error: Callable[[BaseException], None]):
        self._queue: queue.PriorityQueue[tuple[float, int, Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._on_error = on_error
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="collab_reuse-writer", daemon=True)
        self._thread.start()

    def submit(self, job: Job, priority: float = 0.0) -> None:
        self._idle.clear()
        self._queue.put((priority, next(self._order), job))

    def _run(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                return
            try:
                job()
            except BaseException as exc:  # reported once by the session, never raised into a cell
                log.warning("collab_reuse background work failed", exc_info=True)
                self._on_error(exc)
            finally:
                if self._queue.empty():
                    self._idle.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted job has run; False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float) -> bool:
        """Finish pending jobs within ``timeout`` seconds, then stop; False if work was abandoned."""
        deadline = time.monotonic() + timeout
        done = self.wait_idle(timeout)
        self._queue.put((float("-inf"), next(self._order), None))
        self._thread.join(max(deadline - time.monotonic(), 0.1))
        return done
